/* test_knn.c: lib/eval/knn against a brute-force reference written plainly here
 * (double precision, full sort of every training row per query), on random
 * data, on data whose similarities are exact (so ties are real ties and the
 * documented tie rules are checked bit for bit), with block sizes smaller
 * than the data, K = N_train, thread counts 1 and 2, and bad arguments. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/knn.h"
#include "nn/ops/ops.h"
#include "util/rng.h"
#include "stream/sslt.h"
#include "t.h"
#include "util/threads.h"

/* ---- the reference ---- */

static const double *g_sim;
static int cmp_rank(const void *a, const void *b) {
    int64_t i = *(const int64_t *)a, j = *(const int64_t *)b;
    if (g_sim[i] != g_sim[j]) return g_sim[i] > g_sim[j] ? -1 : 1;
    return (i > j) - (i < j);
}

typedef struct {
    int64_t c1, c5;
    int64_t cls1[16];
    double min_gap;               /* smallest gap that float rounding could flip */
} ref_out;

static void ref_normalize(const float *x, int64_t n, int dim, double *out) {
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int j = 0; j < dim; j++) ss += (double)x[i * dim + j] * x[i * dim + j];
        double nrm = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
        for (int j = 0; j < dim; j++) out[i * dim + j] = x[i * dim + j] / nrm;
    }
}

/* Sorted neighbour lists [ntest, ntrain] and their similarities. */
static void ref_lists(const float *tr, int64_t ntr, const float *te, int64_t nte, int dim,
                      int64_t *order, double *simsorted) {
    double *a = malloc(sizeof(double) * ntr * dim), *b = malloc(sizeof(double) * nte * dim);
    double *sim = malloc(sizeof(double) * ntr);
    ref_normalize(tr, ntr, dim, a);
    ref_normalize(te, nte, dim, b);
    for (int64_t q = 0; q < nte; q++) {
        for (int64_t i = 0; i < ntr; i++) {
            double s = 0;
            for (int j = 0; j < dim; j++) s += b[q * dim + j] * a[i * dim + j];
            sim[i] = s;
            order[q * ntr + i] = i;
        }
        g_sim = sim;
        qsort(order + q * ntr, ntr, sizeof(int64_t), cmp_rank);
        for (int64_t i = 0; i < ntr; i++) simsorted[q * ntr + i] = sim[order[q * ntr + i]];
    }
    free(a); free(b); free(sim);
}

static void ref_knn(const int64_t *order, const double *ss, const int32_t *ytr, int64_t ntr,
                    const int32_t *yte, int64_t nte, int C, int k, double sigma, ref_out *o) {
    memset(o, 0, sizeof *o);
    o->min_gap = INFINITY;
    for (int64_t q = 0; q < nte; q++) {
        double score[16] = { 0 };
        for (int r = 0; r < k; r++)
            score[ytr[order[q * ntr + r]]] += exp(ss[q * ntr + r] / sigma);
        if (k < ntr && ss[q * ntr + k - 1] - ss[q * ntr + k] < o->min_gap &&
            ytr[order[q * ntr + k - 1]] != ytr[order[q * ntr + k]])
            o->min_gap = ss[q * ntr + k - 1] - ss[q * ntr + k];
        int y = yte[q], rank = 0;
        double mx = 0;
        for (int c = 0; c < C; c++) if (score[c] > mx) mx = score[c];
        for (int c = 0; c < C; c++) {
            if (score[c] > score[y] || (score[c] == score[y] && c < y)) rank++;
            if (c != y && (score[c] != 0 || score[y] != 0)) {
                double g = fabs(score[c] - score[y]) / mx;
                if (g < o->min_gap) o->min_gap = g;
            }
        }
        if (rank == 0) { o->c1++; o->cls1[y]++; }
        if (rank < 5) o->c5++;
    }
}

/* ---- data ---- */

static void gauss(float *x, int64_t n, uint64_t seed) {
    rng r;
    rng_init(&r, seed, 1, 2);
    for (int64_t i = 0; i < n; i++) x[i] = (float)rng_normal(&r);
}

static void labels(int32_t *y, int64_t n, int C, uint64_t seed) {
    rng r;
    rng_init(&r, seed, 3, 4);
    for (int64_t i = 0; i < n; i++) y[i] = (int32_t)rng_below(&r, C);
}

/* Rows of exactly unit norm with four entries +-0.5: every cosine is an
 * exact multiple of 1/4 in float and in double, so ties are exact. */
static void quantized(float *x, int64_t n, int dim, uint64_t seed) {
    rng r;
    rng_init(&r, seed, 5, 6);
    memset(x, 0, sizeof(float) * n * dim);
    for (int64_t i = 0; i < n; i++) {
        int put = 0;
        while (put < 4) {
            int j = (int)rng_below(&r, dim);
            if (x[i * dim + j] != 0) continue;
            x[i * dim + j] = rng_below(&r, 2) ? 0.5f : -0.5f;
            put++;
        }
    }
}

/* Run knn_evaluate and compare every (k, sigma) with the reference. */
static void compare(const char *tag, const float *tr, const int32_t *ytr, int64_t ntr,
                    const float *te, const int32_t *yte, int64_t nte, int dim, int C,
                    const int *ks, int nk, const double *sg, int ns, int64_t qb, int64_t tb,
                    const int64_t *order, const double *ss) {
    char name[512];
    ssl_err err = {0};
    knn_config cfg = { ks, nk, sg, ns, qb, tb, 0, NULL, NULL };
    knn_report rep;
    int rc = knn_evaluate(tr, ytr, ntr, te, yte, nte, dim, C, &cfg, &rep, &err);
    snprintf(name, sizeof name, "%s: knn_evaluate returns 0 (%.200s)", tag, err.msg);
    T_EQ(rc, 0, name);
    if (rc) return;
    int bad = 0;
    for (int i = 0; i < nk * ns; i++) {
        ref_out o;
        ref_knn(order, ss, ytr, ntr, yte, nte, C, ks[i / ns], sg[i % ns], &o);
        const knn_result *r = &rep.res[i];
        if (r->k != ks[i / ns] || r->sigma != sg[i % ns] || r->correct1 != o.c1 ||
            (C > 5 && r->correct5 != o.c5) || r->top1 != (double)o.c1 / nte) {
            printf("  %s: k=%d sigma=%g: top1 %lld vs ref %lld, top5 %lld vs %lld\n", tag,
                   ks[i / ns], sg[i % ns], (long long)r->correct1, (long long)o.c1,
                   (long long)r->correct5, (long long)o.c5);
            bad++;
        }
        for (int c = 0; c < C; c++)
            if (r->class_correct1[c] != o.cls1[c]) bad++;
        if (C > 5 ? !(r->top5 == (double)o.c5 / nte) : !isnan(r->top5)) bad++;
    }
    snprintf(name, sizeof name, "%s: every (k, sigma) matches the reference (top-1, top-5, per class)", tag);
    T_EQ(bad, 0, name);
    int64_t sum = 0;
    for (int c = 0; c < C; c++) sum += rep.class_count[c];
    snprintf(name, sizeof name, "%s: class counts sum to n_test", tag);
    T_EQ(sum, nte, name);
    knn_report_destroy(&rep);
}

static void test_random(void) {
    enum { NTR = 300, NTE = 57, DIM = 24, C = 7 };
    static float tr[NTR * DIM], te[NTE * DIM];
    static int32_t ytr[NTR], yte[NTE];
    static int64_t order[NTE * NTR];
    static double ss[NTE * NTR];
    const int ks[] = { 20, 1, 5, 300, 20 };
    const double sg[] = { 0.1, 0.07, 1.0 };
    /* Pick the first seed whose reference has no near-tie that float
     * rounding could flip (deterministic; usually the first). */
    uint64_t seed = 1;
    for (; seed < 50; seed++) {
        gauss(tr, NTR * DIM, seed);
        gauss(te, NTE * DIM, seed + 1000);
        labels(ytr, NTR, C, seed);
        labels(yte, NTE, C, seed + 1000);
        ref_lists(tr, NTR, te, NTE, DIM, order, ss);
        double gap = INFINITY;
        for (int i = 0; i < 15; i++) {
            ref_out o;
            ref_knn(order, ss, ytr, NTR, yte, NTE, C, ks[i / 3], sg[i % 3], &o);
            if (o.min_gap < gap) gap = o.min_gap;
        }
        if (gap > 1e-4) break;
    }
    T_OK(seed < 50, "random: a well-separated seed exists");
    compare("random, default blocks", tr, ytr, NTR, te, yte, NTE, DIM, C, ks, 5, sg, 3, 0, 0, order, ss);
    compare("random, blocks 7x13", tr, ytr, NTR, te, yte, NTE, DIM, C, ks, 5, sg, 3, 7, 13, order, ss);
    compare("random, blocks 1x300", tr, ytr, NTR, te, yte, NTE, DIM, C, ks, 5, sg, 3, 1, 300, order, ss);

    /* knn_topk itself: indices exactly, similarities to float precision. */
    float *ntr = malloc(sizeof tr), *nte = malloc(sizeof te);
    memcpy(ntr, tr, sizeof tr);
    memcpy(nte, te, sizeof te);
    T_EQ(l2norm_forward(ntr, ntr, NTR, DIM, L2_EPS), -1, "l2norm_forward: every row finite");
    l2norm_forward(nte, nte, NTE, DIM, L2_EPS);
    float *s = malloc(sizeof(float) * NTE * NTR);
    int64_t *ix = malloc(sizeof(int64_t) * NTE * NTR);
    int kk = 37, idx_bad = 0;
    T_EQ(knn_topk(ntr, NTR, nte, NTE, DIM, kk, 5, 11, s, ix), 0, "knn_topk returns 0");
    double worst = 0;
    for (int q = 0; q < NTE; q++)
        for (int r = 0; r < kk; r++) {
            int64_t want = order[q * NTR + r];
            double d = fabs(s[q * kk + r] - ss[q * NTR + r]);
            if (d > worst) worst = d;
            /* a swap is acceptable only between near-equal similarities */
            if (ix[q * kk + r] != want && fabs(ss[q * NTR + r] - ss[q * NTR + r + 1]) > 1e-5 &&
                (r == 0 || fabs(ss[q * NTR + r] - ss[q * NTR + r - 1]) > 1e-5))
                idx_bad++;
        }
    T_EQ(idx_bad, 0, "knn_topk: neighbour indices match the full sort");
    T_NEAR(worst, 0, 2e-6, 0, "knn_topk: similarities match the double reference");

    /* Thread count 1 and 2 give the same bits. */
    float *s2 = malloc(sizeof(float) * NTE * NTR);
    int64_t *ix2 = malloc(sizeof(int64_t) * NTE * NTR);
    ssl_set_threads(1);
    knn_topk(ntr, NTR, nte, NTE, DIM, NTR, 16, 64, s, ix);
    ssl_set_threads(2);
    knn_topk(ntr, NTR, nte, NTE, DIM, NTR, 16, 64, s2, ix2);
    T_OK(!memcmp(s, s2, sizeof(float) * NTE * NTR) && !memcmp(ix, ix2, sizeof(int64_t) * NTE * NTR),
         "knn_topk: 1 and 2 threads give identical lists (K = N_train)");
    ssl_set_threads(1);

    /* cfg.normalized: the caller's normalised rows give the same result. */
    knn_config c1 = { ks, 5, sg, 3, 0, 0, 0, NULL, NULL }, c2 = { ks, 5, sg, 3, 0, 0, 1, NULL, NULL };
    knn_report r1, r2;
    knn_evaluate(tr, ytr, NTR, te, yte, NTE, DIM, C, &c1, &r1, NULL);
    knn_evaluate(ntr, ytr, NTR, nte, yte, NTE, DIM, C, &c2, &r2, NULL);
    int same = 1;
    for (int i = 0; i < 15; i++) same &= r1.res[i].correct1 == r2.res[i].correct1 &&
                                         r1.res[i].correct5 == r2.res[i].correct5;
    T_OK(same, "normalized = 1 on pre-normalised rows gives the same counts");
    knn_report_destroy(&r1);
    knn_report_destroy(&r2);
    free(ntr); free(nte); free(s); free(ix); free(s2); free(ix2);
}

static void test_ties(void) {
    enum { NTR = 200, NTE = 40, DIM = 16 };
    static float tr[NTR * DIM], te[NTE * DIM];
    static int32_t ytr[NTR], yte[NTE];
    static int64_t order[NTE * NTR];
    static double ss[NTE * NTR];
    const int ks[] = { 1, 3, 10, 50, 200 };
    const double sg[] = { 0.1, 0.5 };
    quantized(tr, NTR, DIM, 7);
    quantized(te, NTE, DIM, 8);
    for (int C = 3; C <= 8; C += 5) {
        char tag[64];
        labels(ytr, NTR, C, 9);
        labels(yte, NTE, C, 10);
        ref_lists(tr, NTR, te, NTE, DIM, order, ss);
        snprintf(tag, sizeof tag, "exact ties, %d classes", C);
        compare(tag, tr, ytr, NTR, te, yte, NTE, DIM, C, ks, 5, sg, 2, 0, 0, order, ss);
        snprintf(tag, sizeof tag, "exact ties, %d classes, blocks 3x17", C);
        compare(tag, tr, ytr, NTR, te, yte, NTE, DIM, C, ks, 5, sg, 2, 3, 17, order, ss);
    }

    /* By hand: four identical training rows labelled 3 1 1 3. K = 1 takes
     * row 0 (class 3); K = 2 takes rows 0, 1: classes 1 and 3 tie, the
     * lower class (1) wins; K = 4: 1 and 3 tie again. */
    float h[4 * 2] = { 1, 0, 1, 0, 1, 0, 1, 0 }, q[2 * 2] = { 2, 1, 1, 1 };
    int32_t hy[4] = { 3, 1, 1, 3 }, qy[2] = { 3, 1 };
    const int hk[] = { 1, 2, 4 };
    const double hs[] = { 0.1 };
    knn_config cfg = { hk, 3, hs, 1, 0, 0, 0, NULL, NULL };
    knn_report rep;
    T_EQ(knn_evaluate(h, hy, 4, q, qy, 2, 2, 4, &cfg, &rep, NULL), 0, "hand ties: runs");
    T_EQ(rep.res[0].class_correct1[3], 1, "hand ties: K=1 keeps the lowest index (class 3)");
    T_EQ(rep.res[0].class_correct1[1], 0, "hand ties: K=1 does not pick class 1");
    T_EQ(rep.res[1].class_correct1[1], 1, "hand ties: K=2 equal scores go to the lower class");
    T_EQ(rep.res[1].class_correct1[3], 0, "hand ties: K=2 class 3 loses the tie");
    T_EQ(rep.res[2].correct1, 1, "hand ties: K=4 = N_train, lower class wins");
    T_OK(!rep.has_top5 && isnan(rep.res[0].top5), "hand ties: no top-5 with 4 classes");
    knn_report_destroy(&rep);
}

static void test_errors(void) {
    float x[6 * 3] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 0, 0, 1, 0, 0, 0, 1 };
    int32_t y[6] = { 0, 1, 0, 1, 0, 1 };
    ssl_err err = {0};
    knn_report rep;
    int k7 = 7, k6 = 6, k0 = 0;
    double s1 = 0.1, s0 = 0;
    knn_config big = { &k7, 1, &s1, 1, 0, 0, 0, NULL, NULL };
    ssl_err_clear(&err);
    T_EQ(knn_evaluate(x, y, 6, x, y, 6, 3, 2, &big, &rep, &err), -1, "K > N_train fails");
    T_OK(strstr(err.msg, "larger than the training set") != NULL, "K > N_train: message says so");
    knn_config eq = { &k6, 1, &s1, 1, 0, 0, 0, NULL, NULL };
    T_EQ(knn_evaluate(x, y, 6, x, y, 6, 3, 2, &eq, &rep, &err), 0, "K = N_train runs");
    knn_report_destroy(&rep);
    knn_config kz = { &k0, 1, &s1, 1, 0, 0, 0, NULL, NULL };
    T_EQ(knn_evaluate(x, y, 6, x, y, 6, 3, 2, &kz, &rep, &err), -1, "K = 0 fails");
    knn_config sz = { &k6, 1, &s0, 1, 0, 0, 0, NULL, NULL };
    T_EQ(knn_evaluate(x, y, 6, x, y, 6, 3, 2, &sz, &rep, &err), -1, "sigma = 0 fails");
    T_EQ(knn_evaluate(x, y, 6, x, y, 0, 3, 2, &eq, &rep, &err), -1, "empty test set fails");
    T_EQ(knn_evaluate(x, y, 0, x, y, 6, 3, 2, &eq, &rep, &err), -1, "empty training set fails");
    int32_t yb[6] = { 0, 1, 2, 1, 0, 1 };
    T_EQ(knn_evaluate(x, yb, 6, x, y, 6, 3, 2, &eq, &rep, &err), -1, "label out of range fails");
    T_OK(strstr(err.msg, "outside") != NULL, "label out of range: message says so");
    x[4] = NAN;
    T_EQ(knn_evaluate(x, y, 6, x + 3, y, 5, 3, 2, &eq, &rep, &err), -1, "NaN feature fails");
    T_OK(strstr(err.msg, "training row 1") != NULL, "NaN feature: message names the row");
    T_OK(rep.res == NULL, "failed call leaves an empty report");
}

/* ---- fixture mode for tests/cli/knn.sh ---- */

static int write_stream(const char *path, const char *kind, const float *x, const int32_t *y,
                        int64_t n, int dim, const char *const *classes, int C) {
    ssl_err err = {0};
    sslt_tensor t[2] = { { (char *)"features", SSLT_F32, 2, { n, dim } },
                         { (char *)"labels", SSLT_I32, 1, { n } } };
    const void *data[2] = { x, y };
    sv *meta = sv_map();
    if (classes) sv_set(meta, "classes", sv_str_array(classes, (size_t)C));
    sslt_writer *w = sslt_writer_open(path, 0, &err);
    if (!w || sslt_write_section(w, kind, meta, 2, t, data) || sslt_writer_close(w, &err)) {
        fprintf(stderr, "test_knn: %s: %s\n", path, w ? sslt_writer_error(w)->msg : err.msg);
        sv_free(meta);
        return -1;
    }
    sv_free(meta);
    return 0;
}

/* Writes DIR/{train,test}.sslt (features with 10 named classes), bad
 * variants, and DIR/expected: one line "k sigma top1 top5" per pair of
 * k 1,10,50,500 x sigma 0.1,0.5 from the reference above. */
static int gen(const char *dir) {
    enum { NTR = 500, NTE = 120, DIM = 32, C = 10 };
    static float tr[NTR * DIM], te[NTE * DIM], cen[C * DIM];
    static int32_t ytr[NTR], yte[NTE];
    static int64_t order[NTE * NTR];
    static double ss[NTE * NTR];
    const int ks[] = { 1, 10, 50, 500 };
    const double sg[] = { 0.1, 0.5 };
    const char *names[C] = { "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9" };
    const char *other[C] = { "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "X" };
    char path[4096];
    ref_out o[8];
    uint64_t seed = 1;
    for (; seed < 50; seed++) {
        gauss(cen, C * DIM, seed + 77);
        gauss(tr, NTR * DIM, seed);
        gauss(te, NTE * DIM, seed + 1000);
        labels(ytr, NTR, C, seed);
        labels(yte, NTE, C, seed + 1000);
        for (int i = 0; i < NTR * DIM; i++) tr[i] += 0.35f * cen[ytr[i / DIM] * DIM + i % DIM];
        for (int i = 0; i < NTE * DIM; i++) te[i] += 0.35f * cen[yte[i / DIM] * DIM + i % DIM];
        ref_lists(tr, NTR, te, NTE, DIM, order, ss);
        double gap = INFINITY;
        for (int i = 0; i < 8; i++) {
            ref_knn(order, ss, ytr, NTR, yte, NTE, C, ks[i / 2], sg[i % 2], &o[i]);
            if (o[i].min_gap < gap) gap = o[i].min_gap;
        }
        if (gap > 1e-5) break;   /* float error is ~1e-6 relative */
    }
    if (seed == 50) return 1;
#define P(name) (snprintf(path, sizeof path, "%s/%s", dir, name), path)
    if (write_stream(P("train.sslt"), "features", tr, ytr, NTR, DIM, names, C) ||
        write_stream(P("test.sslt"), "features", te, yte, NTE, DIM, names, C) ||
        write_stream(P("test_dim.sslt"), "features", te, yte, NTE,
                     DIM - 1, names, C) ||
        write_stream(P("test_classes.sslt"), "features", te, yte, NTE, DIM, other, C) ||
        write_stream(P("test_nolist.sslt"), "features", te, yte, NTE, DIM, NULL, C) ||
        write_stream(P("checkpoint.sslt"), "checkpoint", te, yte, NTE, DIM, names, C) ||
        write_stream(P("empty.sslt"), "features", te, yte, 0, DIM, names, C))
        return 1;
    static float nan_te[NTE * DIM];
    memcpy(nan_te, te, sizeof te);
    nan_te[5 * DIM + 3] = NAN;
    if (write_stream(P("test_nan.sslt"), "features", nan_te, yte, NTE, DIM, names, C)) return 1;
    FILE *f = fopen(P("expected"), "w");
    if (!f) return 1;
    for (int i = 0; i < 8; i++)
        fprintf(f, "%d %g %.10g %.10g\n", ks[i / 2], sg[i % 2], (double)o[i].c1 / NTE,
                (double)o[i].c5 / NTE);
#undef P
    return fclose(f) ? 1 : 0;
}


/* Training rows from a callback (knn_config.rows: the monitor's bf16 bank,
 * read a block at a time): the same neighbours, similarities and report as
 * from the array, with blocks that split the rows unevenly; train NULL
 * without a callback, or with rows not declared normalised, refused. */
typedef struct { const float *x; int dim; int64_t calls; } rows_src;

static void rows_cb(void *ctx, int64_t t0, int64_t n, float *dst) {
    rows_src *s = ctx;
    memcpy(dst, s->x + t0 * s->dim, sizeof(float) * (size_t)(n * s->dim));
    s->calls++;
}

static void test_rows(void) {
    enum { NTR = 700, NTE = 90, DIM = 24, C = 7, K = 15 };
    static float tr[NTR * DIM], te[NTE * DIM], s1[NTE * K], s2[NTE * K];
    static int64_t i1[NTE * K], i2[NTE * K];
    static int32_t ytr[NTR], yte[NTE];
    rng r;
    rng_init(&r, 11, 0, 0);
    for (int i = 0; i < NTR * DIM; i++) tr[i] = (float)rng_normal(&r);
    for (int i = 0; i < NTE * DIM; i++) te[i] = (float)rng_normal(&r);
    for (int i = 0; i < NTR; i++) ytr[i] = (int32_t)rng_below(&r, C);
    for (int i = 0; i < NTE; i++) yte[i] = (int32_t)rng_below(&r, C);
    l2norm_forward(tr, tr, NTR, DIM, L2_EPS);
    l2norm_forward(te, te, NTE, DIM, L2_EPS);
    rows_src src = {tr, DIM, 0};
    int a = knn_topk(tr, NTR, te, NTE, DIM, K, 32, 100, s1, i1);
    int b = knn_topk_rows(rows_cb, &src, NTR, te, NTE, DIM, K, 32, 100, s2, i2);
    T_OK(!a && !b && !memcmp(s1, s2, sizeof s1) && !memcmp(i1, i2, sizeof i1) &&
         src.calls == 3 * 7, "rows: knn_topk_rows = knn_topk (blocks of 100 rows, 3 of queries)");
    int ks[2] = {5, K};
    double sg[2] = {0.1, 0.5};
    knn_config ca = { ks, 2, sg, 2, 0, 0, 1, NULL, NULL };
    knn_config cb = { ks, 2, sg, 2, 0, 0, 1, rows_cb, &src };
    knn_report ra, rb;
    ssl_err err = {0};
    a = knn_evaluate(tr, ytr, NTR, te, yte, NTE, DIM, C, &ca, &ra, &err);
    b = knn_evaluate(NULL, ytr, NTR, te, yte, NTE, DIM, C, &cb, &rb, &err);
    int same = !a && !b;
    for (int i = 0; same && i < 4; i++)
        same = ra.res[i].correct1 == rb.res[i].correct1 &&
               ra.res[i].correct5 == rb.res[i].correct5 &&
               !memcmp(ra.res[i].class_correct1, rb.res[i].class_correct1, sizeof(int64_t) * C);
    T_OK(same, "rows: knn_evaluate from the callback = from the array");
    if (!a) knn_report_destroy(&ra);
    if (!b) knn_report_destroy(&rb);
    cb.normalized = 0;
    T_OK(knn_evaluate(NULL, ytr, NTR, te, yte, NTE, DIM, C, &cb, &rb, &err) < 0 &&
             strstr(err.msg, "not normalised"),
         "rows: a callback's rows must be declared normalised");
    T_OK(knn_evaluate(NULL, ytr, NTR, te, yte, NTE, DIM, C, &ca, &rb, &err) < 0,
         "rows: no array and no callback is refused");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--gen")) return gen(argv[2]);
    test_random();
    test_ties();
    test_errors();
    test_rows();
    return t_done();
}
