/* safetensors.c: the safetensors writer and checking reader
 * (safetensors.h). The header is JSON, read with sv_from_json and written
 * with sv_write_json; data is copied as it is (little-endian hosts). */
#include "stream/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/outfile.h"

static const struct { const char *name; int size; } dtypes[] = {
    {"BOOL", 1}, {"U8", 1}, {"I8", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2},
    {"U16", 2}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},
    {"I64", 8}, {"U64", 8}, {"F64", 8},
};

int st_dtype_size(const char *dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(dtype, dtypes[i].name)) return dtypes[i].size;
    return 0;
}

void st_header_destroy(st_header *h) {
    if (!h) return;
    for (int i = 0; i < h->ntensors; i++) free(h->tensors[i].name);
    free(h->tensors);
    sv_free(h->meta);
    memset(h, 0, sizeof *h);
}

static void shape_str(char *buf, size_t len, const st_tensor *t) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* A non-negative integer value (< 2^62), or -1. */
static int64_t nonneg(const sv *v) {
    return v && v->type == SV_INT && v->u.i >= 0 && v->u.i < ((int64_t)1 << 62) ? v->u.i : -1;
}

/* One tensor entry: name and value of the header's map. */
static int parse_tensor(st_tensor *t, const char *name, const sv *v, ssl_err *err) {
    const sv *dt = sv_get(v, "dtype"), *sh = sv_get(v, "shape"), *off = sv_get(v, "data_offsets");
    if (!dt || !sh || !off)
        return ssl_fail(err, SSL_EDATA, "tensor '%.200s': not a map with dtype, shape and data_offsets", name);
    if (dt->type != SV_STR || dt->u.str.len >= sizeof t->dtype || !st_dtype_size(dt->u.str.s))
        return ssl_fail(err, SSL_EDATA, "tensor '%.200s': unknown dtype %s%.40s%s", name,
                        dt->type == SV_STR ? "'" : "", dt->type == SV_STR ? dt->u.str.s : "(not a string)",
                        dt->type == SV_STR ? "'" : "");
    snprintf(t->dtype, sizeof t->dtype, "%s", dt->u.str.s);
    if (sh->type != SV_ARRAY || sv_len(sh) > ST_MAX_DIMS)
        return ssl_fail(err, SSL_EDATA, "tensor '%.200s': shape is not a list of at most %d sizes",
                        name, ST_MAX_DIMS);
    t->ndim = (int)sv_len(sh);
    int64_t bytes = st_dtype_size(t->dtype);
    for (int d = 0; d < t->ndim; d++) {
        if ((t->shape[d] = nonneg(sv_at(sh, d))) < 0)
            return ssl_fail(err, SSL_EDATA, "tensor '%.200s': shape is not a list of non-negative integers",
                            name);
        if (t->shape[d] && bytes > ((int64_t)1 << 62) / t->shape[d])
            return ssl_fail(err, SSL_EDATA, "tensor '%.200s': shape too large", name);
        bytes *= t->shape[d];
    }
    if (off->type != SV_ARRAY || sv_len(off) != 2 || (t->begin = nonneg(sv_at(off, 0))) < 0 ||
        (t->end = nonneg(sv_at(off, 1))) < t->begin)
        return ssl_fail(err, SSL_EDATA, "tensor '%.200s': data_offsets is not [begin, end] with "
                        "0 <= begin <= end", name);
    if (t->end - t->begin != bytes) {
        char s[160];
        shape_str(s, sizeof s, t);
        return ssl_fail(err, SSL_EDATA, "tensor '%.200s': data_offsets [%lld, %lld] hold %lld bytes, "
                        "%s %s needs %lld", name, (long long)t->begin, (long long)t->end,
                        (long long)(t->end - t->begin), t->dtype, s, (long long)bytes);
    }
    return 0;
}

typedef struct { int64_t begin, end; int i; } span;

static int by_offset(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->i - y->i;
}

/* The tensors must tile [0, data_len) exactly: sorted by offset, each
 * begins where the one before it ends. */
static int check_tiling(st_header *h, ssl_err *err) {
    span *ord = malloc((size_t)(h->ntensors ? h->ntensors : 1) * sizeof *ord);
    if (!ord) return ssl_fail(err, SSL_ENOMEM, "out of memory");
    for (int i = 0; i < h->ntensors; i++)
        ord[i] = (span){h->tensors[i].begin, h->tensors[i].end, i};
    qsort(ord, (size_t)h->ntensors, sizeof *ord, by_offset);
    int64_t end = 0;
    const st_tensor *prev = NULL;
    for (int k = 0; k < h->ntensors; k++) {
        const st_tensor *t = &h->tensors[ord[k].i];
        if (t->begin < end) {
            ssl_fail(err, SSL_EDATA, "tensors '%.150s' and '%.150s' overlap (data_offsets [%lld, %lld] "
                     "and [%lld, %lld])", prev->name, t->name, (long long)prev->begin,
                     (long long)prev->end, (long long)t->begin, (long long)t->end);
            free(ord);
            return -1;
        }
        if (t->begin > end) {
            ssl_fail(err, SSL_EDATA, "tensor '%.200s': data_offsets begin at %lld, but the data before "
                     "it ends at %lld (a gap)", t->name, (long long)t->begin, (long long)end);
            free(ord);
            return -1;
        }
        prev = t;
        end = t->end;
    }
    free(ord);
    h->data_len = end;
    return 0;
}

int st_parse_header(const char *json, size_t n, st_header *h, ssl_err *err) {
    memset(h, 0, sizeof *h);
    if (n == 0 || json[0] != '{') return ssl_fail(err, SSL_EDATA, "the header is not a JSON object");
    ssl_err jerr;
    sv *v = sv_from_json(json, n, &jerr);
    if (!v) {
        if (jerr.code == SSL_ENOMEM) return ssl_forward(err, &jerr);
        return ssl_fail(err, SSL_EDATA, "the header is not JSON: %s", jerr.msg);
    }
    const sv *meta = sv_get(v, "__metadata__");
    int ok = !meta || meta->type == SV_MAP;
    for (size_t i = 0; ok && i < sv_len(meta); i++) ok = sv_at(meta, i)->type == SV_STR;
    if (!ok) {
        sv_free(v);
        return ssl_fail(err, SSL_EDATA, "__metadata__ is not a map of strings");
    }
    size_t nt = sv_len(v) - (meta != NULL);
    h->meta = meta ? sv_copy(meta) : sv_map();
    h->tensors = calloc(nt ? nt : 1, sizeof *h->tensors);
    if (!h->meta || !h->tensors) {
        sv_free(v);
        st_header_destroy(h);
        return ssl_fail(err, SSL_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < sv_len(v); i++) {
        const char *name = sv_key(v, i);
        if (!strcmp(name, "__metadata__")) continue;
        st_tensor *t = &h->tensors[h->ntensors];
        if (parse_tensor(t, name, sv_at(v, i), err)) goto fail;
        if (!(t->name = strdup(name))) {
            ssl_fail(err, SSL_ENOMEM, "out of memory");
            goto fail;
        }
        h->ntensors++;
    }
    sv_free(v);
    if (check_tiling(h, err)) {
        st_header_destroy(h);
        return -1;
    }
    return 0;
fail:
    sv_free(v);
    st_header_destroy(h);
    return -1;
}

/* Up to n bytes from fd; the count read (short only at end of file), or
 * -1 with errno. */
static int64_t read_upto(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return -1;
        if (k == 0) break;
        got += (size_t)k;
    }
    return (int64_t)got;
}

/* Read exactly n bytes into a buffer grown as they arrive (*buf, NULL:
 * counted only). Returns the count read (< n at end of file), or -1. */
static int64_t read_grow(int fd, int64_t n, void **buf) {
    char scratch[1 << 14];
    size_t cap = 0;
    int64_t got = 0;
    char *b = NULL;
    while (got < n) {
        size_t want = (size_t)(n - got);
        char *dst = scratch;
        if (buf) {
            if ((size_t)got == cap) {
                size_t nc = cap ? 2 * cap : 1 << 16;
                if ((int64_t)nc > n) nc = (size_t)n;
                char *q = realloc(b, nc);
                if (!q) { free(b); errno = ENOMEM; return -1; }
                b = q;
                cap = nc;
            }
            dst = b + got;
            want = cap - (size_t)got;
        } else if (want > sizeof scratch) {
            want = sizeof scratch;
        }
        int64_t k = read_upto(fd, dst, want);
        if (k < 0) { free(b); return -1; }
        got += k;
        if ((size_t)k < want) break;
    }
    if (buf) *buf = b;
    return got;
}

int st_read(const char *path, st_header *h, void **data, ssl_err *err) {
    int fd = 0;
    const char *name = path && strcmp(path, "-") ? path : "<stdin>";
    char *json = NULL;
    unsigned char len8[8];
    struct stat st;
    memset(h, 0, sizeof *h);
    if (data) *data = NULL;
    if (path && strcmp(path, "-") && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return ssl_fail(err, SSL_EIO, "%s: %s", name, strerror(errno));
    int64_t k = read_upto(fd, len8, 8);
    if (k < 0) goto ioerr;
    if (k == 0) { ssl_fail(err, SSL_EDATA, "%s: empty file", name); goto fail; }
    if (k < 8) { ssl_fail(err, SSL_EDATA, "%s: truncated (no 8-byte header length)", name); goto fail; }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n < 2 || n > ST_MAX_HEADER) {
        ssl_fail(err, SSL_EDATA, "%s: header length %llu is absurd (2 to %d bytes; not a safetensors file?)",
                 name, (unsigned long long)n, ST_MAX_HEADER);
        goto fail;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (int64_t)n > st.st_size - 8) {
        ssl_fail(err, SSL_EDATA, "%s: header length %llu exceeds the file's %lld bytes", name,
                 (unsigned long long)n, (long long)st.st_size);
        goto fail;
    }
    void *jb = NULL;
    k = read_grow(fd, (int64_t)n, &jb);
    json = jb;
    if (k < 0) goto ioerr;
    if (k < (int64_t)n) {
        ssl_fail(err, SSL_EDATA, "%s: truncated (a header of %llu bytes, %lld follow)", name,
                 (unsigned long long)n, (long long)k);
        goto fail;
    }
    if (st_parse_header(json, (size_t)n, h, err)) {
        ssl_prefix(err, "%s: ", name);
        goto fail;
    }
    h->header_len = (int64_t)n;
    free(json);
    json = NULL;
    k = read_grow(fd, h->data_len, data);
    if (k < 0) goto ioerr;
    if (k < h->data_len) {
        ssl_fail(err, SSL_EDATA, "%s: truncated (the tensors need %lld bytes of data, %lld follow)", name,
                 (long long)h->data_len, (long long)k);
        goto fail;
    }
    char extra;
    if ((k = read_upto(fd, &extra, 1)) < 0) goto ioerr;
    if (k) {
        ssl_fail(err, SSL_EDATA, "%s: trailing bytes after the %lld bytes of data the tensors cover", name,
                 (long long)h->data_len);
        goto fail;
    }
    if (fd) close(fd);
    return 0;
ioerr:
    ssl_fail(err, errno == ENOMEM ? SSL_ENOMEM : SSL_EIO, "%s: %s", name, strerror(errno));
fail:
    if (fd) close(fd);
    free(json);
    if (data) { free(*data); *data = NULL; }
    st_header_destroy(h);
    return -1;
}

int st_write(const char *path, const sv *meta, int n, const st_tensor *t,
             const void *const *data, ssl_err *err) {
    const char *name = path && strcmp(path, "-") ? path : "<stdout>";
    sv *hdr = sv_map();
    char *json = NULL;
    size_t len = 0;
    int64_t off = 0;
    int rc = -1;
    if (!hdr) return ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < sv_len(meta); i++)
        if (meta->type != SV_MAP || sv_at(meta, i)->type != SV_STR) {
            ssl_fail(err, SSL_EARG, "%s: __metadata__ must be a map of strings", name);
            goto out;
        }
    if (sv_len(meta) && sv_set(hdr, "__metadata__", sv_copy(meta))) goto nomem;
    for (int i = 0; i < n; i++) {
        int64_t bytes = st_dtype_size(t[i].dtype);
        if (!bytes || t[i].ndim < 0 || t[i].ndim > ST_MAX_DIMS) {
            ssl_fail(err, SSL_EARG, "%s: tensor '%s': bad dtype or rank", name, t[i].name);
            goto out;
        }
        if (!strcmp(t[i].name, "__metadata__") || sv_get(hdr, t[i].name)) {
            ssl_fail(err, SSL_EARG, "%s: tensor name '%s' is reserved or repeated", name, t[i].name);
            goto out;
        }
        for (int d = 0; d < t[i].ndim; d++) bytes *= t[i].shape[d];
        int64_t o[2] = {off, off + bytes};
        sv *e = sv_map();
        if (!e || sv_set(e, "dtype", sv_str(t[i].dtype)) ||
            sv_set(e, "shape", sv_int_array(t[i].shape, (size_t)t[i].ndim)) ||
            sv_set(e, "data_offsets", sv_int_array(o, 2)) || sv_set(hdr, t[i].name, e))
            goto nomem;
        off += bytes;
    }
    FILE *f = open_memstream(&json, &len);
    if (!f) goto nomem;
    sv_write_json(hdr, f, -1);
    /* Spaces up to a multiple of 8, so that the data is 8-byte aligned. */
    while ((8 + ftell(f)) % 8) fputc(' ', f);
    if (fclose(f)) goto nomem;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)len >> (8 * i));
    ssl_outfile o;
    if (outfile_open(&o, path, err)) goto out;
    int bad = outfile_write(&o, len8, 8, err) || outfile_write(&o, json, len, err);
    for (int i = 0; i < n && !bad; i++) {
        int64_t bytes = st_dtype_size(t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++) bytes *= t[i].shape[d];
        bad = outfile_write(&o, data[i], (size_t)bytes, err);
    }
    if (bad) outfile_abort(&o);
    else rc = outfile_commit(&o, err);
    goto out;
nomem:
    ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name);
out:
    free(json);
    sv_free(hdr);
    return rc;
}
