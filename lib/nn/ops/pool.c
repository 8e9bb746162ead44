/* pool.c: max-pool (with argmax for the backward) and global average pool
 * on NHWC float32. Work is split over images (util/threads.h), so the
 * backward scatters of different threads never touch the same element. */
#include "nn/ops/ops.h"

#include <float.h>
#include <string.h>

#include "util/threads.h"

#include "nn/ops/simd_impl.h"

typedef struct {
    float *out, *din;
    int32_t *argw;
    const int32_t *arg;
    const float *in, *dout;
    int H, W, C, k, stride, pad, OH, OW;
} pool_ctx;

static void maxpool_fwd_range(void *vctx, int64_t b0, int64_t b1, int tid) {
    pool_ctx *p = vctx;
    int C = p->C;
    for (int64_t b = b0; b < b1; b++) {
        const float *img = p->in + b * p->H * p->W * C;
        for (int oh = 0; oh < p->OH; oh++)
            for (int ow = 0; ow < p->OW; ow++) {
                int64_t o = ((b * p->OH + oh) * p->OW + ow) * C;
                float *out = p->out + o;
                int32_t *arg = p->argw + o;
                for (int c = 0; c < C; c++) { out[c] = -FLT_MAX; arg[c] = -1; }
                for (int kh = 0; kh < p->k; kh++) {
                    int ih = oh * p->stride - p->pad + kh;
                    if (ih < 0 || ih >= p->H) continue;
                    for (int kw = 0; kw < p->k; kw++) {
                        int iw = ow * p->stride - p->pad + kw;
                        if (iw < 0 || iw >= p->W) continue;
                        int32_t base = (ih * p->W + iw) * C;
                        const float *src = img + base;
                        for (int c = 0; c < C; c++)
                            if (src[c] > out[c] || arg[c] < 0) { out[c] = src[c]; arg[c] = base + c; }
                    }
                }
            }
    }
}

void maxpool_forward(float *out, int32_t *arg, const float *in, int B, int H, int W,
                     int C, int k, int stride, int pad, int OH, int OW) {
    pool_ctx p = { .out = out, .argw = arg, .in = in, .H = H, .W = W, .C = C, .k = k,
                   .stride = stride, .pad = pad, .OH = OH, .OW = OW };
    ssl_parallel_for(B, 1, maxpool_fwd_range, &p);
}

static void maxpool_bwd_range(void *vctx, int64_t b0, int64_t b1, int tid) {
    pool_ctx *p = vctx;
    int64_t in_n = (int64_t)p->H * p->W * p->C, out_n = (int64_t)p->OH * p->OW * p->C;
    for (int64_t b = b0; b < b1; b++) {
        float *img = p->din + b * in_n;
        memset(img, 0, (size_t)in_n * sizeof(float));
        const float *g = p->dout + b * out_n;
        const int32_t *a = p->arg + b * out_n;
        for (int64_t i = 0; i < out_n; i++)
            if (a[i] >= 0) img[a[i]] += g[i];
    }
}

void maxpool_backward(float *din, const float *dout, const int32_t *arg, int B, int H,
                      int W, int C, int OH, int OW) {
    pool_ctx p = { .din = din, .dout = dout, .arg = arg, .H = H, .W = W, .C = C,
                   .OH = OH, .OW = OW };
    ssl_parallel_for(B, 1, maxpool_bwd_range, &p);
}

static void avg_fwd_range(void *vctx, int64_t b0, int64_t b1, int tid) {
    pool_ctx *p = vctx;
    int C = p->C, HW = p->H * p->W;
    double acc[1024];
    for (int64_t b = b0; b < b1; b++)
        for (int c0 = 0; c0 < C; c0 += 1024) {
            int m = C - c0 < 1024 ? C - c0 : 1024;
            for (int j = 0; j < m; j++) acc[j] = 0;
            for (int i = 0; i < HW; i++) {
                const float *src = p->in + (b * HW + i) * C + c0;
#ifdef __AVX512F__
                /* 16 channels at a time, each still summed in double in
                 * pixel order: the same bits */
                for (int j = 0; j < m; j += 16) {
                    __mmask16 mk = tail_mask16(m - j);
                    __mmask8 ml = (__mmask8)(mk & 0xff), mh = (__mmask8)(mk >> 8);
                    __m512 v = _mm512_maskz_loadu_ps(mk, src + j);
                    __m512d vl = lo_pd(v), vh = hi_pd(v);
                    _mm512_mask_storeu_pd(acc + j, ml,
                                          _mm512_add_pd(_mm512_maskz_loadu_pd(ml, acc + j), vl));
                    _mm512_mask_storeu_pd(acc + j + 8, mh,
                                          _mm512_add_pd(_mm512_maskz_loadu_pd(mh, acc + j + 8), vh));
                }
#else
                for (int j = 0; j < m; j++) acc[j] += src[j];
#endif
            }
            for (int j = 0; j < m; j++) p->out[b * C + c0 + j] = (float)(acc[j] / HW);
        }
}

void avgpool_forward(float *out, const float *in, int B, int H, int W, int C) {
    pool_ctx p = { .out = out, .in = in, .H = H, .W = W, .C = C };
    ssl_parallel_for(B, 1, avg_fwd_range, &p);
}

static void avg_bwd_range(void *vctx, int64_t b0, int64_t b1, int tid) {
    pool_ctx *p = vctx;
    int C = p->C, HW = p->H * p->W;
    float inv = 1.0f / (float)HW;
    for (int64_t b = b0; b < b1; b++) {
        const float *g = p->dout + b * C;
        for (int i = 0; i < HW; i++) {
            float *dst = p->din + (b * HW + i) * C;
            for (int c = 0; c < C; c++) dst[c] = g[c] * inv;
        }
    }
}

void avgpool_backward(float *din, const float *dout, int B, int H, int W, int C) {
    pool_ctx p = { .din = din, .dout = dout, .H = H, .W = W, .C = C };
    ssl_parallel_for(B, 1, avg_bwd_range, &p);
}
