/* test_gemm.c: gemm (lib/nn/ops/gemm.c) against a double-precision
 * reference, for every transpose case, odd sizes and alpha/beta cases.
 *
 * The tolerance, element by element. gemm computes c = alpha * S + beta *
 * c0, S = sum_k a_k b_k, as an fp32 FMA chain over k in order, restarted
 * at every block of KC = 256 k; the first block's sum is folded in as
 * fma(alpha, acc, beta * c0) and each later one as fma(alpha, acc, c).
 * Each rounding multiplies what it rounds by (1 + d), |d| <= u = 2^-24
 * (round to nearest). A product a_k b_k of block j passes through at most
 * kc_j <= K roundings inside the block (one per fma of the chain from its
 * own onwards; the first fma from 0 rounds the product itself), then one
 * per fold: at most nb = ceil(K / 256) of them; beta * c0 through its
 * own rounding and the folds, at most 1 + nb. Every term thus carries a
 * factor prod (1 + d_i) of at most n = K + nb + 1 roundings, and by
 * Higham (Accuracy and Stability of Numerical Algorithms, 2nd ed., Lemma
 * 3.1) |prod (1 + d_i) - 1| <= gamma(n) = n u / (1 - n u). Hence
 *   |c - (alpha S + beta c0)| <= gamma(n) (|alpha| sum_k |a_k b_k| + |beta c0|).
 * We take n = K + nb + 2: one more rounding covers a kernel that rounds
 * the product separately (the plain C one when the compiler does not
 * contract a * b + c), and any order of the sum (OpenBLAS, which
 * gemm_dispatch runs without a workspace: no term passes through more
 * than K - 1 additions, 1 product and the alpha and beta roundings). The
 * reference is computed in double from the same float inputs (products
 * exact, sums with error about K 2^-53 sum |a b|, 2^-29 times smaller than
 * the bound); a slack of 2^-40 (|alpha| sum |a b| + |beta c0|) covers it.
 *
 * The check can fail: a result off by 4 times its bound in one element, a
 * product that drops one k, and one that ignores alpha are each run
 * through the same check, which must reject them.
 *
 * Also: beta 0 does not read C (NaN there stays out), alpha 0 does not
 * read A and B, the columns of C beyond N (ldc > N) are untouched, the
 * workspace's old contents do not matter, and 1, 2 and 3 threads give the
 * same bits. */
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
    double *exact, *bound;        /* [M * N] */
} gcase;

static double gamma_n(int K) {
    double u = ldexp(1.0, -24), n = K + (K + 255) / 256 + 2;
    return n * u / (1 - n * u);
}

/* The reference and the bound of every element. */
static void reference(gcase *g) {
    g->exact = malloc(sizeof(double) * g->M * g->N);
    g->bound = malloc(sizeof(double) * g->M * g->N);
    double gm = gamma_n(g->K);
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            double s = 0, sa = 0;
            for (int k = 0; k < g->K; k++) {
                double a = g->ta ? g->A[(int64_t)k * g->lda + i] : g->A[(int64_t)i * g->lda + k];
                double b = g->tb ? g->B[(int64_t)j * g->ldb + k] : g->B[(int64_t)k * g->ldb + j];
                s += a * b;
                sa += fabs(a * b);
            }
            double c0 = g->beta == 0.0f ? 0 : (double)g->beta * g->C0[(int64_t)i * g->ldc + j];
            double mag = fabs((double)g->alpha) * sa + fabs(c0);
            g->exact[i * g->N + j] = (double)g->alpha * s + c0;
            g->bound[i * g->N + j] = gm * mag + ldexp(mag, -40);
        }
}

/* Largest |c - exact| / bound over the M x N results in C (row stride
 * ldc); NaN counts as infinite. */
static double worst(const gcase *g, const float *C) {
    double w = 0;
    for (int i = 0; i < g->M; i++)
        for (int j = 0; j < g->N; j++) {
            double e = fabs(C[(int64_t)i * g->ldc + j] - g->exact[i * g->N + j]);
            double b = g->bound[i * g->N + j];
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
    free(g->A); free(g->B); free(g->C0); free(g->exact); free(g->bound);
}

/* C = a copy of C0, then gemm with a workspace of garbage. */
static float *run_gemm(const gcase *g, int K, float alpha, float garbage) {
    size_t nc = (size_t)g->M * g->ldc;
    float *C = malloc(nc * sizeof *C);
    memcpy(C, g->C0, nc * sizeof *C);
    int64_t nw = gemm_workspace(g->M, g->N, K);
    float *ws = malloc(sizeof(float) * (size_t)(nw ? nw : 1));
    for (int64_t i = 0; i < nw; i++) ws[i] = garbage;
    gemm(g->ta, g->tb, g->M, g->N, K, alpha, g->A, g->lda, g->B, g->ldb, g->beta, C, g->ldc,
         ws);
    free(ws);
    return C;
}

/* The padding columns of C (beyond N) are C0's. */
static int pad_intact(const gcase *g, const float *C) {
    for (int i = 0; i < g->M; i++)
        for (int j = g->N; j < g->ldc; j++)
            if (C[(int64_t)i * g->ldc + j] != g->C0[(int64_t)i * g->ldc + j]) return 0;
    return 1;
}

static const int shapes[][3] = {
    {1, 1, 1}, {1, 17, 15}, {15, 1, 17}, {17, 15, 1}, {7, 47, 9}, {9, 49, 16},
    {8, 48, 256}, {15, 97, 255}, {17, 255, 257}, {255, 17, 513}, {257, 257, 17},
    {33, 1000, 300}, {300, 50, 40}, {64, 800, 600}, {130, 1, 1}, {1, 130, 700},
    {20, 2400, 40},     /* N over two blocks of NC (2304) columns */
};
static const float ab[][2] = { {1, 0}, {1, 1}, {-0.5f, 2}, {0.3f, -1}, {2, 0} };
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])
#define NAB (int)(sizeof ab / sizeof ab[0])

static void test_cases(void) {
    int ncase = 0, bad = 0, bad_ref = 0, bad_blas = 0, bad_pad = 0;
    double w_all = 0, w_ref = 0, w_blas = 0;
    char what[160] = "";
    for (int s = 0; s < NSHAPES; s++)
        for (int t = 0; t < 4; t++) {
            int v = (s * 4 + t) % NAB, pad = (s + t) % 3 * 5;
            gcase g;
            make_case(&g, t >> 1, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], pad,
                      ab[v][0], ab[v][1]);
            float *C = run_gemm(&g, g.K, g.alpha, NAN);
            double w = worst(&g, C);
            if (w > w_all) w_all = w;
            if (!(w <= 1)) {
                if (!bad++)
                    snprintf(what, sizeof what, "%dx%dx%d %c%c alpha %g beta %g: %.3g x bound",
                             g.M, g.N, g.K, g.ta ? 'T' : 'N', g.tb ? 'T' : 'N', g.alpha,
                             g.beta, w);
            }
            bad_pad += !pad_intact(&g, C);
            /* the plain loops, and OpenBLAS through gemm_dispatch */
            memcpy(C, g.C0, sizeof(float) * (size_t)g.M * g.ldc);
            gemm_ref(g.ta, g.tb, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta, C,
                     g.ldc);
            w = worst(&g, C);
            if (w > w_ref) w_ref = w;
            bad_ref += !(w <= 1) || !pad_intact(&g, C);
            memcpy(C, g.C0, sizeof(float) * (size_t)g.M * g.ldc);
            gemm_dispatch(g.ta, g.tb, g.M, g.N, g.K, g.alpha, g.A, g.lda, g.B, g.ldb, g.beta,
                          C, g.ldc, NULL);
            w = worst(&g, C);
            if (w > w_blas) w_blas = w;
            bad_blas += !(w <= 1) || !pad_intact(&g, C);
            free(C);
            free_case(&g);
            ncase++;
        }
    t_report(!bad, "gemm: every transpose, odd sizes, alpha/beta within the fp32 bound",
             "%d of %d cases out, first %s", bad, ncase, what);
    printf("  (worst error / bound: gemm %.3g, gemm_ref %.3g, OpenBLAS %.3g over %d cases)\n",
           w_all, w_ref, w_blas, ncase);
    T_OK(!bad_pad, "gemm: columns of C beyond N untouched");
    T_OK(!bad_ref, "gemm_ref: within the bound, padding untouched");
    T_OK(!bad_blas, "gemm_dispatch without workspace (OpenBLAS): within the bound");
}

/* The check rejects wrong results: one element off by 4 bounds, a product
 * without its last k, one that ignores alpha. */
static void test_check_fails(void) {
    gcase g;
    make_case(&g, 0, 1, 37, 53, 19, 3, -0.5f, 1);
    float *C = run_gemm(&g, g.K, g.alpha, 0);
    double w0 = worst(&g, C);
    int i = 20, j = 31;
    double e = C[(int64_t)i * g.ldc + j] - g.exact[i * g.N + j];
    C[(int64_t)i * g.ldc + j] = (float)(g.exact[i * g.N + j] + (e >= 0 ? 4 : -4) *
                                        g.bound[i * g.N + j]);
    double w1 = worst(&g, C);
    t_report(w0 <= 1 && w1 > 1, "gemm check: one element off by 4 bounds fails",
             "before %.3g, after %.3g", w0, w1);
    free(C);
    C = run_gemm(&g, g.K - 1, g.alpha, 0);
    double w2 = worst(&g, C);
    t_report(w2 > 1, "gemm check: a product missing its last k fails", "%.3g", w2);
    free(C);
    C = run_gemm(&g, g.K, 1.0f, 0);
    double w3 = worst(&g, C);
    t_report(w3 > 1, "gemm check: a product ignoring alpha fails", "%.3g", w3);
    free(C);
    free_case(&g);
}

static void test_blas_rules(void) {
    /* beta 0: C is not read */
    gcase g;
    make_case(&g, 1, 0, 19, 50, 33, 2, 1.5f, 0);
    for (size_t i = 0; i < (size_t)g.M * g.ldc; i++)
        if (i % g.ldc < (size_t)g.N) g.C0[i] = NAN;
    float *C = run_gemm(&g, g.K, g.alpha, 0);
    double w = worst(&g, C);
    t_report(w <= 1, "gemm: beta 0 does not read C (NaN there)", "%.3g x bound", w);
    free(C);
    free_case(&g);
    /* alpha 0: C = beta C, A and B not read */
    make_case(&g, 0, 0, 9, 21, 40, 0, 0.0f, -2);
    for (int i = 0; i < g.M * g.K; i++) g.A[i] = NAN;
    C = run_gemm(&g, g.K, g.alpha, 0);
    int ok = 1;
    for (int i = 0; i < g.M * g.N; i++) ok &= C[i] == -2 * g.C0[i];
    T_OK(ok, "gemm: alpha 0 gives beta C without reading A (NaN there)");
    free(C);
    free_case(&g);
    /* K 0: C = beta C */
    make_case(&g, 0, 1, 5, 7, 0, 0, 1, 0.5f);
    C = run_gemm(&g, 0, 1, 0);
    ok = 1;
    for (int i = 0; i < g.M * g.N; i++) ok &= C[i] == 0.5f * g.C0[i];
    T_OK(ok, "gemm: K 0 gives beta C");
    free(C);
    free_case(&g);
}

/* 1, 2 and 3 threads, and workspaces of zeros or NaN: the same bits. */
static void test_bits(void) {
    static const int sh[][5] = {
        {0, 1, 256, 600, 300}, {0, 0, 70, 2000, 513}, {1, 0, 1000, 100, 64},
        {1, 1, 33, 47, 1000}, {0, 0, 3, 5, 7},
    };
    int same = 1, same_ws = 1;
    for (size_t s = 0; s < sizeof sh / sizeof sh[0]; s++) {
        gcase g;
        make_case(&g, sh[s][0], sh[s][1], sh[s][2], sh[s][3], sh[s][4], 1, 1, 1);
        size_t n = sizeof(float) * (size_t)g.M * g.ldc;
        ssl_set_threads(1);
        float *c1 = run_gemm(&g, g.K, 1, 0);
        ssl_set_threads(2);
        float *c2 = run_gemm(&g, g.K, 1, 0), *c2n = run_gemm(&g, g.K, 1, NAN);
        ssl_set_threads(3);
        float *c3 = run_gemm(&g, g.K, 1, 0);
        same &= !memcmp(c1, c2, n) && !memcmp(c1, c3, n);
        same_ws &= !memcmp(c2, c2n, n);
        free(c1); free(c2); free(c2n); free(c3);
        free_case(&g);
    }
    ssl_set_threads(2);
    T_OK(same, "gemm: 1, 2 and 3 threads give the same bits");
    T_OK(same_ws, "gemm: the workspace's old contents do not matter");
}

int main(void) {
    rng_init(&R, 16, 5, 0);
    ssl_set_threads(2);
    printf("gemm: %s kernel\n", gemm_available() ? "AVX-512" : "plain C");
    test_cases();
    test_check_fails();
    test_blas_rules();
    test_bits();
    return t_done();
}
