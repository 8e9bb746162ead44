/* act.c: elementwise operations (ReLU, residual add) and row-wise L2
 * normalisation, on float32 buffers. Long loops run on lib/threads.h. */
#include "ops.h"

#include <math.h>
#include <stddef.h>

#include "threads.h"

typedef struct { float *out; const float *a, *b; } ew_ctx;
#define EW(o, x, y) { .out = (o), .a = (x), .b = (y) }

#define GRAIN 65536

static void relu_fwd_range(void *v, int64_t i0, int64_t i1, int tid) {
    ew_ctx *k = v;
    for (int64_t i = i0; i < i1; i++) k->out[i] = k->a[i] > 0 ? k->a[i] : 0.0f;
}
void relu_forward(float *out, const float *in, int64_t n) {
    ew_ctx k = EW(out, in, NULL);
    ssl_parallel_for(n, GRAIN, relu_fwd_range, &k);
}

static void relu_bwd_range(void *v, int64_t i0, int64_t i1, int tid) {
    ew_ctx *k = v;
    for (int64_t i = i0; i < i1; i++) k->out[i] = k->b[i] > 0 ? k->a[i] : 0.0f;
}
void relu_backward(float *dx, const float *dy, const float *y, int64_t n) {
    ew_ctx k = EW(dx, dy, y);
    ssl_parallel_for(n, GRAIN, relu_bwd_range, &k);
}

static void add_range(void *v, int64_t i0, int64_t i1, int tid) {
    ew_ctx *k = v;
    for (int64_t i = i0; i < i1; i++) k->out[i] = k->a[i] + k->b[i];
}
void add_forward(float *out, const float *a, const float *b, int64_t n) {
    ew_ctx k = EW(out, a, b);
    ssl_parallel_for(n, GRAIN, add_range, &k);
}
void add_inplace(float *acc, const float *x, int64_t n) {
    ew_ctx k = EW(acc, acc, x);
    ssl_parallel_for(n, GRAIN, add_range, &k);
}

void l2norm_forward(float *out, const float *x, int N, int D, float eps) {
    for (int n = 0; n < N; n++) {
        const float *xr = x + (int64_t)n * D;
        double s = 0;
        for (int j = 0; j < D; j++) s += (double)xr[j] * xr[j];
        double nr = sqrt(s);
        if (nr < eps) nr = eps;
        float inv = (float)(1.0 / nr);
        float *o = out + (int64_t)n * D;
        for (int j = 0; j < D; j++) o[j] = xr[j] * inv;
    }
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
