/* se.c: squeeze-and-excitation (MobileNetV3's SqueezeExcitation block) on
 * NHWC float32, forward and backward.
 *
 * Composed of the library's own pieces: the global average pool
 * (avgpool_forward, pool.c), the two small fully connected layers
 * (linear_* with a workspace, so gemm.c's products, whose bits do not
 * depend on the thread count: the 1x1 convolutions fc1, fc2 on a 1x1
 * map),
 * ReLU and hard-sigmoid (act.c); what is new here is the channel scaling
 * out = x * sc and its backward, dsc = sum over pixels of dout * x (in
 * double, per image in pixel order) and dx = dout * sc + dpooled / P.
 * The passes over [B, P, C] run in parallel over images; with AVX-512
 * they run 16 channels at a time (masked tails), the same arithmetic in
 * the same order per element as the plain loops (dx = fma(dout, sc,
 * dpooled * (1/P)); the double sums of exact float products), so the
 * same bits. */
#include "nn/ops/ops.h"

#include <string.h>

#include "util/threads.h"

#include "nn/ops/simd_impl.h"

typedef struct {
    float *out;
    const float *x, *dout, *sc, *dp;
    float *dsc;
    int64_t P;
    int C;
} se_ctx;

/* [h or dz1, dz2, dp: B * (2S + 2C)][the products' workspace] */
static int64_t se_own(int B, int C, int S) { return (int64_t)B * (2 * (int64_t)S + 2 * C); }

int64_t se_workspace(int B, int C, int S) {
    int64_t a = linear_workspace(B, C, S), b = linear_workspace(B, S, C);
    return se_own(B, C, S) + (a > b ? a : b);
}

static void scale_rows(void *v, int64_t b0, int64_t b1, int tid) {
    se_ctx *k = v;
    int C = k->C;
    for (int64_t b = b0; b < b1; b++) {
        const float *s = k->sc + b * C;
        for (int64_t p = 0; p < k->P; p++) {
            int64_t o = (b * k->P + p) * C;
#ifdef __AVX512F__
            for (int c = 0; c < C; c += 16) {
                __mmask16 m = tail_mask16(C - c);
                __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, k->x + o + c),
                                         _mm512_maskz_loadu_ps(m, s + c));
                _mm512_mask_storeu_ps(k->out + o + c, m, v);
            }
#else
            for (int c = 0; c < C; c++) k->out[o + c] = k->x[o + c] * s[c];
#endif
        }
    }
}

void se_forward(float *out, float *pooled, float *z1, float *z2, float *sc, const float *x,
                const float *w1, const float *b1, const float *w2, const float *b2, int B,
                int64_t P, int C, int S, float *ws) {
    float *h = ws, *lw = ws + se_own(B, C, S);
    if (!linear_workspace(B, C, S)) lw = NULL;       /* no gemm.c: sgemm */
    avgpool_forward(pooled, x, B, (int)P, 1, C);
    linear_forward(z1, pooled, w1, b1, B, C, S, lw, PREC_FP32);
    act_forward(h, z1, (int64_t)B * S, ACT_RELU);
    linear_forward(z2, h, w2, b2, B, S, C, lw, PREC_FP32);
    act_forward(sc, z2, (int64_t)B * C, ACT_HSIGMOID);
    se_ctx k = { .out = out, .x = x, .sc = sc, .P = P, .C = C };
    ssl_parallel_for(B, 1, scale_rows, &k);
}

/* dsc[b,c] = sum_p dout[b,p,c] x[b,p,c], in double, pixels in order. */
static void dscale_rows(void *v, int64_t b0, int64_t b1, int tid) {
    se_ctx *k = v;
    int C = k->C;
    double acc[1024];
    for (int64_t b = b0; b < b1; b++)
        for (int c0 = 0; c0 < C; c0 += 1024) {
            int m = C - c0 < 1024 ? C - c0 : 1024;
            for (int j = 0; j < m; j++) acc[j] = 0;
            for (int64_t p = 0; p < k->P; p++) {
                int64_t o = (b * k->P + p) * C + c0;
#ifdef __AVX512F__
                for (int j = 0; j < m; j += 16) {
                    __mmask16 mk = tail_mask16(m - j);
                    __mmask8 ml = (__mmask8)(mk & 0xff), mh = (__mmask8)(mk >> 8);
                    __m512 d = _mm512_maskz_loadu_ps(mk, k->dout + o + j);
                    __m512 x = _mm512_maskz_loadu_ps(mk, k->x + o + j);
                    __m512d dl = lo_pd(d), dh = hi_pd(d), xl = lo_pd(x), xh = hi_pd(x);
                    __m512d al = _mm512_maskz_loadu_pd(ml, acc + j);
                    __m512d ah = _mm512_maskz_loadu_pd(mh, acc + j + 8);
                    /* the products of floats are exact in double: fma or
                     * not, the same sums */
                    _mm512_mask_storeu_pd(acc + j, ml, _mm512_fmadd_pd(dl, xl, al));
                    _mm512_mask_storeu_pd(acc + j + 8, mh, _mm512_fmadd_pd(dh, xh, ah));
                }
#else
                for (int j = 0; j < m; j++) acc[j] += (double)k->dout[o + j] * k->x[o + j];
#endif
            }
            for (int j = 0; j < m; j++) k->dsc[b * C + c0 + j] = (float)acc[j];
        }
}

/* dx = dout * sc + dpooled / P */
static void dx_rows(void *v, int64_t b0, int64_t b1, int tid) {
    se_ctx *k = v;
    int C = k->C;
    float inv = 1.0f / (float)k->P;
    for (int64_t b = b0; b < b1; b++) {
        const float *s = k->sc + b * C, *dp = k->dp + b * C;
        for (int64_t p = 0; p < k->P; p++) {
            int64_t o = (b * k->P + p) * C;
#ifdef __AVX512F__
            __m512 vi = _mm512_set1_ps(inv);
            for (int c = 0; c < C; c += 16) {
                __mmask16 m = tail_mask16(C - c);
                __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, k->dout + o + c),
                                           _mm512_maskz_loadu_ps(m, s + c),
                                           _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dp + c), vi));
                _mm512_mask_storeu_ps(k->out + o + c, m, v);
            }
#else
            for (int c = 0; c < C; c++) k->out[o + c] = k->dout[o + c] * s[c] + dp[c] * inv;
#endif
        }
    }
}

void se_backward(float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dout,
                 const float *x, const float *w1, const float *w2, const float *pooled,
                 const float *z1, const float *z2, const float *sc, int B, int64_t P, int C,
                 int S, float *ws) {
    float *h = ws, *dz1 = h + (int64_t)B * S, *dz2 = dz1 + (int64_t)B * S;
    float *dp = dz2 + (int64_t)B * C, *lw = ws + se_own(B, C, S);
    if (!linear_workspace(B, C, S)) lw = NULL;
    se_ctx k = { .out = dx, .x = x, .dout = dout, .sc = sc, .dp = dp, .dsc = dz2, .P = P,
                 .C = C };
    ssl_parallel_for(B, 1, dscale_rows, &k);
    act_backward(dz2, dz2, z2, (int64_t)B * C, ACT_HSIGMOID);
    act_forward(h, z1, (int64_t)B * S, ACT_RELU);
    linear_backward(dz1, dw2, db2, dz2, h, w2, B, S, C, lw, PREC_FP32);
    act_backward(dz1, dz1, z1, (int64_t)B * S, ACT_RELU);
    linear_backward(dp, dw1, db1, dz1, pooled, w1, B, C, S, lw, PREC_FP32);
    ssl_parallel_for(B, 1, dx_rows, &k);
}
