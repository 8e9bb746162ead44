/* test_npid.c: the instance-discrimination step (lib/ssl/npid.c).
 *
 * Checks npid_loss against an independent double-precision reference
 * (value, the SqrtKL closed form against the direct sum, the dS formulas of
 * ssl-method(7) THE LOSS, and central finite differences with u held constant as
 * the stop-gradient prescribes); df against finite differences through the
 * normalisation; both bank writes on a hand-computed case; that the grad
 * write with p = 0 is the npid write; the three negative modes; and one step
 * against a PyTorch autograd fixture (tests/gen_npid_fixtures.py). */
#include <stdint.h>

#include "ssl/npid.h"
#include "nn/ops/ops.h"
#include "util/rng.h"
#include "t.h"
#include "util/threads.h"

/* ---- double reference of the loss ---- */

/* L = (1/B) sum_b [CE_b + lambda KL_b]; u frozen to ufix when given, else
 * computed from s (and stored to uout if not NULL). kld/klc: the batch mean
 * SqrtKL as the direct sum and as the closed form. */
static double ref_loss(const double *s, int B, int K, const int *t1, const int *t2,
                       double lam, double tau, double lambda, double alpha,
                       const double *ufix, double *uout, double *ce_out,
                       double *kld, double *klc) {
    double ce = 0, kd = 0, kc = 0;
    for (int b = 0; b < B; b++) {
        const double *x = s + (size_t)b * K;
        double mt = -INFINITY, m1 = -INFINITY, zt = 0, z1 = 0, qa = 0, plp = 0;
        for (int k = 0; k < K; k++) {
            if (x[k] / tau > mt) mt = x[k] / tau;
            if (x[k] > m1) m1 = x[k];
        }
        for (int k = 0; k < K; k++) { zt += exp(x[k] / tau - mt); z1 += exp(x[k] - m1); }
        double lset = mt + log(zt), lse1 = m1 + log(z1);
        int a = t1[b], c = t2 ? t2[b] : a;
        double l = t2 ? lam : 1;
        ce += -(l * (x[a] / tau - lset) + (1 - l) * (x[c] / tau - lset));
        for (int k = 0; k < K; k++) {
            double lp = x[k] - lse1, p = exp(lp);
            qa += pow(p, alpha);
            plp += p * lp;
        }
        for (int k = 0; k < K; k++) {
            double lp = x[k] - lse1, p = exp(lp);
            double u = ufix ? ufix[(size_t)b * K + k] : pow(p, alpha) / qa;
            if (uout) uout[(size_t)b * K + k] = u;
            kd += p * (lp - log(u));
        }
        kc += (1 - alpha) * plp + log(qa);
    }
    if (ce_out) *ce_out = ce / B;
    if (kld) *kld = kd / B;
    if (klc) *klc = kc / B;
    return (ce + lambda * kd) / B;
}

static void fill_uniform(rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(r);
}

/* ---- npid_loss: value, closed forms, finite differences ---- */

static void test_loss(float lambda, int cutmix, float scale) {
    enum { B = 3, K = 7 };
    const float tau = 0.2f, alpha = 0.5f, lam = 0.6875f;
    const int32_t t1[B] = {0, 1, 2}, t2[B] = {2, 1, 0};   /* row 1 maps to itself */
    const int it1[B] = {0, 1, 2}, it2[B] = {2, 1, 0};
    float s[B * K], ds[B * K], pt[B * K];
    double sd[B * K], u0[B * K], ce, kl, rce, kld, klc;
    char name[160];
    rng r;
    rng_init(&r, 7, (uint64_t)(lambda * 10), (uint64_t)cutmix);
    fill_uniform(&r, s, B * K, -scale, scale);
    for (int i = 0; i < B * K; i++) sd[i] = s[i];
    const npid_config lc = {.tau = tau, .lambda = lambda, .alpha = alpha};
    double L = npid_loss(s, B, K, t1, cutmix ? t2 : NULL, lam, &lc, ds, pt, &ce, &kl);
    double R = ref_loss(sd, B, K, it1, cutmix ? it2 : NULL, lam, tau, lambda, alpha,
                        NULL, u0, &rce, &kld, &klc);
    const char *tag = cutmix ? "cutmix" : "plain";
#define NM(what) (snprintf(name, sizeof name, "loss lambda=%g %s scale=%g: %s", \
                           lambda, tag, scale, what), name)
    T_NEAR(L, R, 1e-6, 1e-6, NM("value vs double reference"));
    T_NEAR(ce, rce, 1e-6, 1e-6, NM("ce vs reference"));
    T_NEAR(L, ce + lambda * kl, 1e-12, 1e-12, NM("loss = ce + lambda kl"));
    /* SqrtKL: (1-alpha) sum p log p + log sum p^alpha == sum p (log p - log u) */
    T_NEAR(klc, kld, 1e-13, 1e-10, NM("closed form = direct sum (double)"));
    if (lambda != 0)
        T_NEAR(kl, kld, 2e-7, 1e-5, NM("kl (closed form, C) vs direct sum"));
    else
        T_NEAR(kl, 0, 0, 0, NM("kl not computed (0) when lambda is 0"));
    T_OK(kl >= -1e-7, NM("kl >= 0"));

    /* ssl-method(7), THE LOSS, written out: (p^tau - y)/(B tau) + lambda (1-alpha) p (s - sum p s)/B */
    float formula[B * K], ptd[B * K];
    for (int b = 0; b < B; b++) {
        const double *x = sd + b * K;
        double mx = x[0], zt = 0, z1 = 0, ps = 0;
        for (int k = 1; k < K; k++) if (x[k] > mx) mx = x[k];
        for (int k = 0; k < K; k++) { zt += exp((x[k] - mx) / tau); z1 += exp(x[k] - mx); }
        for (int k = 0; k < K; k++) ps += exp(x[k] - mx) / z1 * x[k];
        for (int k = 0; k < K; k++) {
            double ptk = exp((x[k] - mx) / tau) / zt, p = exp(x[k] - mx) / z1;
            double y = (k == it1[b] ? (cutmix ? lam : 1) : 0) + (cutmix && k == it2[b] ? 1 - lam : 0);
            ptd[b * K + k] = (float)ptk;
            formula[b * K + k] = (float)((ptk - y) / (B * tau)
                                         + lambda * (1 - alpha) * p * (x[k] - ps) / B);
        }
    }
    T_ALLCLOSE(ds, formula, B * K, 1e-6, 1e-5, NM("ds = closed-form dS"));
    T_ALLCLOSE(pt, ptd, B * K, 1e-7, 1e-5, NM("ptau = softmax(s/tau)"));

    /* central differences of L(s; u0) in double */
    float fd[B * K];
    const double h = 1e-5 * (scale > 1 ? scale : 1);
    for (int i = 0; i < B * K; i++) {
        double keep = sd[i];
        sd[i] = keep + h;
        double lp = ref_loss(sd, B, K, it1, cutmix ? it2 : NULL, lam, tau, lambda, alpha,
                             u0, NULL, NULL, NULL, NULL);
        sd[i] = keep - h;
        double lm = ref_loss(sd, B, K, it1, cutmix ? it2 : NULL, lam, tau, lambda, alpha,
                             u0, NULL, NULL, NULL, NULL);
        sd[i] = keep;
        fd[i] = (float)((lp - lm) / (2 * h));
    }
    T_ALLCLOSE(ds, fd, B * K, 2e-6, 1e-5, NM("ds vs central differences (u constant)"));
#undef NM
}

/* The row work runs on the pool: 1 and 2 threads give identical bits. */
static void test_loss_threads(void) {
    enum { B = 9, K = 301 };
    static float s[B * K], d1[B * K], d2[B * K];
    int32_t t1[B], t2[B];
    rng r;
    rng_init(&r, 3, 0, 0);
    fill_uniform(&r, s, B * K, -1, 1);
    for (int b = 0; b < B; b++) { t1[b] = b; t2[b] = (b + 4) % B; }
    const npid_config lc = {.tau = 0.2f, .lambda = 20, .alpha = 0.5f};
    ssl_set_threads(1);
    double l1 = npid_loss(s, B, K, t1, t2, 0.7f, &lc, d1, NULL, NULL, NULL);
    ssl_set_threads(2);
    double l2 = npid_loss(s, B, K, t1, t2, 0.7f, &lc, d2, NULL, NULL, NULL);
    T_OK(l1 == l2 && memcmp(d1, d2, sizeof d1) == 0, "loss: 1 and 2 threads agree bit for bit");
}

/* ---- bank writes by hand ---- */

static npid_config config(npid_negatives neg, int64_t k, float tau, float lambda,
                          npid_write_rule w) {
    npid_config c = {neg, k, tau, lambda, 0.5f, 0.5f, w, 1.0f, 0, 0, KL_TERMS_BOTH, PREC_FP32, 0};
    return c;
}

/* N=4, d=2, B=2, negatives 0, tau 1, lambda 0, m 0.5, bank_lr 1.
 * W = e1, e2, -e1, -e2; idx = {0, 1}; f0 = (0, 2) (z0 = e2), f1 = (3, 0) (z1 = e1).
 * s = [[0, 1], [1, 0]]; with c = e/(1+e) = sigmoid(1): p^tau = [[1-c, c], [c, 1-c]],
 * loss = CE = log(1 + e), instance accuracy 0.
 * dS = (p - I)/2: dz0 = -c/2 W0 + c/2 W1 = (-c/2, c/2), df0 = (dz0 - (dz0.z0) z0)/2
 * = (-c/4, 0); dz1 = (c/2, -c/2), df1 = (0, -c/2)/3 = (0, -c/6).
 * npid: W0 = W1 = normalize(0.5 e_i + 0.5 z) = (1, 1)/sqrt 2.
 * grad: Y - P = [[c, -c], [-c, c]]; delta0 = c z0 - c z1 = (-c, c), W0 + delta0 =
 * (1-c, c); delta1 = (c, -c), W1 + delta1 = (c, 1-c); each / sqrt((1-c)^2 + c^2). */
static void test_hand(void) {
    const float W0[8] = {1, 0, 0, 1, -1, 0, 0, -1}, f[4] = {0, 2, 3, 0};
    const int64_t idx[2] = {0, 1};
    const double c = exp(1.0) / (1 + exp(1.0)), n = sqrt((1 - c) * (1 - c) + c * c);
    const float r2 = (float)(1 / sqrt(2.0));
    float bank[8], df[4];
    npid_stats st;
    for (int w = 0; w < 2; w++) {
        npid_config cfg = config(NEG_NONE, 0, 1.0f, 0, w ? BANK_WRITE_GRAD : BANK_WRITE_NPID);
        npid *p = npid_new(&cfg, 4, 2, 2, NULL);
        memcpy(bank, W0, sizeof bank);
        int rc = npid_step(p, f, 2, idx, NULL, 0, bank, NULL, df, 1, &st);
        T_EQ(rc, 0, w ? "hand grad: step ok" : "hand npid: step ok");
        T_NEAR(st.loss, log(1 + exp(1.0)), 1e-6, 1e-6, "hand: loss = log(1+e)");
        T_NEAR(st.inst_acc, 0, 0, 0, "hand: instance accuracy 0");
        T_EQ(st.ncols, 2, "hand: K' = B with negatives 0");
        const float dfw[4] = {(float)(-c / 4), 0, 0, (float)(-c / 6)};
        T_ALLCLOSE(df, dfw, 4, 1e-7, 1e-6, "hand: df");
        if (w) {
            const float want[8] = {(float)((1 - c) / n), (float)(c / n), (float)(c / n),
                                   (float)((1 - c) / n), -1, 0, 0, -1};
            T_ALLCLOSE(bank, want, 8, 1e-7, 1e-6, "hand grad: bank after write");
        } else {
            const float want[8] = {r2, r2, r2, r2, -1, 0, 0, -1};
            T_ALLCLOSE(bank, want, 8, 1e-7, 1e-6, "hand npid: bank after write");
        }
        /* write_bank = 0 leaves it alone */
        memcpy(bank, W0, sizeof bank);
        npid_step(p, f, 2, idx, NULL, 0, bank, NULL, df, 0, &st);
        T_OK(memcmp(bank, W0, sizeof bank) == 0, "hand: write_bank 0 writes nothing");
        npid_free(p);
    }
}

/* With p^tau = 0 everywhere (g = y), the grad write with step (1-m)/m is the
 * npid write: normalize(W + (1-m)/m z) = normalize(m W + (1-m) z); the other
 * selected (already unit) rows stay as they are. */
static void test_grad_is_npid(void) {
    enum { N = 20, D = 8, B = 5, K = 9 };
    const int64_t sel[K] = {3, 17, 0, 9, 12, 1, 5, 19, 8};   /* batch first */
    float bank[N * D], a[N * D], b2[N * D], z[B * D], g[B * K], gall[B * N], work[K * D];
    rng r;
    rng_init(&r, 11, 0, 0);
    fill_uniform(&r, bank, N * D, -1, 1);
    l2norm_forward(bank, bank, N, D, L2_EPS);
    fill_uniform(&r, z, B * D, -1, 1);
    l2norm_forward(z, z, B, D, L2_EPS);
    const float ms[2] = {0.5f, 0.3f};
    for (int t = 0; t < 2; t++) {
        float m = ms[t];
        memset(g, 0, sizeof g);
        memset(gall, 0, sizeof gall);
        for (int i = 0; i < B; i++) { g[i * K + i] = 1; gall[i * N + sel[i]] = 1; }
        memcpy(a, bank, sizeof a);
        npid_write_npid(a, D, sel, B, z, m);
        memcpy(b2, bank, sizeof b2);
        npid_write_grad(b2, D, sel, K, g, z, B, (1 - m) / m, work);
        T_ALLCLOSE(b2, a, N * D, 1e-6, 1e-5, t ? "grad write with p=0 equals npid write (m 0.3)"
                                                : "grad write with p=0 equals npid write (m 0.5)");
        memcpy(b2, bank, sizeof b2);
        npid_write_grad(b2, D, NULL, N, gall, z, B, (1 - m) / m, NULL);
        T_ALLCLOSE(b2, a, N * D, 1e-6, 1e-5, t ? "in-place grad write with p=0 equals npid (m 0.3)"
                                                : "in-place grad write with p=0 equals npid (m 0.5)");
    }
}

/* ---- negatives ---- */

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Runs one step (no write) and copies the columns; returns K'. */
static int64_t columns(npid *p, int64_t N, int B, const int64_t *idx, rng *r, int64_t *out) {
    enum { D = 4 };
    float f[64 * D], df[64 * D];
    static float bank[1000 * D];
    int64_t K;
    for (int i = 0; i < B * D; i++) f[i] = (float)((i * 7) % 5) - 2 + 0.5f;
    for (int64_t i = 0; i < N * D; i++) bank[i] = (float)((i * 3) % 7) - 3 + 0.25f;
    if (npid_step(p, f, B, idx, NULL, 0, bank, r, df, 0, NULL)) return -1;
    const int64_t *sel = npid_columns(p, &K);
    memcpy(out, sel, sizeof *out * K);
    return K;
}

static void test_negatives(void) {
    enum { N = 1000, B = 10 };
    static int64_t s1[N], s2[N], s3[N];
    int64_t idx[B];
    for (int b = 0; b < B; b++) idx[b] = 97 * b + 13;
    npid_config cfg = config(NEG_K, 50, 0.2f, 0, BANK_WRITE_NPID);
    npid *p = npid_new(&cfg, N, 4, B, NULL), *q = npid_new(&cfg, N, 4, B, NULL);
    rng r0, r;
    rng_init(&r0, 5, RNG_NEGATIVES, 0);
    r = r0;
    int64_t K = columns(p, N, B, idx, &r, s1);
    T_EQ(K, B + 50, "k: K' = B + k");
    T_OK(memcmp(s1, idx, sizeof idx) == 0, "k: the batch comes first, in batch order");
    int bad = 0;
    static unsigned char seen[N];
    memset(seen, 0, sizeof seen);
    for (int b = 0; b < B; b++) seen[idx[b]] = 1;
    for (int64_t i = B; i < K; i++) {
        if (s1[i] < 0 || s1[i] >= N || seen[s1[i]]) bad++;
        else seen[s1[i]] = 1;
    }
    T_EQ(bad, 0, "k: negatives distinct, in range, none in the batch");
    r = r0;
    columns(p, N, B, idx, &r, s2);             /* same object, after a step */
    T_OK(memcmp(s1, s2, sizeof *s1 * K) == 0, "k: same rng state, same draw (same workspace)");
    r = r0;
    columns(q, N, B, idx, &r, s3);             /* a fresh workspace */
    T_OK(memcmp(s1, s3, sizeof *s1 * K) == 0, "k: same rng state, same draw (fresh workspace)");
    columns(p, N, B, idx, &r, s2);             /* r has moved on */
    T_OK(memcmp(s1, s2, sizeof *s1 * K) != 0, "k: another rng state, another draw");
    npid_free(p);
    npid_free(q);

    /* uniform over the non-batch rows: 3000 draws of 30 from 90 rows, so
     * each row is drawn 1000 times on average (sd ~ 26); allow 6 sd. */
    enum { N2 = 100, B2 = 10, K2 = 30, STEPS = 3000 };
    int64_t idx2[B2], cols[N2];
    int count[N2] = {0};
    for (int b = 0; b < B2; b++) idx2[b] = 10 * b + 3;
    cfg = config(NEG_K, K2, 0.2f, 0, BANK_WRITE_NPID);
    p = npid_new(&cfg, N2, 4, B2, NULL);
    for (int t = 0; t < STEPS; t++) {
        int64_t k = columns(p, N2, B2, idx2, &r, cols);
        for (int64_t i = B2; i < k; i++) count[cols[i]]++;
    }
    int lo = STEPS, hi = 0, inbatch = 0;
    for (int i = 0; i < N2; i++) {
        if (i % 10 == 3) { inbatch += count[i]; continue; }
        if (count[i] < lo) lo = count[i];
        if (count[i] > hi) hi = count[i];
    }
    T_EQ(inbatch, 0, "k: batch rows are never drawn as negatives");
    T_OK(lo > 845 && hi < 1155, "k: every other row drawn about k/(N-B) of the time");
    npid_free(p);

    /* k > N - B is clipped: every row exactly once, no error */
    cfg = config(NEG_K, 50, 0.2f, 0, BANK_WRITE_NPID);
    p = npid_new(&cfg, 20, 4, B, NULL);
    K = columns(p, 20, B, (int64_t[]){19, 0, 5, 7, 2, 11, 13, 3, 17, 8}, &r, s1);
    qsort(s1, K, sizeof *s1, cmp_i64);
    bad = K != 20;
    for (int64_t i = 0; i < K && !bad; i++) bad = s1[i] != i;
    T_OK(!bad, "k > N - B: clipped to every row once");
    npid_free(p);

    /* all: the batch, then every other row in index order */
    cfg = config(NEG_ALL, 0, 0.2f, 0, BANK_WRITE_NPID);
    p = npid_new(&cfg, 30, 4, 5, NULL);
    int64_t idx3[5] = {29, 4, 0, 17, 6};
    K = columns(p, 30, 5, idx3, NULL, s1);
    T_EQ(K, 30, "all: K' = N");
    bad = memcmp(s1, idx3, sizeof idx3) != 0;
    for (int64_t i = 6; i < K; i++) bad |= s1[i] <= s1[i - 1];
    qsort(s1, K, sizeof *s1, cmp_i64);
    for (int64_t i = 0; i < K; i++) bad |= s1[i] != i;
    T_OK(!bad, "all: batch first, then every other row once in index order");
    npid_free(p);

    cfg = config(NEG_NONE, 0, 0.2f, 0, BANK_WRITE_NPID);
    p = npid_new(&cfg, 30, 4, 5, NULL);
    K = columns(p, 30, 5, idx3, NULL, s1);
    T_OK(K == 5 && memcmp(s1, idx3, sizeof idx3) == 0, "0: K' = B, the batch only");
    npid_free(p);
}

/* ---- df: finite differences through the normalisation ---- */

static double ref_step_loss(const double *f, const float *bank, int N, int D, int B,
                            const int64_t *idx, const int *perm, double lam, double tau,
                            double lambda, const double *u0, double *uout) {
    double s[3 * 8];
    int t1[3], t2[3];
    for (int b = 0; b < B; b++) {
        double n = 0;
        for (int k = 0; k < D; k++) n += f[b * D + k] * f[b * D + k];
        n = sqrt(n);
        for (int j = 0; j < N; j++) {
            double dot = 0;
            for (int k = 0; k < D; k++) dot += f[b * D + k] / n * bank[j * D + k];
            s[b * N + j] = dot;
        }
        t1[b] = (int)idx[b];
        t2[b] = (int)idx[perm[b]];
    }
    return ref_loss(s, B, N, t1, t2, lam, tau, lambda, 0.5, u0, uout, NULL, NULL, NULL);
}

static void test_df_fd(void) {
    enum { N = 8, D = 5, B = 3 };
    const int64_t idx[B] = {6, 1, 3};
    const int32_t perm[B] = {1, 2, 0};
    const int iperm[B] = {1, 2, 0};
    float bank[N * D], f[B * D], df[B * D], fd[B * D];
    double fdd[B * D], u0[B * N];
    rng r;
    rng_init(&r, 21, 0, 0);
    fill_uniform(&r, bank, N * D, -1, 1);
    l2norm_forward(bank, bank, N, D, L2_EPS);
    fill_uniform(&r, f, B * D, -2, 2);
    npid_config cfg = config(NEG_ALL, 0, 0.2f, 20, BANK_WRITE_GRAD);
    npid *p = npid_new(&cfg, N, D, B, NULL);
    npid_stats st;
    int rc = npid_step(p, f, B, idx, perm, 0.6875f, bank, NULL, df, 0, &st);
    T_EQ(rc, 0, "df: step ok");
    for (int i = 0; i < B * D; i++) fdd[i] = f[i];
    double L = ref_step_loss(fdd, bank, N, D, B, idx, iperm, 0.6875, 0.2, 20, NULL, u0);
    T_NEAR(st.loss, L, 1e-6, 1e-6, "df: step loss vs double reference");
    const double h = 1e-5;
    for (int i = 0; i < B * D; i++) {
        double keep = fdd[i];
        fdd[i] = keep + h;
        double lp = ref_step_loss(fdd, bank, N, D, B, idx, iperm, 0.6875, 0.2, 20, u0, NULL);
        fdd[i] = keep - h;
        double lm = ref_step_loss(fdd, bank, N, D, B, idx, iperm, 0.6875, 0.2, 20, u0, NULL);
        fdd[i] = keep;
        fd[i] = (float)((lp - lm) / (2 * h));
    }
    T_ALLCLOSE(df, fd, B * D, 2e-6, 1e-4, "df = dL/df (central differences through the normalisation)");
    npid_free(p);
}

/* ---- PyTorch fixture ---- */

static float *to_f32(const double *v, long n) {
    float *o = malloc(sizeof *o * n);
    for (long i = 0; i < n; i++) o[i] = (float)v[i];
    return o;
}

/* Tolerance: |c - torch| <= 1e-5 * max|torch| + 1e-5 * |torch| elementwise
 * (float32 against float64 autograd); loss within 1e-6 relative. */
static void test_fixture(void) {
    FILE *fp = fopen(t_path("tests/fixtures/npid/step.txt"), "r");
    T_OK(fp != NULL, "fixture: tests/fixtures/npid/step.txt opens");
    if (!fp) return;
    long n[10];
    double *dims = t_read_array(fp, "dims", &n[0]), *hy = t_read_array(fp, "hyper", &n[1]);
    double *idxd = t_read_array(fp, "idx", &n[2]), *permd = t_read_array(fp, "perm", &n[3]);
    double *bankd = t_read_array(fp, "bank", &n[4]), *fdv = t_read_array(fp, "f", &n[5]);
    double *lossd = t_read_array(fp, "loss", &n[6]), *dfd = t_read_array(fp, "df", &n[7]);
    double *bgd = t_read_array(fp, "bank_grad", &n[8]), *bnd = t_read_array(fp, "bank_npid", &n[9]);
    fclose(fp);
    int ok = dims && hy && idxd && permd && bankd && fdv && lossd && dfd && bgd && bnd;
    T_OK(ok, "fixture: every array present");
    if (!ok) return;
    int N = (int)dims[0], D = (int)dims[1], B = (int)dims[2];
    int64_t idx[64];
    int32_t perm[64];
    for (int b = 0; b < B; b++) { idx[b] = (int64_t)idxd[b]; perm[b] = (int32_t)permd[b]; }
    float *bank0 = to_f32(bankd, n[4]), *f = to_f32(fdv, n[5]), *dfw = to_f32(dfd, n[7]);
    float *bgw = to_f32(bgd, n[8]), *bnw = to_f32(bnd, n[9]);
    float *bank = malloc(sizeof *bank * N * D), *df = malloc(sizeof *df * B * D);
    double dfmax = 0;
    for (long i = 0; i < n[7]; i++) if (fabs(dfd[i]) > dfmax) dfmax = fabs(dfd[i]);
    /* all (in place), then k = N - B (gathered, another column order): same results */
    for (int mode = 0; mode < 2; mode++) {
        for (int w = 0; w < 2; w++) {
            npid_config cfg = {mode ? NEG_K : NEG_ALL, N - B, (float)hy[0], (float)hy[1],
                               (float)hy[2], (float)hy[3], w ? BANK_WRITE_GRAD : BANK_WRITE_NPID,
                               (float)hy[4], 0, 0, KL_TERMS_BOTH, PREC_FP32, 0};
            npid *p = npid_new(&cfg, N, D, B, NULL);
            rng r;
            rng_init(&r, 1, RNG_NEGATIVES, 0);
            npid_stats st;
            memcpy(bank, bank0, sizeof *bank * N * D);
            int rc = npid_step(p, f, B, idx, perm, (float)hy[5], bank, &r, df, 1, &st);
            char nm[128];
            const char *tag = mode ? "k=N-B" : "all";
#define NM(what) (snprintf(nm, sizeof nm, "fixture %s %s: %s", tag, w ? "grad" : "npid", what), nm)
            T_EQ(rc, 0, NM("step ok"));
            T_NEAR(st.loss, lossd[0], 0, 1e-6, NM("loss vs torch"));
            T_NEAR(st.ce, lossd[1], 0, 1e-6, NM("ce vs torch"));
            T_NEAR(st.kl, lossd[2], 1e-7, 1e-5, NM("SqrtKL vs torch"));
            T_NEAR(st.inst_acc, lossd[3], 0, 0, NM("instance accuracy vs torch"));
            T_ALLCLOSE(df, dfw, (size_t)B * D, 1e-5 * dfmax, 1e-5, NM("df vs torch autograd"));
            T_ALLCLOSE(bank, w ? bgw : bnw, (size_t)N * D, 1e-5, 1e-5, NM("bank after write vs torch"));
            /* the same step with write_bank 0, then npid_write_last: the same bank */
            float *b2 = malloc(sizeof *b2 * N * D);
            memcpy(b2, bank0, sizeof *b2 * N * D);
            rng_init(&r, 1, RNG_NEGATIVES, 0);
            npid_step(p, f, B, idx, perm, (float)hy[5], b2, &r, df, 0, &st);
            T_OK(memcmp(b2, bank0, sizeof *b2 * N * D) == 0, NM("write_bank 0 leaves the bank"));
            T_EQ(npid_write_last(p, b2), 0, NM("npid_write_last ok"));
            T_OK(memcmp(b2, bank, sizeof *b2 * N * D) == 0, NM("deferred write = immediate write"));
            T_EQ(npid_write_last(p, b2), -2, NM("npid_write_last twice is -2"));
            free(b2);
#undef NM
            npid_free(p);
        }
    }
    free(dims); free(hy); free(idxd); free(permd); free(bankd); free(fdv);
    free(lossd); free(dfd); free(bgd); free(bnd);
    free(bank0); free(f); free(dfw); free(bgw); free(bnw); free(bank); free(df);
}

/* ---- errors, non-finite loss, bank init, normalisation ---- */

static void test_errors(void) {
    enum { N = 10, D = 3, B = 3 };
    float bank[N * D], keep[N * D], f[B * D], df[B * D];
    rng r;
    rng_init(&r, 2, 0, 0);
    fill_uniform(&r, bank, N * D, -1, 1);
    l2norm_forward(bank, bank, N, D, L2_EPS);
    fill_uniform(&r, f, B * D, -1, 1);
    memcpy(keep, bank, sizeof bank);
    npid_config cfg = config(NEG_K, 4, 0.2f, 20, BANK_WRITE_GRAD);
    npid *p = npid_new(&cfg, N, D, B, NULL);
    npid_stats st;
    int64_t dup[B] = {1, 4, 1}, out[B] = {1, 10, 2}, good[B] = {1, 4, 2};
    T_EQ(npid_step(p, f, B, dup, NULL, 0, bank, &r, df, 1, &st), -2, "error: repeated idx is -2");
    T_OK(strstr(npid_error(p)->msg, "repeats") != NULL, "error: message names the repeat");
    T_EQ(npid_step(p, f, B, out, NULL, 0, bank, &r, df, 1, &st), -2, "error: idx out of range is -2");
    T_EQ(npid_step(p, f, B + 1, good, NULL, 0, bank, &r, df, 1, &st), -2, "error: batch too large is -2");
    T_EQ(npid_step(p, f, B, good, (int32_t[]){0, 3, 1}, 0.5f, bank, &r, df, 1, &st), -2,
         "error: perm out of range is -2");
    T_OK(memcmp(bank, keep, sizeof bank) == 0, "error: bank untouched by rejected calls");
    f[4] = NAN;
    T_EQ(npid_step(p, f, B, good, NULL, 0, bank, &r, df, 1, &st), -1, "non-finite loss is -1");
    T_OK(memcmp(bank, keep, sizeof bank) == 0, "non-finite loss: bank untouched");
    T_EQ(npid_write_last(p, bank), -2, "non-finite loss: nothing for npid_write_last");
    f[4] = 0.5f;
    T_EQ(npid_step(p, f, B, good, NULL, 0, bank, &r, df, 1, &st), 0, "error state clears: next step ok");
    npid_free(p);
    npid_free(NULL);
    cfg.tau = 0;
    ssl_err e = {0};
    T_OK(npid_new(&cfg, N, D, B, &e) == NULL && e.code == SSL_EARG && strstr(e.msg, "tau 0"),
         "npid_new refuses tau 0, saying why");
    cfg.tau = 0.2f;
    T_OK(npid_new(&cfg, N, D, N + 1, &e) == NULL && e.code == SSL_EARG &&
         strstr(e.msg, "batches of"), "npid_new refuses max_batch > N, saying why");
    T_OK(npid_new(&cfg, N, D, N + 1, NULL) == NULL, "npid_new takes a NULL error");
}

static void test_bank_init(void) {
    enum { N = 200, D = 64 };
    static float a[N * D], b[N * D], c[N * D];
    npid_bank_random(a, N, D, 42);
    npid_bank_random(b, N, D, 42);
    npid_bank_random(c, N, D, 43);
    T_OK(memcmp(a, b, sizeof a) == 0, "random bank: same seed, same bank");
    T_OK(memcmp(a, c, sizeof a) != 0, "random bank: another seed, another bank");
    double lim = 1 / sqrt(D / 3.0), sq = 0, mx = 0;
    for (int i = 0; i < N * D; i++) { sq += (double)a[i] * a[i]; if (fabs(a[i]) > mx) mx = fabs(a[i]); }
    T_OK(mx < lim && mx > 0.99 * lim, "random bank: values in (-a, a), a = 1/sqrt(d/3)");
    T_NEAR(sq / N, 1.0, 0.03, 0, "random bank: mean squared row norm ~ 1 (var a^2/3 = 1/d)");
    float x[3 * 4] = {3, 4, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, y[12];
    l2norm_forward(y, x, 3, 4, L2_EPS);
    const float want[12] = {0.6f, 0.8f, 0, 0, 0, 0, 0, 0, 0.5f, 0.5f, 0.5f, 0.5f};
    T_ALLCLOSE(y, want, 12, 1e-7, 1e-6, "l2norm_forward: unit rows, zero row stays zero");
    l2norm_forward(x, x, 3, 4, L2_EPS);
    T_ALLCLOSE(x, want, 12, 1e-7, 1e-6, "l2norm_forward: in place");
}

/* The part tests' batch: rows, a CutMix permutation, inputs f [B, D] and a
 * bank of N unit rows (B = 8). */
static const int64_t part_idx[8] = {3, 17, 5, 22, 39, 0, 11, 28};
static const int32_t part_perm[8] = {5, 2, 7, 0, 6, 1, 4, 3};

static void part_inputs(float *f, float *bank, int N, int D, int B) {
    rng r;
    rng_init(&r, 7, 0, 0);
    fill_uniform(&r, f, (int64_t)B * D, -1, 1);
    fill_uniform(&r, bank, (int64_t)N * D, -1, 1);
    l2norm_forward(bank, bank, N, D, L2_EPS);
}

/* The batch's two halves on q as two replicas run them (the same draw of
 * negatives), then the write: npid_write_npid_rows of both halves' z, or
 * the sum of their updates applied. df [B, D]; s0, s1 the halves'
 * statistics. Returns the calls' status bits. */
static int halves(npid *q, void *bank, const float *f, const int32_t *pm, int D, int B,
                  npid_write_rule w, float *df, npid_stats *s0, npid_stats *s1) {
    enum { MAXN = 64, MAXD = 32 };
    const int H = B / 2;
    float z[8 * MAXD], upd[MAXN * MAXD], upd2[MAXN * MAXD];
    rng r;
    int64_t K;
    rng_init(&r, 9, 0, 0);
    int rc = npid_step_part(q, f, H, 0, B, part_idx, pm, 0.7f, bank, &r, df, s0);
    memcpy(z, npid_last_z(q), sizeof(float) * H * D);
    npid_columns(q, &K);
    if (w == BANK_WRITE_GRAD) rc |= npid_grad_update(q, upd);
    rng_init(&r, 9, 0, 0);
    rc |= npid_step_part(q, f + H * D, H, H, B, part_idx, pm, 0.7f, bank, &r, df + H * D, s1);
    memcpy(z + H * D, npid_last_z(q), sizeof(float) * H * D);
    if (w == BANK_WRITE_GRAD) {
        rc |= npid_grad_update(q, upd2);
        for (int64_t i = 0; i < K * D; i++) upd[i] += upd2[i];
        rc |= npid_apply_update(q, bank, upd);
    } else {
        npid_write_npid_rows(q, bank, part_idx, B, z);
    }
    return rc;
}

/* npid_step_part: two halves of a batch (as two replicas would run them)
 * give the whole batch's df rows, loss shares that add to its loss, and,
 * through npid_write_npid of their z (npid) or the sum of their updates
 * (grad), its bank; with CutMix across the halves and negatives k and
 * all. Tolerance: the halves' sums round differently. */
static void test_part(npid_negatives neg, npid_write_rule w, int cutmix) {
    enum { N = 40, D = 8, B = 8 };
    npid_config c = config(neg, 12, 0.2f, 20, w);
    npid *whole = npid_new(&c, N, D, B, NULL), *half = npid_new(&c, N, D, B, NULL);
    float bank[N * D], b1[N * D], b2[N * D], f[B * D], df[B * D], dfp[B * D];
    part_inputs(f, bank, N, D, B);
    memcpy(b1, bank, sizeof bank);
    memcpy(b2, bank, sizeof bank);
    const int32_t *pm = cutmix ? part_perm : NULL;
    npid_stats st, s0, s1;
    rng r;
    rng_init(&r, 9, 0, 0);
    int rc = npid_step(whole, f, B, part_idx, pm, 0.7f, b1, &r, df, 1, &st);
    rc |= halves(half, b2, f, pm, D, B, w, dfp, &s0, &s1);
    double e_df = 0, e_bank = 0;
    for (int i = 0; i < B * D; i++) e_df = fmax(e_df, fabs(df[i] - dfp[i]));
    for (int i = 0; i < N * D; i++) e_bank = fmax(e_bank, fabs(b1[i] - b2[i]));
    char name[128];
    snprintf(name, sizeof name, "part: neg %d write %d cutmix %d: halves = whole (loss %g vs "
             "%g, df %.2g, bank %.2g)", (int)neg, (int)w, cutmix, st.loss, s0.loss + s1.loss,
             e_df, e_bank);
    T_OK(!rc && fabs(st.loss - s0.loss - s1.loss) < 1e-5 * fabs(st.loss) &&
         fabs(st.inst_acc - s0.inst_acc - s1.inst_acc) < 1e-12 && e_df < 1e-6 && e_bank < 1e-6,
         name);
    T_OK(npid_write_last(half, b2) == -2, "part: npid_write_last refuses a part step");
    npid_free(whole);
    npid_free(half);
}


/* A bf16 bank (cfg.bank_bf16): a step on it is the float32 bank's step on
 * the same (bf16-exact) values, bit for bit (loss, df), and every row it
 * writes is that step's float32 row rounded to nearest even (bf16_round),
 * the others unchanged: whole steps with both writes and negatives k, all
 * and none, with CutMix, at fp32 and bf16 products, and a data-parallel
 * step (npid_step_part, the sum of the halves' updates, npid_apply_update;
 * npid_write_npid_rows). Also the random bank, and the row helpers. */
static uint16_t word_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (uint16_t)(u >> 16);
}

static void test_bank_bf16_case(npid_negatives neg, npid_write_rule w, int prec, int part) {
    enum { N = 40, D = 24, B = 8 };
    npid_config c = config(neg, 12, 0.2f, 20, w);
    c.prec = prec;
    npid_config c16 = c;
    c16.bank_bf16 = 1;
    npid *p32 = npid_new(&c, N, D, B, NULL), *p16 = npid_new(&c16, N, D, B, NULL);
    float bank[N * D], f[B * D], df32[B * D], df16[B * D];
    uint16_t b16[N * D], before[N * D];
    part_inputs(f, bank, N, D, B);
    for (int i = 0; i < N * D; i++) {
        bank[i] = bf16_round(bank[i]);
        b16[i] = word_of(bank[i]);
    }
    memcpy(before, b16, sizeof b16);
    npid_stats s32, s16, s1;
    int rc = 0;
    if (!part) {
        rng r;
        rng_init(&r, 9, 0, 0);
        rc |= npid_step(p32, f, B, part_idx, part_perm, 0.7f, bank, &r, df32, 1, &s32);
        rng_init(&r, 9, 0, 0);
        rc |= npid_step(p16, f, B, part_idx, part_perm, 0.7f, b16, &r, df16, 1, &s16);
    } else {                      /* two halves on each bank, then the summed write */
        rc |= halves(p32, bank, f, part_perm, D, B, w, df32, &s32, &s1);
        s32.loss += s1.loss;
        rc |= halves(p16, b16, f, part_perm, D, B, w, df16, &s16, &s1);
        s16.loss += s1.loss;
    }
    int same_rows = 1, changed = 0;
    for (int i = 0; i < N * D; i++) {
        same_rows &= b16[i] == word_of(bf16_round(bank[i]));
        changed += b16[i] != before[i];
    }
    char name[160];
    snprintf(name, sizeof name, "bf16 bank: neg %d write %d prec %d%s: the float32 step's loss and "
             "df bit for bit, its rows rounded (%d words changed)", (int)neg, (int)w, prec,
             part ? " (two halves)" : "", changed);
    T_OK(!rc && s32.loss == s16.loss && !memcmp(df32, df16, sizeof df32) && same_rows &&
         changed > 0, name);
    npid_free(p32);
    npid_free(p16);
}

static void test_bank_bf16(void) {
    for (int prec = 0; prec < 2; prec++) {
        if (prec == PREC_BF16 && !gemm_bf16_available()) {
            printf("SKIP: bf16 bank with bf16 products: no AVX512-BF16\n");
            continue;
        }
        test_bank_bf16_case(NEG_K, BANK_WRITE_GRAD, prec, 0);
        test_bank_bf16_case(NEG_K, BANK_WRITE_NPID, prec, 0);
        test_bank_bf16_case(NEG_ALL, BANK_WRITE_GRAD, prec, 0);
        test_bank_bf16_case(NEG_ALL, BANK_WRITE_NPID, prec, 0);
        test_bank_bf16_case(NEG_NONE, BANK_WRITE_GRAD, prec, 0);
        test_bank_bf16_case(NEG_K, BANK_WRITE_GRAD, prec, 1);
        test_bank_bf16_case(NEG_K, BANK_WRITE_NPID, prec, 1);
        test_bank_bf16_case(NEG_ALL, BANK_WRITE_GRAD, prec, 1);
    }
    enum { N = 50, D = 1100 };                /* rows longer than the 512-float pieces */
    static float a[N * D], row[D];
    static uint16_t h[N * D];
    npid_bank_random(a, N, D, 42);
    npid_bank_random_bf16(h, N, D, 42);
    int ok = 1;
    for (int i = 0; i < N * D; i++) ok &= h[i] == word_of(bf16_round(a[i]));
    T_OK(ok, "bf16 bank: the random bank is the float32 one rounded");
    npid_bank_get_row(h, 1, 7, D, row);
    ok = 1;
    for (int k = 0; k < D; k++) ok &= row[k] == bf16_round(a[7 * D + k]);
    T_OK(ok, "bf16 bank: a row read back exactly");
    float v[4] = {1.00390625f, 1.01171875f, -3e-39f, 0x1.fffffep+127f}, back[4];
    uint16_t wv[4];
    memset(wv, 0, sizeof wv);
    npid_bank_put_row(wv, 1, 0, 4, v);
    npid_bank_get_row(wv, 1, 0, 4, back);
    T_OK(back[0] == 1.0f && back[1] == 1.015625f && back[2] == 0.0f && signbit(back[2]),
         "bf16 bank: ties to even, a subnormal to a signed zero");
    T_EQ(npid_bank_bytes(1, N, D) * 2, npid_bank_bytes(0, N, D), "bf16 bank: half the bytes");
}

int main(void) {
    ssl_set_threads(2);
    for (int cm = 0; cm < 2; cm++) {
        test_part(NEG_K, BANK_WRITE_GRAD, cm);
        test_part(NEG_K, BANK_WRITE_NPID, cm);
        test_part(NEG_ALL, BANK_WRITE_GRAD, cm);
        test_part(NEG_NONE, BANK_WRITE_NPID, cm);
    }
    for (int cm = 0; cm < 2; cm++) {
        test_loss(0, cm, 1);
        test_loss(20, cm, 1);
    }
    test_loss(20, 1, 40);      /* logits to 40 (200 / tau): needs the max shift */
    test_loss_threads();
    test_hand();
    test_grad_is_npid();
    test_negatives();
    test_df_fd();
    test_fixture();
    test_errors();
    test_bank_init();
    test_bank_bf16();
    return t_done();
}
