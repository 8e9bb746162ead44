/* test_gemm_bf16.c: gemm_bf16 (lib/nn/ops/gemm_bf16.c, bf16 inputs, fp32
 * sums) against double-precision references, for every transpose case,
 * odd sizes and alpha/beta cases; bf16_round against hand-worked values.
 *
 * Two tolerances, element by element.
 *
 * 1. Accuracy (against the fp32 inputs). gemm_bf16 rounds each input to
 *    bf16, 8 significant bits: a' = a (1 + e), |e| <= u_b = 2^-8 (round to
 *    nearest; an input below 2^-126 becomes 0, which the test's inputs,
 *    all above 2^-30 in magnitude or exactly 0, never meet). A product of
 *    two bf16 has 16 significant bits and is exact in fp32, so
 *    a'_k b'_k = a_k b_k (1 + t_k), |t_k| <= (1 + u_b)^2 - 1 = 2 u_b + u_b^2.
 *    The products are then summed as gemm sums (test_gemm.c's derivation
 *    with u = 2^-24): an fp32 chain over k in order (VDPBF16PS adds a pair's
 *    two products one after the other, two roundings per pair), restarted
 *    at every block of 512 k, the blocks folded into C with alpha and beta;
 *    each term passes through at most n = K + ceil(K / 512) + 2 roundings
 *    (an odd K's zero pad adds an exact 0), so with gamma(n) = n u / (1 - n u)
 *    (Higham, Lemma 3.1)
 *      |c - (alpha S + beta c0)| <= ((1 + u_b)^2 (1 + gamma(n)) - 1) |alpha| sum_k |a_k b_k|
 *                                   + gamma(n) |beta c0|,
 *    S = sum_k a_k b_k exactly: about 2^-7 sum |a b|, K-independent up
 *    to the fp32 part (K 2^-24). Adding a flushed subnormal partial sum
 *    (VDPBF16PS flushes its output's subnormals) would add 2^-126 per
 *    rounding: n 2^-126 more, included.
 *
 * 2. Exactness of the kernel (against the bf16-rounded inputs). With the
 *    references's inputs rounded by bf16_round (what the packing must do),
 *    S' = sum_k a'_k b'_k and only the fp32 sums remain:
 *      |c - (alpha S' + beta c0)| <= gamma(n) (|alpha| sum_k |a'_k b'_k| + |beta c0|),
 *    K 2^-24 relative, 2^16 times tighter than 1. Both references are
 *    computed in double from the same float values (products exact, sum
 *    error about K 2^-53 of sum |a b|); a slack of 2^-40 of the magnitude
 *    covers that.
 *
 * The checks can fail, concretely:
 *  - the kernel run with K - 1 (the last k dropped: an error |a'b'| of
 *    one term, about sum |a'b'| / K, against a bound of K 2^-24 of it) fails
 *    check 2;
 *  - a product computed from inputs truncated to bf16 instead of rounded
 *    (error up to 2^-7 per input, biased), and the plain fp32 product
 *    (no rounding at all), each fail check 2;
 *  - with entries +-1 (exact in bf16, every |a b| = 1) check 1's bound is
 *    about K 2^-7 + K 2^-24, below 1 for K < 128: the kernel run with K - 1
 *    (an error of exactly 1) fails check 1 too at K = 100.
 *
 * Also: NaN in C not read with beta 0, alpha 0 and K 0, the columns of C
 * beyond N untouched, the workspace's old contents do not matter, 1, 2
 * and 3 threads give the same bits. Without AVX512-BF16 on this CPU the
 * kernel checks are skipped (SKIP line) and bf16_round is still tested. */
#include <float.h>
#include <stdint.h>

#include "nn/ops/ops.h"
#include "t.h"
#include "util/rng.h"
#include "util/threads.h"

static rng R;

static float *rnd(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = (float)(2 * rng_uniform(&R) - 1);
    return p;
}

typedef struct {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float alpha, beta;
    float *A, *B, *C0;            /* inputs; C0 is C before the call */
    double *exact, *acc_bound;    /* check 1: fp32 inputs */
    double *exact_b, *bound_b;    /* check 2: bf16-rounded inputs */
} gcase;

static double gamma_n(int K) {
    double u = ldexp(1.0, -24), n = K + (K + 511) / 512 + 2;
    return n * u / (1 - n * u);
}

static float tr_bf16(float x) {   /* truncation to bf16 (the wrong rounding) */
    uint32_t v;
    memcpy(&v, &x, 4);
    v &= 0xffff0000u;
    memcpy(&x, &v, 4);
    return x;
}

static double geta(const gcase *g, int i, int k) {
    return g->ta ? g->A[(int64_t)k * g->lda + i] : g->A[(int64_t)i * g->lda + k];
}
static double getb(const gcase *g, int k, int j) {
    return g->tb ? g->B[(int64_t)j * g->ldb + k] : g->B[(int64_t)k * g->ldb + j];
}

static void reference(gcase *g) {
    size_t mn = (size_t)g->M * g->N;
    g->exact = malloc(sizeof(double) * mn);
    g->acc_bound = malloc(sizeof(double) * mn);
    g->exact_b = malloc(sizeof(double) * mn);
    g->bound_b = malloc(sizeof(double) * mn);
    double gm = gamma_n(g->K), ub = ldexp(1.0, -8);
    double nsub = (g->K + (g->K + 511) / 512 + 2) * ldexp(1.0, -126);
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            double s = 0, sa = 0, sb = 0, sab = 0;
            for (int k = 0; k < g->K; k++) {
                double a = geta(g, i, k), b = getb(g, k, j);
                double a2 = bf16_round((float)a), b2 = bf16_round((float)b);
                s += a * b;
                sa += fabs(a * b);
                sb += a2 * b2;
                sab += fabs(a2 * b2);
            }
            double c0 = g->beta == 0.0f ? 0 : (double)g->beta * g->C0[(int64_t)i * g->ldc + j];
            double al = fabs((double)g->alpha);
            size_t e = (size_t)i * g->N + j;
            g->exact[e] = (double)g->alpha * s + c0;
            g->acc_bound[e] = ((1 + ub) * (1 + ub) * (1 + gm) - 1) * al * sa + gm * fabs(c0) +
                              nsub + ldexp(al * sa + fabs(c0), -40);
            g->exact_b[e] = (double)g->alpha * sb + c0;
            g->bound_b[e] = gm * (al * sab + fabs(c0)) + nsub + ldexp(al * sab + fabs(c0), -40);
        }
}

/* Largest |c - ref| / bound over the M x N results in C; NaN is infinite. */
static double worst(const gcase *g, const float *C, const double *ref, const double *bound) {
    double w = 0;
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            double e = fabs(C[(int64_t)i * g->ldc + j] - ref[i * g->N + j]);
            double b = bound[i * g->N + j];
            double r = e == 0 ? 0 : b > 0 ? e / b : INFINITY;
            if (!(r <= w)) w = isnan(r) ? INFINITY : r;
        }
    return w;
}

static void make_case(gcase *g, int ta, int tb, int M, int N, int K, int pad, float alpha,
                      float beta) {
    g->ta = ta; g->tb = tb; g->M = M; g->N = N; g->K = K;
    g->lda = (ta ? M : K) + pad;
    g->ldb = (tb ? K : N) + pad;
    g->ldc = N + pad;
    g->alpha = alpha; g->beta = beta;
    g->A = rnd((size_t)(ta ? K : M) * g->lda);
    g->B = rnd((size_t)(tb ? N : K) * g->ldb);
    g->C0 = rnd((size_t)M * g->ldc);
    reference(g);
}

static void free_case(gcase *g) {
    free(g->A); free(g->B); free(g->C0);
    free(g->exact); free(g->acc_bound); free(g->exact_b); free(g->bound_b);
}

/* C = a copy of C0, then gemm_bf16 over the first K k with a workspace of
 * garbage. */
static float *run_bf16(const gcase *g, int K, float garbage) {
    size_t nc = (size_t)g->M * g->ldc;
    float *C = malloc(nc * sizeof *C);
    memcpy(C, g->C0, nc * sizeof *C);
    int64_t nw = gemm_bf16_workspace(g->M, g->N, K);
    float *ws = malloc(sizeof(float) * (size_t)(nw ? nw : 1));
    for (int64_t i = 0; i < nw; i++) ws[i] = garbage;
    gemm_bf16(g->ta, g->tb, g->M, g->N, K, g->alpha, g->A, g->lda, g->B, g->ldb, g->beta, C,
              g->ldc, ws);
    free(ws);
    return C;
}

static int pad_intact(const gcase *g, const float *C) {
    for (int i = 0; i < g->M; i++)
        for (int j = g->N; j < g->ldc; j++)
            if (C[(int64_t)i * g->ldc + j] != g->C0[(int64_t)i * g->ldc + j]) return 0;
    return 1;
}

static void test_round(void) {
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: to even, 1; 1 + 3 2^-8
     * between 1 + 2^-7 and 1 + 2^-6: to even, 1 + 2^-6; just above a half
     * rounds up; FLT_MAX rounds up to infinity (bf16's overflow) */
    float h = 1.0f + ldexpf(1, -8);
    int ok = bf16_round(h) == 1.0f && bf16_round(1.0f + 3 * ldexpf(1, -8)) == 1.0f + ldexpf(1, -6) &&
             bf16_round(h + ldexpf(1, -20)) == 1.0f + ldexpf(1, -7) &&
             bf16_round(-h) == -1.0f && bf16_round(0.1f) == 0.10009765625f &&
             bf16_round(FLT_MAX) == INFINITY && bf16_round(-INFINITY) == -INFINITY &&
             isnan(bf16_round(NAN)) && bf16_round(1e-40f) == 0.0f &&
             signbit(bf16_round(-1e-40f)) && bf16_round(ldexpf(1, -126)) == ldexpf(1, -126);
    T_OK(ok, "bf16_round: to nearest even on 8 bits, subnormals to 0, overflow to inf, NaN kept");
    /* every bf16 value is its own rounding; its neighbours differ */
    int fixed = 1;
    for (uint32_t v = 0x00800000u; v < 0x7f800000u; v += 0x00010000u * 97) {
        float x;
        memcpy(&x, &v, 4);
        fixed &= bf16_round(x) == x && bf16_round(-x) == -x;
    }
    T_OK(fixed, "bf16_round: bf16 values are fixed points");
}

static const int shapes[][3] = {
    {1, 1, 1}, {1, 17, 15}, {15, 1, 17}, {17, 15, 1}, {7, 47, 9}, {9, 49, 16}, {8, 48, 2},
    {8, 48, 512}, {15, 97, 255}, {17, 255, 513}, {255, 17, 1025}, {257, 257, 17},
    {33, 1000, 300}, {300, 50, 41}, {64, 800, 600}, {130, 1, 1}, {1, 130, 700},
    /* shapes AMX takes (ops.h): edges of M, N and K past 512 */
    {48, 97, 96}, {300, 70, 1025}, {16, 1, 32}, {272, 50, 544}, {32, 33, 64}, {256, 130, 600},
};
static const float ab[][2] = { {1, 0}, {1, 1}, {-0.5f, 2}, {0.3f, -1}, {2, 0} };
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])
#define NAB (int)(sizeof ab / sizeof ab[0])

static void test_cases(void) {
    int ncase = 0, bad1 = 0, bad2 = 0, bad_pad = 0;
    double w1_all = 0, w2_all = 0;
    char what[160] = "";
    for (int s = 0; s < NSHAPES; s++)
        for (int t = 0; t < 4; t++) {
            int v = (s * 4 + t) % NAB, pad = (s + t) % 3 * 5;
            gcase g;
            make_case(&g, t >> 1, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], pad,
                      ab[v][0], ab[v][1]);
            float *C = run_bf16(&g, g.K, NAN);
            double w1 = worst(&g, C, g.exact, g.acc_bound);
            double w2 = worst(&g, C, g.exact_b, g.bound_b);
            if (w1 > w1_all) w1_all = w1;
            if (w2 > w2_all) w2_all = w2;
            if (!(w1 <= 1) || !(w2 <= 1)) {
                if (!bad1 && !bad2)
                    snprintf(what, sizeof what, "%dx%dx%d %c%c alpha %g beta %g: %.3g, %.3g x bounds",
                             g.M, g.N, g.K, g.ta ? 'T' : 'N', g.tb ? 'T' : 'N', g.alpha,
                             g.beta, w1, w2);
                bad1 += !(w1 <= 1);
                bad2 += !(w2 <= 1);
            }
            bad_pad += !pad_intact(&g, C);
            free(C);
            free_case(&g);
            ncase++;
        }
    t_report(!bad1, "gemm_bf16: within the bf16 accuracy bound of the fp32 product",
             "%d of %d cases out, first %s", bad1, ncase, what);
    t_report(!bad2, "gemm_bf16: within the fp32-sum bound of the product of the bf16 inputs",
             "%d of %d cases out, first %s", bad2, ncase, what);
    printf("  (worst error / bound over %d cases: accuracy %.3g, exactness %.3g)\n", ncase,
           w1_all, w2_all);
    T_OK(!bad_pad, "gemm_bf16: columns of C beyond N untouched");
}

static void test_check_fails(void) {
    gcase g;
    make_case(&g, 0, 1, 48, 53, 1000, 3, -0.5f, 1);   /* K and K - 1 on AMX where it runs */
    float *C = run_bf16(&g, g.K, 0);
    double w0 = worst(&g, C, g.exact_b, g.bound_b);
    free(C);
    C = run_bf16(&g, g.K - 1, 0);
    double w1 = worst(&g, C, g.exact_b, g.bound_b);
    t_report(w0 <= 1 && w1 > 1, "gemm_bf16 check: a product missing its last k fails",
             "full %.3g, K - 1 %.3g", w0, w1);
    free(C);
    /* truncated inputs, and no rounding at all, through the fp32 reference loops */
    size_t na = (size_t)g.M * g.lda, nb = (size_t)g.N * g.ldb, nc = (size_t)g.M * g.ldc;
    float *At = malloc(na * sizeof *At), *Bt = malloc(nb * sizeof *Bt);
    for (size_t i = 0; i < na; i++) At[i] = tr_bf16(g.A[i]);
    for (size_t i = 0; i < nb; i++) Bt[i] = tr_bf16(g.B[i]);
    C = malloc(nc * sizeof *C);
    memcpy(C, g.C0, nc * sizeof *C);
    gemm_ref(g.ta, g.tb, g.M, g.N, g.K, g.alpha, At, g.lda, Bt, g.ldb, g.beta, C, g.ldc);
    double w2 = worst(&g, C, g.exact_b, g.bound_b);
    t_report(w2 > 1, "gemm_bf16 check: inputs truncated to bf16 instead of rounded fail", "%.3g",
             w2);
    memcpy(C, g.C0, nc * sizeof *C);
    gemm_ref(g.ta, g.tb, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, C, g.ldc);
    double w3 = worst(&g, C, g.exact_b, g.bound_b), w3a = worst(&g, C, g.exact, g.acc_bound);
    t_report(w3 > 1 && w3a <= 1, "gemm_bf16 check: the unrounded fp32 product fails check 2, "
             "passes check 1", "%.3g, %.3g", w3, w3a);
    free(C); free(At); free(Bt);
    free_case(&g);
    /* +-1 entries: check 1 alone catches a dropped k at K = 96 */
    make_case(&g, 1, 0, 32, 40, 96, 0, 1, 0);
    for (size_t i = 0; i < (size_t)g.K * g.lda; i++) g.A[i] = g.A[i] < 0 ? -1.0f : 1.0f;
    for (size_t i = 0; i < (size_t)g.K * g.ldb; i++) g.B[i] = g.B[i] < 0 ? -1.0f : 1.0f;
    free(g.exact); free(g.acc_bound); free(g.exact_b); free(g.bound_b);
    reference(&g);
    C = run_bf16(&g, g.K, 0);
    double v0 = worst(&g, C, g.exact, g.acc_bound);
    free(C);
    C = run_bf16(&g, g.K - 1, 0);
    double v1 = worst(&g, C, g.exact, g.acc_bound);
    t_report(v0 <= 1 && v1 > 1, "gemm_bf16 check: entries +-1, K 96: the accuracy bound alone "
             "rejects a missing k", "full %.3g, K - 1 %.3g", v0, v1);
    free(C);
    free_case(&g);
}

static void test_blas_rules(void) {
    gcase g;
    make_case(&g, 1, 0, 19, 50, 33, 2, 1.5f, 0);
    for (size_t i = 0; i < (size_t)g.M * g.ldc; i++)
        if (i % g.ldc < (size_t)g.N) g.C0[i] = NAN;
    float *C = run_bf16(&g, g.K, 0);
    double w = worst(&g, C, g.exact_b, g.bound_b);
    t_report(w <= 1, "gemm_bf16: beta 0 does not read C (NaN there)", "%.3g x bound", w);
    free(C);
    free_case(&g);
    make_case(&g, 0, 0, 9, 21, 40, 0, 0.0f, -2);
    for (int i = 0; i < g.M * g.K; i++) g.A[i] = NAN;
    C = run_bf16(&g, g.K, 0);
    int ok = 1;
    for (int i = 0; i < g.M * g.N; i++) ok &= C[i] == -2 * g.C0[i];
    T_OK(ok, "gemm_bf16: alpha 0 gives beta C without reading A (NaN there)");
    free(C);
    free_case(&g);
    make_case(&g, 0, 1, 5, 7, 0, 0, 1, 0.5f);
    C = run_bf16(&g, 0, 0);
    ok = 1;
    for (int i = 0; i < g.M * g.N; i++) ok &= C[i] == 0.5f * g.C0[i];
    T_OK(ok, "gemm_bf16: K 0 gives beta C");
    free(C);
    free_case(&g);
    /* a NaN input reaches its row of C; an overflow to inf stays inf */
    make_case(&g, 0, 1, 3, 4, 6, 0, 1, 0);
    g.A[1 * g.lda + 2] = NAN;
    g.A[2 * g.lda + 0] = 3.0e38f;
    g.B[0] = 2.0f;                 /* 3e38 (a finite bf16) x 2: inf in the fp32 sum */
    C = run_bf16(&g, g.K, 0);
    ok = 1;
    for (int j = 0; j < g.N; j++) ok &= isnan(C[1 * g.ldc + j]) && isfinite(C[j]);
    ok &= isinf(C[2 * g.ldc + 0]);
    T_OK(ok, "gemm_bf16: NaN propagates to its row, bf16 overflow gives inf");
    free(C);
    free_case(&g);
}

static void test_bits(void) {
    static const int sh[][5] = {
        {0, 1, 256, 600, 300}, {0, 0, 70, 2000, 1025}, {1, 0, 1000, 100, 64},
        {1, 1, 33, 47, 1000}, {0, 0, 3, 5, 7}, {0, 1, 256, 600, 1100}, {1, 0, 272, 100, 544},
        {0, 0, 48, 2000, 96}, {1, 1, 32, 47, 1000},
    };
    int same = 1, same_ws = 1;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        gcase g;
        make_case(&g, sh[s][0], sh[s][1], sh[s][2], sh[s][3], sh[s][4], 1, 1, 1);
        size_t n = sizeof(float) * (size_t)g.M * g.ldc;
        ssl_set_threads(1);
        float *c1 = run_bf16(&g, g.K, 0);
        ssl_set_threads(2);
        float *c2 = run_bf16(&g, g.K, 0), *c2n = run_bf16(&g, g.K, NAN);
        ssl_set_threads(3);
        float *c3 = run_bf16(&g, g.K, 0);
        same &= !memcmp(c1, c2, n) && !memcmp(c1, c3, n);
        same_ws &= !memcmp(c2, c2n, n);
        free(c1); free(c2); free(c2n); free(c3);
        free_case(&g);
    }
    ssl_set_threads(2);
    T_OK(same, "gemm_bf16: 1, 2 and 3 threads give the same bits");
    T_OK(same_ws, "gemm_bf16: the workspace's old contents do not matter");
    T_OK(gemm_bf16_workspace(300, 700, 900) <= gemm_workspace(300, 700, 900) &&
         gemm_bf16_workspace(5, 3, 3) <= gemm_workspace(5, 3, 3),
         "gemm_bf16: its workspace fits in gemm's");
}

/* linear_forward / linear_backward with PREC_BF16: each of the three
 * products within both bounds of the bf16 product it is (the forward with
 * C0 = the bias broadcast, beta 1; dw accumulated, beta 1; din beta 0),
 * and with PREC_FP32 the bits of gemm_dispatch (unchanged). */
static void test_linear(void) {
    const int Nr = 37, I = 70, O = 45;
    float *ws = malloc(sizeof(float) * (size_t)linear_workspace(Nr, I, O));
    gcase f, w, x;
    make_case(&f, 0, 1, Nr, O, I, 0, 1, 1);         /* out = in w^T + bias */
    for (int n = 1; n < Nr; n++) memcpy(f.C0 + n * O, f.C0, sizeof(float) * O);
    free(f.exact); free(f.acc_bound); free(f.exact_b); free(f.bound_b);
    reference(&f);
    float *out = malloc(sizeof(float) * Nr * O);
    linear_forward(out, f.A, f.B, f.C0, Nr, I, O, ws, PREC_BF16);
    double wf = fmax(worst(&f, out, f.exact, f.acc_bound), worst(&f, out, f.exact_b, f.bound_b));
    make_case(&w, 1, 0, O, I, Nr, 0, 1, 1);         /* dw += dout^T in */
    make_case(&x, 0, 0, Nr, I, O, 0, 1, 0);         /* din = dout w */
    float *dw = malloc(sizeof(float) * O * I), *din = malloc(sizeof(float) * Nr * I);
    float *db = calloc(O, sizeof(float));
    memcpy(dw, w.C0, sizeof(float) * O * I);
    /* one backward: dout is w.A ([Nr, O]) for dw; din's case uses its own
     * dout x.A and weight x.B, so two calls (din NULL in the first) */
    linear_backward(NULL, dw, db, w.A, w.B, f.B, Nr, I, O, ws, PREC_BF16);
    double ww = fmax(worst(&w, dw, w.exact, w.acc_bound), worst(&w, dw, w.exact_b, w.bound_b));
    float *dw2 = calloc((size_t)O * I, sizeof(float));
    linear_backward(din, dw2, NULL, x.A, f.A, x.B, Nr, I, O, ws, PREC_BF16);
    double wx = fmax(worst(&x, din, x.exact, x.acc_bound), worst(&x, din, x.exact_b, x.bound_b));
    t_report(wf <= 1 && ww <= 1 && wx <= 1, "linear in bf16: forward, dw and din within the bounds",
             "%.3g %.3g %.3g x bound", wf, ww, wx);
    float *o32 = malloc(sizeof(float) * Nr * O), *c32 = malloc(sizeof(float) * Nr * O);
    linear_forward(o32, f.A, f.B, f.C0, Nr, I, O, ws, PREC_FP32);
    memcpy(c32, f.C0, sizeof(float) * Nr * O);
    gemm_dispatch(0, 1, Nr, O, I, 1.0f, f.A, I, f.B, I, 1.0f, c32, O, ws);
    T_OK(!memcmp(o32, c32, sizeof(float) * Nr * O), "linear in fp32: gemm_dispatch's bits");
    free(o32); free(c32); free(out); free(dw); free(dw2); free(din); free(db); free(ws);
    free_case(&f); free_case(&w); free_case(&x);
}

/* The same cases on both paths: their bits side by side (reported: the two
 * units may order a pair's two products differently). */
static void test_paths_agree(void) {
    static const int sh[][5] = { {0, 1, 256, 600, 1100}, {1, 0, 272, 100, 544}, {0, 0, 48, 97, 96} };
    long diff = 0, n_all = 0;
    double w = 0;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        gcase g;
        make_case(&g, sh[s][0], sh[s][1], sh[s][2], sh[s][3], sh[s][4], 0, 1, 0);
        gemm_bf16_set_amx(0);
        float *c0 = run_bf16(&g, g.K, 0);
        gemm_bf16_set_amx(1);
        float *c1 = run_bf16(&g, g.K, 0);
        for (int64_t i = 0; i < (int64_t)g.M * g.ldc; i++) {
            diff += memcmp(c0 + i, c1 + i, sizeof(float)) != 0;
            n_all++;
        }
        double w0 = worst(&g, c0, g.exact_b, g.bound_b), w1 = worst(&g, c1, g.exact_b, g.bound_b);
        w = fmax(w, fmax(w0, w1));
        free(c0); free(c1);
        free_case(&g);
    }
    t_report(w <= 1, "gemm_bf16: AMX and VDPBF16PS both within the exactness bound", "%.3g", w);
    printf("  (AMX and VDPBF16PS differ in %ld of %ld elements)\n", diff, n_all);
}

static void run_all(const char *path) {
    printf("-- gemm_bf16 on %s\n", path);
    test_cases();
    test_check_fails();
    test_blas_rules();
    test_bits();
    test_linear();
}

int main(void) {
    rng_init(&R, 16, 6, 0);
    ssl_set_threads(2);
    gemm_bf16_set_amx(0);
    T_OK(!gemm_bf16_amx(), "gemm_bf16: gemm_bf16_set_amx(0) selects VDPBF16PS");
    test_round();
    if (!gemm_bf16_available()) {
        printf("SKIP: gemm_bf16: this CPU has no AVX512-BF16\n");
        return t_done();
    }
    gemm_bf16_set_amx(0);
    run_all("AVX512-BF16 (VDPBF16PS)");
    gemm_bf16_set_amx(1);
    if (gemm_bf16_amx()) {
        run_all("AMX (TDPBF16PS)");
        test_paths_agree();
    } else {
        printf("SKIP: gemm_bf16 on AMX: no AMX-BF16 on this CPU or no permission from the kernel\n");
    }
    gemm_bf16_set_amx(-1);
    return t_done();
}
