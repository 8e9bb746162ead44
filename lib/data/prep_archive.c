/* prep_archive.c: what the loaders (prep_idx.c, prep_cifar.c,
 * prep_images.c) share: prep_data_destroy, and prep_archive_open and
 * prep_archive_read: members are read into buffers that grow as data
 * arrives, within a per-member limit, and a compression ratio above 100:1
 * past 64 MiB is refused as a decompression bomb. */
#include "data/prep.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void prep_data_destroy(prep_data *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    if (d->classes)
        for (int i = 0; i < d->nclasses; i++) free(d->classes[i]);
    free(d->classes);
    memset(d, 0, sizeof *d);
}

struct archive *prep_archive_open(const char *path, ssl_err *err) {
    struct stat st;
    if (stat(path, &st)) {
        ssl_fail(err, SSL_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct archive *a = archive_read_new();
    if (!a) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path); return NULL; }
    archive_read_support_filter_all(a);
    /* Not format_all: its mtree reader takes any text file for an archive. */
    archive_read_support_format_tar(a);
    archive_read_support_format_zip(a);
    archive_read_support_format_7zip(a);
    archive_read_support_format_cpio(a);
    archive_read_support_format_rar(a);
    archive_read_support_format_rar5(a);
    archive_read_support_format_empty(a);
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        ssl_fail(err, SSL_EDATA, "%s: unrecognised format (not IDX, CIFAR or an image archive): %s", path,
                 archive_error_string(a) ? archive_error_string(a) : "unknown error");
        archive_read_free(a);
        return NULL;
    }
    return a;
}

/* Decompression bombs: past BOMB_FREE_BYTES of decompressed data, a ratio
 * above BOMB_RATIO:1 to the compressed bytes read is refused. Real
 * datasets compress a few times at most (PNG/JPEG not at all); gzip'ed
 * zeros reach 1000:1. */
#define BOMB_FREE_BYTES ((int64_t)64 << 20)
#define BOMB_RATIO 100
static int is_bomb(struct archive *a, int64_t *out, int64_t *in) {
    *out = archive_filter_bytes(a, 0);
    *in = archive_filter_bytes(a, -1);
    return *out > BOMB_FREE_BYTES && *out / BOMB_RATIO > (*in > 0 ? *in : 1);
}

int prep_archive_read(struct archive *a, struct archive_entry *e, uint8_t **data, int64_t *n,
                      int64_t limit, const char *path, ssl_err *err) {
    const char *name = archive_entry_pathname(e);
    int64_t cap = archive_entry_size_is_set(e) ? archive_entry_size(e) : 65536, have = 0;
    *data = NULL; *n = 0;
    if (cap > limit) {
        ssl_fail(err, SSL_EDATA, "%s: %s: member too large (%lld bytes)", path, name, (long long)cap);
        return -1;
    }
    if (cap < 1) cap = 1;
    /* Start small and grow as data arrives: an entry header declaring a
     * large size costs nothing until the bytes are really there. */
    if (cap > (1 << 20)) cap = 1 << 20;
    uint8_t *buf = malloc((size_t)cap);
    if (!buf) { ssl_fail(err, SSL_ENOMEM, "%s: %s: out of memory", path, name); return -1; }
    for (;;) {
        if (have == cap) {
            if (cap >= limit) {
                free(buf);
                ssl_fail(err, SSL_EDATA, "%s: %s: member too large", path, name);
                return -1;
            }
            int64_t ncap = cap * 2 < limit ? cap * 2 : limit;
            uint8_t *nb = realloc(buf, (size_t)ncap);
            if (!nb) { free(buf); ssl_fail(err, SSL_ENOMEM, "%s: %s: out of memory", path, name); return -1; }
            buf = nb; cap = ncap;
        }
        /* At most 4 MiB per call, so the bomb check below runs often. */
        int64_t want = cap - have < ((int64_t)4 << 20) ? cap - have : ((int64_t)4 << 20);
        la_ssize_t r = archive_read_data(a, buf + have, (size_t)want);
        if (r < 0) {
            free(buf);
            ssl_fail(err, SSL_EDATA, "%s: %s: corrupt or truncated archive: %s", path, name,
                     archive_error_string(a) ? archive_error_string(a) : "read error");
            return -1;
        }
        if (r == 0) break;
        have += r;
        int64_t bout, bin;
        if (is_bomb(a, &bout, &bin)) {
            free(buf);
            ssl_fail(err, SSL_EDATA, "%s: %s: decompression bomb refused (%lld bytes from %lld compressed)",
                      path, name, (long long)bout, (long long)bin);
            return -1;
        }
    }
    if (archive_entry_size_is_set(e) && have != archive_entry_size(e)) {
        free(buf);
        ssl_fail(err, SSL_EDATA, "%s: %s: truncated archive member (%lld of %lld bytes)", path,
                 name, (long long)have, (long long)archive_entry_size(e));
        return -1;
    }
    *data = buf; *n = have;
    return 0;
}
