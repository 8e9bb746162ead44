/* npid.c: the instance-discrimination step (ssl-method(7), THE
 * TRAINING STEP, steps 3-8).
 *
 * One step normalises the head outputs (z = f / max(||f||, 1e-12)), picks
 * the bank columns (the batch's own rows first, then the negatives),
 * gathers those rows (Ws), computes the cosine logits s = z Ws^T, the loss
 * CE(p^tau) + lambda * SqrtKL (or one of its variants, kl_variant_row) and
 * its logit gradient row by row, then
 * dz = dS Ws, df (the gradient through the normalisation) and finally the
 * bank write (`npid` momentum rule or the `grad` rule, whose deltas are one
 * more GEMM). The three large products are gemm_dispatch's (nn/ops: the
 * AVX-512 gemm with the workspace's buffer, OpenBLAS without), or in bf16
 * (cfg.prec) gemm_bf16's; the per-row
 * softmax work runs on the library's thread pool over disjoint rows, so a
 * step is deterministic for a given thread count. With negatives `all` no
 * copy of the bank is made: the columns are the bank rows in place (the
 * loss does not depend on column order) and only the targets move.
 *
 * Negatives `k` are drawn with a partial Fisher-Yates over a persistent
 * permutation of [0, N), rejecting batch rows (a marker array), then the
 * swaps are undone: O(k + B) per step, and the draw depends only on the
 * RNG state. All buffers come from npid_new; npid_step does not allocate. */
#include "ssl/npid.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "util/mem.h"
#include "util/threads.h"

struct npid {
    npid_config cfg;
    int64_t N, kmax;              /* bank rows; largest K' */
    int d, max_batch;
    float *z, *dz;                /* [max_batch, d] */
    double *rnorm;                /* [max_batch] 1 / max(||f_b||, eps) */
    float *s, *ds, *pt;           /* [max_batch, kmax] logits, dL/ds, p^tau */
    float *ws;                    /* [kmax, d] gathered rows (NEG_ALL: only with a bf16 bank) */
    float *gws;                   /* gemm's workspace (NULL: OpenBLAS) */
    int64_t *sel;                 /* [kmax] columns of the last step */
    int64_t *t1, *t2;             /* [max_batch] target columns */
    double *row_ce, *row_kl;      /* [max_batch] per-row loss terms */
    unsigned char *row_ok;        /* [max_batch] own column is the argmax */
    unsigned char *mark;          /* [N] 1 for batch rows during a step */
    int32_t *pool;                /* [N] identity between steps (NEG_K) */
    int64_t *swaps;               /* [kmax] swap log of the partial shuffle */
    int64_t ncols;
    int pending_B;                /* batch of the last step not yet written, or 0;
                                   * -1: its grad update taken (npid_grad_update) */
    int pending_part;             /* that step held part of its batch (npid_step_part) */
    float pending_lam;            /* its CutMix lam (1 without CutMix) */
    ssl_err err;
};

/* ---- the loss, row by row ---- */

/* The SqrtKL variants (ssl-method(7), THE LOSS, SqrtKL variants): KLM_A is
 * the default (reverse, u constant), B reverse + keepgrad, C forward (u
 * constant), D forward + keepgrad, L1 and L2 one term of the closed form
 * (with keepgrad, reverse). */
enum { KLM_A, KLM_B, KLM_C, KLM_D, KLM_L1, KLM_L2 };

/* The variant of cfg, or -1 for a combination that is refused. */
static int kl_mode(const npid_config *c) {
    if (c->kl_terms == KL_TERMS_BOTH)
        return c->kl_forward ? (c->kl_keepgrad ? KLM_D : KLM_C) : (c->kl_keepgrad ? KLM_B : KLM_A);
    if (c->kl_terms != KL_TERMS_L1 && c->kl_terms != KL_TERMS_L2) return -1;
    if (!c->kl_keepgrad || c->kl_forward) return -1;
    return c->kl_terms == KL_TERMS_L1 ? KLM_L1 : KLM_L2;
}

typedef struct {
    const float *s;
    int64_t K;
    int B;
    const int64_t *t1, *t2;       /* t2 NULL: lam = 1 */
    float lam, tau, lambda, alpha;
    float *ds, *pt;               /* [B, K] outputs (pt also scratch) */
    double *ce, *kl;              /* [B] */
    unsigned char *ok;            /* [B] or NULL */
    int mode;                     /* KLM_* */
} loss_job;

/* Row b of a variant other than KLM_A (lambda != 0), after the max mx: the
 * same passes as loss_rows, with e^(alpha v) (v = s - mx) also summed
 * weighted by v for E_u[s] and recomputed from e^v in pass 2 for
 * u = e^(alpha v) / sum e^(alpha v). Per row, before lambda / B:
 *   L1 = (1-a) sum p log p,  L2 = log sum p^a,  KL(p||u) = L1 + L2,
 *   KL(u||p) = (a-1) E_u[s] + logsumexp(s) - logsumexp(a s);
 *   g1 = (1-a) p (s - E_p[s]) = dL1,  g2 = a (u - p) = dL2,
 *   gC = p - u (KL(u||p), u constant),  gD = a (a-1) u (s - E_u[s]) (through u).
 * B = g1 + g2, C = gC, D = gC + gD, L1 = g1, L2 = g2. */
static void kl_variant_row(const loss_job *j, int64_t b, float mx, int64_t a, int64_t c,
                           double lam) {
    const int64_t K = j->K;
    const float *x = j->s + b * K;
    float *ds = j->ds + b * K, *pt = j->pt + b * K;
    const double invt = 1.0 / j->tau, al = j->alpha;
    const float invtf = (float)invt, alf = j->alpha;
    const int half = j->alpha == 0.5f, m = j->mode;
    double zt = 0, z1 = 0, A = 0, q = 0, Au = 0;
    for (int64_t k = 0; k < K; k++) {
        float v = x[k] - mx;
        float e = expf(v * invtf), e1 = expf(v), ea = half ? sqrtf(e1) : expf(alf * v);
        ds[k] = e;
        pt[k] = e1;
        zt += e;
        z1 += e1;
        A += (double)e1 * v;
        q += ea;
        Au += (double)ea * v;
    }
    double lzt = log(zt);
    j->ce[b] = -(lam * (((double)x[a] - mx) * invt - lzt)
                 + (1 - lam) * (((double)x[c] - mx) * invt - lzt));
    double lz1 = log(z1), lq = log(q), pbar = A / z1, ubar = Au / q;
    double l1 = (1 - al) * (pbar - lz1), l2 = lq - al * lz1;
    j->kl[b] = m == KLM_L1 ? l1 : m == KLM_L2 ? l2 : m == KLM_B ? l1 + l2
             : (al - 1) * ubar + lz1 - lq;
    const double ct = invt / j->B, cl = (double)j->lambda / j->B;
    /* ds = p^tau / (B tau) + c1 p (v - E_p v) + cp (p - u) + cd u (v - E_u v) */
    const float c1 = (float)(m == KLM_B || m == KLM_L1 ? cl * (1 - al) : 0);
    const float cp = (float)(m == KLM_B || m == KLM_L2 ? -cl * al : m == KLM_C || m == KLM_D ? cl : 0);
    const float cd = (float)(m == KLM_D ? cl * al * (al - 1) : 0);
    const float rzt = (float)(1.0 / zt), ctf = (float)ct, rz1 = (float)(1.0 / z1);
    const float rq = (float)(1.0 / q), pbf = (float)pbar, ubf = (float)ubar;
    for (int64_t k = 0; k < K; k++) {
        float v = x[k] - mx;
        float p = ds[k] * rzt, p1 = pt[k] * rz1;
        float u = (half ? sqrtf(pt[k]) : expf(alf * v)) * rq;
        pt[k] = p;
        ds[k] = p * ctf + c1 * p1 * (v - pbf) + cp * (p1 - u) + cd * u * (v - ubf);
    }
    ds[a] -= (float)(lam * ct);
    ds[c] -= (float)((1 - lam) * ct);
}

/* For each row: max, then (pass 1) the unnormalised exponentials and their
 * sums in double, then (pass 2) p^tau and dL/ds. pass 1 keeps exp((s-mx)/tau)
 * in ds and exp(s-mx) in pt so that pass 2 needs no other scratch. */
static void loss_rows(void *ctx, int64_t b0, int64_t b1, int tid) {
    const loss_job *j = ctx;
    const int64_t K = j->K;
    const double invt = 1.0 / j->tau;
    const float invtf = (float)invt;
    const int kl_on = j->lambda != 0;
    const int half = j->alpha == 0.5f;
    (void)tid;
    for (int64_t b = b0; b < b1; b++) {
        const float *x = j->s + b * K;
        float *ds = j->ds + b * K, *pt = j->pt + b * K;
        int64_t a = j->t1[b], c = j->t2 ? j->t2[b] : a;
        double lam = j->t2 ? j->lam : 1.0;
        float mx = x[0];
        for (int64_t k = 1; k < K; k++)
            if (x[k] > mx) mx = x[k];
        if (j->ok) {
            int ok = x[a] == mx;
            for (int64_t k = 0; ok && k < K; k++)
                if (k != a && x[k] == mx) ok = 0;     /* a tie is not a hit */
            j->ok[b] = (unsigned char)ok;
        }
        if (kl_on && j->mode != KLM_A) {
            kl_variant_row(j, b, mx, a, c, lam);
            continue;
        }
        double zt = 0, z1 = 0, A = 0, q = 0;
        if (!kl_on) {
            for (int64_t k = 0; k < K; k++) {
                float e = expf((x[k] - mx) * invtf);
                ds[k] = e;
                zt += e;
            }
        } else {
            for (int64_t k = 0; k < K; k++) {
                float u = x[k] - mx;
                float e = expf(u * invtf), e1 = expf(u);
                ds[k] = e;
                pt[k] = e1;
                zt += e;
                z1 += e1;
                A += (double)e1 * u;
                q += half ? sqrtf(e1) : expf(j->alpha * u);
            }
        }
        double lzt = log(zt);
        j->ce[b] = -(lam * (((double)x[a] - mx) * invt - lzt)
                     + (1 - lam) * (((double)x[c] - mx) * invt - lzt));
        const double ct = invt / j->B;
        const float rzt = (float)(1.0 / zt), ctf = (float)ct;
        if (!kl_on) {
            j->kl[b] = 0;
            for (int64_t k = 0; k < K; k++) {
                float p = ds[k] * rzt;
                pt[k] = p;
                ds[k] = p * ctf;
            }
        } else {
            /* SqrtKL = (1-alpha) sum p log p + log sum p^alpha, with
             * sum p log p = A/z1 - log z1, sum p^alpha = q / z1^alpha. */
            double lz1 = log(z1), pbar = A / z1;
            j->kl[b] = (1 - j->alpha) * (pbar - lz1) + log(q) - j->alpha * lz1;
            const float ck = (float)(j->lambda * (1.0 - j->alpha) / j->B);
            const float rz1 = (float)(1.0 / z1), pbf = (float)pbar;
            for (int64_t k = 0; k < K; k++) {
                float p = ds[k] * rzt, p1 = pt[k] * rz1;
                pt[k] = p;
                ds[k] = p * ctf + ck * p1 * ((x[k] - mx) - pbf);
            }
        }
        ds[a] -= (float)(lam * ct);
        ds[c] -= (float)((1 - lam) * ct);
    }
}

double npid_loss(const float *s, int B, int K, const int32_t *t1,
                 const int32_t *t2, float lam, const npid_config *cfg,
                 float *ds, float *ptau, double *ce, double *kl) {
    double loss = NAN, sce = 0, skl = 0;
    const float lambda = cfg->lambda;
    const int mode = kl_mode(cfg);
    if (mode < 0) {
        if (ce) *ce = NAN;
        if (kl) *kl = NAN;
        return NAN;
    }
    int64_t *tt = malloc(sizeof *tt * 2 * (size_t)B);
    double *rows = malloc(sizeof *rows * 2 * (size_t)B);
    float *pt = ptau ? ptau : malloc(sizeof *pt * (size_t)B * K);
    if (tt && rows && pt) {
        for (int b = 0; b < B; b++) {
            tt[b] = t1[b];
            tt[B + b] = t2 ? t2[b] : t1[b];
        }
        loss_job j = {s, K, B, tt, t2 ? tt + B : NULL, lam, cfg->tau, lambda, cfg->alpha,
                      ds, pt, rows, rows + B, NULL, mode};
        ssl_parallel_for(B, 1, loss_rows, &j);
        for (int b = 0; b < B; b++) {
            sce += rows[b];
            skl += rows[B + b];
        }
        sce /= B;
        skl /= B;
        loss = sce + lambda * skl;
    } else {
        sce = skl = NAN;
    }
    if (ce) *ce = sce;
    if (kl) *kl = skl;
    if (!ptau) free(pt);
    free(tt);
    free(rows);
    return loss;
}

/* ---- row helpers ---- */

/* Dot product accumulated in double in 8 fixed lanes (the compiler turns the
 * lanes into one vector; the order, hence the result, is fixed). */
typedef struct { void *bank; int bf16, d; uint64_t seed; } rand_job;

static void to_bf16(uint16_t *dst, const float *src, int d);

/* (a bf16 bank: each piece of 512 rounded as it is drawn) */
static void rand_rows(void *ctx, int64_t i0, int64_t i1, int tid) {
    const rand_job *j = ctx;
    const double a = 1.0 / sqrt(j->d / 3.0);
    float piece[512];
    (void)tid;
    for (int64_t i = i0; i < i1; i++) {
        rng r;
        rng_init(&r, j->seed ^ RNG_BANK, (uint64_t)i, 0);
        for (int k0 = 0; k0 < j->d; k0 += 512) {
            int n = j->d - k0 < 512 ? j->d - k0 : 512;
            float *w = j->bf16 ? piece : (float *)j->bank + i * j->d + k0;
            for (int k = 0; k < n; k++) w[k] = (float)((2 * rng_uniform_d(&r) - 1) * a);
            if (j->bf16) to_bf16((uint16_t *)j->bank + i * j->d + k0, piece, n);
        }
    }
}

void npid_bank_random(float *bank, int64_t N, int d, uint64_t seed) {
    rand_job j = {bank, 0, d, seed};
    ssl_parallel_for(N, 256, rand_rows, &j);
}

/* ---- the bank's rows: float32, or bfloat16 words ---- */

/* bf16 words from float32, to nearest even as bf16_round (finite values:
 * the bank's rows are unit vectors or uniform draws; a NaN or infinity
 * never reaches a write, since a step with a non-finite loss writes
 * nothing), written so that GCC vectorises it (at -O2 only when asked:
 * the attribute; 16 words a step with AVX-512). */
__attribute__((optimize("tree-vectorize")))
static void to_bf16(uint16_t *dst, const float *src, int d) {
    for (int k = 0; k < d; k++) {
        uint32_t u;
        memcpy(&u, &src[k], sizeof u);
        uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
        dst[k] = (uint16_t)((u & 0x7f800000u) ? r : (u >> 16) & 0x8000u);
    }
}

__attribute__((optimize("tree-vectorize")))
static void from_bf16(float *dst, const uint16_t *src, int d) {
    for (int k = 0; k < d; k++) {
        uint32_t u = (uint32_t)src[k] << 16;
        memcpy(&dst[k], &u, sizeof u);
    }
}

size_t npid_bank_bytes(int bf16, int64_t N, int d) {
    return (size_t)N * (size_t)d * (bf16 ? sizeof(uint16_t) : sizeof(float));
}

void npid_bank_get_row(const void *bank, int bf16, int64_t i, int d, float *dst) {
    if (bf16) from_bf16(dst, (const uint16_t *)bank + i * d, d);
    else memcpy(dst, (const float *)bank + i * d, sizeof(float) * (size_t)d);
}

void npid_bank_put_row(void *bank, int bf16, int64_t i, int d, const float *src) {
    if (bf16) to_bf16((uint16_t *)bank + i * d, src, d);
    else memcpy((float *)bank + i * d, src, sizeof(float) * (size_t)d);
}

void npid_bank_random_bf16(uint16_t *bank, int64_t N, int d, uint64_t seed) {
    rand_job j = {bank, 1, d, seed};
    ssl_parallel_for(N, 256, rand_rows, &j);
}

/* ---- bank writes ---- */

typedef struct {
    void *bank;
    int bf16;                     /* the bank's rows are bf16 words */
    const float *z;
    const int64_t *rows;          /* npid: idx; grad: sel */
    float *work;                  /* grad: [K, d] rows to normalise and scatter */
    int d;
    float m;
} write_job;

/* (a bf16 row: the float32 arithmetic on the row read back, in the order
 * of the float32 bank's, in pieces of 512 for the sum, then rounded) */
static void write_npid_rows(void *ctx, int64_t b0, int64_t b1, int tid) {
    const write_job *j = ctx;
    const int d = j->d;
    float buf[512];
    (void)tid;
    for (int64_t b = b0; b < b1; b++) {
        const float *z = j->z + b * d;
        double n = 0;
        if (!j->bf16) {
            float *w = (float *)j->bank + j->rows[b] * d;
            for (int k = 0; k < d; k++) {
                w[k] = j->m * w[k] + (1 - j->m) * z[k];
                n += (double)w[k] * w[k];
            }
            n = sqrt(n);
            float r = (float)(1.0 / (n > L2_EPS ? n : L2_EPS));
            for (int k = 0; k < d; k++) w[k] *= r;
            continue;
        }
        uint16_t *h = (uint16_t *)j->bank + j->rows[b] * d;
        for (int k0 = 0; k0 < d; k0 += 512) {
            int c = d - k0 < 512 ? d - k0 : 512;
            from_bf16(buf, h + k0, c);
            for (int k = 0; k < c; k++) {
                float w = j->m * buf[k] + (1 - j->m) * z[k0 + k];
                n += (double)w * w;
            }
        }
        n = sqrt(n);
        float r = (float)(1.0 / (n > L2_EPS ? n : L2_EPS));
        for (int k0 = 0; k0 < d; k0 += 512) {
            int c = d - k0 < 512 ? d - k0 : 512;
            from_bf16(buf, h + k0, c);
            for (int k = 0; k < c; k++) buf[k] = (j->m * buf[k] + (1 - j->m) * z[k0 + k]) * r;
            to_bf16(h + k0, buf, c);
        }
    }
}

void npid_write_npid(float *bank, int d, const int64_t *idx, int B,
                     const float *z, float m) {
    write_job j = {bank, 0, z, idx, NULL, d, m};
    ssl_parallel_for(B, 8, write_npid_rows, &j);
}

/* (rows NULL: rows 0 .. K-1) */
static void gather_rows(void *ctx, int64_t k0, int64_t k1, int tid) {
    const write_job *j = ctx;
    (void)tid;
    for (int64_t k = k0; k < k1; k++)
        npid_bank_get_row(j->bank, j->bf16, j->rows ? j->rows[k] : k, j->d, j->work + k * j->d);
}

/* bank rows 0 .. K-1 <- work's rows, rounded (a bf16 bank) */
static void put_rows(void *ctx, int64_t k0, int64_t k1, int tid) {
    const write_job *j = ctx;
    (void)tid;
    for (int64_t k = k0; k < k1; k++)
        npid_bank_put_row(j->bank, j->bf16, k, j->d, j->work + k * j->d);
}

static void scatter_rows(void *ctx, int64_t k0, int64_t k1, int tid) {
    const write_job *j = ctx;
    (void)tid;
    for (int64_t k = k0; k < k1; k++) {
        float *w = j->work + k * j->d;
        if (!j->bf16) {
            l2norm_row((float *)j->bank + j->rows[k] * j->d, w, j->d, L2_EPS);
        } else {                  /* l2norm_row's arithmetic, rounded as it is stored */
            double n = sqrt(dot_d(w, w, j->d));
            float r = (float)(1.0 / (n > L2_EPS ? n : L2_EPS)), buf[512];
            uint16_t *h = (uint16_t *)j->bank + j->rows[k] * j->d;
            for (int k0 = 0; k0 < j->d; k0 += 512) {
                int c = j->d - k0 < 512 ? j->d - k0 : 512;
                for (int i = 0; i < c; i++) buf[i] = w[k0 + i] * r;
                to_bf16(h + k0, buf, c);
            }
        }
    }
}

/* After the update of the columns c (work, or the float32 bank itself
 * when sel is NULL): normalised into the bank rows sel (NULL: 0 .. K-1). */
static void write_back(void *bank, int bf16, int d, const int64_t *sel, int64_t K, float *work) {
    if (sel) {
        write_job j = {bank, bf16, NULL, sel, work, d, 0};
        ssl_parallel_for(K, 64, scatter_rows, &j);
    } else if (!bf16) {
        l2norm_forward(bank, bank, K, d, L2_EPS);
    } else {                      /* as the float32 bank in place, then rounded */
        l2norm_forward(work, work, K, d, L2_EPS);
        write_job j = {bank, 1, NULL, NULL, work, d, 0};
        ssl_parallel_for(K, 64, put_rows, &j);
    }
}

/* The grad write once work [K, d] already holds bank[sel] (or sel NULL:
 * the bank itself). g: [B, K]. gws: gemm's workspace, or NULL. */
/* (sel NULL with a bf16 bank: work holds rows 0 .. K-1, read as floats) */
static void write_grad_gathered(void *bank, int bf16, int d, const int64_t *sel, int64_t K,
                                const float *g, const float *z, int B, float step,
                                float *work, float *gws, int prec) {
    float *c = sel || bf16 ? work : bank;
    /* c [K, d] += step * g^T [K, B] z [B, d] */
    gemm_dispatch_prec(prec, 1, 0, (int)K, d, B, step, g, (int)K, z, d, 1.0f, c, d, gws);
    write_back(bank, bf16, d, sel, K, work);
}

void npid_write_grad(float *bank, int d, const int64_t *sel, int64_t K,
                     const float *g, const float *z, int B, float step,
                     float *work) {
    if (sel) {
        write_job j = {bank, 0, z, sel, work, d, 0};
        ssl_parallel_for(K, 64, gather_rows, &j);
    }
    write_grad_gathered(bank, 0, d, sel, K, g, z, B, step, work, NULL, PREC_FP32);
}

/* ---- the workspace ---- */

npid *npid_new(const npid_config *cfg, int64_t N, int d, int max_batch, ssl_err *err) {
    if (!cfg) { ssl_fail(err, SSL_EARG, "npid: no configuration"); return NULL; }
    if (N < 1 || N > INT32_MAX || d < 1 || max_batch < 1 || max_batch > N) {
        ssl_fail(err, SSL_EARG, "npid: a bank of %lld x %d with batches of %d (need 1 <= N <= "
                 "2^31 - 1, d >= 1, 1 <= batch <= N)", (long long)N, d, max_batch);
        return NULL;
    }
    if (!(cfg->tau > 0) || !isfinite(cfg->tau) || !(cfg->lambda >= 0) ||
        !isfinite(cfg->lambda) || !isfinite(cfg->alpha) || !(cfg->m > 0 && cfg->m <= 1) ||
        !isfinite(cfg->bank_lr) || (cfg->neg == NEG_K && cfg->k < 0) ||
        (cfg->neg != NEG_ALL && cfg->neg != NEG_K && cfg->neg != NEG_NONE) ||
        (cfg->write != BANK_WRITE_NPID && cfg->write != BANK_WRITE_GRAD) ||
        (cfg->prec != PREC_FP32 && cfg->prec != PREC_BF16)) {
        ssl_fail(err, SSL_EARG, "npid: bad configuration (tau %g, lambda %g, alpha %g, m %g, "
                 "bank_lr %g, k %lld)", cfg->tau, cfg->lambda, cfg->alpha, cfg->m, cfg->bank_lr,
                 (long long)cfg->k);
        return NULL;
    }
    if (kl_mode(cfg) < 0) {
        ssl_fail(err, SSL_EARG, "npid: SqrtKL terms %d need kl_keepgrad and the reverse "
                 "direction (kl_keepgrad %d, kl_forward %d)", (int)cfg->kl_terms,
                 cfg->kl_keepgrad, cfg->kl_forward);
        return NULL;
    }
    npid *p = calloc(1, sizeof *p);
    if (!p) { ssl_fail(err, SSL_ENOMEM, "npid: out of memory"); return NULL; }
    p->cfg = *cfg;
    p->N = N;
    p->d = d;
    p->max_batch = max_batch;
    if (cfg->neg == NEG_ALL) p->kmax = N;
    else if (cfg->neg == NEG_NONE) p->kmax = max_batch;
    else p->kmax = cfg->k < N - max_batch ? max_batch + cfg->k : N;
    size_t Bd = (size_t)max_batch * d, BK = (size_t)max_batch * p->kmax;
    int ok = 1;
#define NPID_ALLOC(f, n) \
    ok = ok && (p->f = malloc(sizeof *p->f * (n))) != NULL && (ssl_advise_huge(p->f, sizeof *p->f * (n)), 1)
    NPID_ALLOC(z, Bd);
    NPID_ALLOC(dz, Bd);
    NPID_ALLOC(rnorm, max_batch);
    NPID_ALLOC(s, BK);
    NPID_ALLOC(ds, BK);
    NPID_ALLOC(pt, BK);
    NPID_ALLOC(sel, p->kmax);
    NPID_ALLOC(t1, max_batch);
    NPID_ALLOC(t2, max_batch);
    NPID_ALLOC(row_ce, max_batch);
    NPID_ALLOC(row_kl, max_batch);
    NPID_ALLOC(row_ok, max_batch);
    if (cfg->neg != NEG_ALL || cfg->bank_bf16) NPID_ALLOC(ws, (size_t)p->kmax * d);
    /* the three products' shapes at the largest sizes (gemm_bf16_workspace
     * never exceeds gemm_workspace) */
    if (gemm_available() || (cfg->prec == PREC_BF16 && gemm_bf16_available())) {
        int kmax = (int)p->kmax;
        int64_t g1 = gemm_workspace(max_batch, kmax, d), g2 = gemm_workspace(max_batch, d, kmax),
                g3 = gemm_workspace(kmax, d, max_batch);
        NPID_ALLOC(gws, g1 > g2 ? (g1 > g3 ? g1 : g3) : (g2 > g3 ? g2 : g3));
    }
    if (cfg->neg == NEG_K) {
        NPID_ALLOC(pool, N);
        NPID_ALLOC(swaps, p->kmax);
    }
#undef NPID_ALLOC
    if (ok) ok = (p->mark = calloc((size_t)N, 1)) != NULL;
    if (!ok) {
        npid_free(p);
        ssl_fail(err, SSL_ENOMEM, "npid: out of memory for batches of %d against %lld columns "
                 "of %d", max_batch, (long long)p->kmax, d);
        return NULL;
    }
    if (p->pool)
        for (int64_t i = 0; i < N; i++) p->pool[i] = (int32_t)i;
    return p;
}

void npid_free(npid *p) {
    if (!p) return;
    free(p->z); free(p->dz); free(p->rnorm);
    free(p->s); free(p->ds); free(p->pt); free(p->ws); free(p->gws);
    free(p->sel); free(p->t1); free(p->t2);
    free(p->row_ce); free(p->row_kl); free(p->row_ok);
    free(p->mark); free(p->pool); free(p->swaps);
    free(p);
}

const ssl_err *npid_error(const npid *p) {
    static const ssl_err none = {SSL_EARG, "no npid workspace"};
    return p ? &p->err : &none;
}

const int64_t *npid_columns(const npid *p, int64_t *ncols) {
    if (ncols) *ncols = p->ncols;
    return p->sel;
}

/* ---- one step ---- */

/* With negatives all, column k is bank row k: the float32 bank's rows in
 * place, a bf16 bank's read into float32 in ws in the same order (so the
 * same products and sums as in place, bit for bit). Else the columns are
 * the rows sel, gathered into ws. */
static int rows_are_cols(const npid *p) { return p->cfg.neg == NEG_ALL; }

typedef struct { npid *p; const float *f; float *df; } row_job;

static void normalize_batch(void *ctx, int64_t b0, int64_t b1, int tid) {
    const row_job *j = ctx;
    const int d = j->p->d;
    (void)tid;
    for (int64_t b = b0; b < b1; b++) {
        const float *f = j->f + b * d;
        double n = sqrt(dot_d(f, f, d));
        double r = 1.0 / (n > L2_EPS ? n : L2_EPS);
        j->p->rnorm[b] = r;
        for (int k = 0; k < d; k++) j->p->z[b * d + k] = (float)(f[k] * r);
    }
}

/* df_b = (dz_b - (dz_b . z_b) z_b) / max(||f_b||, eps) */
static void grad_batch(void *ctx, int64_t b0, int64_t b1, int tid) {
    const row_job *j = ctx;
    const int d = j->p->d;
    (void)tid;
    for (int64_t b = b0; b < b1; b++) {
        const float *z = j->p->z + b * d, *dz = j->p->dz + b * d;
        float *df = j->df + b * d;
        double c = dot_d(dz, z, d), r = j->p->rnorm[b];
        for (int k = 0; k < d; k++) df[k] = (float)((dz[k] - c * z[k]) * r);
    }
}

typedef struct { float *g; const int64_t *t1, *t2; int64_t K; float lam; } target_job;

/* g = y - p^tau, in place over p^tau. */
static void target_rows(void *ctx, int64_t b0, int64_t b1, int tid) {
    const target_job *j = ctx;
    (void)tid;
    for (int64_t b = b0; b < b1; b++) {
        float *g = j->g + b * j->K;
        for (int64_t k = 0; k < j->K; k++) g[k] = -g[k];
        g[j->t1[b]] += j->lam;
        g[j->t2[b]] += 1 - j->lam;
    }
}

/* sel: the batch, then the negatives; returns K'. */
static int64_t pick_columns(npid *p, int B, const int64_t *idx, rng *r) {
    int64_t K = B, N = p->N;
    memcpy(p->sel, idx, sizeof *idx * B);
    if (p->cfg.neg == NEG_ALL) {
        for (int64_t v = 0; v < N; v++)
            if (!p->mark[v]) p->sel[K++] = v;
    } else if (p->cfg.neg == NEG_K) {
        int64_t want = p->cfg.k < N - B ? p->cfg.k : N - B, i = 0;
        while (K - B < want) {   /* i <= want + B <= N: at most B rejections */
            int64_t j = i + (int64_t)rng_below(r, (uint64_t)(N - i));
            int32_t v = p->pool[j];
            p->pool[j] = p->pool[i];
            p->pool[i] = v;
            p->swaps[i++] = j;
            if (!p->mark[v]) p->sel[K++] = v;
        }
        while (i-- > 0) {        /* undo: the pool is the identity again */
            int64_t j = p->swaps[i];
            int32_t v = p->pool[j];
            p->pool[j] = p->pool[i];
            p->pool[i] = v;
        }
    }
    return K;
}

/* B: this replica's rows [off, off + B) of the global batch of Bg rows
 * idx [Bg] (B == Bg, off 0 on one process). */
static int check_args(npid *p, const float *f, int B, int off, int Bg, const int64_t *idx,
                      const int32_t *perm, float lam, const void *bank, rng *r,
                      const float *df) {
    if (!f || !idx || !bank || !df) {
        ssl_fail(&p->err, SSL_EARG, "npid_step: NULL argument");
        return -2;
    }
    if (B < 1 || B > p->max_batch) {
        ssl_fail(&p->err, SSL_EARG, "npid_step: batch %d not in [1, %d]", B, p->max_batch);
        return -2;
    }
    if (Bg < B || Bg > p->max_batch || off < 0 || off > Bg - B) {
        ssl_fail(&p->err, SSL_EARG, "npid_step: rows [%d, %d) of a batch of %d (at most %d)",
                 off, off + B, Bg, p->max_batch);
        return -2;
    }
    if (p->cfg.neg == NEG_K && !r) {
        ssl_fail(&p->err, SSL_EARG, "npid_step: negatives k need an rng");
        return -2;
    }
    if (perm) {
        if (!(lam >= 0 && lam <= 1)) {
            ssl_fail(&p->err, SSL_EARG, "npid_step: CutMix lam %g not in [0, 1]", lam);
            return -2;
        }
        for (int b = 0; b < Bg; b++)
            if (perm[b] < 0 || perm[b] >= Bg) {
                ssl_fail(&p->err, SSL_EARG, "npid_step: perm[%d] = %d not in [0, %d)",
                         b, (int)perm[b], Bg);
                return -2;
            }
    }
    int bad = -1;
    for (int b = 0; b < Bg && bad < 0; b++) {
        if (idx[b] < 0 || idx[b] >= p->N) {
            ssl_fail(&p->err, SSL_EARG, "npid_step: idx[%d] = %lld not in [0, %lld)",
                     b, (long long)idx[b], (long long)p->N);
            bad = b;
        } else if (p->mark[idx[b]]) {
            ssl_fail(&p->err, SSL_EARG, "npid_step: idx[%d] = %lld repeats an earlier index",
                     b, (long long)idx[b]);
            bad = b;
        } else {
            p->mark[idx[b]] = 1;
        }
    }
    if (bad >= 0) {
        for (int b = 0; b < bad; b++) p->mark[idx[b]] = 0;
        return -2;
    }
    return 0;
}

int64_t npid_ncols(const npid_config *cfg, int64_t N, int B) {
    if (cfg->neg == NEG_ALL) return N;
    if (cfg->neg == NEG_NONE) return B;
    return B + (cfg->k < N - B ? cfg->k : N - B);       /* pick_columns' want */
}

double npid_step_flops(const npid_config *cfg, int64_t N, int B, int d) {
    double products = cfg->write == BANK_WRITE_GRAD ? 3 : 2;
    return products * 2.0 * B * (double)npid_ncols(cfg, N, B) * d;
}

int npid_step(npid *p, const float *f, int B, const int64_t *idx,
              const int32_t *perm, float lam, void *bank, rng *r,
              float *df, int write_bank, npid_stats *st) {
    int rc = npid_step_part(p, f, B, 0, B, idx, perm, lam, bank, r, df, st);
    if (!rc && write_bank) npid_write_last(p, bank);
    return rc;
}

int npid_step_part(npid *p, const float *f, int B, int off, int Bg, const int64_t *idx,
                   const int32_t *perm, float lam, const void *bank, rng *r, float *df,
                   npid_stats *st) {
    p->pending_B = 0;
    int rc = check_args(p, f, B, off, Bg, idx, perm, lam, bank, r, df);
    if (rc) return rc;                 /* check_args leaves mark clear on error */
    const int d = p->d;
    const int all = rows_are_cols(p);
    row_job rj = {p, f, df};
    ssl_parallel_for(B, 8, normalize_batch, &rj);

    int64_t K = pick_columns(p, Bg, idx, r);
    for (int b = 0; b < Bg; b++) p->mark[idx[b]] = 0;
    p->ncols = K;
    const float *W;
    for (int b = 0; b < B; b++) {
        int gb = off + b, pb = perm ? perm[gb] : gb;
        p->t1[b] = all ? idx[gb] : gb;
        p->t2[b] = all ? idx[pb] : pb;
    }
    if (all && !p->cfg.bank_bf16) {
        W = bank;                      /* sel is a permutation of the rows */
    } else {                           /* the rows sel (all: 0 .. N-1 in order) */
        write_job gj = {(void *)bank, p->cfg.bank_bf16, NULL, all ? NULL : p->sel, p->ws, d, 0};
        ssl_parallel_for(K, 64, gather_rows, &gj);
        W = p->ws;
    }

    /* s [B, K] = z [B, d] W^T */
    gemm_dispatch_prec(p->cfg.prec, 0, 1, B, (int)K, d, 1.0f, p->z, d, W, d, 0.0f, p->s, (int)K,
                       p->gws);
    /* The loss terms are divided by the global batch (loss_job.B). */
    loss_job lj = {p->s, K, Bg, p->t1, perm ? p->t2 : NULL, lam, p->cfg.tau,
                   p->cfg.lambda, p->cfg.alpha, p->ds, p->pt, p->row_ce, p->row_kl,
                   p->row_ok, kl_mode(&p->cfg)};
    ssl_parallel_for(B, 1, loss_rows, &lj);
    double ce = 0, kl = 0;
    int hits = 0;
    for (int b = 0; b < B; b++) {
        ce += p->row_ce[b];
        kl += p->row_kl[b];
        hits += p->row_ok[b];
    }
    ce /= Bg;
    kl /= Bg;
    double loss = ce + p->cfg.lambda * kl;
    if (st) {
        st->loss = loss;
        st->ce = ce;
        st->kl = kl;
        st->inst_acc = (double)hits / Bg;
        st->ncols = K;
    }
    if (!isfinite(loss)) {
        ssl_fail(&p->err, SSL_ENUM, "npid_step: loss is not finite (%g)", loss);
        return -1;
    }

    /* dz [B, d] = dS [B, K] W [K, d] */
    gemm_dispatch_prec(p->cfg.prec, 0, 0, B, d, (int)K, 1.0f, p->ds, (int)K, W, d, 0.0f, p->dz, d,
                       p->gws);
    ssl_parallel_for(B, 8, grad_batch, &rj);

    p->pending_B = B;
    p->pending_part = B != Bg;
    p->pending_lam = perm ? lam : 1.0f;
    return 0;
}

const float *npid_last_z(const npid *p) { return p->z; }

/* g = y - p^tau of the pending rows (in place over p^tau). */
static void pending_targets(npid *p) {
    target_job tj = {p->pt, p->t1, p->t2, p->ncols, p->pending_lam};
    ssl_parallel_for(p->pending_B, 1, target_rows, &tj);
}

int npid_grad_update(npid *p, float *upd) {
    const int B = p->pending_B, d = p->d;
    if (B < 1 || !upd || p->cfg.write != BANK_WRITE_GRAD) {
        ssl_fail(&p->err, SSL_EARG, "npid_grad_update: no grad-write step to take");
        return -2;
    }
    pending_targets(p);
    const int64_t K = p->ncols;
    /* upd [K, d] = step * g^T [K, B] z [B, d] */
    gemm_dispatch_prec(p->cfg.prec, 1, 0, (int)K, d, B, p->cfg.bank_lr, p->pt, (int)K, p->z, d,
                       0.0f, upd, d, p->gws);
    p->pending_B = -1;                 /* taken: only npid_apply_update is left */
    return 0;
}

typedef struct { float *dst; const float *src; int64_t n; } add_job;

static void add_range(void *ctx, int64_t i0, int64_t i1, int tid) {
    const add_job *j = ctx;
    (void)tid;
    for (int64_t i = i0; i < i1; i++) j->dst[i] += j->src[i];
}

int npid_apply_update(npid *p, void *bank, const float *upd) {
    const int d = p->d;
    if (p->pending_B != -1 || !bank || !upd) {
        ssl_fail(&p->err, SSL_EARG, "npid_apply_update: no update taken by npid_grad_update");
        return -2;
    }
    p->pending_B = 0;
    const int64_t K = p->ncols;
    const int all = rows_are_cols(p), bf16 = p->cfg.bank_bf16;
    add_job aj = {all && !bf16 ? bank : p->ws, upd, K * d};
    ssl_parallel_for(K * d, 1 << 16, add_range, &aj);
    write_back(bank, bf16, d, all ? NULL : p->sel, K, p->ws);
    return 0;
}

/* The write of the last step, from what the step left in the workspace:
 * z, p^tau, the targets, the columns and (not `all`) the gathered rows. */
int npid_write_last(npid *p, void *bank) {
    const int B = p->pending_B, d = p->d;
    if (B < 1 || !bank || p->pending_part) {
        ssl_fail(&p->err, SSL_EARG, "npid_write_last: no step (of a whole batch) to write");
        return -2;
    }
    p->pending_B = 0;
    if (p->cfg.write == BANK_WRITE_NPID) {
        npid_write_npid_rows(p, bank, p->sel, B, p->z);
    } else {
        const int64_t K = p->ncols;
        target_job tj = {p->pt, p->t1, p->t2, K, p->pending_lam};
        ssl_parallel_for(B, 1, target_rows, &tj);
        write_grad_gathered(bank, p->cfg.bank_bf16, d, rows_are_cols(p) ? NULL : p->sel, K, p->pt,
                            p->z, B, p->cfg.bank_lr, p->ws, p->gws, p->cfg.prec);
    }
    return 0;
}

void npid_write_npid_rows(npid *p, void *bank, const int64_t *idx, int B, const float *z) {
    write_job j = {bank, p->cfg.bank_bf16, z, idx, NULL, p->d, p->cfg.m};
    ssl_parallel_for(B, 8, write_npid_rows, &j);
}
