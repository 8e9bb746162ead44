/* bn.c: batch normalisation over [N, C] rows (BatchNorm2d on NHWC with
 * N = B*H*W, BatchNorm1d with N = B), PyTorch semantics, with an optional
 * fused residual add and ReLU in the forward epilogue.
 *
 * Reductions run in parallel over channel ranges (each thread owns some
 * channels and walks all rows), accumulating in double: the result does not
 * depend on the thread count. Elementwise passes run in parallel over rows.
 * The *_ref versions are plain loops for the tests. */
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "threads.h"

#define MAXC_STACK 4096   /* channels per reduction chunk held on the stack */

typedef struct {
    float *y, *dx;
    const float *x, *dy, *yin, *res, *gamma, *beta, *mean, *rstd;
    double *s1, *s2;          /* per-channel sums (size C) */
    float *scale, *shift;     /* per-channel affine for the epilogue */
    int64_t N;
    int C, relu;
} bn_ctx;

/* s1[c] = sum x; then s2[c] = sum (x - mean)^2 with the mean of s1. */
static void stats_range(void *vctx, int64_t c0, int64_t c1, int tid) {
    bn_ctx *k = vctx;
    double acc[256];
    for (int64_t cb = c0; cb < c1; cb += 256) {
        int m = (int)(c1 - cb < 256 ? c1 - cb : 256);
        for (int j = 0; j < m; j++) acc[j] = 0;
        for (int64_t r = 0; r < k->N; r++) {
            const float *xr = k->x + r * k->C + cb;
            for (int j = 0; j < m; j++) acc[j] += xr[j];
        }
        float mu[256];
        for (int j = 0; j < m; j++) {
            k->s1[cb + j] = acc[j];
            mu[j] = (float)(acc[j] / (double)k->N);
            acc[j] = 0;
        }
        for (int64_t r = 0; r < k->N; r++) {
            const float *xr = k->x + r * k->C + cb;
            for (int j = 0; j < m; j++) {
                double d = (double)xr[j] - mu[j];
                acc[j] += d * d;
            }
        }
        for (int j = 0; j < m; j++) {
            /* correct for mu being the float-rounded mean */
            double dm = acc[j] / (double)k->N;
            double e = k->s1[cb + j] / (double)k->N - mu[j];
            k->s2[cb + j] = dm - e * e;
        }
    }
}

static void affine_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    bn_ctx *k = vctx;
    int C = k->C;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = k->x + r * C;
        float *yr = k->y + r * C;
        const float *rr = k->res ? k->res + r * C : NULL;
        if (rr) {
            for (int c = 0; c < C; c++) yr[c] = xr[c] * k->scale[c] + k->shift[c] + rr[c];
        } else {
            for (int c = 0; c < C; c++) yr[c] = xr[c] * k->scale[c] + k->shift[c];
        }
        if (k->relu)
            for (int c = 0; c < C; c++) yr[c] = yr[c] > 0 ? yr[c] : 0;
    }
}

static int64_t row_grain(int C) { int64_t g = 16384 / (C > 0 ? C : 1); return g < 1 ? 1 : g; }
static int64_t chan_grain(int64_t N) { return N >= 4096 ? 8 : 1 << 30; }

void bn_forward_train(float *y, float *mean, float *rstd, const float *x,
                      const float *gamma, const float *beta, const float *res,
                      int relu, int64_t N, int C, float *running_mean,
                      float *running_var, float momentum, float eps) {
    if (C > MAXC_STACK) {
        bn_forward_train_ref(y, mean, rstd, x, gamma, beta, res, relu, N, C,
                             running_mean, running_var, momentum, eps);
        return;
    }
    double s1[MAXC_STACK], s2[MAXC_STACK];
    float scale[MAXC_STACK], shift[MAXC_STACK];
    bn_ctx k = { 0 };
    k.x = x; k.N = N; k.C = C; k.s1 = s1; k.s2 = s2;
    ssl_parallel_for(C, chan_grain(N), stats_range, &k);
    for (int c = 0; c < C; c++) {
        double mu = s1[c] / (double)N, var = s2[c];
        if (var < 0) var = 0;
        double rs = 1.0 / sqrt(var + eps);
        mean[c] = (float)mu;
        rstd[c] = (float)rs;
        scale[c] = (float)(gamma[c] * rs);
        shift[c] = (float)(beta[c] - mu * gamma[c] * rs);
        if (running_mean)
            running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        if (running_var) {
            double unb = N > 1 ? var * (double)N / (double)(N - 1) : var;
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unb);
        }
    }
    k.y = y; k.res = res; k.scale = scale; k.shift = shift; k.relu = relu;
    ssl_parallel_for(N, row_grain(C), affine_range, &k);
}

void bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                     const float *res, int relu, int64_t N, int C,
                     const float *running_mean, const float *running_var, float eps) {
    float scale[MAXC_STACK], shift[MAXC_STACK];
    if (C > MAXC_STACK) {
        for (int64_t r = 0; r < N; r++)
            for (int c = 0; c < C; c++) {
                int64_t i = r * C + c;
                double rs = 1.0 / sqrt((double)running_var[c] + eps);
                float v = (float)((x[i] - running_mean[c]) * rs * gamma[c] + beta[c]) +
                          (res ? res[i] : 0.0f);
                y[i] = relu && v < 0 ? 0 : v;
            }
        return;
    }
    for (int c = 0; c < C; c++) {
        double rs = 1.0 / sqrt((double)running_var[c] + eps);
        scale[c] = (float)(gamma[c] * rs);
        shift[c] = (float)(beta[c] - running_mean[c] * gamma[c] * rs);
    }
    bn_ctx a = { 0 };
    a.x = x; a.y = y; a.res = res; a.scale = scale; a.shift = shift;
    a.N = N; a.C = C; a.relu = relu;
    ssl_parallel_for(N, row_grain(C), affine_range, &a);
}

/* s1[c] = sum g, s2[c] = sum g * xhat, g = dy masked by y > 0. */
static void bwd_sums_range(void *vctx, int64_t c0, int64_t c1, int tid) {
    bn_ctx *k = vctx;
    double a1[256], a2[256];
    for (int64_t cb = c0; cb < c1; cb += 256) {
        int m = (int)(c1 - cb < 256 ? c1 - cb : 256);
        for (int j = 0; j < m; j++) a1[j] = a2[j] = 0;
        const float *mu = k->mean + cb, *rs = k->rstd + cb;
        for (int64_t r = 0; r < k->N; r++) {
            const float *xr = k->x + r * k->C + cb, *gr = k->dy + r * k->C + cb;
            const float *yr = k->yin ? k->yin + r * k->C + cb : NULL;
            for (int j = 0; j < m; j++) {
                float g = (yr && !(yr[j] > 0)) ? 0.0f : gr[j];
                a1[j] += g;
                a2[j] += (double)g * ((xr[j] - mu[j]) * rs[j]);
            }
        }
        for (int j = 0; j < m; j++) { k->s1[cb + j] = a1[j]; k->s2[cb + j] = a2[j]; }
    }
}

/* dx = scale * (g - shift_a - xhat * shift_b), using scale/shift arrays:
 * scale[c] = gamma*rstd, and s1, s2 pre-divided by N (as floats in shift). */
static void bwd_dx_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    bn_ctx *k = vctx;
    int C = k->C;
    const float *mg = k->shift, *mgx = k->shift + C;
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = k->x + r * C, *gr = k->dy + r * C;
        const float *yr = k->yin ? k->yin + r * C : NULL;
        float *dr = k->dx + r * C;
        for (int c = 0; c < C; c++) {
            float g = (yr && !(yr[c] > 0)) ? 0.0f : gr[c];
            float xh = (xr[c] - k->mean[c]) * k->rstd[c];
            dr[c] = k->scale[c] * (g - mg[c] - xh * mgx[c]);
        }
    }
}

void bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                 const float *y, const float *x, const float *mean,
                 const float *rstd, const float *gamma, int64_t N, int C) {
    if (C > MAXC_STACK / 2) {
        bn_backward_ref(dx, dgamma, dbeta, dy, y, x, mean, rstd, gamma, N, C);
        return;
    }
    double s1[MAXC_STACK / 2], s2[MAXC_STACK / 2];
    float scale[MAXC_STACK / 2], sh[MAXC_STACK];
    bn_ctx k = { 0 };
    k.x = x; k.dy = dy; k.yin = y; k.mean = mean; k.rstd = rstd;
    k.s1 = s1; k.s2 = s2; k.N = N; k.C = C;
    ssl_parallel_for(C, chan_grain(N), bwd_sums_range, &k);
    for (int c = 0; c < C; c++) {
        dbeta[c] += (float)s1[c];
        dgamma[c] += (float)s2[c];
        scale[c] = gamma[c] * rstd[c];
        sh[c] = (float)(s1[c] / (double)N);
        sh[C + c] = (float)(s2[c] / (double)N);
    }
    k.dx = dx; k.scale = scale; k.shift = sh;
    ssl_parallel_for(N, row_grain(C), bwd_dx_range, &k);
}

/* ---- reference ---- */

void bn_forward_train_ref(float *y, float *mean, float *rstd, const float *x,
                          const float *gamma, const float *beta, const float *res,
                          int relu, int64_t N, int C, float *running_mean,
                          float *running_var, float momentum, float eps) {
    for (int c = 0; c < C; c++) {
        double s = 0, v = 0;
        for (int64_t r = 0; r < N; r++) s += x[r * C + c];
        double mu = s / (double)N;
        for (int64_t r = 0; r < N; r++) { double d = x[r * C + c] - mu; v += d * d; }
        v /= (double)N;
        double rs = 1.0 / sqrt(v + eps);
        mean[c] = (float)mu;
        rstd[c] = (float)rs;
        for (int64_t r = 0; r < N; r++) {
            int64_t i = r * C + c;
            double o = (x[i] - mu) * rs * gamma[c] + beta[c] + (res ? res[i] : 0.0);
            y[i] = (float)(relu && o < 0 ? 0 : o);
        }
        if (running_mean) running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mu);
        if (running_var)
            running_var[c] = (float)((1 - momentum) * running_var[c] +
                                     momentum * (N > 1 ? v * N / (N - 1) : v));
    }
}

void bn_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                     const float *y, const float *x, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C) {
    for (int c = 0; c < C; c++) {
        double s1 = 0, s2 = 0;
        for (int64_t r = 0; r < N; r++) {
            int64_t i = r * C + c;
            double g = (y && !(y[i] > 0)) ? 0.0 : dy[i];
            s1 += g;
            s2 += g * (x[i] - mean[c]) * rstd[c];
        }
        dbeta[c] += (float)s1;
        dgamma[c] += (float)s2;
        for (int64_t r = 0; r < N; r++) {
            int64_t i = r * C + c;
            double g = (y && !(y[i] > 0)) ? 0.0 : dy[i];
            double xh = (x[i] - mean[c]) * rstd[c];
            dx[i] = (float)(gamma[c] * rstd[c] * (g - s1 / N - xh * s2 / N));
        }
    }
}
