/* prep_idx.c: MNIST / Fashion-MNIST IDX files (plain, gzip or anything
 * libarchive's filters read) into a prep_data. Each file is read as one raw
 * stream through libarchive; the header is validated against sane limits
 * and, for uncompressed files, against the file size before the payload is
 * allocated; compressed payloads are read into a buffer that grows only as
 * data actually arrives, so a header claiming absurd sizes costs nothing. */
#define _GNU_SOURCE             /* strcasestr */
#include "data/prep.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char *const fashion_names[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
};

/* One file as a raw stream. */
typedef struct {
    struct archive *a;
    const char *path;
    int64_t file_size;
    int compressed;
} raw_file;

static void raw_close(raw_file *f) {
    if (f->a) archive_read_free(f->a);
    f->a = NULL;
}

static int raw_open(raw_file *f, const char *path, ssl_err *err) {
    struct stat st;
    memset(f, 0, sizeof *f);
    f->path = path;
    if (stat(path, &st)) {
        ssl_fail(err, SSL_EIO, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        ssl_fail(err, SSL_EDATA, "%s: is a directory, not an IDX file", path);
        return -1;
    }
    f->file_size = S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
    if (f->file_size == 0) {
        ssl_fail(err, SSL_EDATA, "%s: empty file", path);
        return -1;
    }
    f->a = archive_read_new();
    if (!f->a) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path); return -1; }
    archive_read_support_filter_all(f->a);
    archive_read_support_format_raw(f->a);
    struct archive_entry *e;
    if (archive_read_open_filename(f->a, path, 1 << 16) != ARCHIVE_OK ||
        archive_read_next_header(f->a, &e) != ARCHIVE_OK) {
        ssl_fail(err, SSL_EDATA, "%s: cannot read: %s", path, archive_error_string(f->a) ?
                 archive_error_string(f->a) : "corrupt or truncated compressed data");
        raw_close(f);
        return -1;
    }
    f->compressed = archive_filter_code(f->a, 0) != ARCHIVE_FILTER_NONE;
    return 0;
}

/* Read up to n bytes: the count read (short only at the end), -1 on error. */
static int64_t raw_read(raw_file *f, void *buf, int64_t n, ssl_err *err) {
    int64_t got = 0;
    while (got < n) {
        /* At most 4 MiB per call, so the bomb check below runs often. */
        int64_t want = n - got < ((int64_t)4 << 20) ? n - got : ((int64_t)4 << 20);
        la_ssize_t r = archive_read_data(f->a, (char *)buf + got, (size_t)want);
        if (r < 0) {
            ssl_fail(err, SSL_EDATA, "%s: corrupt or truncated data: %s", f->path,
                     archive_error_string(f->a) ? archive_error_string(f->a) : "read error");
            return -1;
        }
        if (r == 0) break;
        got += r;
        /* Decompression bombs: over 100:1 past 64 MiB (MNIST's gzip is ~5:1). */
        int64_t out = archive_filter_bytes(f->a, 0), in = archive_filter_bytes(f->a, -1);
        if (f->compressed && out > ((int64_t)64 << 20) && out / 100 > (in > 0 ? in : 1)) {
            ssl_fail(err, SSL_EDATA, "%s: decompression bomb refused (%lld bytes from %lld compressed)",
                      f->path, (long long)out, (long long)in);
            return -1;
        }
    }
    return got;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int prep_idx_kind(const char *path, ssl_err *err) {
    raw_file f;
    unsigned char m[4];
    if (raw_open(&f, path, err)) return -1;
    int64_t got = raw_read(&f, m, 4, err);
    raw_close(&f);
    if (got < 0) return -1;
    if (got >= 2 && !f.compressed && m[0] == 0x1f && m[1] == 0x8b) {
        ssl_fail(err, SSL_EDATA, "%s: truncated or corrupt gzip data", path);
        return -1;
    }
    /* Any IDX type code here: idx_read names an unsupported one. */
    if (got < 4 || m[0] || m[1] || m[2] < 0x08 || m[2] > 0x0e || (m[3] != 1 && m[3] != 3)) return 0;
    return m[3];
}

/* Read an IDX file of ndim dimensions: dims filled, *data malloc'ed. */
static int idx_read(const char *path, int want_ndim, uint32_t *dims, uint8_t **data, ssl_err *err) {
    raw_file f;
    unsigned char hdr[16];
    *data = NULL;
    if (raw_open(&f, path, err)) return -1;
    int hlen = 4 + 4 * want_ndim;
    int64_t got = raw_read(&f, hdr, hlen, err);
    if (got < 0) goto fail;
    if (got < 4 || hdr[0] || hdr[1]) {
        ssl_fail(err, SSL_EDATA, "%s: not an IDX file (bad magic)", path);
        goto fail;
    }
    if (hdr[2] != 0x08) {
        ssl_fail(err, SSL_EDATA, "%s: IDX data type 0x%02x not supported (only unsigned bytes)",
                 path, hdr[2]);
        goto fail;
    }
    if (hdr[3] != want_ndim) {
        ssl_fail(err, SSL_EDATA, "%s: IDX file has %d dimensions, expected %d (%s)", path,
                 hdr[3], want_ndim, want_ndim == 3 ? "images" : "labels");
        goto fail;
    }
    if (got < hlen) {
        ssl_fail(err, SSL_EDATA, "%s: truncated IDX header", path);
        goto fail;
    }
    int64_t bytes = 1;
    for (int i = 0; i < want_ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (i > 0 && (dims[i] < 1 || dims[i] > PREP_MAX_SIDE)) {
            ssl_fail(err, SSL_EDATA, "%s: IDX header claims images of %u x %u pixels (absurd)",
                     path, dims[1], want_ndim > 2 ? be32(hdr + 12) : 0);
            goto fail;
        }
        bytes *= dims[i];
        if (bytes > PREP_MAX_BYTES) {
            ssl_fail(err, SSL_EDATA, "%s: IDX header claims %u items of %s (over the limit)",
                     path, dims[0], want_ndim > 1 ? "images" : "labels");
            goto fail;
        }
    }
    if (dims[0] == 0) {
        ssl_fail(err, SSL_EDATA, "%s: IDX file holds no items", path);
        goto fail;
    }
    if (!f.compressed && f.file_size >= 0 && f.file_size - hlen != bytes) {
        ssl_fail(err, SSL_EDATA, "%s: %s: header claims %u items (%lld bytes) but the file has %lld",
                 path, f.file_size - hlen < bytes ? "truncated" : "trailing data",
                 dims[0], (long long)bytes, (long long)(f.file_size - hlen));
        goto fail;
    }
    /* Grow the buffer only as data arrives. */
    int64_t cap = bytes < (16 << 20) ? bytes : (16 << 20), have = 0;
    uint8_t *buf = malloc((size_t)cap);
    if (!buf) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path); goto fail; }
    for (;;) {
        int64_t r = raw_read(&f, buf + have, cap - have, err);
        if (r < 0) { free(buf); goto fail; }
        have += r;
        if (have < cap || cap == bytes) break;
        int64_t ncap = cap * 2 < bytes ? cap * 2 : bytes;
        uint8_t *nb = realloc(buf, (size_t)ncap);
        if (!nb) { free(buf); ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path); goto fail; }
        buf = nb; cap = ncap;
    }
    if (have < bytes) {
        free(buf);
        ssl_fail(err, SSL_EDATA, "%s: truncated: header claims %u items (%lld bytes) but only %lld follow",
                 path, dims[0], (long long)bytes, (long long)have);
        goto fail;
    }
    unsigned char extra;
    int64_t r = raw_read(&f, &extra, 1, err);
    if (r != 0) {
        free(buf);
        if (r > 0)
            ssl_fail(err, SSL_EDATA, "%s: trailing data after %u items", path, dims[0]);
        goto fail;
    }
    raw_close(&f);
    *data = buf;
    return 0;
fail:
    raw_close(&f);
    return -1;
}

int prep_idx_load(prep_data *d, const char *images_path, const char *labels_path,
                  ssl_err *err) {
    uint32_t idims[3], ldims[1];
    uint8_t *px = NULL, *lab = NULL;
    memset(d, 0, sizeof *d);
    if (idx_read(images_path, 3, idims, &px, err)) return -1;
    if (idx_read(labels_path, 1, ldims, &lab, err)) { free(px); return -1; }
    if (ldims[0] != idims[0]) {
        ssl_fail(err, SSL_EDATA, "%s: %u labels for the %u images of %s", labels_path,
                 ldims[0], idims[0], images_path);
        free(px); free(lab);
        return -1;
    }
    d->n = idims[0];
    d->c = 1; d->h = (int)idims[1]; d->w = (int)idims[2];
    d->images = px;
    d->labels = malloc(sizeof(int32_t) * (size_t)d->n);
    int fashion = strcasestr(images_path, "fashion") || strcasestr(labels_path, "fashion");
    snprintf(d->format, sizeof d->format, "%s", fashion ? "fashion-mnist" : "mnist");
    if (!d->labels) goto oom;
    int maxl = 0;
    for (int64_t i = 0; i < d->n; i++) {
        d->labels[i] = lab[i];
        if (lab[i] > maxl) maxl = lab[i];
    }
    free(lab);
    lab = NULL;
    /* Ten named classes; labels beyond 9 (not MNIST-like) get numbers as names. */
    d->nclasses = maxl >= 10 ? maxl + 1 : 10;
    d->classes = calloc((size_t)d->nclasses, sizeof(char *));
    if (!d->classes) goto oom;
    for (int i = 0; i < d->nclasses; i++) {
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        d->classes[i] = strdup(fashion && d->nclasses == 10 ? fashion_names[i] : num);
        if (!d->classes[i]) goto oom;
    }
    return 0;
oom:
    free(lab);
    prep_data_destroy(d);
    ssl_fail(err, SSL_ENOMEM, "%s: out of memory", images_path);
    return -1;
}

int prep_idx_find(const char *dir, const char *split, char *images, char *labels,
                  size_t size, ssl_err *err) {
    const char *prefix;
    if (!split || !strcmp(split, "train")) prefix = "train";
    else if (!strcmp(split, "test")) prefix = "t10k";
    else {
        ssl_fail(err, SSL_EIO, "%s: IDX data has splits train and test, not '%s'", dir, split);
        return -1;
    }
    DIR *dp = opendir(dir);
    if (!dp) { ssl_fail(err, SSL_EIO, "%s: %s", dir, strerror(errno)); return -1; }
    char best_i[256] = "", best_l[256] = "";
    int any = 0;
    struct dirent *de;
    while ((de = readdir(dp))) {
        const char *n = de->d_name;
        int is_i = strstr(n, "idx3-ubyte") != NULL, is_l = strstr(n, "idx1-ubyte") != NULL;
        if (!is_i && !is_l) continue;
        any = 1;
        if (strncmp(n, prefix, strlen(prefix)) || strlen(n) >= sizeof best_i) continue;
        char *best = is_i ? best_i : best_l;
        if (!*best || strcmp(n, best) < 0) strcpy(best, n);   /* plain before .gz */
    }
    closedir(dp);
    if (!any) return 0;
    if (!*best_i || !*best_l) {
        ssl_fail(err, SSL_EDATA, "%s: no %s-*-%s IDX file for split %s", dir, prefix,
                 *best_i ? "labels-idx1-ubyte" : "images-idx3-ubyte", split ? split : "train");
        return -1;
    }
    if ((size_t)snprintf(images, size, "%s/%s", dir, best_i) >= size ||
        (size_t)snprintf(labels, size, "%s/%s", dir, best_l) >= size) {
        ssl_fail(err, SSL_EDATA, "%s: path too long", dir);
        return -1;
    }
    return 1;
}
