/* test_fewshot.c: lib/eval/fewshot: class balance, every index valid and
 * distinct, ascending order, determinism (the same call twice; a pinned
 * subset of a small set, so that a changed draw rule shows), independence
 * of the draw and of the seed, uniform coverage over many draws, the
 * smallest class, mean and sample std, and the refusals. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/fewshot.h"
#include "t.h"

#define N 1000
#define C 7

/* Unbalanced labels: class c holds about (c + 1) / 28 of the rows, class 6
 * the most; rows of a class are scattered. */
static void make_labels(int32_t *y) {
    for (int i = 0; i < N; i++) {
        int r = (int)((i * 7919L) % 28), c = 0, acc = 1;
        while (r >= acc) acc += ++c + 1;
        y[i] = c;
    }
}

/* Balance, range, distinctness, order of a subset of k per class. */
static int subset_ok(const int32_t *y, const int64_t *idx, int k, char *why, size_t len) {
    int per[C] = { 0 };
    for (int i = 0; i < C * k; i++) {
        if (idx[i] < 0 || idx[i] >= N) { snprintf(why, len, "index %lld out of range", (long long)idx[i]); return 0; }
        if (i && idx[i] <= idx[i - 1]) { snprintf(why, len, "not strictly ascending at %d", i); return 0; }
        per[y[idx[i]]]++;
    }
    for (int c = 0; c < C; c++)
        if (per[c] != k) { snprintf(why, len, "class %d has %d, wanted %d", c, per[c], k); return 0; }
    return 1;
}

int main(void) {
    int32_t y[N];
    make_labels(y);
    int64_t cnt[C] = { 0 };
    for (int i = 0; i < N; i++) cnt[y[i]]++;
    char why[128];
    ssl_err err = {0};
    int64_t a[C * 30 + N], b[C * 30 + N];   /* room for C x the smallest class (<= N) */

    int64_t m = -1;
    int sc = fewshot_smallest_class(y, N, C, &m);
    T_EQ(sc, 0, "smallest class: class 0");
    T_EQ(m, cnt[0], "smallest class: its count");
    int32_t y2[6] = { 1, 1, 0, 2, 2, 0 };
    T_EQ(fewshot_smallest_class(y2, 6, 3, &m), 0, "smallest class: ties go to the lower index");
    T_EQ(fewshot_smallest_class(y2, 6, 4, &m), 3, "smallest class: a class with no row");
    T_EQ(m, 0, "smallest class: a class with no row counts 0");
    T_EQ(fewshot_smallest_class(y2, 6, 2, &m), -1, "smallest class: label out of range refused");

    int ks[] = { 1, 10, 30 };
    for (int t = 0; t < 3; t++) {
        int k = ks[t];
        char name[96];
        int rc = fewshot_select(y, N, C, k, 1, 0, a, &err);
        snprintf(name, sizeof name, "select %d per class: returns 0", k);
        T_EQ(rc, 0, name);
        snprintf(name, sizeof name, "select %d per class: balanced, valid, distinct, sorted", k);
        int good = subset_ok(y, a, k, why, sizeof why);
        t_report(good, name, "%s", why);
        fewshot_select(y, N, C, k, 1, 0, b, &err);
        snprintf(name, sizeof name, "select %d per class: the same call, the same subset", k);
        T_OK(!memcmp(a, b, sizeof(int64_t) * C * k), name);
        fewshot_select(y, N, C, k, 1, 1, b, &err);
        snprintf(name, sizeof name, "select %d per class: draw 1 differs from draw 0", k);
        T_OK(memcmp(a, b, sizeof(int64_t) * C * k), name);
        fewshot_select(y, N, C, k, 2, 0, b, &err);
        snprintf(name, sizeof name, "select %d per class: seed 2 differs from seed 1", k);
        T_OK(memcmp(a, b, sizeof(int64_t) * C * k), name);
    }

    /* A whole class when per_class equals its size. */
    T_EQ(fewshot_select(y, N, C, (int)cnt[0], 3, 4, a, &err), 0, "select: per_class = the smallest class");
    int64_t n0 = 0;
    for (int i = 0; i < C * (int)cnt[0]; i++) n0 += y[a[i]] == 0;
    t_report(n0 == cnt[0] && subset_ok(y, a, (int)cnt[0], why, sizeof why),
             "select: per_class = class size takes every row of that class", "%lld of %lld; %s",
             (long long)n0, (long long)cnt[0], why);

    /* Pinned: 2 per class, seed 1, draw 0. A change of the draw rule changes
     * every few-label figure ever published: it must show here. */
    static const int64_t pinned[C * 2] = { 70, 112, 137, 228, 308, 340, 403, 431, 479, 516,
                                           565, 887, 931, 957 };
    fewshot_select(y, N, C, 2, 1, 0, a, &err);
    T_OK(!memcmp(a, pinned, sizeof pinned), "select: 2 per class, seed 1, draw 0 is the pinned subset");
    int64_t p[6];
    fewshot_select(y2, 6, 3, 2, 1, 0, p, &err);
    T_OK(p[0] == 0 && p[1] == 1 && p[2] == 2 && p[3] == 3 && p[4] == 4 && p[5] == 5,
         "select: 2 of each of 2 rows is every row");

    /* Coverage: over 2000 draws of 1 per class, every row of class 0 is
     * picked about 2000 / cnt[0] times (within 5 binomial sigmas). */
    int hits[N] = { 0 };
    for (int d = 0; d < 2000; d++) {
        fewshot_select(y, N, C, 1, 9, d, a, &err);
        for (int i = 0; i < C; i++) hits[a[i]]++;
    }
    double want = 2000.0 / cnt[0], sd = sqrt(2000.0 * (1.0 / cnt[0]) * (1 - 1.0 / cnt[0]));
    double dev = 0;
    for (int i = 0; i < N; i++)
        if (y[i] == 0 && fabs(hits[i] - want) > dev) dev = fabs(hits[i] - want);
    t_report(dev <= 5 * sd, "select: 1 per class draws every row of a class about equally",
             "largest deviation %.1f from %.1f (sd %.1f)", dev, want, sd);

    /* Refusals, each with a reason. */
    ssl_err_clear(&err);
    T_EQ(fewshot_select(y, N, C, (int)cnt[0] + 1, 1, 0, a, &err), -1, "refused: more than the smallest class");
    T_OK(strstr(err.msg, "class 0 has only") != NULL, "refused: the reason names the class and count");
    T_EQ(fewshot_select(y, N, C, 0, 1, 0, a, &err), -1, "refused: 0 per class");
    T_EQ(fewshot_select(y, N, C, -3, 1, 0, a, &err), -1, "refused: negative per class");
    T_EQ(fewshot_select(y, N, C, 1, 1, -1, a, &err), -1, "refused: negative draw");
    T_EQ(fewshot_select(y, 0, C, 1, 1, 0, a, &err), -1, "refused: empty set");
    T_EQ(fewshot_select(y, N, 0, 1, 1, 0, a, &err), -1, "refused: no classes");
    T_EQ(fewshot_select(y2, 6, 2, 1, 1, 0, a, &err), -1, "refused: a label out of range");
    T_EQ(fewshot_select(y2, 6, 4, 1, 1, 0, a, &err), -1, "refused: a class with no row");

    /* Mean and sample std. */
    double x[5] = { 0.5, 0.6, 0.7, 0.8, 0.9 }, mean, std;
    fewshot_mean_std(x, 5, &mean, &std);
    T_NEAR(mean, 0.7, 1e-15, 0, "mean_std: mean");
    T_NEAR(std, sqrt(0.1 / 4), 1e-15, 0, "mean_std: sample std (n - 1)");
    fewshot_mean_std(x, 1, &mean, &std);
    T_OK(mean == 0.5 && std == 0, "mean_std: one value, std 0");
    double e[3] = { 0.37, 0.37, 0.37 };
    fewshot_mean_std(e, 3, &mean, &std);
    T_OK(mean == 0.37 && std == 0, "mean_std: equal values, that value and std exactly 0");
    x[2] = NAN;
    fewshot_mean_std(x, 5, &mean, &std);
    T_OK(isnan(mean) && isnan(std), "mean_std: a missing value gives NAN");
    return t_done();
}
