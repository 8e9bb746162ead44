/* gemm_bf16.c: the mixed-precision matrix product C = alpha op(A) op(B) +
 * beta C with op(A) and op(B) rounded to bfloat16 and fp32 sums (ops.h),
 * on AVX512-BF16's dot product VDPBF16PS, for --precision bf16.
 *
 * The blocking is gemm.c's (BLIS: B panels of NR = 48 columns in L1, an A
 * block in L2, an 8 x 48 register tile; a panel's last 1-16 or 17-32
 * columns on an 8 x 16 or 8 x 32 tile, which skips the zero padding's
 * products: on this Zen 4, one thread, 16-32 columns 1.1-1.7x as fast,
 * MobileNetV2 width 1's bf16 training step 1.09x), with the reduction taken two k
 * at a time: a packed element is a 32-bit word holding the bf16 of op()[k]
 * in its low half and of op()[k + 1] in its high half (k even; the high
 * half is zero past an odd K), so that one VDPBF16PS adds 16 columns' two
 * products a_k b_k + a_k+1 b_k+1 to 16 fp32 accumulators: twice the
 * multiply-adds of an fp32 FMA per instruction. The inputs are rounded
 * while packing (VCVTNE2PS2BF16: to nearest even, subnormals to zero,
 * exactly bf16_round), the products of two bf16 are exact in fp32, and
 * every sum is fp32: per element one chain over the pairs in k order,
 * restarted at every block of GEMM_BF16_KC k and folded into C as gemm.c
 * folds (c = alpha acc + beta c, then c = alpha acc + c). That order
 * depends only on K and each element is computed by one thread, so the
 * bits do not depend on the thread count.
 *
 * The kernels are compiled for AVX512-BF16 whatever the Makefile's
 * ARCHFLAGS (#pragma GCC target below) and run only where
 * gemm_bf16_available() says the CPU has the instructions: callers check
 * it first (the tools refuse --precision bf16 otherwise). */
#include "nn/ops/ops.h"

#include <string.h>

#include "util/threads.h"

#define BMR 8                    /* rows of the register tile (two per 16-row transpose) */
#define BJ 3                     /* zmm columns of the tile */
#define BNR (16 * BJ)
#define GEMM_BF16_KC 512         /* k per block: 256 pairs, a B panel of 48 KiB as gemm.c's */
#define BMC (BMR * 32)
#define BNC (BNR * 16)
#define BMAX_PARTS 8

typedef uint32_t word;           /* two bf16: op()[k] low, op()[k + 1] high */

static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Words of one part's buffers: an A block and a B block. */
static int64_t part_words(int M, int N, int K) {
    int64_t kcp = (min64(GEMM_BF16_KC, K) + 1) / 2;
    return min64(BMC, round_up(M, BMR)) * kcp + kcp * min64(BNC, round_up(N, BNR));
}

int64_t gemm_bf16_workspace(int M, int N, int K) {
    if (M < 1 || N < 1 || K < 1) return 0;
    return BMAX_PARTS * part_words(M, N, K);   /* a word is a float's size */
}

float bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t e = u & 0x7f800000u;
    if (e == 0) u &= 0x80000000u;                          /* zero, subnormal: signed 0 */
    else if (e == 0x7f800000u) u = (u & 0x7fffffffu) > 0x7f800000u
                                       ? (u | 0x00400000u) & 0xffff0000u   /* NaN: quiet */
                                       : u;                                /* infinity */
    else u = (u + 0x7fffu + ((u >> 16) & 1)) & 0xffff0000u;   /* to nearest even */
    memcpy(&x, &u, sizeof x);
    return x;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

static int detect(void) {
    /* libgcc's checks include the OS's support of the zmm state (XCR0) */
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
        !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq"))
        return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 1, &a, &b, &c, &d)) return 0;
    return (a >> 5) & 1;          /* CPUID.(EAX=7,ECX=1):EAX[5] AVX512_BF16 */
}

int gemm_bf16_available(void) {
    /* cpuid is slow under a hypervisor: asked once (any thread may ask
     * first; they all get the same answer) */
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        v = detect();
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* ---- AMX: the CPU's tile unit, and Linux's permission to use it ----
 * AMX-TILE and AMX-BF16 (CPUID.(7,0):EDX[24], [22]) on top of
 * AVX512-BF16 (the packing), and the kernel's grant of the tile data
 * state (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA), once per
 * process: the grant covers all its threads; it fails on kernels before
 * 5.16 and where the OS does not enable the state). */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static int amx_ready;                      /* written once by amx_probe */
static pthread_once_t amx_once = PTHREAD_ONCE_INIT;
static int amx_choice = -1;                /* gemm_bf16_set_amx's; -1 the default */

static void amx_probe(void) {
    unsigned a, b, c, d;
    int ok = detect() && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 24 & 1) &&
             (d >> 22 & 1);
    if (ok) ok = syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
    amx_ready = ok;
}

int gemm_bf16_amx(void) {
    if (!__atomic_load_n(&amx_choice, __ATOMIC_RELAXED)) return 0;
    pthread_once(&amx_once, amx_probe);
    return amx_ready;
}

void gemm_bf16_set_amx(int on) {
    __atomic_store_n(&amx_choice, on < 0 ? -1 : !!on, __ATOMIC_RELAXED);
}

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#include <immintrin.h>

#include "nn/ops/act_impl.h"
#include "nn/ops/amx_impl.h"
#include "nn/ops/tr16_impl.h"

/* How a block's sums go into C; ep (the last k block of
 * gemm_bf16_affine) then applies act(fma(c, scale[j], shift[j]) +
 * res[i, j]) to each element c[i, j] as it is stored, the operations of
 * bn_apply_affine in its order (c0: C, whose row stride ldc res shares). */
typedef struct {
    float alpha, beta;
    int readc, ep, act;
    const float *scale, *shift, *res, *c0;
    int64_t ldc;
} wb_rule;

/* Row and column of C at c. */
static inline void c_at(const wb_rule *wb, const float *c, int64_t *row, int64_t *col) {
    int64_t off = c - wb->c0;
    *row = off / wb->ldc;
    *col = off % wb->ldc;
}

/* The epilogue on C[row, col .. col + 15], mask m. */
static inline __attribute__((always_inline)) __m512 epi16(__m512 v, int64_t row, int64_t col,
                                                          const wb_rule *wb, __mmask16 m) {
    v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, wb->scale + col),
                        _mm512_maskz_loadu_ps(m, wb->shift + col));
    if (wb->res) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, wb->res + row * wb->ldc + col));
    if (wb->act == ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
    else if (wb->act) v = act16(v, wb->act);
    return v;
}

static __mmask16 lane_mask(int left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* 16 floats at p of which n are real (none read when n <= 0). */
static inline __attribute__((always_inline)) __m512 load16(const float *p, int n) {
    return n >= 16 ? _mm512_loadu_ps(p)
         : n <= 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(lane_mask(n), p);
}

/* word n = bf16(r0[n]) | bf16(r1[n]) << 16: two rows of k interleaved. */
static inline __attribute__((always_inline)) __m512i pair_rows(__m512 r0, __m512 r1) {
    static const uint16_t inter[32] = { 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                        8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
                                        15, 31 };
    __m512i t = (__m512i)_mm512_cvtne2ps_pbh(r1, r0);   /* bf16(r0) low, bf16(r1) high */
    return _mm512_permutexvar_epi16(_mm512_loadu_si512(inter), t);
}

/* word p = bf16(x[2p]) | bf16(x[2p + 1]) << 16 for 32 consecutive floats,
 * kl of them real (the rest zero), as a float vector for tr16. */
static inline __attribute__((always_inline)) __m512 pair_run(const float *x, int kl) {
    __m512 lo = load16(x, kl), hi = load16(x + 16, kl - 16);
    return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* gemm_bf16_xf's input transform: act(fma(v, scale[col], shift[col]))
 * on the n real lanes of 16 (col their first column), bn_apply_affine's
 * operations without a residual; the other lanes stay zero. */
typedef struct { const float *scale, *shift; int act; } xf_t;

static inline __attribute__((always_inline)) __m512 xf16(__m512 v, const xf_t *x, int64_t col,
                                                         int n) {
    if (n <= 0) return _mm512_setzero_ps();
    __mmask16 m = lane_mask(n);
    v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, x->scale + col),
                        _mm512_maskz_loadu_ps(m, x->shift + col));
    if (x->act == ACT_RELU) v = _mm512_max_ps(v, _mm512_setzero_ps());
    else if (x->act) v = act16(v, x->act);
    return _mm512_maskz_mov_ps(m, v);
}

/* pair_run of the transformed x (col: x's first column); xf NULL: none. */
static inline __attribute__((always_inline)) __m512 pair_run_xf(const float *x, int kl,
                                                                const xf_t *xf, int64_t col) {
    if (!xf) return pair_run(x, kl);
    __m512 lo = xf16(load16(x, kl), xf, col, kl), hi = xf16(load16(x + 16, kl - 16), xf, col + 16, kl - 16);
    return _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

/* ---- packing ----
 * ap: mc rows from row i0 of op(A), kc k from p0, as panels of BMR rows:
 * ap[panel][pair][BMR] words, kcp = ceil(kc / 2) pairs, zero beyond mc.
 * bp: nc columns from j0 of op(B): bp[panel][pair][BNR], zero beyond nc.
 * Where k runs along memory (op(A) = A, op(B) = B^T) 16 rows' runs of
 * 32 k become words and one 16 x 16 transpose puts them in panel order;
 * where it runs across rows (op(A) = A^T, op(B) = B), rows k and k + 1
 * are interleaved. */
static void pack_a_t(word *ap, const float *A, int64_t lda, int64_t i0, int mc, int64_t p0,
                     int kc, const xf_t *xf) {
    int kcp = (kc + 1) / 2, npan = (mc + BMR - 1) / BMR;
    for (int r = 0; r < mc; r += 16) {
        int n = mc - r < 16 ? mc - r : 16;
        word *dst = ap + (int64_t)(r / BMR) * BMR * kcp;
        for (int k0 = 0; k0 < kc; k0 += 32) {
            int kl = kc - k0 < 32 ? kc - k0 : 32;
            __m512 v[16];
            for (int i = 0; i < 16; i++)
                v[i] = i < n ? pair_run_xf(A + (i0 + r + i) * lda + p0 + k0, kl, xf, p0 + k0)
                             : _mm512_setzero_ps();
            tr16(v);
            for (int t = 0; t < (kl + 1) / 2; t++) {
                int64_t o = (int64_t)(k0 / 2 + t) * BMR;
                _mm256_storeu_ps((float *)dst + o, _mm512_castps512_ps256(v[t]));
                if (r / BMR + 1 < npan)
                    _mm256_storeu_ps((float *)dst + (int64_t)BMR * kcp + o,
                                     _mm512_extractf32x8_ps(v[t], 1));
            }
        }
    }
}

static void pack_a_copy(word *ap, const float *A, int64_t lda, int64_t i0, int mc, int64_t p0,
                        int kc) {
    int kcp = (kc + 1) / 2, npan = (mc + BMR - 1) / BMR;
    for (int r = 0; r < mc; r += 16) {
        int n = mc - r < 16 ? mc - r : 16;
        word *dst = ap + (int64_t)(r / BMR) * BMR * kcp;
        for (int p = 0; p < kcp; p++) {     /* op(A)[m][k] = A[k][m] */
            const float *s0 = A + (p0 + 2 * p) * lda + i0 + r;
            __m512i w = pair_rows(load16(s0, n), 2 * p + 1 < kc ? load16(s0 + lda, n)
                                                                : _mm512_setzero_ps());
            _mm256_storeu_si256((__m256i *)(dst + (int64_t)p * BMR), _mm512_castsi512_si256(w));
            if (r / BMR + 1 < npan)
                _mm256_storeu_si256((__m256i *)(dst + (int64_t)BMR * kcp + (int64_t)p * BMR),
                                    _mm512_extracti64x4_epi64(w, 1));
        }
    }
}

/* Pairs [kcp, kps) of each of bp's panels (nc columns) zeroed: the AMX
 * path's reduction runs in steps of 16 pairs. */
static void zero_tail(word *bp, int nc, int kcp, int kps) {
    if (kps > kcp)
        for (int c = 0; c < nc; c += BNR)
            memset(bp + (int64_t)(c / BNR) * BNR * kps + (int64_t)kcp * BNR, 0,
                   sizeof(word) * BNR * (size_t)(kps - kcp));
}

/* (kps >= ceil(kc / 2): the panels' pairs, the tail zeroed) */
static void pack_b_copy(word *bp, const float *B, int64_t ldb, int64_t j0, int nc, int64_t p0,
                        int kc, int kps, const xf_t *xf) {
    int kcp = (kc + 1) / 2;
    for (int p = 0; p < kcp; p++) {         /* op(B)[k][n] = B[k][n] */
        const float *s0 = B + (p0 + 2 * p) * ldb + j0;
        int odd = 2 * p + 1 >= kc;
        for (int c = 0; c < nc; c += BNR)
            for (int g = 0; g < BNR; g += 16) {
                int n = nc - c - g;
                __m512 r0 = load16(s0 + c + g, n),
                       r1 = odd ? _mm512_setzero_ps() : load16(s0 + ldb + c + g, n);
                if (xf) {
                    r0 = xf16(r0, xf, j0 + c + g, n);
                    if (!odd) r1 = xf16(r1, xf, j0 + c + g, n);
                }
                __m512i w = pair_rows(r0, r1);
                _mm512_storeu_si512(bp + (int64_t)(c / BNR) * BNR * kps + (int64_t)p * BNR + g, w);
            }
    }
    zero_tail(bp, nc, kcp, kps);
}

static void pack_b_t(word *bp, const float *B, int64_t ldb, int64_t j0, int nc, int64_t p0,
                     int kc, int kps) {
    int kcp = (kc + 1) / 2;
    for (int c = 0; c < nc; c += BNR)
        for (int g = 0; g < BNR; g += 16) {   /* op(B)[k][n] = B[n][k] */
            int n = nc - c - g < 16 ? nc - c - g : 16;
            word *dst = bp + (int64_t)(c / BNR) * BNR * kps + g;
            for (int k0 = 0; k0 < kc; k0 += 32) {
                int kl = kc - k0 < 32 ? kc - k0 : 32;
                __m512 v[16];
                for (int i = 0; i < 16; i++)
                    v[i] = i < n ? pair_run(B + (j0 + c + g + i) * ldb + p0 + k0, kl)
                                 : _mm512_setzero_ps();
                tr16(v);
                for (int t = 0; t < (kl + 1) / 2; t++)
                    _mm512_storeu_ps((float *)dst + (int64_t)(k0 / 2 + t) * BNR, v[t]);
            }
        }
    zero_tail(bp, nc, kcp, kps);
}

/* C[np rows][left columns] (<= BMR, 16 nj) at c (row stride ldc) from
 * ap[kcp][BMR] x the first nj zmm columns of bp[kcp][BNR] words (nj a
 * constant where kernel_nj inlines it: a panel's last columns, left <= 32
 * or 16, take nj 2 or 1, not the zero padding's products). */
static inline __attribute__((always_inline)) void
kernel_nj(int kcp, const word *ap, const word *bp, float *c, int64_t ldc, int np, int left,
          const wb_rule *wb, int nj) {
    __m512 acc[BMR][BJ];
    _Pragma("GCC unroll 8") for (int i = 0; i < BMR; i++)
        _Pragma("GCC unroll 4") for (int j = 0; j < nj; j++) acc[i][j] = _mm512_setzero_ps();
    if (wb->readc)
        for (int i = 0; i < np; i++)
            for (int j = 0; j < left; j += 16) __builtin_prefetch(c + i * ldc + j, 1, 3);
    _Pragma("GCC unroll 2") for (int p = 0; p < kcp; p++) {
        __m512bh b[BJ];
        _Pragma("GCC unroll 4") for (int j = 0; j < nj; j++)
            b[j] = (__m512bh)_mm512_loadu_si512(bp + (int64_t)p * BNR + 16 * j);
        _Pragma("GCC unroll 8") for (int i = 0; i < BMR; i++) {
            __m512bh a = (__m512bh)_mm512_set1_epi32((int)ap[(int64_t)p * BMR + i]);
            _Pragma("GCC unroll 4") for (int j = 0; j < nj; j++)
                acc[i][j] = _mm512_dpbf16_ps(acc[i][j], a, b[j]);
        }
    }
    __m512 alpha = _mm512_set1_ps(wb->alpha), beta = _mm512_set1_ps(wb->beta);
    int64_t r0 = 0, c0 = 0;
    if (wb->ep) c_at(wb, c, &r0, &c0);
    _Pragma("GCC unroll 8") for (int i = 0; i < BMR; i++) {
        if (i >= np) break;
        float *ci = c + i * ldc;
        _Pragma("GCC unroll 4") for (int j = 0; j < nj; j++) {
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
            if (wb->ep) v = epi16(v, r0 + i, c0 + 16 * j, wb, m);
            if (l >= 16) _mm512_storeu_ps(ci + 16 * j, v);
            else _mm512_mask_storeu_ps(ci + 16 * j, m, v);
        }
    }
}

static void kernel(int kcp, const word *ap, const word *bp, float *c, int64_t ldc, int np,
                   int left, const wb_rule *wb) {
    if (left <= 16) kernel_nj(kcp, ap, bp, c, ldc, np, left, wb, 1);
    else if (left <= 32) kernel_nj(kcp, ap, bp, c, ldc, np, left, wb, 2);
    else kernel_nj(kcp, ap, bp, c, ldc, np, left, wb, BJ);
}

typedef struct {
    int ta, tb, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    int64_t lda, ldb, ldc;
    word *ws;
    int64_t part_n;          /* words per part */
    int split_n;             /* parts cut the column panels (else the row panels) */
    int64_t units, per;      /* panels to cut, panels per part */
    int amx;                 /* on the tile unit (amx_block) */
    const float *scale, *shift, *res;   /* gemm_bf16_affine's epilogue (scale NULL: none) */
    int act;
    const xf_t *xa, *xb;     /* gemm_bf16_xf's input transforms (NULL: none) */
} job;

/* The write-back rule of the k block from pc. */
static wb_rule wb_of(const job *g, int64_t pc) {
    wb_rule wb = { g->alpha, pc ? 1.0f : g->beta, pc || g->beta != 0.0f,
                   g->scale && pc + GEMM_BF16_KC >= g->K, g->act, g->scale, g->shift, g->res,
                   g->C, g->ldc };
    return wb;
}

/* C[m0:m1, n0:n1] (all K). */
static void block(const job *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1, word *ws) {
    int64_t kcp_max = (min64(GEMM_BF16_KC, g->K) + 1) / 2;
    word *ap = ws, *bp = ws + min64(BMC, round_up(g->M, BMR)) * kcp_max;
    for (int64_t jc = n0; jc < n1; jc += BNC) {
        int nc = (int)min64(BNC, n1 - jc);
        for (int64_t pc = 0; pc < g->K; pc += GEMM_BF16_KC) {
            int kc = (int)min64(GEMM_BF16_KC, g->K - pc), kcp = (kc + 1) / 2;
            wb_rule wb = wb_of(g, pc);
            if (g->tb) pack_b_t(bp, g->B, g->ldb, jc, nc, pc, kc, kcp);
            else pack_b_copy(bp, g->B, g->ldb, jc, nc, pc, kc, kcp, g->xb);
            for (int64_t ic = m0; ic < m1; ic += BMC) {
                int mc = (int)min64(BMC, m1 - ic);
                if (g->ta) pack_a_copy(ap, g->A, g->lda, ic, mc, pc, kc);
                else pack_a_t(ap, g->A, g->lda, ic, mc, pc, kc, g->xa);
                for (int jr = 0; jr < nc; jr += BNR)
                    for (int ir = 0; ir < mc; ir += BMR)
                        kernel(kcp, ap + (int64_t)ir * kcp, bp + (int64_t)jr * kcp,
                               g->C + (ic + ir) * g->ldc + jc + jr, g->ldc,
                               mc - ir < BMR ? mc - ir : BMR, nc - jr < BNR ? nc - jr : BNR,
                               &wb);
            }
        }
    }
}

/* ---- AMX (TMUL) ----
 * The same blocks, packed B panels and k blocks, with the products on the
 * tile unit: TDPBF16PS adds to a 16 x 16 fp32 tile C the products of a
 * 16-row A tile (each row 16 words, 32 k) and a B tile (16 rows of pairs,
 * 16 columns of words): per element, per pair, the two products
 * a_k b_k + a_k+1 b_k+1 in fp32 in k order, as VDPBF16PS sums them (the
 * hardware flushes subnormal inputs and outputs to zero; the bf16 inputs
 * have none). A block of KC k is a chain of steps of 16 pairs from a zero
 * tile, folded into C as the VDPBF16PS path folds: each element's sums,
 * roundings and their order depend only on K, so the bits depend neither
 * on the thread count nor on the tile an element falls in. ap here is
 * row-major, ap[row][pair] (kps = kcp rounded up to 16 pairs, the pad
 * zero), 16 rows a tile (rows beyond mc zero); B panels as above with
 * their pairs zero-padded to kps. The register tile of C is 2 x 2 tiles
 * (32 rows, 32 columns: tmm0-3; A tmm4-5, B tmm6-7). */
#define AMX_KS 16                /* pairs per TDPBF16PS */

static int64_t amx_part_words(int M, int N, int K) {
    int64_t kps = round_up((min64(GEMM_BF16_KC, K) + 1) / 2, AMX_KS);
    return min64(BMC, round_up(M, 16)) * kps + kps * min64(BNC, round_up(N, BNR));
}

static void pack_a_rows(word *ap, const float *A, int64_t lda, int ta, int64_t i0, int mc,
                        int64_t p0, int kc, int kps, const xf_t *xf) {
    int kcp = (kc + 1) / 2, rows = (int)round_up(mc, 16);
    if (!ta) {                        /* op(A)[m][k] = A[m][k]: k along memory */
        for (int r = 0; r < rows; r++) {
            word *dst = ap + (int64_t)r * kps;
            if (r >= mc) { memset(dst, 0, sizeof(word) * (size_t)kps); continue; }
            const float *src = A + (i0 + r) * lda + p0;
            for (int k0 = 0; k0 < 2 * kps; k0 += 32) {
                int kl = kc - k0;
                _mm512_storeu_ps((float *)dst + k0 / 2,
                                 pair_run_xf(src + k0, kl < 0 ? 0 : kl, xf, p0 + k0));
            }
        }
        return;
    }
    for (int r = 0; r < rows; r += 16) {  /* op(A)[m][k] = A[k][m]: 16 pairs x 16 rows, transposed */
        int n = mc - r < 16 ? mc - r : 16;
        for (int pb = 0; pb < kps; pb += 16) {
            __m512 v[16];
            for (int t = 0; t < 16; t++) {
                int p = pb + t;
                if (p >= kcp) { v[t] = _mm512_setzero_ps(); continue; }
                const float *s0 = A + (p0 + 2 * p) * lda + i0 + r;
                v[t] = _mm512_castsi512_ps(pair_rows(load16(s0, n), 2 * p + 1 < kc
                                                                       ? load16(s0 + lda, n)
                                                                       : _mm512_setzero_ps()));
            }
            tr16(v);
            for (int i = 0; i < 16; i++)
                _mm512_storeu_ps((float *)ap + (int64_t)(r + i) * kps + pb, v[i]);
        }
    }
}

/* C tile (16 x 16 fp32 at t, rows of 16) folded into C[np][left]. */
static void fold_tile(const float *t, float *c, int64_t ldc, int np, int left,
                      const wb_rule *wb) {
    __mmask16 m = lane_mask(left);
    __m512 alpha = _mm512_set1_ps(wb->alpha), beta = _mm512_set1_ps(wb->beta);
    int64_t r0 = 0, c0 = 0;
    if (wb->ep) c_at(wb, c, &r0, &c0);
    for (int i = 0; i < np; i++) {
        __m512 acc = _mm512_load_ps(t + 16 * i), v;
        float *ci = c + i * ldc;
        if (wb->readc)
            v = _mm512_fmadd_ps(acc, alpha, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, ci), beta));
        else
            v = _mm512_mul_ps(acc, alpha);
        if (wb->ep) v = epi16(v, r0 + i, c0, wb, m);
        _mm512_mask_storeu_ps(ci, m, v);
    }
}

/* B tile t (16 columns) of a packed block, at pair 0. */
static inline const word *btile(const word *bp, int t, int kps) {
    return bp + (int64_t)(t / (BNR / 16)) * BNR * kps + (t % (BNR / 16)) * 16;
}

/* C[mr rows][nr columns] (<= 32, 32) at c from ap's rows (row stride kps)
 * and B tiles b0, b1 (b1 unread where nr <= 16). */
__attribute__((target("amx-tile,amx-bf16")))
static void amx_kernel(int kps, const word *ap, const word *b0, const word *b1, float *c,
                       int64_t ldc, int mr, int nr, const wb_rule *wb) {
    const int64_t as = (int64_t)kps * sizeof(word), bs = BNR * sizeof(word);
    const word *a1 = ap + 16 * (int64_t)kps;
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    if (mr > 16 && nr > 16) {
        for (int p = 0; p < kps; p += AMX_KS) {
            _tile_loadd(4, ap + p, as);
            _tile_loadd(6, b0 + (int64_t)p * BNR, bs);
            _tile_loadd(7, b1 + (int64_t)p * BNR, bs);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(5, a1 + p, as);
            _tile_dpbf16ps(1, 4, 7);
            _tile_dpbf16ps(2, 5, 6);
            _tile_dpbf16ps(3, 5, 7);
        }
    } else {
        for (int p = 0; p < kps; p += AMX_KS) {
            _tile_loadd(4, ap + p, as);
            _tile_loadd(6, b0 + (int64_t)p * BNR, bs);
            _tile_dpbf16ps(0, 4, 6);
            if (nr > 16) {
                _tile_loadd(7, b1 + (int64_t)p * BNR, bs);
                _tile_dpbf16ps(1, 4, 7);
            }
            if (mr > 16) {
                _tile_loadd(5, a1 + p, as);
                _tile_dpbf16ps(2, 5, 6);
            }
        }
    }
    float t[4][256] __attribute__((aligned(64)));
    _tile_stored(0, t[0], 64);
    if (nr > 16) _tile_stored(1, t[1], 64);
    if (mr > 16) _tile_stored(2, t[2], 64);
    if (mr > 16 && nr > 16) _tile_stored(3, t[3], 64);
    int m0 = mr < 16 ? mr : 16, n0 = nr < 16 ? nr : 16;
    fold_tile(t[0], c, ldc, m0, n0, wb);
    if (nr > 16) fold_tile(t[1], c + 16, ldc, m0, nr - 16, wb);
    if (mr > 16) fold_tile(t[2], c + 16 * ldc, ldc, mr - 16, n0, wb);
    if (mr > 16 && nr > 16) fold_tile(t[3], c + 16 * ldc + 16, ldc, mr - 16, nr - 16, wb);
}

/* block() on the tile unit (the calling thread's tiles configured). */
static void amx_block(const job *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1, word *ws) {
    int64_t kps_max = round_up((min64(GEMM_BF16_KC, g->K) + 1) / 2, AMX_KS);
    word *ap = ws, *bp = ws + min64(BMC, round_up(g->M, 16)) * kps_max;
    for (int64_t jc = n0; jc < n1; jc += BNC) {
        int nc = (int)min64(BNC, n1 - jc);
        for (int64_t pc = 0; pc < g->K; pc += GEMM_BF16_KC) {
            int kc = (int)min64(GEMM_BF16_KC, g->K - pc);
            int kps = (int)round_up((kc + 1) / 2, AMX_KS);
            wb_rule wb = wb_of(g, pc);
            if (g->tb) pack_b_t(bp, g->B, g->ldb, jc, nc, pc, kc, kps);
            else pack_b_copy(bp, g->B, g->ldb, jc, nc, pc, kc, kps, g->xb);
            for (int64_t ic = m0; ic < m1; ic += BMC) {
                int mc = (int)min64(BMC, m1 - ic);
                pack_a_rows(ap, g->A, g->lda, g->ta, ic, mc, pc, kc, kps, g->xa);
                for (int jr = 0; jr < nc; jr += 32)
                    for (int ir = 0; ir < mc; ir += 32)
                        amx_kernel(kps, ap + (int64_t)ir * kps, btile(bp, jr / 16, kps),
                                   btile(bp, jr / 16 + 1, kps),
                                   g->C + (ic + ir) * g->ldc + jc + jr, g->ldc,
                                   mc - ir < 32 ? mc - ir : 32, nc - jr < 32 ? nc - jr : 32,
                                   &wb);
            }
        }
    }
}

static void part(void *ctx, int64_t p0, int64_t p1, int tid) {
    const job *g = ctx;
    (void)tid;
    if (g->amx) amx_begin();
    for (int64_t p = p0; p < p1; p++) {
        int64_t u0 = p * g->per, u1 = min64(u0 + g->per, g->units);
        if (u0 >= u1) continue;
        word *ws = g->ws + p * g->part_n;
        void (*blk)(const job *, int64_t, int64_t, int64_t, int64_t, word *) =
            g->amx ? amx_block : block;
        if (g->split_n)
            blk(g, 0, g->M, u0 * BNR, min64(u1 * BNR, g->N), ws);
        else
            blk(g, u0 * BMR, min64(u1 * BMR, g->M), 0, g->N, ws);
    }
    if (g->amx) amx_end();
}

static void run(job *g) {
    /* the tile path where its blocks (their pairs padded to steps of 16)
     * fit at least two parts of gemm_bf16_workspace's BMAX_PARTS; then at
     * most as many parts as fit (all eight where min(M, 256) rounded up
     * to 8 is a multiple of 16 and ceil(K / 2) a multiple of 16 or K is
     * above 511: the head's and the bank's products; fewer for the
     * pointwise convolutions' small K, padded up to 32). Which unit runs
     * depends on M, N and K only, never on the thread count. */
    int64_t pw = part_words(g->M, g->N, g->K), aw = amx_part_words(g->M, g->N, g->K);
    int64_t fit = min64(BMAX_PARTS, BMAX_PARTS * pw / aw);
    g->amx = fit >= 2 && gemm_bf16_amx();
    if (g->amx) g->part_n = aw;
    int64_t np = (g->N + BNR - 1) / BNR, mp = (g->M + BMR - 1) / BMR;
    int t = ssl_threads() < BMAX_PARTS ? ssl_threads() : BMAX_PARTS;
    g->split_n = np >= 4 * t || np >= mp;
    g->units = g->split_n ? np : mp;
    int parts = ssl_parts(g->units, g->amx ? (int)fit : BMAX_PARTS);
    g->per = (g->units + parts - 1) / parts;
    ssl_parallel_for(parts, 1, part, g);
}
#pragma GCC pop_options

#else   /* not x86: no AVX512-BF16 */

int gemm_bf16_available(void) { return 0; }
int gemm_bf16_amx(void) { return 0; }
void gemm_bf16_set_amx(int on) { (void)on; }
#endif

void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc, float *ws) {
    if (M < 1 || N < 1) return;
    if (K < 1 || alpha == 0.0f) {           /* C = beta C (beta 0: zeros, C not read) */
        for (int64_t i = 0; i < M; i++) {
            float *c = C + i * ldc;
            if (beta == 0.0f) memset(c, 0, sizeof(float) * (size_t)N);
            else if (beta != 1.0f)
                for (int j = 0; j < N; j++) c[j] *= beta;
        }
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    job g = { ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, (word *)ws,
              part_words(M, N, K), 0, 0, 0, 0, NULL, NULL, NULL, 0, NULL, NULL };
    run(&g);
#else
    (void)ta; (void)tb; (void)A; (void)lda; (void)B; (void)ldb; (void)ws;
#endif
}

void gemm_bf16_affine(int ta, int tb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float *C, int ldc, const float *scale,
                      const float *shift, const float *res, int act, float *ws) {
    if (M < 1 || N < 1) return;
#if defined(__x86_64__) || defined(__i386__)
    if (K >= 1) {
        job g = { ta, tb, M, N, K, 1.0f, 0.0f, A, B, C, lda, ldb, ldc, (word *)ws,
                  part_words(M, N, K), 0, 0, 0, 0, scale, shift, res, act, NULL, NULL };
        run(&g);
        return;
    }
#endif
    gemm_bf16(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc, ws);
    bn_apply_affine(C, C, scale, shift, res, act, M, N);   /* (ldc == N there) */
}

void gemm_bf16_xf(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const conv_in_xf *xa, const float *B, int ldb, const conv_in_xf *xb,
                  float beta, float *C, int ldc, float *ws) {
#if defined(__x86_64__) || defined(__i386__)
    if (M >= 1 && N >= 1 && K >= 1 && alpha != 0.0f) {
        xf_t fa = { xa ? xa->scale : NULL, xa ? xa->shift : NULL, xa ? xa->act : 0 };
        xf_t fb = { xb ? xb->scale : NULL, xb ? xb->shift : NULL, xb ? xb->act : 0 };
        job g = { ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc, (word *)ws,
                  part_words(M, N, K), 0, 0, 0, 0, NULL, NULL, NULL, 0, xa && !ta ? &fa : NULL,
                  xb && !tb ? &fb : NULL };
        run(&g);
        return;
    }
#endif
    (void)xa; (void)xb;
    gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}

void gemm_dispatch_prec(int prec, int ta, int tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc, float *ws) {
    if (prec == PREC_BF16 && ws && gemm_bf16_available())
        gemm_bf16(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
    else
        gemm_dispatch(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, ws);
}
