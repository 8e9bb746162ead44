/* prep_cifar.c: CIFAR-10 and CIFAR-100 binary tarballs into a prep_data,
 * read member by member with libarchive (never extracted). Record layouts:
 * CIFAR-10 label byte + 3072 pixel bytes, CIFAR-100 coarse byte + fine
 * byte + 3072 pixel bytes; pixels are the R, G, B planes of a 32x32 image,
 * which is already our planar [c][h][w] order. Members of a split are used
 * in name order (data_batch_1.bin .. data_batch_5.bin), whatever their
 * order in the archive (read with data/prep_archive.c). */
#include "data/prep.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072

/* 1 CIFAR-10, 2 CIFAR-100, 0 neither. */
static int cifar_member_kind(const char *name) {
    if (strstr(name, "cifar-10-batches-bin/")) return 1;
    if (strstr(name, "cifar-100-binary/")) return 2;
    return 0;
}

int prep_cifar_detect(const char *path, ssl_err *err) {
    struct archive *a = prep_archive_open(path, err);
    if (!a) return -1;
    struct archive_entry *e;
    int r, kind = 0;
    r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_OK || r == ARCHIVE_WARN) kind = cifar_member_kind(archive_entry_pathname(e));
    else if (r != ARCHIVE_EOF) {
        ssl_fail(err, SSL_EDATA, "%s: not a dataset: unrecognised format (%s)", path,
                 archive_error_string(a) ? archive_error_string(a) : "unknown");
        archive_read_free(a);
        return -1;
    }
    archive_read_free(a);
    return kind ? 1 : 0;
}

/* Class names from a text file: one per non-empty line. */
static int read_names(const uint8_t *txt, int64_t n, char ***names, int *count) {
    int cap = 16, k = 0;
    char **v = malloc(sizeof(char *) * cap);
    if (!v) return -1;
    int64_t i = 0;
    while (i < n) {
        int64_t j = i;
        while (j < n && txt[j] != '\n') j++;
        int64_t e = j;
        while (e > i && (txt[e - 1] == '\r' || txt[e - 1] == ' ' || txt[e - 1] == '\t')) e--;
        if (e > i) {
            if (k == cap) {
                char **nv = realloc(v, sizeof(char *) * (cap *= 2));
                if (!nv) goto oom;
                v = nv;
            }
            if (!(v[k] = strndup((const char *)txt + i, (size_t)(e - i)))) goto oom;
            k++;
        }
        i = j + 1;
    }
    *names = v; *count = k;
    return 0;
oom:
    for (int t = 0; t < k; t++) free(v[t]);
    free(v);
    return -1;
}

#define MAX_MEMBERS 5
/* The largest CIFAR member: 50000 records of 3074 bytes is 154 MB. */
#define CIFAR_MEMBER_LIMIT ((int64_t)1 << 30)

int prep_cifar_load(prep_data *d, const char *path, const prep_opts *o, ssl_err *err) {
    const char *split = o && o->split ? o->split : "train";
    int coarse = o && o->labels && !strcmp(o->labels, "coarse");
    uint8_t *part[MAX_MEMBERS] = {0}, *names_txt = NULL;
    int64_t part_n[MAX_MEMBERS] = {0}, names_n = 0;
    int kind = 0, rc = -1;
    memset(d, 0, sizeof *d);
    if (strcmp(split, "train") && strcmp(split, "test")) {
        ssl_fail(err, SSL_EDATA, "%s: CIFAR has splits train and test, not '%s'", path, split);
        return -1;
    }
    struct archive *a = prep_archive_open(path, err);
    if (!a) return -1;
    struct archive_entry *e;
    int r;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        int k = cifar_member_kind(name);
        if (!k || archive_entry_filetype(e) != AE_IFREG) continue;
        if (kind && k != kind) {
            ssl_fail(err, SSL_EDATA, "%s: holds both CIFAR-10 and CIFAR-100 members", path);
            goto out;
        }
        kind = k;
        const char *base = strrchr(name, '/') + 1;
        int slot = -1, is_names = 0;
        if (kind == 1 && !strcmp(split, "train") && !strncmp(base, "data_batch_", 11) &&
            base[11] >= '1' && base[11] <= '5' && !strcmp(base + 12, ".bin"))
            slot = base[11] - '1';
        else if (kind == 1 && !strcmp(split, "test") && !strcmp(base, "test_batch.bin")) slot = 0;
        else if (kind == 2 && !strcmp(base, !strcmp(split, "train") ? "train.bin" : "test.bin")) slot = 0;
        else if (kind == 1 && !strcmp(base, "batches.meta.txt")) is_names = 1;
        else if (kind == 2 && !strcmp(base, coarse ? "coarse_label_names.txt" : "fine_label_names.txt"))
            is_names = 1;
        if (slot < 0 && !is_names) continue;
        uint8_t **dst = is_names ? &names_txt : &part[slot];
        int64_t *dn = is_names ? &names_n : &part_n[slot];
        if (*dst) { ssl_fail(err, SSL_EDATA, "%s: %s: member appears twice", path, name); goto out; }
        if (prep_archive_read(a, e, dst, dn, is_names ? (1 << 20) : CIFAR_MEMBER_LIMIT, path, err)) goto out;
        int rs = kind == 1 ? 1 + CIFAR_PIXELS : 2 + CIFAR_PIXELS;
        if (!is_names && (*dn == 0 || *dn % rs)) {
            ssl_fail(err, SSL_EDATA, "%s: %s: truncated record (%lld bytes is not a whole number of %d-byte records)",
                     path, name, (long long)*dn, rs);
            goto out;
        }
    }
    if (r != ARCHIVE_EOF) {
        ssl_fail(err, SSL_EDATA, "%s: corrupt or truncated archive: %s", path,
                 archive_error_string(a) ? archive_error_string(a) : "read error");
        goto out;
    }
    if (!kind) {
        ssl_fail(err, SSL_EDATA, "%s: no cifar-10-batches-bin/ or cifar-100-binary/ members", path);
        goto out;
    }
    int nparts = kind == 1 && !strcmp(split, "train") ? 5 : 1;
    int rs = kind == 1 ? 1 + CIFAR_PIXELS : 2 + CIFAR_PIXELS;
    int64_t total = 0;
    for (int i = 0; i < nparts; i++) {
        if (!part[i]) {
            char want[32];
            if (kind == 1 && nparts == 5) snprintf(want, sizeof want, "data_batch_%d.bin", i + 1);
            else snprintf(want, sizeof want, "%s", kind == 1 ? "test_batch.bin" : !strcmp(split, "train") ? "train.bin" : "test.bin");
            ssl_fail(err, SSL_EDATA, "%s: missing member %s", path, want);
            goto out;
        }
        total += part_n[i] / rs;
    }
    int maxlabels = kind == 1 ? 10 : coarse ? 20 : 100;
    if (names_txt) {
        if (read_names(names_txt, names_n, &d->classes, &d->nclasses)) goto oom;
        if (d->nclasses < 1) {
            ssl_fail(err, SSL_EDATA, "%s: the label names file is empty", path);
            goto out;
        }
        maxlabels = d->nclasses;
    } else {
        d->nclasses = maxlabels;
        if (!(d->classes = calloc((size_t)maxlabels, sizeof(char *)))) goto oom;
        for (int i = 0; i < maxlabels; i++) {
            char num[16];
            snprintf(num, sizeof num, "%d", i);
            if (!(d->classes[i] = strdup(num))) goto oom;
        }
    }
    d->n = total; d->c = 3; d->h = 32; d->w = 32;
    snprintf(d->format, sizeof d->format, "%s", kind == 1 ? "cifar-10" : "cifar-100");
    d->images = malloc((size_t)total * CIFAR_PIXELS);
    d->labels = malloc(sizeof(int32_t) * (size_t)total);
    if (!d->images || !d->labels) goto oom;
    int64_t row = 0;
    for (int i = 0; i < nparts; i++) {
        for (int64_t k = 0; k < part_n[i] / rs; k++, row++) {
            const uint8_t *rec = part[i] + k * rs;
            int lab = kind == 1 ? rec[0] : coarse ? rec[0] : rec[1];
            if (lab >= maxlabels) {
                ssl_fail(err, SSL_EDATA, "%s: record %lld: label %d out of range (%d classes)",
                         path, (long long)row, lab, maxlabels);
                goto out;
            }
            d->labels[row] = lab;
            memcpy(d->images + row * CIFAR_PIXELS, rec + rs - CIFAR_PIXELS, CIFAR_PIXELS);
        }
        if (o && o->progress) o->progress(o->progress_ctx, "images", row, total);
    }
    rc = 0;
    goto out;
oom:
    ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path);
out:
    if (rc) prep_data_destroy(d);
    for (int i = 0; i < MAX_MEMBERS; i++) free(part[i]);
    free(names_txt);
    archive_read_free(a);
    return rc;
}
