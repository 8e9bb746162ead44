/* fewshot.c: class-balanced labelled subsets and the mean +- std over draws
 * (see fewshot.h). */
#include "eval/fewshot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "util/rng.h"

static int64_t *class_counts(const int32_t *labels, int64_t n, int nclasses) {
    int64_t *cnt = calloc((size_t)nclasses, sizeof *cnt);
    if (!cnt) return NULL;
    for (int64_t i = 0; i < n; i++) cnt[labels[i]]++;
    return cnt;
}

static int labels_ok(const int32_t *labels, int64_t n, int nclasses, int64_t *bad) {
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= nclasses) {
            *bad = i;
            return 0;
        }
    return 1;
}

int fewshot_smallest_class(const int32_t *labels, int64_t n, int nclasses, int64_t *count) {
    int64_t bad;
    if (!labels || n < 1 || nclasses < 1 || !labels_ok(labels, n, nclasses, &bad)) return -1;
    int64_t *cnt = class_counts(labels, n, nclasses);
    if (!cnt) return -1;
    int best = 0;
    for (int c = 1; c < nclasses; c++)
        if (cnt[c] < cnt[best]) best = c;
    if (count) *count = cnt[best];
    free(cnt);
    return best;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int fewshot_select(const int32_t *labels, int64_t n, int nclasses, int per_class,
                   uint64_t seed, int draw, int64_t *out, ssl_err *err) {
    int64_t bad;
    if (!labels || !out || n < 1) {
        ssl_fail(err, SSL_EARG, "the training set is empty");
        return -1;
    }
    if (nclasses < 1) {
        ssl_fail(err, SSL_EARG, "no classes");
        return -1;
    }
    if (per_class < 1) {
        ssl_fail(err, SSL_EARG, "%d labels per class: at least 1 is needed", per_class);
        return -1;
    }
    if (draw < 0) {
        ssl_fail(err, SSL_EARG, "draw %d: draws count from 0", draw);
        return -1;
    }
    if (!labels_ok(labels, n, nclasses, &bad)) {
        ssl_fail(err, SSL_EARG, "label %d (row %lld) is outside [0, %d)", (int)labels[bad],
                 (long long)bad, nclasses);
        return -1;
    }
    int64_t *cnt = class_counts(labels, n, nclasses);
    int64_t *start = malloc(((size_t)nclasses + 1) * sizeof *start);
    int64_t *rows = malloc((size_t)n * sizeof *rows);
    if (!cnt || !start || !rows) {
        free(cnt); free(start); free(rows);
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return -1;
    }
    int rc = 0;
    start[0] = 0;
    for (int c = 0; c < nclasses; c++) {
        if (cnt[c] < per_class && rc == 0) {
            ssl_fail(err, SSL_EARG, "class %d has only %lld rows, %d per class asked for",
                     c, (long long)cnt[c], per_class);
            rc = -1;
        }
        start[c + 1] = start[c] + cnt[c];
    }
    if (rc == 0) {
        /* The rows of each class in row order (a counting sort), then for
         * each class in turn a partial Fisher-Yates pick of per_class. */
        for (int c = 0; c < nclasses; c++) cnt[c] = 0;
        for (int64_t i = 0; i < n; i++) rows[start[labels[i]] + cnt[labels[i]]++] = i;
        rng r;
        rng_init(&r, seed ^ RNG_FEWSHOT, (uint64_t)per_class, (uint64_t)draw);
        int64_t k = 0;
        for (int c = 0; c < nclasses; c++) {
            int64_t *v = rows + start[c], m = start[c + 1] - start[c];
            for (int64_t i = 0; i < per_class; i++) {
                int64_t j = i + (int64_t)rng_below(&r, (uint64_t)(m - i));
                int64_t t = v[i]; v[i] = v[j]; v[j] = t;
                out[k++] = v[i];
            }
        }
        qsort(out, (size_t)k, sizeof *out, cmp_i64);
    }
    free(cnt); free(start); free(rows);
    return rc;
}

void fewshot_mean_std(const double *x, int n, double *mean, double *std) {
    /* Equal values (one draw, or draws that agree): that value and 0
     * exactly, not the rounding of s / n. */
    int same = n > 0;
    for (int i = 1; i < n && same; i++) same = x[i] == x[0];
    if (same && isfinite(x[0])) {
        *mean = x[0];
        *std = 0;
        return;
    }
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    double m = n > 0 ? s / n : NAN;
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    if (!isfinite(m)) {
        *mean = *std = NAN;
        return;
    }
    *mean = m;
    *std = n > 1 ? sqrt(ss / (n - 1)) : 0;
}
