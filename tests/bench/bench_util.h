/* bench_util.h: what the bench programs share: medians of timings,
 * CPU-time clocks (for comparing builds on a machine shared with other
 * work, where wall time also counts the waits for a core) and the
 * measured FMA peaks. Header only: each bench program is one .c file. */
#ifndef SSL_BENCH_UTIL_H
#define SSL_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

#include "util/clock.h"
#include "util/threads.h"

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

static int bench_cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds of the calling thread / of the whole process. */
static inline double bench_thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static inline double bench_process_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---- the peaks: 12 independent accumulator chains per thread ----
 * Measured, not quoted, as they depend on the CPU: the development
 * machines (AMD EPYC, 2 cores) have given the AVX-512 FMA loop 210-220
 * GFLOP/s per core on one CPU and 115-117 on another (Zen 4, one 512-bit
 * FMA per cycle). Without AVX-512, where the CPU has AVX2 and FMA, the
 * same loop on 256-bit vectors. A VFMADDPS on 16 floats is 32 FLOPs, a VDPBF16PS (16
 * lanes, each the sum of 2 bf16 products) 64. */
#define BENCH_PEAK_ITERS 20000000L

#ifdef __AVX512F__
#define BENCH_CHAINS(OP)                                                              \
    for (long i = 0; i < BENCH_PEAK_ITERS; i++) {                                     \
        OP(a0); OP(a1); OP(a2); OP(a3); OP(a4); OP(a5);                               \
        OP(a6); OP(a7); OP(a8); OP(a9); OP(a10); OP(a11);                             \
    }                                                                                 \
    __m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), \
                             _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7))); \
    t = _mm512_add_ps(t, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11))); \
    for (int64_t i = i0; i < i1; i++) sink[i] = _mm512_reduce_add_ps(t);
/* distinct starting values, so the compiler cannot merge the chains */
#define BENCH_ACCS                                                                    \
    __m512 a0 = _mm512_set1_ps(1e-3f), a1 = _mm512_set1_ps(2e-3f), a2 = _mm512_set1_ps(3e-3f); \
    __m512 a3 = _mm512_set1_ps(4e-3f), a4 = _mm512_set1_ps(5e-3f), a5 = _mm512_set1_ps(6e-3f); \
    __m512 a6 = _mm512_set1_ps(7e-3f), a7 = _mm512_set1_ps(8e-3f), a8 = _mm512_set1_ps(9e-3f); \
    __m512 a9 = _mm512_set1_ps(1e-2f), a10 = _mm512_set1_ps(2e-2f), a11 = _mm512_set1_ps(3e-2f);

__attribute__((unused))
static void bench_fma_loop(void *ctx, int64_t i0, int64_t i1, int tid) {
    float *sink = ctx;
    (void)tid;
    BENCH_ACCS
    __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(1e-4f);
#define FMA_OP(a) a = _mm512_fmadd_ps(a, m, c)
    BENCH_CHAINS(FMA_OP)
#undef FMA_OP
}

__attribute__((target("avx512bf16"), unused))
static void bench_dpbf16_loop(void *ctx, int64_t i0, int64_t i1, int tid) {
    float *sink = ctx;
    (void)tid;
    BENCH_ACCS
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3c00), y = (__m512bh)_mm512_set1_epi16(0x3a00);
#define DP_OP(a) a = _mm512_dpbf16_ps(a, x, y)
    BENCH_CHAINS(DP_OP)
#undef DP_OP
}

#elif defined(__AVX2__) && defined(__FMA__)
/* AVX2: the same 12 chains of 8-float VFMADDPS (16 FLOPs each) */
__attribute__((unused))
static void bench_fma_loop(void *ctx, int64_t i0, int64_t i1, int tid) {
    float *sink = ctx;
    (void)tid;
    __m256 a0 = _mm256_set1_ps(1e-3f), a1 = _mm256_set1_ps(2e-3f), a2 = _mm256_set1_ps(3e-3f);
    __m256 a3 = _mm256_set1_ps(4e-3f), a4 = _mm256_set1_ps(5e-3f), a5 = _mm256_set1_ps(6e-3f);
    __m256 a6 = _mm256_set1_ps(7e-3f), a7 = _mm256_set1_ps(8e-3f), a8 = _mm256_set1_ps(9e-3f);
    __m256 a9 = _mm256_set1_ps(1e-2f), a10 = _mm256_set1_ps(2e-2f), a11 = _mm256_set1_ps(3e-2f);
    __m256 m = _mm256_set1_ps(0.999f), c = _mm256_set1_ps(1e-4f);
#define FMA_OP(a) a = _mm256_fmadd_ps(a, m, c)
    for (long i = 0; i < BENCH_PEAK_ITERS; i++) {
        FMA_OP(a0); FMA_OP(a1); FMA_OP(a2); FMA_OP(a3); FMA_OP(a4); FMA_OP(a5);
        FMA_OP(a6); FMA_OP(a7); FMA_OP(a8); FMA_OP(a9); FMA_OP(a10); FMA_OP(a11);
    }
#undef FMA_OP
    __m256 t = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                             _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    t = _mm256_add_ps(t, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    float v[8];
    _mm256_storeu_ps(v, t);
    for (int64_t i = i0; i < i1; i++) sink[i] = v[0] + v[7];
}
#endif

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
__attribute__((unused))
static double bench_peak_of(void (*loop)(void *, int64_t, int64_t, int), double flop_per_op,
                            int threads) {
    float sink[64];
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t0 = ssl_clock();
        ssl_parallel_for(threads, 1, loop, sink);
        double g = threads * (double)BENCH_PEAK_ITERS * 12 * flop_per_op / (ssl_clock() - t0) * 1e-9;
        if (g > best) best = g;
    }
    return best;
}
#endif

/* GFLOP/s of the fp32 FMA loop on `threads` threads, the best of 3 runs:
 * 512-bit FMAs with AVX-512, 256-bit with AVX2 and FMA; 0 without. */
static inline double bench_fp32_peak(int threads) {
#ifdef __AVX512F__
    return bench_peak_of(bench_fma_loop, 32, threads);
#elif defined(__AVX2__) && defined(__FMA__)
    return bench_peak_of(bench_fma_loop, 16, threads);
#else
    (void)threads;
    return 0;
#endif
}

/* The same with VDPBF16PS (bf16 products, fp32 sums); call it only where
 * the CPU has AVX512-BF16 (gemm_bf16_available()). 0 without AVX-512. */
static inline double bench_bf16_peak(int threads) {
#ifdef __AVX512F__
    return bench_peak_of(bench_dpbf16_loop, 64, threads);
#else
    (void)threads;
    return 0;
#endif
}

/* ---- memory bandwidth: STREAM-style copy a[i] = b[i] (8 bytes an
 * element) and triad a[i] = b[i] + 3 c[i] (12 bytes) over n floats (far
 * beyond the caches: 2^24, 64 MiB, in bench_dwconv and bench_mem), on the
 * pool's current thread count; the write's read-for-ownership not
 * counted. */
typedef struct { float *a; const float *b, *c; int triad; } bench_stream_ctx;

__attribute__((optimize("tree-vectorize")))
static void bench_stream_range(void *v, int64_t i0, int64_t i1, int tid) {
    bench_stream_ctx *k = v;
    float *restrict a = k->a;
    const float *restrict b = k->b, *restrict c = k->c;
    (void)tid;
    if (k->triad)
        for (int64_t i = i0; i < i1; i++) a[i] = b[i] + 3.0f * c[i];
    else
        for (int64_t i = i0; i < i1; i++) a[i] = b[i];
}

/* GB/s of copy (triad 0) or triad (1), the best of 5 runs. */
static inline double bench_stream(float *a, const float *b, const float *c, int64_t n,
                                  int triad) {
    bench_stream_ctx k = { a, b, c, triad };
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = ssl_clock();
        ssl_parallel_for(n, 1 << 16, bench_stream_range, &k);
        double gbs = (triad ? 12.0 : 8.0) * (double)n / (ssl_clock() - t0) * 1e-9;
        if (gbs > best) best = gbs;
    }
    return best;
}

#endif
