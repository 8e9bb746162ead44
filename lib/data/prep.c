/* prep.c: the generic steps of ssl-prep on an in-memory split: detecting
 * the kind of input (prep_load), channel conversion and resizing, class
 * names, per-class seeded subsets and exact per-channel pixel statistics.
 * Nothing here depends on the stream writer. */
#include "data/prep.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/image.h"
#include "util/rng.h"
#include "util/threads.h"

int prep_labels_none(const prep_opts *o) {
    return o && o->labels && !strcmp(o->labels, "none");
}

/* --labels folders names a layout only image folders have. */
static int folders_refused(const prep_opts *o, const char *path, const char *kind, ssl_err *err) {
    if (!o->labels || strcmp(o->labels, "folders")) return 0;
    return ssl_fail(err, SSL_EARG, "--labels folders: %s is %s, not an image folder or archive",
                    path, kind);
}

/* Forget the labels and class names (--labels none). */
static void drop_labels(prep_data *d) {
    free(d->labels);
    d->labels = NULL;
    for (int i = 0; d->classes && i < d->nclasses; i++) free(d->classes[i]);
    free(d->classes);
    d->classes = NULL;
    d->nclasses = 0;
}

int prep_load(prep_data *d, const char *const *paths, int npaths, const prep_opts *o,
              ssl_err *err) {
    prep_opts dflt = {0};
    if (!o) o = &dflt;
    memset(d, 0, sizeof *d);
    int rc;
    if (npaths == 2) {
        if (folders_refused(o, paths[0], "a pair of IDX files", err)) return -1;
        int k0 = prep_idx_kind(paths[0], err), k1;
        if (k0 < 0) return -1;
        if (k0 == 0) { ssl_fail(err, SSL_EDATA, "%s: not an IDX file (bad magic)", paths[0]); return -1; }
        if ((k1 = prep_idx_kind(paths[1], err)) < 0) return -1;
        if (k1 == 0) { ssl_fail(err, SSL_EDATA, "%s: not an IDX file (bad magic)", paths[1]); return -1; }
        if (k0 == k1) {
            ssl_fail(err, SSL_EDATA, "%s: both inputs are IDX %s files; give one images and one labels file",
                     paths[1], k0 == 3 ? "images" : "labels");
            return -1;
        }
        rc = k0 == 3 ? prep_idx_load(d, paths[0], paths[1], err) : prep_idx_load(d, paths[1], paths[0], err);
    } else if (npaths == 1) {
        const char *p = paths[0];
        struct stat st;
        if (stat(p, &st)) { ssl_fail(err, SSL_EIO, "%s: %s", p, strerror(errno)); return -1; }
        if (S_ISDIR(st.st_mode)) {
            char ipath[4096], lpath[4096];
            int f = prep_idx_find(p, o->split, ipath, lpath, sizeof ipath, err);
            if (f < 0) return -1;
            if (f && folders_refused(o, p, "a directory of IDX files", err)) return -1;
            rc = f ? prep_idx_load(d, ipath, lpath, err) : prep_images_load(d, p, o, err);
        } else {
            int k = prep_idx_kind(p, err);
            if (k < 0) return -1;
            if (k > 0) {
                ssl_fail(err, SSL_EDATA, "%s: an IDX %s file alone; give the images and labels files together, or their directory",
                         p, k == 3 ? "images" : "labels");
                return -1;
            }
            int c = prep_cifar_detect(p, err);
            if (c < 0) return -1;
            if (c && folders_refused(o, p, "a CIFAR tarball", err)) return -1;
            rc = c ? prep_cifar_load(d, p, o, err) : prep_images_load(d, p, o, err);
        }
    } else {
        ssl_fail(err, SSL_EDATA, "%d inputs: expected a directory or archive, or two IDX files", npaths);
        return -1;
    }
    if (rc) return -1;
    if (prep_labels_none(o)) drop_labels(d);
    if (prep_convert(d, o->channels, o->height, o->width, err)) { prep_data_destroy(d); return -1; }
    return 0;
}

typedef struct {
    const prep_data *d;
    uint8_t *out;
    int oc, oh, ow;
    int failed;
} convert_job;

static void convert_range(void *ctx, int64_t b, int64_t e, int tid) {
    convert_job *j = ctx;
    const prep_data *d = j->d;
    size_t in_px = (size_t)d->h * d->w, out_px = (size_t)j->oh * j->ow;
    uint8_t *tmp = malloc(in_px * 3);
    if (!tmp) { j->failed = 1; return; }
    for (int64_t i = b; i < e; i++) {
        const uint8_t *src = d->images + (size_t)i * d->c * in_px;
        uint8_t *dst = j->out + (size_t)i * j->oc * out_px;
        const uint8_t *cs = src;      /* channel-converted source, at the input size */
        if (j->oc == 1 && d->c == 3) { image_rgb_to_grey(src, tmp, in_px); cs = tmp; }
        else if (j->oc == 3 && d->c == 1) { image_grey_to_rgb(src, tmp, in_px); cs = tmp; }
        if (image_resize(cs, j->oc, d->h, d->w, dst, j->oh, j->ow)) { j->failed = 1; break; }
    }
    free(tmp);
}

int prep_convert(prep_data *d, int channels, int h, int w, ssl_err *err) {
    int oc = channels ? channels : d->c, oh = h ? h : d->h, ow = w ? w : d->w;
    if (oc == d->c && oh == d->h && ow == d->w) return 0;
    if ((oc != 1 && oc != 3) || (d->c != 1 && d->c != 3) || oh < 1 || ow < 1) {
        ssl_fail(err, SSL_EDATA, "cannot convert %d to %d channels", d->c, oc);
        return -1;
    }
    convert_job j = { d, NULL, oc, oh, ow, 0 };
    j.out = malloc((size_t)d->n * oc * oh * ow);
    if (!j.out) { ssl_fail(err, SSL_ENOMEM, "out of memory converting %lld images", (long long)d->n); return -1; }
    ssl_parallel_for(d->n, 64, convert_range, &j);
    if (j.failed) {
        free(j.out);
        ssl_fail(err, SSL_ENOMEM, "out of memory converting %lld images", (long long)d->n);
        return -1;
    }
    free(d->images);
    d->images = j.out;
    d->c = oc; d->h = oh; d->w = ow;
    return 0;
}

int prep_check_labels(const prep_data *d, const char *name, ssl_err *err) {
    for (int64_t i = 0; d->labels && i < d->n; i++)
        if (d->labels[i] < 0 || d->labels[i] >= d->nclasses) {
            ssl_fail(err, SSL_EDATA, "%s: image %lld has label %d, outside the %d classes",
                     name, (long long)i, d->labels[i], d->nclasses);
            return -1;
        }
    return 0;
}

int prep_set_classes(prep_data *d, const char *list, ssl_err *err) {
    if (!d->labels) return ssl_fail(err, SSL_EDATA, "--classes: the data has no labels");
    int n = 1;
    for (const char *p = list; *p; p++) n += *p == ',';
    char **v = calloc((size_t)n, sizeof(char *));
    if (!v) { ssl_fail(err, SSL_ENOMEM, "out of memory"); return -1; }
    const char *p = list;
    for (int i = 0; i < n; i++) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (!len || !(v[i] = strndup(p, len))) {
            for (int k = 0; k < i; k++) free(v[k]);
            free(v);
            ssl_fail(err, SSL_ENOMEM, "--classes: %s", len ? "out of memory" : "empty class name");
            return -1;
        }
        p = c ? c + 1 : p + len;
    }
    int maxl = -1;
    for (int64_t i = 0; i < d->n; i++) if (d->labels[i] > maxl) maxl = d->labels[i];
    if (n <= maxl) {
        for (int k = 0; k < n; k++) free(v[k]);
        free(v);
        ssl_fail(err, SSL_EDATA, "--classes: %d names, but the data has labels up to %d", n, maxl);
        return -1;
    }
    for (int k = 0; k < d->nclasses; k++) free(d->classes[k]);
    free(d->classes);
    d->classes = v;
    d->nclasses = n;
    return 0;
}

int prep_subset_parse(const char *s, int64_t *per_class, double *fraction) {
    char *end;
    *per_class = 0; *fraction = 0;
    if (!*s) return -1;
    errno = 0;
    if (strpbrk(s, ".eE")) {
        double f = strtod(s, &end);
        if (*end || errno || !(f > 0 && f <= 1)) return -1;
        *fraction = f;
    } else {
        long long v = strtoll(s, &end, 10);
        if (*end || errno || v < 1) return -1;
        *per_class = v;
    }
    return 0;
}

void prep_class_counts(const prep_data *d, int64_t *counts) {
    memset(counts, 0, sizeof(int64_t) * (size_t)d->nclasses);
    for (int64_t i = 0; d->labels && i < d->n; i++)
        if (d->labels[i] >= 0 && d->labels[i] < d->nclasses) counts[d->labels[i]]++;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int prep_subset(prep_data *d, int64_t per_class, double fraction, uint64_t seed,
                int64_t **indices, int64_t *n_out, ssl_err *err) {
    int64_t *pool = malloc(sizeof(int64_t) * (size_t)(d->n ? d->n : 1));
    int64_t *keep = malloc(sizeof(int64_t) * (size_t)(d->n ? d->n : 1));
    uint8_t *img = NULL;
    int32_t *lab = NULL;
    int64_t nk = 0;
    int nc = d->labels ? d->nclasses : 1;     /* unlabelled: one class of every image */
    *indices = NULL; *n_out = 0;
    if (!pool || !keep) goto oom;
    if (prep_check_labels(d, "subset", err)) goto fail;
    for (int c = 0; c < nc; c++) {
        int64_t m = 0;
        for (int64_t i = 0; i < d->n; i++) if (!d->labels || d->labels[i] == c) pool[m++] = i;
        int64_t want = per_class ? per_class : (int64_t)floor(fraction * (double)m + 0.5);
        if (want > m) {
            if (d->labels)
                ssl_fail(err, SSL_EDATA, "--subset %lld: class '%s' has only %lld images",
                         (long long)per_class, d->classes[c], (long long)m);
            else
                ssl_fail(err, SSL_EDATA, "--subset %lld: the unlabelled data has only %lld images",
                         (long long)per_class, (long long)m);
            goto fail;
        }
        rng r;
        rng_init(&r, seed ^ RNG_SUBSET, (uint64_t)c, 0);
        rng_shuffle_i64(&r, pool, m);
        qsort(pool, (size_t)want, sizeof(int64_t), cmp_i64);
        memcpy(keep + nk, pool, sizeof(int64_t) * (size_t)want);
        nk += want;
    }
    if (nk == 0) { ssl_fail(err, SSL_EDATA, "--subset: the subset is empty"); goto fail; }
    size_t row = (size_t)d->c * d->h * d->w;
    img = malloc(row * (size_t)nk);
    lab = d->labels ? malloc(sizeof(int32_t) * (size_t)nk) : NULL;
    if (!img || (d->labels && !lab)) goto oom;
    for (int64_t i = 0; i < nk; i++) {
        memcpy(img + row * i, d->images + row * keep[i], row);
        if (lab) lab[i] = d->labels[keep[i]];
    }
    free(d->images); free(d->labels);
    d->images = img; d->labels = lab; d->n = nk;
    free(pool);
    *indices = keep; *n_out = nk;
    return 0;
oom:
    ssl_fail(err, SSL_ENOMEM, "out of memory choosing a subset");
fail:
    free(pool); free(keep); free(img); free(lab);
    return -1;
}

void prep_stats(const prep_data *d, double *mean, double *std) {
    size_t np = (size_t)d->h * d->w;
    for (int c = 0; c < d->c; c++) {
        uint64_t hist[256] = {0};
        for (int64_t i = 0; i < d->n; i++) {
            const uint8_t *p = d->images + ((size_t)i * d->c + c) * np;
            for (size_t k = 0; k < np; k++) hist[p[k]]++;
        }
        double cnt = (double)d->n * np, s = 0, ss = 0;
        for (int v = 0; v < 256; v++) s += (double)hist[v] * (v / 255.0);
        double m = cnt > 0 ? s / cnt : 0;
        for (int v = 0; v < 256; v++) ss += (double)hist[v] * (v / 255.0 - m) * (v / 255.0 - m);
        mean[c] = m;
        std[c] = cnt > 0 ? sqrt(ss / cnt) : 0;
    }
}
