/* act.c: elementwise operations (ReLU, the MobileNets' ReLU6, hard-swish
 * and hard-sigmoid, residual add) and row-wise L2 normalisation, on
 * float32 buffers. Long loops run on util/threads.h. */
#include "nn/ops/ops.h"
#include "nn/ops/act_impl.h"

#include <math.h>
#include <stddef.h>

#include "util/threads.h"

typedef struct { float *out; const float *a, *b; } ew_ctx;
#define EW(o, x, y) { .out = (o), .a = (x), .b = (y) }

#define GRAIN 65536

#ifdef __AVX512F__
#include <immintrin.h>
/* Whole vectors of 16 here (gcc -O2 does not vectorise these loops: the
 * in-place aliasing and the unknown length); the scalar loops finish. */
#define VEC_END(i0, i1) ((i0) + (((i1) - (i0)) & ~(int64_t)15))
#else
#define VEC_END(i0, i1) (i0)
#endif

/* ---- the MobileNets' activations (act_impl.h) ---- */
typedef struct { float *out; const float *a, *b; int act; } act_ctx;

static void act_fwd_range(void *v, int64_t i0, int64_t i1, int tid) {
    act_ctx *k = v;
    int64_t i = i0;
#ifdef __AVX512F__
    for (; i < VEC_END(i0, i1); i += 16)
        _mm512_storeu_ps(k->out + i, act16(_mm512_loadu_ps(k->a + i), k->act));
#endif
    for (; i < i1; i++) k->out[i] = act1(k->a[i], k->act);
}

void act_forward(float *out, const float *in, int64_t n, int act) {
    act_ctx k = { out, in, NULL, act };
    ssl_parallel_for(n, GRAIN, act_fwd_range, &k);
}

static void act_bwd_range(void *v, int64_t i0, int64_t i1, int tid) {
    act_ctx *k = v;
    int64_t i = i0;
#ifdef __AVX512F__
    for (; i < VEC_END(i0, i1); i += 16)
        _mm512_storeu_ps(k->out + i, dact16(_mm512_loadu_ps(k->a + i), _mm512_loadu_ps(k->b + i),
                                            k->act));
#endif
    for (; i < i1; i++) k->out[i] = dact1(k->a[i], k->b[i], k->act);
}

void act_backward(float *dx, const float *dy, const float *x, int64_t n, int act) {
    act_ctx k = { dx, dy, x, act };
    ssl_parallel_for(n, GRAIN, act_bwd_range, &k);
}

static void relu_fwd_range(void *v, int64_t i0, int64_t i1, int tid) {
    ew_ctx *k = v;
    int64_t i = i0;
#ifdef __AVX512F__
    for (; i < VEC_END(i0, i1); i += 16)
        _mm512_storeu_ps(k->out + i,
                         _mm512_max_ps(_mm512_loadu_ps(k->a + i), _mm512_setzero_ps()));
#endif
    for (; i < i1; i++) k->out[i] = k->a[i] > 0 ? k->a[i] : 0.0f;
}
void relu_forward(float *out, const float *in, int64_t n) {
    ew_ctx k = EW(out, in, NULL);
    ssl_parallel_for(n, GRAIN, relu_fwd_range, &k);
}

static void relu_bwd_range(void *v, int64_t i0, int64_t i1, int tid) {
    ew_ctx *k = v;
    int64_t i = i0;
#ifdef __AVX512F__
    for (; i < VEC_END(i0, i1); i += 16) {
        __mmask16 m = _mm512_cmp_ps_mask(_mm512_loadu_ps(k->b + i), _mm512_setzero_ps(),
                                         _CMP_GT_OQ);
        _mm512_storeu_ps(k->out + i, _mm512_maskz_mov_ps(m, _mm512_loadu_ps(k->a + i)));
    }
#endif
    for (; i < i1; i++) k->out[i] = k->b[i] > 0 ? k->a[i] : 0.0f;
}
void relu_backward(float *dx, const float *dy, const float *y, int64_t n) {
    ew_ctx k = EW(dx, dy, y);
    ssl_parallel_for(n, GRAIN, relu_bwd_range, &k);
}

static void add_range(void *v, int64_t i0, int64_t i1, int tid) {
    ew_ctx *k = v;
    int64_t i = i0;
#ifdef __AVX512F__
    for (; i < VEC_END(i0, i1); i += 16)
        _mm512_storeu_ps(k->out + i,
                         _mm512_add_ps(_mm512_loadu_ps(k->a + i), _mm512_loadu_ps(k->b + i)));
#endif
    for (; i < i1; i++) k->out[i] = k->a[i] + k->b[i];
}
void add_forward(float *out, const float *a, const float *b, int64_t n) {
    ew_ctx k = EW(out, a, b);
    ssl_parallel_for(n, GRAIN, add_range, &k);
}
void add_inplace(float *acc, const float *x, int64_t n) {
    ew_ctx k = EW(acc, acc, x);
    ssl_parallel_for(n, GRAIN, add_range, &k);
}

double dot_d(const float *a, const float *b, int d) {
    double acc[8] = {0}, s = 0;
    int i = 0;
    for (; i + 8 <= d; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (double)a[i + l] * b[i + l];
    for (; i < d; i++) s += (double)a[i] * b[i];
    for (int l = 0; l < 8; l++) s += acc[l];
    return s;
}

typedef struct { float *dst; const float *src; int d; double eps; int64_t *bad; } l2_job;

double l2norm_row(float *y, const float *x, int d, double eps) {
    double n = sqrt(dot_d(x, x, d));
    float r = (float)(1.0 / (n > eps ? n : eps));
    for (int k = 0; k < d; k++) y[k] = x[k] * r;
    return n;
}

static void l2_rows(void *ctx, int64_t i0, int64_t i1, int tid) {
    l2_job *j = ctx;
    for (int64_t i = i0; i < i1; i++) {
        double n = l2norm_row(j->dst + i * j->d, j->src + i * j->d, j->d, j->eps);
        if (!isfinite(n) && j->bad[tid] < 0) j->bad[tid] = i;
    }
}

int64_t l2norm_forward(float *out, const float *x, int64_t N, int D, double eps) {
    int64_t bad[SSL_MAX_THREADS];
    for (int i = 0; i < SSL_MAX_THREADS; i++) bad[i] = -1;
    l2_job j = {out, x, D, eps, bad};
    ssl_parallel_for(N, 256, l2_rows, &j);
    int64_t first = -1;
    for (int i = 0; i < SSL_MAX_THREADS; i++)
        if (bad[i] >= 0 && (first < 0 || bad[i] < first)) first = bad[i];
    return first;
}

void l2norm_backward(float *dx, const float *dout, const float *x, int N, int D,
                     float eps) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (int64_t)n * D, *g = dout + (int64_t)n * D;
        double s = 0, dot = 0;
        for (int j = 0; j < D; j++) s += (double)xr[j] * xr[j];
        double nr = sqrt(s);
        if (nr < eps) nr = eps;
        for (int j = 0; j < D; j++) dot += (double)g[j] * (xr[j] / nr);
        float *d = dx + (int64_t)n * D;
        for (int j = 0; j < D; j++) d[j] = (float)((g[j] - dot * (xr[j] / nr)) / nr);
    }
}
