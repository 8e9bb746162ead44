/* gemm.c: the fp32 matrix product C = alpha op(A) op(B) + beta C (ops.h),
 * for the heads' linear layers and the memory-bank products, so that they
 * run at the FMA rate on AVX-512 whatever OpenBLAS detects.
 *
 * The layout is BLIS's (Van Zee and van de Geijn): for each block of NC
 * columns and KC of the reduction, op(B) is packed into panels of NR = 16*J
 * columns (bp[k][NR], zero beyond N), and for each block of MC rows op(A)
 * into panels of MR rows (ap[k][MR], zero beyond M); a register-blocked
 * micro-kernel multiplies one A panel by one B panel: MR x J zmm
 * accumulators, per k J vector loads of B, MR broadcasts of A and MR*J
 * FMAs. The B panel (KC*NR floats) stays in L1 while the A block (MC*KC)
 * streams from L2. NC is wide (2304 columns), so that the A block, packed
 * again for every block of NC columns, is packed about once for the
 * step's products (N up to 4352, cut in column ranges between threads):
 * with NC 768, A's packing took 6.7 % of the demo-shaped step's GEMM time
 * and B's 7.0 % (rdtsc counters, one thread); NC 2304 cuts A's by a third
 * and the nine products' time by 3.5-5.7 % (bench_gemm, one thread, CPU
 * time, quiet, 3 alternating rounds; at two threads, each with half the
 * columns, the gain was within the noise). The B block (KC*NC, 2.3 MB) then
 * lives in L3; each B panel is still read once into L1 per A block.
 *
 * Each element of C is the FMA chain over its k in order, restarted from
 * zero at every block of KC: c = alpha * acc + beta * c after the first
 * block, c = alpha * acc + c after each later one (one fma each). The
 * blocks and that order depend only on K, and every element is computed by
 * one thread, so the bits do not depend on the thread count nor on how the
 * work is split: the parts are contiguous ranges of column panels (or of
 * row panels when N is narrow), one per thread, each with its own packing
 * buffers in the caller's workspace (GEMM_MAX_PARTS of them).
 *
 * Without AVX-512 the same blocking runs a plain C micro-kernel (correct,
 * not fast: callers keep OpenBLAS there, gemm_available() says which). */
#include "nn/ops/ops.h"

#include <string.h>

#include "util/threads.h"

#include <cblas.h>

/* Micro-tile: MR rows x 16*J columns (MR*J accumulators of the 32 zmm). */
#ifndef GEMM_MR
#define GEMM_MR 8
#endif
#ifndef GEMM_J
#define GEMM_J 3
#endif
#define GEMM_NR (16 * GEMM_J)
/* Blocks: KC of the reduction, MC rows (a multiple of MR), NC columns (a
 * multiple of NR). */
#ifndef GEMM_KC
#define GEMM_KC 256
#endif
#ifndef GEMM_MC
#define GEMM_MC (GEMM_MR * 32)
#endif
#ifndef GEMM_NC
#define GEMM_NC (GEMM_NR * 48)
#endif
#define GEMM_MAX_PARTS 8

#define MR GEMM_MR
#define NR GEMM_NR
#define J GEMM_J

static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Floats of one part's buffers: an A block and a B block. */
static int64_t part_floats(int M, int N, int K) {
    int64_t kc = min64(GEMM_KC, K);
    return min64(GEMM_MC, round_up(M, MR)) * kc + kc * min64(GEMM_NC, round_up(N, NR));
}

int64_t gemm_workspace(int M, int N, int K) {
    if (M < 1 || N < 1 || K < 1) return 0;
    return GEMM_MAX_PARTS * part_floats(M, N, K);
}

/* ---- packing ----
 * ap: mc rows from row i0 of op(A), k from p0, as panels of MR rows:
 * ap[panel][k][MR], rows beyond mc zero. bp: nc columns from column j0 of
 * op(B) as panels of NR columns: bp[panel][k][NR], columns beyond nc zero.
 * The copies (op(A) = A^T, op(B) = B) are plain; the transposes go through
 * 16 x 16 register transposes where the build has AVX-512. */
static void pack_a_copy(float *ap, const float *A, int64_t lda, int64_t i0, int mc,
                        int64_t p0, int kc) {
    for (int r = 0; r < mc; r += MR, ap += (int64_t)MR * kc) {
        int nr = mc - r < MR ? mc - r : MR;
        for (int k = 0; k < kc; k++) {     /* op(A)[m][k] = A[k][m] */
            const float *src = A + (p0 + k) * lda + i0 + r;
            float *dst = ap + (int64_t)k * MR;
            if (nr == MR) memcpy(dst, src, sizeof(float) * MR);
            else {
                for (int i = 0; i < nr; i++) dst[i] = src[i];
                for (int i = nr; i < MR; i++) dst[i] = 0.0f;
            }
        }
    }
}

static void pack_b_copy(float *bp, const float *B, int64_t ldb, int64_t j0, int nc,
                        int64_t p0, int kc) {
    for (int k = 0; k < kc; k++) {         /* op(B)[k][n] = B[k][n]: row k of B */
        const float *src = B + (p0 + k) * ldb + j0;
        float *dst = bp + (int64_t)k * NR;
        for (int c = 0; c < nc; c += NR, src += NR, dst += (int64_t)NR * kc) {
            int ncol = nc - c < NR ? nc - c : NR;
            if (ncol == NR) memcpy(dst, src, sizeof(float) * NR);
            else {
                for (int j = 0; j < ncol; j++) dst[j] = src[j];
                for (int j = ncol; j < NR; j++) dst[j] = 0.0f;
            }
        }
    }
}

#if !defined(__AVX512F__) || (MR != 8 && MR != 16)
/* dst[k * stride + i] = rows[i][k] for i < n (n rows of kc floats at src,
 * src_ld apart), zero for n <= i < w: the scalar transpose. */
static void pack_t_scalar(float *dst, int64_t stride, int w, const float *src,
                          int64_t src_ld, int n, int kc) {
    for (int i = 0; i < n; i++) {
        const float *s = src + i * src_ld;
        for (int k = 0; k < kc; k++) dst[(int64_t)k * stride + i] = s[k];
    }
    for (int i = n; i < w; i++)
        for (int k = 0; k < kc; k++) dst[(int64_t)k * stride + i] = 0.0f;
}
#endif

/* The micro-kernel's write-back: c = alpha * acc + beta * c when readc,
 * else alpha * acc (c not read). */
typedef struct { float alpha, beta; int readc; } wb_rule;

#ifdef __AVX512F__
#include <immintrin.h>

int gemm_available(void) { return 1; }

static __mmask16 lane_mask(int left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

#include "nn/ops/tr16_impl.h"

/* v[t] lane i = src[i * ld + t] for i < n, t < kl (zero elsewhere). */
static inline __attribute__((always_inline)) void load_t16(__m512 *v, const float *src, int64_t ld, int n, int kl) {
    __mmask16 m = lane_mask(kl);
    for (int i = 0; i < 16; i++)
        v[i] = i >= n ? _mm512_setzero_ps()
             : kl >= 16 ? _mm512_loadu_ps(src + i * ld)
                        : _mm512_maskz_loadu_ps(m, src + i * ld);
    tr16(v);
}

/* op(B)[k][n] = B[n][k]: 16 rows of B at a time become 16-column strips. */
static void pack_b_t(float *bp, const float *B, int64_t ldb, int64_t j0, int nc,
                     int64_t p0, int kc) {
    for (int c = 0; c < nc; c += NR, bp += (int64_t)NR * kc)
        for (int g = 0; g < NR; g += 16) {
            int n = nc - c - g < 16 ? nc - c - g : 16;
            int nn = nc - c - g - 16 < 16 ? nc - c - g - 16 : 16;   /* the next 16 rows */
            const float *src = n > 0 ? B + (j0 + c + g) * ldb + p0 : B;
            for (int k0 = 0; k0 < kc; k0 += 16) {
                int kl = kc - k0 < 16 ? kc - k0 : 16;
                for (int i = 0; i < nn; i++)
                    _mm_prefetch((const char *)(src + (16 + i) * ldb + k0), _MM_HINT_T0);
                __m512 v[16];
                load_t16(v, src + k0, ldb, n, kl);
                for (int t = 0; t < kl; t++)
                    _mm512_storeu_ps(bp + (int64_t)(k0 + t) * NR + g, v[t]);
            }
        }
}

/* op(A)[m][k] = A[m][k]: 16 rows of A at a time become one panel (MR 16)
 * or two (MR 8); other MR take the scalar transpose. */
static void pack_a_t(float *ap, const float *A, int64_t lda, int64_t i0, int mc,
                     int64_t p0, int kc) {
#if MR == 8 || MR == 16
    int npan = (mc + MR - 1) / MR;
    for (int r = 0; r < mc; r += 16) {
        int n = mc - r < 16 ? mc - r : 16;
        int nn = mc - r - 16 < 16 ? mc - r - 16 : 16;             /* the next 16 rows */
        const float *src = A + (i0 + r) * lda + p0;
        float *dst = ap + (int64_t)(r / MR) * MR * kc;
        for (int k0 = 0; k0 < kc; k0 += 16) {
            int kl = kc - k0 < 16 ? kc - k0 : 16;
            for (int i = 0; i < nn; i++)
                _mm_prefetch((const char *)(src + (16 + i) * lda + k0), _MM_HINT_T0);
            __m512 v[16];
            load_t16(v, src + k0, lda, n, kl);
            for (int t = 0; t < kl; t++) {
#if MR == 16
                _mm512_storeu_ps(dst + (int64_t)(k0 + t) * 16, v[t]);
#else
                _mm256_storeu_ps(dst + (int64_t)(k0 + t) * 8, _mm512_castps512_ps256(v[t]));
                if (r / 8 + 1 < npan)
                    _mm256_storeu_ps(dst + (int64_t)(kc + k0 + t) * 8,
                                     _mm512_extractf32x8_ps(v[t], 1));
#endif
            }
        }
    }
#else
    for (int r = 0; r < mc; r += MR, ap += (int64_t)MR * kc)
        pack_t_scalar(ap, MR, MR, A + (i0 + r) * lda + p0, lda, mc - r < MR ? mc - r : MR, kc);
#endif
}

/* C[np rows][left columns] (<= MR, NR) at c (row stride ldc) from
 * ap[kc][MR] x bp[kc][NR]. */
static void kernel(int kc, const float *ap, const float *bp, float *c, int64_t ldc, int np,
                   int left, const wb_rule *wb) {
    __m512 acc[MR][J];
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++) acc[i][j] = _mm512_setzero_ps();
    /* C's tile is read after the k loop: ask for it now (from DRAM when
     * C is large, as the bank write's is; +2-12% on those shapes) */
    if (wb->readc)
        for (int i = 0; i < np; i++)
            for (int j = 0; j < left; j += 16) __builtin_prefetch(c + i * ldc + j, 1, 3);
    _Pragma("GCC unroll 2") for (int k = 0; k < kc; k++) {
        __m512 b[J];
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)
            b[j] = _mm512_loadu_ps(bp + (int64_t)k * NR + 16 * j);
        _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(ap[(int64_t)k * MR + i]);
            _Pragma("GCC unroll 4") for (int j = 0; j < J; j++)
                acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
    __m512 alpha = _mm512_set1_ps(wb->alpha), beta = _mm512_set1_ps(wb->beta);
    _Pragma("GCC unroll 32") for (int i = 0; i < MR; i++) {
        if (i >= np) break;
        float *ci = c + i * ldc;
        _Pragma("GCC unroll 4") for (int j = 0; j < J; j++) {
            int l = left - 16 * j;
            if (l <= 0) break;
            __mmask16 m = lane_mask(l);
            __m512 v;
            if (wb->readc) {
                __m512 old = l >= 16 ? _mm512_loadu_ps(ci + 16 * j)
                                     : _mm512_maskz_loadu_ps(m, ci + 16 * j);
                v = _mm512_fmadd_ps(acc[i][j], alpha, _mm512_mul_ps(old, beta));
            } else {
                v = _mm512_mul_ps(acc[i][j], alpha);
            }
            if (l >= 16) _mm512_storeu_ps(ci + 16 * j, v);
            else _mm512_mask_storeu_ps(ci + 16 * j, m, v);
        }
    }
}

#else   /* no AVX-512: the same tile in plain C */

int gemm_available(void) { return 0; }

static void pack_b_t(float *bp, const float *B, int64_t ldb, int64_t j0, int nc,
                     int64_t p0, int kc) {
    for (int c = 0; c < nc; c += NR, bp += (int64_t)NR * kc)
        pack_t_scalar(bp, NR, NR, B + (j0 + c) * ldb + p0, ldb, nc - c < NR ? nc - c : NR, kc);
}

static void pack_a_t(float *ap, const float *A, int64_t lda, int64_t i0, int mc,
                     int64_t p0, int kc) {
    for (int r = 0; r < mc; r += MR, ap += (int64_t)MR * kc)
        pack_t_scalar(ap, MR, MR, A + (i0 + r) * lda + p0, lda, mc - r < MR ? mc - r : MR, kc);
}

static void kernel(int kc, const float *ap, const float *bp, float *c, int64_t ldc, int np,
                   int left, const wb_rule *wb) {
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int k = 0; k < kc; k++)
        for (int i = 0; i < MR; i++) {
            float a = ap[(int64_t)k * MR + i];
            for (int j = 0; j < NR; j++) acc[i][j] += a * bp[(int64_t)k * NR + j];
        }
    for (int i = 0; i < np; i++)
        for (int j = 0; j < left; j++) {
            float *p = c + i * ldc + j;
            *p = wb->readc ? acc[i][j] * wb->alpha + wb->beta * *p : acc[i][j] * wb->alpha;
        }
}
#endif

typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    float *ws;
    int64_t part_n;          /* floats per part */
    int split_n;             /* parts cut the column panels (else the row panels) */
    int64_t units, per;      /* panels to cut, panels per part */
} gemm_job;

/* C[m0:m1, n0:n1] (all K). */
static void gemm_block(const gemm_job *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       float *ws) {
    float *ap = ws, *bp = ws + min64(GEMM_MC, round_up(g->M, MR)) * min64(GEMM_KC, g->K);
    for (int64_t jc = n0; jc < n1; jc += GEMM_NC) {
        int nc = (int)min64(GEMM_NC, n1 - jc);
        for (int64_t pc = 0; pc < g->K; pc += GEMM_KC) {
            int kc = (int)min64(GEMM_KC, g->K - pc);
            wb_rule wb = { g->alpha, pc ? 1.0f : g->beta, pc || g->beta != 0.0f };
            if (g->tb) pack_b_t(bp, g->B, g->ldb, jc, nc, pc, kc);
            else pack_b_copy(bp, g->B, g->ldb, jc, nc, pc, kc);
            for (int64_t ic = m0; ic < m1; ic += GEMM_MC) {
                int mc = (int)min64(GEMM_MC, m1 - ic);
                if (g->ta) pack_a_copy(ap, g->A, g->lda, ic, mc, pc, kc);
                else pack_a_t(ap, g->A, g->lda, ic, mc, pc, kc);
                for (int jr = 0; jr < nc; jr += NR)
                    for (int ir = 0; ir < mc; ir += MR)
                        kernel(kc, ap + (int64_t)ir * kc, bp + (int64_t)jr * kc,
                               g->C + (ic + ir) * g->ldc + jc + jr, g->ldc,
                               mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR,
                               &wb);
            }
        }
    }
}

static void gemm_part(void *ctx, int64_t p0, int64_t p1, int tid) {
    const gemm_job *g = ctx;
    (void)tid;
    for (int64_t p = p0; p < p1; p++) {
        int64_t u0 = p * g->per, u1 = min64(u0 + g->per, g->units);
        if (u0 >= u1) continue;
        float *ws = g->ws + p * g->part_n;
        if (g->split_n)
            gemm_block(g, 0, g->M, u0 * NR, min64(u1 * NR, g->N), ws);
        else
            gemm_block(g, u0 * MR, min64(u1 * MR, g->M), 0, g->N, ws);
    }
}

/* C = beta * C (beta 0: zeros, C not read). */
static void scale_c(float *C, int64_t ldc, int M, int N, float beta) {
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)N);
        else if (beta != 1.0f)
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc, float *ws) {
    if (M < 1 || N < 1) return;
    if (K < 1 || alpha == 0.0f) {
        scale_c(C, ldc, M, N, beta);
        return;
    }
    gemm_job g = { ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, ws,
                   part_floats(M, N, K), 0, 0, 0 };
    int64_t np = (N + NR - 1) / NR, mp = (M + MR - 1) / MR;
    int t = ssl_threads() < GEMM_MAX_PARTS ? ssl_threads() : GEMM_MAX_PARTS;
    /* columns unless they are too few to share and the rows are more */
    g.split_n = np >= 4 * t || np >= mp;
    g.units = g.split_n ? np : mp;
    int parts = ssl_parts(g.units, GEMM_MAX_PARTS);
    g.per = (g.units + parts - 1) / parts;
    ssl_parallel_for(parts, 1, gemm_part, &g);
}

#ifndef __AVX512F__
/* sgemm_par's parts: contiguous ranges of rows (split_n 0) or columns of C,
 * `per` of them each (a multiple of 16), one cblas_sgemm call per part. */
typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int lda, ldb, ldc, split_n, per;
} sp_job;

static void sp_part(void *ctx, int64_t p0, int64_t p1, int tid) {
    const sp_job *g = ctx;
    (void)tid;
    for (int64_t p = p0; p < p1; p++) {
        int64_t u0 = p * g->per, u1 = min64(u0 + g->per, g->split_n ? g->N : g->M);
        if (u0 >= u1) continue;
        const float *A = g->A, *B = g->B;
        float *C = g->C;
        int M = g->M, N = g->N;
        if (g->split_n) {                 /* columns u0..u1 of op(B) and C */
            B += g->tb ? u0 * g->ldb : u0;
            C += u0;
            N = (int)(u1 - u0);
        } else {                          /* rows u0..u1 of op(A) and C */
            A += g->ta ? u0 : u0 * g->lda;
            C += u0 * g->ldc;
            M = (int)(u1 - u0);
        }
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                    g->tb ? CblasTrans : CblasNoTrans, M, N, g->K, g->alpha, A, g->lda, B,
                    g->ldb, g->beta, C, g->ldc);
    }
}
#endif

void sgemm_par(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
#ifndef __AVX512F__
    /* the larger side of C, cut into one range per thread (multiples of
     * 16); products under 4 MFLOP in one call */
    int split_n = N > M, side = split_n ? N : M;
    int parts = 2.0 * M * N * K < 4e6 ? 1 : ssl_parts((side + 15) / 16, SSL_MAX_THREADS);
    if (parts > 1) {
        int per = (int)round_up((side + parts - 1) / parts, 16);
        sp_job g = { ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, split_n, per };
        ssl_parallel_for((side + per - 1) / per, 1, sp_part, &g);
        return;
    }
#endif
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_dispatch(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc,
                   float *ws) {
    if (ws && gemm_available())
        gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
    else
        sgemm_par(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                     (tb ? B[j * ldb + k] : B[k * ldb + j]);
            double old = beta == 0.0f ? 0.0 : (double)beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * s + old);
        }
}
