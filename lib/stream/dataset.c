/* dataset.c: datasets and feature sets read from tensor streams (dataset.h).
 *
 * dataset_load and features_load read a stream of one section wholly into
 * memory (a second section is an error: ssl-tensor(5) allows several, but
 * datasets and features are one each, and no tool silently reads the
 * first of several); ssl_dstream walks a dataset's chunks in bounded memory,
 * pairing image rows with label rows however the writer interleaved them
 * (it keeps whatever one tensor has read ahead of the other). All of them
 * check the kind, the tensor names, dtypes and shapes, and that labels lie
 * in [0, nclasses): nclasses is the length of meta.classes when present,
 * else 1 + the largest label (a stream without a class list cannot be
 * checked up front, so dstream only checks labels against meta.classes).
 * A stream without a labels tensor is unlabelled: labelled 0, no labels,
 * no classes. mean and std come from meta (one number per channel); when
 * absent they are 0 and 1, i.e. no normalisation, the same for every
 * reader. */
#include "stream/dataset.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "NAME: message" into err; returns -1. */
static int dfail(ssl_err *err, ssl_code code, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int dfail(ssl_err *err, ssl_code code, const char *name, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ssl_failv(err, code, fmt, ap);
    va_end(ap);
    ssl_prefix(err, "%s: ", name);
    return -1;
}

static void free_classes(char **c, int n) {
    for (int i = 0; c && i < n; i++) free(c[i]);
    free(c);
}

/* Class names from meta.classes: 0 with *out (NULL when absent), or -1. */
static int get_classes(const sv *meta, char ***out, int *n, const char *name,
                       ssl_err *err) {
    const sv *c = sv_get(meta, "classes");
    *out = NULL;
    *n = 0;
    if (!c) return 0;
    if (c->type != SV_ARRAY || sv_len(c) < 1 || sv_len(c) > (1u << 24))
        return dfail(err, SSL_EDATA, name, "meta.classes is not a list of names");
    char **v = calloc(sv_len(c), sizeof *v);
    if (!v) return dfail(err, SSL_ENOMEM, name, "out of memory");
    for (size_t i = 0; i < sv_len(c); i++) {
        const sv *s = sv_at(c, i);
        if (s->type != SV_STR || !(v[i] = strdup(s->u.str.s))) {
            free_classes(v, (int)i);
            return dfail(err, SSL_EDATA, name, "meta.classes[%zu] is not a string", i);
        }
    }
    *out = v;
    *n = (int)sv_len(c);
    return 0;
}

/* Check a header's kind and images/labels tensors; fill d's shape, meta,
 * classes, mean, std, labelled. Returns 0 or -1. *ii and *li get the tensor
 * indices (*li -1: unlabelled). */
static int check_dataset(const sslt_header *h, ssl_dataset *d, int *ii, int *li,
                         const char *name, ssl_err *err) {
    if (strcmp(h->kind, DATASET_KIND))
        return dfail(err, SSL_EDATA, name, "a '%s' stream, not a dataset", h->kind);
    *ii = sslt_find(h, "images");
    *li = sslt_find(h, "labels");
    if (*ii < 0) return dfail(err, SSL_EDATA, name, "no tensor 'images'");
    const sslt_tensor *im = &h->tensors[*ii], *lb = *li >= 0 ? &h->tensors[*li] : NULL;
    if (im->dtype != SSLT_U8 || im->ndim != 4)
        return dfail(err, SSL_EDATA, name, "images must be u8 [N, C, H, W]");
    if (lb && (lb->dtype != SSLT_I32 || lb->ndim != 1 || lb->shape[0] != im->shape[0]))
        return dfail(err, SSL_EDATA, name, "labels must be i32 [N] with N = %lld", (long long)im->shape[0]);
    if (im->shape[1] < 1 || im->shape[1] > SSL_MAX_CHANNELS)
        return dfail(err, SSL_EDATA, name, "%lld channels (1 to %d)", (long long)im->shape[1], SSL_MAX_CHANNELS);
    if (im->shape[2] < 1 || im->shape[3] < 1 || im->shape[2] > 65536 || im->shape[3] > 65536)
        return dfail(err, SSL_EDATA, name, "bad image size %lldx%lld", (long long)im->shape[2],
                     (long long)im->shape[3]);
    memset(d, 0, sizeof *d);
    d->labelled = lb != NULL;
    d->n = im->shape[0];
    d->c = (int)im->shape[1];
    d->h = (int)im->shape[2];
    d->w = (int)im->shape[3];
    const sv *mean = sv_get(h->meta, "mean"), *std = sv_get(h->meta, "std");
    for (int c = 0; c < d->c; c++) {
        d->mean[c] = 0;
        d->std[c] = 1;
        if (mean && (sv_len(mean) != (size_t)d->c || sv_number(sv_at(mean, c), &d->mean[c]) ||
                     !isfinite(d->mean[c])))
            return dfail(err, SSL_EDATA, name, "meta.mean is not %d numbers", d->c);
        if (std && (sv_len(std) != (size_t)d->c || sv_number(sv_at(std, c), &d->std[c]) ||
                    !(d->std[c] > 0) || !isfinite(d->std[c])))
            return dfail(err, SSL_EDATA, name, "meta.std is not %d positive numbers", d->c);
    }
    if (d->labelled && get_classes(h->meta, &d->classes, &d->nclasses, name, err)) return -1;
    if (!(d->meta = sv_copy(h->meta))) {
        free_classes(d->classes, d->nclasses);
        d->classes = NULL;
        return dfail(err, SSL_ENOMEM, name, "out of memory");
    }
    return 0;
}

/* Labels in range; sets *nclasses when it is 0 (no class list). */
static int check_labels(const int32_t *lab, int64_t n, int *nclasses, const char *name,
                        ssl_err *err) {
    int32_t mx = -1;
    for (int64_t i = 0; i < n; i++) {
        if (lab[i] < 0 || (*nclasses && lab[i] >= *nclasses))
            return dfail(err, SSL_EDATA, name, "label %d of row %lld is out of range [0, %d)", lab[i],
                         (long long)i, *nclasses);
        if (lab[i] > mx) mx = lab[i];
    }
    if (!*nclasses) *nclasses = mx + 1;
    return 0;
}

void dataset_destroy(ssl_dataset *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    free_classes(d->classes, d->nclasses);
    sv_free(d->meta);
    memset(d, 0, sizeof *d);
}

/* Load the section whose header h was just read from r. */
static int dataset_read(ssl_dataset *d, sslt_reader *r, const sslt_header *h,
                        ssl_err *err) {
    const char *name = sslt_reader_name(r);
    int ii, li, rc = -1;
    if (check_dataset(h, d, &ii, &li, name, err)) return -1;
    void **data = calloc(h->ntensors, sizeof *data);
    int *only = calloc(h->ntensors, sizeof *only);
    if (!data || !only) dfail(err, SSL_ENOMEM, name, "out of memory");
    else {
        only[ii] = 1;
        if (li >= 0) only[li] = 1;
        if (sslt_reader_read_all(r, data, only))
            ssl_forward(err, sslt_reader_error(r));
        else {
            d->images = data[ii];
            d->labels = li >= 0 ? data[li] : NULL;
            rc = li >= 0 ? check_labels(d->labels, d->n, &d->nclasses, name, err) : 0;
            if (!rc && sslt_reader_expect_end(r, DATASET_KIND)) {
                ssl_forward(err, sslt_reader_error(r));
                rc = -1;
            }
        }
    }
    free(data);
    free(only);
    if (rc) dataset_destroy(d);
    return rc;
}

/* Open path and read the first section header: the reader, or NULL. */
static sslt_reader *open_first(const char *path, const sslt_header **h, ssl_err *err) {
    sslt_reader *r = sslt_reader_open(path, err);
    if (!r) return NULL;
    int k = sslt_reader_next(r, h);
    if (k > 0) return r;
    if (k < 0) ssl_forward(err, sslt_reader_error(r));
    else dfail(err, SSL_EDATA, sslt_reader_name(r), "no section");
    sslt_reader_close(r);
    return NULL;
}

int dataset_load(ssl_dataset *d, const char *path, ssl_err *err) {
    memset(d, 0, sizeof *d);
    const sslt_header *h;
    sslt_reader *r = open_first(path, &h, err);
    if (!r) return -1;
    int rc = dataset_read(d, r, h, err);
    sslt_reader_close(r);
    return rc;
}

/* ---- streaming ---- */

/* Rows [lo, hi) of one tensor that were read ahead. */
typedef struct {
    unsigned char *p;
    int64_t lo, hi;
    size_t cap, row_bytes;
} rowbuf;

struct ssl_dstream {
    sslt_reader *r;
    ssl_dataset info;
    int ii, li, done;
    int ended;                    /* the end of the stream was checked */
    int64_t pos;                  /* rows delivered */
    rowbuf b[2];                  /* images, labels */
    ssl_err err;
};

ssl_dstream *dstream_open(const char *path, ssl_err *err) {
    ssl_dstream *s = calloc(1, sizeof *s);
    if (!s) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path ? path : "-"); return NULL; }
    const sslt_header *h;
    if (!(s->r = open_first(path, &h, err))) { free(s); return NULL; }
    if (check_dataset(h, &s->info, &s->ii, &s->li, sslt_reader_name(s->r), err)) {
        dstream_close(s);
        return NULL;
    }
    s->b[0].row_bytes = sslt_tensor_row_bytes(&h->tensors[s->ii]);
    s->b[1].row_bytes = sizeof(int32_t);
    return s;
}

const ssl_dataset *dstream_info(const ssl_dstream *s) { return &s->info; }
const ssl_err *dstream_error(const ssl_dstream *s) { return &s->err; }

void dstream_close(ssl_dstream *s) {
    if (!s) return;
    sslt_reader_close(s->r);
    dataset_destroy(&s->info);
    free(s->b[0].p);
    free(s->b[1].p);
    free(s);
}

/* Append rows [row, row+n) to b, first dropping rows before keep. */
static int rowbuf_add(rowbuf *b, int64_t keep, int64_t row, int64_t n, const void *data) {
    if (b->lo < keep) {
        int64_t drop = (keep < b->hi ? keep : b->hi) - b->lo;
        memmove(b->p, b->p + drop * b->row_bytes, (size_t)(b->hi - b->lo - drop) * b->row_bytes);
        b->lo += drop;
    }
    if (b->hi == b->lo) b->lo = b->hi = row;
    size_t need = (size_t)(b->hi - b->lo + n) * b->row_bytes;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < need) cap *= 2;
        unsigned char *p = realloc(b->p, cap);
        if (!p) return -1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + (size_t)(b->hi - b->lo) * b->row_bytes, data, (size_t)n * b->row_bytes);
    b->hi += n;
    return 0;
}

int64_t dstream_next(ssl_dstream *s, uint8_t *images, int32_t *labels, int64_t max) {
    int64_t got = 0;
    const char *name = sslt_reader_name(s->r);
    int lab_ok = s->li >= 0;              /* the labels tensor exists */
    while (got < max) {
        int64_t hi = lab_ok && s->b[1].hi < s->b[0].hi ? s->b[1].hi : s->b[0].hi;
        int64_t avail = hi - s->pos;
        if (avail > 0 && s->b[0].lo <= s->pos && (!lab_ok || s->b[1].lo <= s->pos)) {
            int64_t n = avail < max - got ? avail : max - got;
            memcpy(images + got * s->b[0].row_bytes,
                   s->b[0].p + (size_t)(s->pos - s->b[0].lo) * s->b[0].row_bytes,
                   (size_t)n * s->b[0].row_bytes);
            const int32_t *lab = lab_ok ? (const int32_t *)s->b[1].p + (s->pos - s->b[1].lo) : NULL;
            for (int64_t i = 0; lab && i < n; i++) {
                if (lab[i] < 0 || (s->info.nclasses && lab[i] >= s->info.nclasses)) {
                    dfail(&s->err, SSL_EDATA, name, "label %d of row %lld is out of range", lab[i],
                          (long long)(s->pos + i));
                    return -1;
                }
                labels[got + i] = lab[i];
            }
            got += n;
            s->pos += n;
            continue;
        }
        if (s->done) break;
        int ti;
        int64_t row, n;
        const void *data;
        int k = sslt_reader_chunk(s->r, &ti, &row, &n, &data);
        if (k < 0) {
            s->err = *sslt_reader_error(s->r);
            return -1;
        }
        if (k == 0) { s->done = 1; continue; }
        int which = ti == s->ii ? 0 : lab_ok && ti == s->li ? 1 : -1;
        if (which >= 0 && rowbuf_add(&s->b[which], s->pos, row, n, data)) {
            dfail(&s->err, SSL_ENOMEM, name, "out of memory");
            return -1;
        }
    }
    if (got == 0 && s->done && s->pos != s->info.n) {
        dfail(&s->err, SSL_EDATA, name, "%lld of %lld rows", (long long)s->pos, (long long)s->info.n);
        return -1;
    }
    /* Every row delivered: the stream must end here (one section). */
    if (got == 0 && s->done && !s->ended) {
        s->ended = 1;
        if (sslt_reader_expect_end(s->r, DATASET_KIND)) {
            s->err = *sslt_reader_error(s->r);
            return -1;
        }
    }
    return got;
}

/* ---- features ---- */

void features_destroy(ssl_features *f) {
    if (!f) return;
    free(f->x);
    free(f->labels);
    free_classes(f->classes, f->nclasses);
    free(f->kind);
    sv_free(f->meta);
    memset(f, 0, sizeof *f);
}

int features_load(ssl_features *f, const char *path, ssl_err *err) {
    memset(f, 0, sizeof *f);
    const sslt_header *h;
    sslt_reader *r = open_first(path, &h, err);
    if (!r) return -1;
    const char *name = sslt_reader_name(r);
    int rc = -1;
    if (!strcmp(h->kind, DATASET_KIND)) {
        ssl_dataset d;
        memset(&d, 0, sizeof d);
        if (dataset_read(&d, r, h, err)) { sslt_reader_close(r); return -1; }
        size_t dim = (size_t)d.c * d.h * d.w;
        f->n = d.n;
        f->dim = (int)dim;
        f->x = malloc(d.n ? (size_t)d.n * dim * sizeof(float) : 1);
        f->kind = strdup(DATASET_KIND);
        if (!f->x || !f->kind) {
            dfail(err, SSL_ENOMEM, name, "out of memory");
            dataset_destroy(&d);
            features_destroy(f);
            sslt_reader_close(r);
            return -1;
        }
        for (size_t i = 0; i < (size_t)d.n * dim; i++) f->x[i] = d.images[i] / 255.0f;
        f->labels = d.labels;
        f->labelled = d.labelled;
        f->classes = d.classes;
        f->nclasses = d.nclasses;
        f->meta = d.meta;
        d.labels = NULL;
        d.classes = NULL;
        d.meta = NULL;
        dataset_destroy(&d);
        sslt_reader_close(r);
        return 0;
    }
    if (strcmp(h->kind, FEATURES_KIND)) {
        dfail(err, SSL_EDATA, name, "a '%s' stream, not features or a dataset", h->kind);
        sslt_reader_close(r);
        return -1;
    }
    int xi = sslt_find(h, "features"), li = sslt_find(h, "labels");
    const sslt_tensor *xt = xi >= 0 ? &h->tensors[xi] : NULL, *lt = li >= 0 ? &h->tensors[li] : NULL;
    void **data = calloc(h->ntensors, sizeof *data);
    int *only = calloc(h->ntensors, sizeof *only);
    if (!xt) dfail(err, SSL_EDATA, name, "no tensor 'features'");
    else if (xt->dtype != SSLT_F32 || xt->ndim != 2 || xt->shape[1] < 1 || xt->shape[1] > INT32_MAX)
        dfail(err, SSL_EDATA, name, "features must be f32 [N, F]");
    else if (lt && (lt->dtype != SSLT_I32 || lt->ndim != 1 || lt->shape[0] != xt->shape[0]))
        dfail(err, SSL_EDATA, name, "labels must be i32 [N] with N = %lld", (long long)xt->shape[0]);
    else if (!data || !only) dfail(err, SSL_ENOMEM, name, "out of memory");
    else if (lt && get_classes(h->meta, &f->classes, &f->nclasses, name, err)) {}
    else if (!(f->meta = sv_copy(h->meta)) || !(f->kind = strdup(h->kind)))
        dfail(err, SSL_ENOMEM, name, "out of memory");
    else {
        f->n = xt->shape[0];
        f->dim = (int)xt->shape[1];
        f->labelled = lt != NULL;
        only[xi] = 1;
        if (lt) only[li] = 1;
        if (sslt_reader_read_all(r, data, only))
            ssl_forward(err, sslt_reader_error(r));
        else {
            f->x = data[xi];
            f->labels = lt ? data[li] : NULL;
            rc = lt ? check_labels(f->labels, f->n, &f->nclasses, name, err) : 0;
            if (!rc && sslt_reader_expect_end(r, FEATURES_KIND)) {
                ssl_forward(err, sslt_reader_error(r));
                rc = -1;
            }
        }
    }
    free(data);
    free(only);
    sslt_reader_close(r);
    if (rc) features_destroy(f);
    return rc;
}

/* ---- writing ---- */

int dataset_write(const char *path, int level, const sv *meta, int64_t n, int c, int h, int w,
                  const uint8_t *images, const int32_t *labels, ssl_err *err) {
    sslt_writer *wr = sslt_writer_open(path, level, err);
    if (!wr) return -1;
    sslt_tensor t[2];
    memset(t, 0, sizeof t);
    t[0].name = "images"; t[0].dtype = SSLT_U8; t[0].ndim = 4;
    t[0].shape[0] = n; t[0].shape[1] = c; t[0].shape[2] = h; t[0].shape[3] = w;
    t[1].name = "labels"; t[1].dtype = SSLT_I32; t[1].ndim = 1; t[1].shape[0] = n;
    size_t row = (size_t)c * h * w;
    int64_t block = row ? (int64_t)(SSLT_CHUNK_BYTES / row) : 1;
    if (block < 1) block = 1;
    /* Images and labels of the same rows in turn, so that a reader
     * streams both in bounded memory. */
    int rc = sslt_writer_begin(wr, DATASET_KIND, meta, labels ? 2 : 1, t);
    for (int64_t r = 0; !rc && r < n; r += block) {
        int64_t nb = n - r < block ? n - r : block;
        rc = sslt_writer_rows(wr, 0, images + (size_t)r * row, nb);
        if (!rc && labels) rc = sslt_writer_rows(wr, 1, labels + r, nb);
    }
    if (!rc) rc = sslt_writer_end(wr);
    if (rc) {
        ssl_forward(err, sslt_writer_error(wr));
        sslt_writer_abort(wr);
        return -1;
    }
    return sslt_writer_close(wr, err);
}

struct features_writer {
    sslt_writer *w;
    int64_t n, done;
    int labelled;
};

features_writer *features_writer_open(const char *path, const sv *meta, int64_t n, int dim,
                                      int labelled, ssl_err *err) {
    features_writer *fw = calloc(1, sizeof *fw);
    if (!fw) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return NULL; }
    sslt_tensor t[2];
    memset(t, 0, sizeof t);
    t[0].name = "features"; t[0].dtype = SSLT_F32; t[0].ndim = 2;
    t[0].shape[0] = n; t[0].shape[1] = dim;
    t[1].name = "labels"; t[1].dtype = SSLT_I32; t[1].ndim = 1; t[1].shape[0] = n;
    fw->n = n;
    fw->labelled = labelled;
    if (!(fw->w = sslt_writer_open(path, 0, err))) { free(fw); return NULL; }
    if (sslt_writer_begin(fw->w, FEATURES_KIND, meta, labelled ? 2 : 1, t)) {
        ssl_forward(err, sslt_writer_error(fw->w));
        features_writer_abort(fw);
        return NULL;
    }
    return fw;
}

int features_writer_rows(features_writer *fw, const float *x, const int32_t *labels,
                         int64_t rows, ssl_err *err) {
    if (fw->done + rows > fw->n)
        return ssl_fail(err, SSL_EDATA, "%s: more rows than the %lld announced",
                        sslt_writer_name(fw->w), (long long)fw->n);
    if (sslt_writer_rows(fw->w, 0, x, rows) ||
        (fw->labelled && sslt_writer_rows(fw->w, 1, labels, rows)))
        return ssl_forward(err, sslt_writer_error(fw->w));
    fw->done += rows;
    return 0;
}

int features_writer_close(features_writer *fw, ssl_err *err) {
    int rc = -1;
    if (fw->done != fw->n)
        ssl_fail(err, SSL_EDATA, "%s: %lld rows written, %lld announced",
                 sslt_writer_name(fw->w), (long long)fw->done, (long long)fw->n);
    else if (sslt_writer_end(fw->w))
        ssl_forward(err, sslt_writer_error(fw->w));
    else {
        rc = sslt_writer_close(fw->w, err);
        fw->w = NULL;
    }
    features_writer_abort(fw);
    return rc;
}

void features_writer_abort(features_writer *fw) {
    if (!fw) return;
    sslt_writer_abort(fw->w);
    free(fw);
}
