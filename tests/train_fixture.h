/* train_fixture.h: helpers shared by tests/test_train.c and
 * tests/test_ckpt.c: a synthetic dataset in memory or as a stream, a tiny
 * network configuration, and the record file of the step fixture
 * (tests/fixtures/step/, written by test_train --gen-step-input and by
 * tests/gen_step_fixture.py).
 *
 * Record file: repeated records of
 *   u32 name length, name bytes, u32 dtype (0 f32, 1 i64), u32 ndim,
 *   i64 shape[ndim], the data (little-endian, row-major). */
#ifndef SSL_TESTS_TRAIN_FIXTURE_H
#define SSL_TESTS_TRAIN_FIXTURE_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/dataset.h"
#include "nn/net.h"
#include "util/rng.h"
#include "stream/sslt.h"

/* n images of c x h x w: class k = i % nclasses shows a bright square
 * whose place depends on the class, moved a little per image, plus two
 * random rectangles per image, over noise. */
static void __attribute__((unused))
tf_make_dataset(ssl_dataset *d, int64_t n, int c, int h, int w, int nclasses, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->n = n, d->c = c, d->h = h, d->w = w, d->nclasses = nclasses;
    d->images = malloc((size_t)n * c * h * w);
    d->labels = malloc((size_t)n * sizeof(int32_t));
    d->labelled = 1;
    d->meta = sv_map();
    sv_set(d->meta, "source", sv_str("synthetic"));
    rng r;
    rng_init(&r, seed, 99, 0);
    double sum[SSL_MAX_CHANNELS] = {0}, sq[SSL_MAX_CHANNELS] = {0};
    for (int64_t i = 0; i < n; i++) {
        int k = (int)(i % nclasses);
        d->labels[i] = k;
        int s = h / 3, y0 = (k * 7) % (h - s), x0 = (k * 11) % (w - s);
        y0 = (y0 + (int)rng_below(&r, 3)) % (h - s);
        x0 = (x0 + (int)rng_below(&r, 3)) % (w - s);
        /* Two rectangles of random place, size and brightness per image:
         * every image differs, so that instances can be told apart. */
        int ry[2], rx[2], rh[2], rw[2], rv[2];
        for (int q = 0; q < 2; q++) {
            rh[q] = 3 + (int)rng_below(&r, (uint64_t)h / 2), rw[q] = 3 + (int)rng_below(&r, (uint64_t)w / 2);
            ry[q] = (int)rng_below(&r, (uint64_t)(h - rh[q])), rx[q] = (int)rng_below(&r, (uint64_t)(w - rw[q]));
            rv[q] = 60 + (int)rng_below(&r, 120);
        }
        for (int ch = 0; ch < c; ch++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int v = (int)rng_below(&r, 40);
                    if (y >= y0 && y < y0 + s && x >= x0 && x < x0 + s) v += 150 + 20 * ch;
                    for (int q = 0; q < 2; q++)
                        if (y >= ry[q] && y < ry[q] + rh[q] && x >= rx[q] && x < rx[q] + rw[q])
                            v += rv[q] - 30 * q * ch;
                    uint8_t p = (uint8_t)(v > 255 ? 255 : v);
                    d->images[((i * c + ch) * h + y) * w + x] = p;
                    sum[ch] += p / 255.0;
                    sq[ch] += (p / 255.0) * (p / 255.0);
                }
    }
    for (int ch = 0; ch < c; ch++) {
        double m = sum[ch] / ((double)n * h * w);
        d->mean[ch] = m;
        d->std[ch] = sqrt(sq[ch] / ((double)n * h * w) - m * m);
    }
}

static void __attribute__((unused)) tf_free_dataset(ssl_dataset *d) {
    free(d->images);
    free(d->labels);
    sv_free(d->meta);
    memset(d, 0, sizeof *d);
}

/* Write d as a dataset stream; 0 or -1 (message on stderr). */
static int __attribute__((unused)) tf_write_dataset(const ssl_dataset *d, const char *path) {
    ssl_err err = {0};
    sv *meta = sv_copy(d->meta);
    sv *classes = sv_array();
    for (int k = 0; k < d->nclasses; k++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", k);
        sv_push(classes, sv_str(name));
    }
    sv_set(meta, "classes", classes);
    sv_set(meta, "mean", sv_float_array(d->mean, (size_t)d->c));
    sv_set(meta, "std", sv_float_array(d->std, (size_t)d->c));
    sv_set(meta, "split", sv_str("train"));
    sslt_tensor ts[2];
    memset(ts, 0, sizeof ts);
    ts[0].name = "images", ts[0].dtype = SSLT_U8, ts[0].ndim = 4;
    ts[0].shape[0] = d->n, ts[0].shape[1] = d->c, ts[0].shape[2] = d->h, ts[0].shape[3] = d->w;
    ts[1].name = "labels", ts[1].dtype = SSLT_I32, ts[1].ndim = 1, ts[1].shape[0] = d->n;
    const void *data[2] = {d->images, d->labels};
    sslt_writer *w = sslt_writer_open(path, 0, &err);
    int rc = -1;
    if (w && !sslt_write_section(w, "dataset", meta, 2, ts, data)) rc = sslt_writer_close(w, &err);
    else if (w) snprintf(err.msg, sizeof err.msg, "%s", sslt_writer_error(w)->msg), sslt_writer_abort(w);
    if (rc) fprintf(stderr, "tf_write_dataset: %s\n", err.msg);
    sv_free(meta);
    return rc;
}

static net_config __attribute__((unused))
tf_net_config(int c, int h, int w, float width, const char *head, int hidden, int dim) {
    net_config nc;
    memset(&nc, 0, sizeof nc);
    snprintf(nc.arch, sizeof nc.arch, "resnet18");
    snprintf(nc.stem, sizeof nc.stem, "cifar");
    snprintf(nc.head, sizeof nc.head, "%s", head);
    nc.width = width, nc.in_ch = c, nc.in_h = h, nc.in_w = w, nc.hidden = hidden, nc.dim = dim;
    return nc;
}

/* ---- record files ---- */
typedef struct {
    char name[160];
    int dtype, ndim;
    int64_t shape[8], numel;
    void *data;
} tf_rec;

static void __attribute__((unused))
tf_put(FILE *f, const char *name, int dtype, int ndim, const int64_t *shape, const void *data) {
    uint32_t len = (uint32_t)strlen(name), dt = (uint32_t)dtype, nd = (uint32_t)ndim;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    fwrite(&len, 4, 1, f);
    fwrite(name, 1, len, f);
    fwrite(&dt, 4, 1, f);
    fwrite(&nd, 4, 1, f);
    fwrite(shape, 8, (size_t)ndim, f);
    fwrite(data, dtype ? 8 : 4, (size_t)numel, f);
}

/* Read all records; returns the count, -1 if the file is missing/damaged. */
static int __attribute__((unused)) tf_read(const char *path, tf_rec **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    int n = 0, cap = 0;
    tf_rec *v = NULL;
    uint32_t len;
    while (fread(&len, 4, 1, f) == 1) {
        if (n == cap) v = realloc(v, (size_t)(cap = cap ? 2 * cap : 64) * sizeof *v);
        tf_rec *r = &v[n];
        uint32_t dt, nd;
        if (len >= sizeof r->name || fread(r->name, 1, len, f) != len) goto bad;
        r->name[len] = 0;
        if (fread(&dt, 4, 1, f) != 1 || fread(&nd, 4, 1, f) != 1 || nd > 8) goto bad;
        r->dtype = (int)dt, r->ndim = (int)nd, r->numel = 1;
        if (fread(r->shape, 8, nd, f) != nd) goto bad;
        for (uint32_t i = 0; i < nd; i++) r->numel *= r->shape[i];
        size_t es = dt ? 8 : 4;
        r->data = malloc((size_t)(r->numel ? r->numel : 1) * es);
        if (fread(r->data, es, (size_t)r->numel, f) != (size_t)r->numel) goto bad;
        n++;
    }
    fclose(f);
    *out = v;
    return n;
bad:
    fclose(f);
    for (int i = 0; i < n; i++) free(v[i].data);
    free(v);
    return -1;
}

__attribute__((unused)) static tf_rec *tf_find(tf_rec *v, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v[i].name, name)) return &v[i];
    return NULL;
}

static void __attribute__((unused)) tf_free(tf_rec *v, int n) {
    for (int i = 0; i < n; i++) free(v[i].data);
    free(v);
}
#endif
