/* test_npid_kl.c: the SqrtKL variants of npid_loss (lib/ssl/npid.c;
 * ssl-method(7), THE LOSS, SqrtKL variants; ssl-train --kl-keepgrad,
 * --kl-forward, --kl-terms).
 *
 * For each variant (A default, B keepgrad, C forward, D forward + keepgrad,
 * l1, l2): the value against a double reference written from the
 * definitions (KL(p||u), KL(u||p), the two closed-form terms), dL/ds
 * against central differences of that reference (u frozen for the
 * stop-gradient variants A and C, recomputed from s for the others) and
 * against the written-out gradients of ssl-method(7); 1 and 2 threads bit
 * for bit; npid_step uses the variant of its configuration; the refused
 * combinations; and the loss and dL/ds against a PyTorch autograd fixture
 * of the authors' SqrtKL (tests/gen_npid_fixtures.py, fixtures/npid/kl.txt).
 * The default's other checks are in test_npid.c. */
#include <float.h>
#include <stdint.h>

#include "ssl/npid.h"
#include "nn/ops/ops.h"
#include "util/rng.h"
#include "t.h"
#include "util/threads.h"

enum { V_A, V_B, V_C, V_D, V_L1, V_L2, NVAR };
static const char *const vname[NVAR] = {"A", "B", "C", "D", "l1", "l2"};

static npid_config variant(int v, float tau, float lambda, float alpha) {
    npid_config c = {.tau = tau, .lambda = lambda, .alpha = alpha};
    c.kl_keepgrad = v == V_B || v == V_D || v == V_L1 || v == V_L2;
    c.kl_forward = v == V_C || v == V_D;
    c.kl_terms = v == V_L1 ? KL_TERMS_L1 : v == V_L2 ? KL_TERMS_L2 : KL_TERMS_BOTH;
    return c;
}

/* ---- double reference from the definitions ---- */

/* L = (1/B) sum_b [CE_b + lambda KL_b] with KL_b the variant's term: u from
 * ufix when given (the stop-gradient's constant), else p^alpha / sum p^alpha
 * of s (stored to uout if not NULL). *klout: the batch mean KL. */
static double ref_loss(int v, const double *s, int B, int K, const int *t1, const int *t2,
                       double lam, double tau, double lambda, double alpha,
                       const double *ufix, double *uout, double *klout) {
    double ce = 0, kl = 0;
    for (int b = 0; b < B; b++) {
        const double *x = s + (size_t)b * K;
        double mx = -INFINITY, zt = 0, z1 = 0, qa = 0;
        for (int k = 0; k < K; k++) if (x[k] > mx) mx = x[k];
        for (int k = 0; k < K; k++) { zt += exp((x[k] - mx) / tau); z1 += exp(x[k] - mx); }
        double lset = mx / tau + log(zt), lse1 = mx + log(z1);
        int a = t1[b], c = t2 ? t2[b] : a;
        double l = t2 ? lam : 1;
        ce += -(l * (x[a] / tau - lset) + (1 - l) * (x[c] / tau - lset));
        for (int k = 0; k < K; k++) qa += pow(exp(x[k] - lse1), alpha);
        double plp = 0, rev = 0, fwd = 0;
        for (int k = 0; k < K; k++) {
            double lp = x[k] - lse1, p = exp(lp);
            double u = ufix ? ufix[(size_t)b * K + k] : pow(p, alpha) / qa;
            if (uout) uout[(size_t)b * K + k] = u;
            plp += p * lp;
            rev += p * (lp - log(u));
            fwd += u * (log(u) - lp);
        }
        kl += v == V_L1 ? (1 - alpha) * plp : v == V_L2 ? log(qa)
            : v == V_C || v == V_D ? fwd : rev;
    }
    if (klout) *klout = kl / B;
    return (ce + lambda * kl) / B;
}

/* The gradients of ssl-method(7), THE LOSS, SqrtKL variants, written out
 * in double: (p^tau - y) / (B tau) + lambda g / B with g per variant. */
static void formula(int v, const double *s, int B, int K, const int *t1, const int *t2,
                    double lam, double tau, double lambda, double a, float *out) {
    for (int b = 0; b < B; b++) {
        const double *x = s + (size_t)b * K;
        double mx = x[0], zt = 0, z1 = 0, za = 0, ep = 0, eu = 0;
        for (int k = 1; k < K; k++) if (x[k] > mx) mx = x[k];
        for (int k = 0; k < K; k++) {
            zt += exp((x[k] - mx) / tau);
            z1 += exp(x[k] - mx);
            za += exp(a * (x[k] - mx));
        }
        for (int k = 0; k < K; k++) {
            ep += exp(x[k] - mx) / z1 * x[k];
            eu += exp(a * (x[k] - mx)) / za * x[k];
        }
        for (int k = 0; k < K; k++) {
            double pt = exp((x[k] - mx) / tau) / zt, p = exp(x[k] - mx) / z1;
            double u = exp(a * (x[k] - mx)) / za;
            double y = (k == t1[b] ? (t2 ? lam : 1) : 0) + (t2 && k == t2[b] ? 1 - lam : 0);
            double g1 = (1 - a) * p * (x[k] - ep), g2 = a * (u - p), gc = p - u;
            double gd = a * (a - 1) * u * (x[k] - eu);
            double g = v == V_A || v == V_L1 ? g1 : v == V_B ? g1 + g2 : v == V_L2 ? g2
                     : v == V_C ? gc : gc + gd;
            out[(size_t)b * K + k] = (float)((pt - y) / (B * tau) + lambda * g / B);
        }
    }
}

static void fill_uniform(rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(r);
}

/* ---- value, formulas, finite differences ---- */

static void test_variant(int v, float lambda, int cutmix, float alpha, float scale) {
    enum { B = 3, K = 7 };
    const float tau = 0.2f, lam = 0.6875f;
    const int32_t t1[B] = {0, 1, 2}, t2[B] = {2, 1, 0};   /* row 1 maps to itself */
    const int it1[B] = {0, 1, 2}, it2[B] = {2, 1, 0};
    const int *rt2 = cutmix ? it2 : NULL;
    float s[B * K], ds[B * K], want[B * K], fd[B * K];
    double sd[B * K], u0[B * K], ce, kl, rkl;
    char name[160];
    rng r;
    rng_init(&r, 17, (uint64_t)(v * 100 + lambda), (uint64_t)(cutmix + 2 * (alpha != 0.5f)));
    fill_uniform(&r, s, B * K, -scale, scale);
    for (int i = 0; i < B * K; i++) sd[i] = s[i];
    const npid_config c = variant(v, tau, lambda, alpha);
    double L = npid_loss(s, B, K, t1, cutmix ? t2 : NULL, lam, &c, ds, NULL, &ce, &kl);
    double R = ref_loss(v, sd, B, K, it1, rt2, lam, tau, lambda, alpha, NULL, u0, &rkl);
#define NM(what) (snprintf(name, sizeof name, "kl %s lambda=%g alpha=%g %s scale=%g: %s", \
                           vname[v], lambda, alpha, cutmix ? "cutmix" : "plain", scale, what), name)
    T_NEAR(L, R, 1e-6, 1e-6, NM("loss vs double reference"));
    T_NEAR(L, ce + lambda * kl, 1e-12, 1e-12, NM("loss = ce + lambda kl"));
    if (lambda != 0) T_NEAR(kl, rkl, 2e-7, 1e-5, NM("kl vs the definition"));
    else T_NEAR(kl, 0, 0, 0, NM("kl 0 when lambda is 0"));
    formula(v, sd, B, K, it1, rt2, lam, tau, lambda, alpha, want);
    T_ALLCLOSE(ds, want, B * K, 1e-6, 1e-5, NM("ds = the written-out gradient"));
    /* central differences: u frozen at u0 for the stop-gradient variants */
    const double *uf = v == V_A || v == V_C ? u0 : NULL;
    const double h = 1e-5 * (scale > 1 ? scale : 1);
    for (int i = 0; i < B * K; i++) {
        double keep = sd[i];
        sd[i] = keep + h;
        double lp = ref_loss(v, sd, B, K, it1, rt2, lam, tau, lambda, alpha, uf, NULL, NULL);
        sd[i] = keep - h;
        double lm = ref_loss(v, sd, B, K, it1, rt2, lam, tau, lambda, alpha, uf, NULL, NULL);
        sd[i] = keep;
        fd[i] = (float)((lp - lm) / (2 * h));
    }
    T_ALLCLOSE(ds, fd, B * K, 2e-6, 1e-5, NM(uf ? "ds vs central differences (u constant)"
                                              : "ds vs central differences (through u)"));
#undef NM
}

/* The row work runs on the pool: 1 and 2 threads give identical bits. */
static void test_threads(void) {
    enum { B = 9, K = 301 };
    static float s[B * K], d1[B * K], d2[B * K];
    int32_t t1[B], t2[B];
    rng r;
    rng_init(&r, 3, 1, 0);
    fill_uniform(&r, s, B * K, -1, 1);
    for (int b = 0; b < B; b++) { t1[b] = b; t2[b] = (b + 4) % B; }
    int same = 1;
    for (int v = 0; v < NVAR; v++) {
        const npid_config c = variant(v, 0.2f, 20, v & 1 ? 0.3f : 0.5f);
        ssl_set_threads(1);
        double l1 = npid_loss(s, B, K, t1, t2, 0.7f, &c, d1, NULL, NULL, NULL);
        ssl_set_threads(2);
        double l2 = npid_loss(s, B, K, t1, t2, 0.7f, &c, d2, NULL, NULL, NULL);
        same &= l1 == l2 && memcmp(d1, d2, sizeof d1) == 0;
    }
    T_OK(same, "kl variants: 1 and 2 threads agree bit for bit");
}

/* npid_step computes the loss of its configuration's variant: its kl is
 * npid_loss's on the logits recomputed here, and differs between variants. */
static void test_step_variant(void) {
    enum { N = 12, D = 6, B = 3 };
    const int64_t idx[B] = {4, 9, 0};
    const int32_t perm[B] = {2, 0, 1}, t1[B] = {4, 9, 0}, t2[B] = {0, 4, 9};
    float bank[N * D], f[B * D], df[B * D], s[B * N], ds[B * N];
    rng r;
    rng_init(&r, 23, 0, 0);
    fill_uniform(&r, bank, N * D, -1, 1);
    l2norm_forward(bank, bank, N, D, L2_EPS);
    fill_uniform(&r, f, B * D, -2, 2);
    for (int b = 0; b < B; b++) {
        double n = 0;
        for (int k = 0; k < D; k++) n += (double)f[b * D + k] * f[b * D + k];
        for (int j = 0; j < N; j++) {
            double dot = 0;
            for (int k = 0; k < D; k++) dot += f[b * D + k] / sqrt(n) * bank[j * D + k];
            s[b * N + j] = (float)dot;
        }
    }
    double kls[NVAR];
    int ok = 1, differ = 1;
    for (int v = 0; v < NVAR; v++) {
        npid_config c = variant(v, 0.2f, 20, 0.5f);
        c.neg = NEG_ALL, c.m = 0.5f, c.write = BANK_WRITE_GRAD, c.bank_lr = 1;
        npid *p = npid_new(&c, N, D, B, NULL);
        npid_stats st;
        double kl;
        ok &= p && npid_step(p, f, B, idx, perm, 0.6875f, bank, NULL, df, 0, &st) == 0;
        npid_loss(s, B, N, t1, t2, 0.6875f, &c, ds, NULL, NULL, &kl);
        ok &= fabs(st.kl - kl) <= 1e-5 * fabs(kl) + 1e-7;
        kls[v] = st.kl;
        npid_free(p);
    }
    for (int v = 1; v < NVAR; v++)
        if (v != V_B) differ &= fabs(kls[v] - kls[V_A]) > 1e-4;
    T_OK(ok, "kl variants: npid_step's kl is npid_loss's for its configuration");
    /* B (keepgrad) has A's value by construction but may reach it by other
     * roundings (the compiler may contract or reorder differently per CPU). */
    T_OK(differ && fabs(kls[V_B] - kls[V_A]) <= 1e-6 * fabs(kls[V_A]),
         "kl variants: values differ (B's equals A's to 1e-6)");
}

static void test_refused(void) {
    enum { B = 2, K = 3 };
    const float s[B * K] = {0.1f, 0.5f, -0.2f, 0.3f, 0.0f, 0.9f};
    const int32_t t1[B] = {0, 1};
    float ds[B * K];
    ssl_err e = {0};
    npid_config c = variant(V_L1, 0.2f, 20, 0.5f);
    c.neg = NEG_ALL, c.m = 0.5f, c.bank_lr = 1;
    c.kl_keepgrad = 0;
    T_OK(npid_new(&c, 10, 4, 2, &e) == NULL && e.code == SSL_EARG && strstr(e.msg, "kl_keepgrad"),
         "kl: npid_new refuses L1 alone without keepgrad, saying why");
    T_OK(isnan(npid_loss(s, B, K, t1, NULL, 1, &c, ds, NULL, NULL, NULL)),
         "kl: npid_loss is NaN for L1 alone without keepgrad");
    c.kl_keepgrad = 1, c.kl_forward = 1, c.kl_terms = KL_TERMS_L2;
    T_OK(npid_new(&c, 10, 4, 2, &e) == NULL && e.code == SSL_EARG,
         "kl: npid_new refuses L2 alone in the forward direction");
    c.kl_forward = 0;
    npid *p = npid_new(&c, 10, 4, 2, &e);
    T_OK(p != NULL, "kl: npid_new takes L2 alone with keepgrad");
    npid_free(p);
}

/* ---- PyTorch fixture ---- */

/* Tolerance. The logits s are float32 values (exact in the fixture) and
 * torch works in float64 on them, so the difference is npid_loss's float32
 * rounding. Each ds element is a sum of at most four float32 terms (p^tau /
 * (B tau), and up to three of c p (s - E), c (p - u), c u (s - E) with
 * |c| <= lambda / B), each from a few float32 operations on quantities
 * within 1 ulp (expf, sqrtf, the 1/z factors from double sums): at most
 * about 8 roundings of eps = FLT_EPSILON relative to the largest term. The
 * terms are bounded by T = 1 / (B tau) + lambda / B (p, u <= 1 and
 * |s - E| <= 2 for these s in [-1, 1], times a (1-a) <= 1/4 or (1-a) or a),
 * so |ds - torch| <= 8 eps T; allow 16 eps T. The loss sums are in double,
 * with float32 inputs: 1e-6 relative. A sign error in any term moves ds by
 * 2 |term|, orders of magnitude more. */
static void test_fixture(void) {
    FILE *fp = fopen(t_path("tests/fixtures/npid/kl.txt"), "r");
    T_OK(fp != NULL, "kl fixture: tests/fixtures/npid/kl.txt opens");
    if (!fp) return;
    long n, ns;
    double *dims = t_read_array(fp, "dims", &n), *hy = t_read_array(fp, "hyper", &n);
    double *t1d = t_read_array(fp, "t1", &n), *t2d = t_read_array(fp, "t2", &n);
    double *sd = t_read_array(fp, "s", &ns);
    int ok = dims && hy && t1d && t2d && sd;
    T_OK(ok, "kl fixture: inputs present");
    if (!ok) { fclose(fp); return; }
    const int B = (int)dims[0], K = (int)dims[1];
    const float tau = (float)hy[0], lambda = (float)hy[1], lam = (float)hy[2];
    int32_t t1[16], t2[16];
    float *s = malloc(sizeof *s * ns), *ds = malloc(sizeof *ds * ns), *want = malloc(sizeof *want * ns);
    for (int b = 0; b < B; b++) { t1[b] = (int32_t)t1d[b]; t2[b] = (int32_t)t2d[b]; }
    for (long i = 0; i < ns; i++) s[i] = (float)sd[i];
    const double T = 1.0 / (B * tau) + (double)lambda / B, atol = 16 * FLT_EPSILON * T;
    const float alphas[2] = {0.5f, 0.3f};
    for (int ai = 0; ai < 2; ai++) {
        for (int v = 0; v < NVAR; v++) {
            char key[64], nm[128];
            long nl, nd;
            snprintf(key, sizeof key, "a%g_%s_loss", alphas[ai], vname[v]);
            double *L = t_read_array(fp, key, &nl);
            snprintf(key, sizeof key, "a%g_%s_ds", alphas[ai], vname[v]);
            double *D = t_read_array(fp, key, &nd);
            snprintf(nm, sizeof nm, "kl fixture alpha %g %s: present", alphas[ai], vname[v]);
            T_OK(L && D && nl == 3 && nd == ns, nm);
            if (!(L && D && nl == 3 && nd == ns)) { free(L); free(D); continue; }
            for (long i = 0; i < ns; i++) want[i] = (float)D[i];
            const npid_config c = variant(v, tau, lambda, alphas[ai]);
            double ce, kl, loss = npid_loss(s, B, K, t1, t2, lam, &c, ds, NULL, &ce, &kl);
#define NM(what) (snprintf(nm, sizeof nm, "kl fixture alpha %g %s: %s", alphas[ai], vname[v], what), nm)
            T_NEAR(loss, L[0], 0, 1e-6, NM("loss vs torch"));
            T_NEAR(ce, L[1], 0, 1e-6, NM("ce vs torch"));
            T_NEAR(kl, L[2], 1e-7, 1e-5, NM("kl vs torch"));
            T_ALLCLOSE(ds, want, (size_t)ns, atol, 0, NM("ds vs torch autograd"));
#undef NM
            free(L);
            free(D);
        }
    }
    fclose(fp);
    free(dims); free(hy); free(t1d); free(t2d); free(sd);
    free(s); free(ds); free(want);
}

int main(void) {
    ssl_set_threads(2);
    for (int v = 0; v < NVAR; v++) {
        for (int cm = 0; cm < 2; cm++) {
            test_variant(v, 0, cm, 0.5f, 1);
            test_variant(v, 20, cm, 0.5f, 1);
        }
        test_variant(v, 20, 1, 0.3f, 1);      /* the general power (expf, not sqrtf) */
        test_variant(v, 5, 0, 0.5f, 5);       /* larger logits */
    }
    test_threads();
    test_step_variant();
    test_refused();
    test_fixture();
    return t_done();
}
