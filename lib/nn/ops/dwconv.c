/* dwconv.c: depthwise 2-D convolution on NHWC float32 (groups = channels),
 * forward and backward, the MobileNets' 3x3 and 5x5 layers.
 *
 * Each channel is convolved with its own KH x KW filter, so there is no
 * sum over channels and no GEMM: the work is KH*KW multiply-adds per
 * output element. In NHWC the channels of a pixel are contiguous, so the
 * kernels run vectors of 16 channels (AVX-512, a masked tail) over the
 * taps, with the weight repacked once per call from PyTorch's [C, 1, KH,
 * KW] into wp[KH*KW][C] (contiguous per tap):
 *   forward         out[b,oh,ow,c]  = sum_taps in[b,ih,iw,c] wp[tap][c]
 *                   (threads over output rows (b, oh));
 *   backward-data   din[b,ih,iw,c] (+)= sum of the taps that read it,
 *                   dout[b,oh,ow,c] wp[tap][c], a gather (threads over
 *                   input rows), so no two threads write one element;
 *   weight grad     dw[c][tap] += sum over b, oh, ow of
 *                   dout[b,oh,ow,c] in[b,ih,iw,c]: each image summed in
 *                   float in registers, images added into the partial of
 *                   their batch slice (slices fixed by the batch alone,
 *                   at most DW_SLICES), slices added in order at the end;
 *                   threads over (slice, block of 16 channels).
 * Taps are visited in (kh, kw) order and padded taps skipped, so every
 * element is computed in one fixed order by one thread: the same bits at
 * any thread count. 3x3 and 5x5 get kernels with the size fixed at
 * compile time (the taps unrolled, the weight-gradient sums in registers).
 * Without AVX-512 the same loops run on a plain 16-float struct.
 *
 * dwconv_*_ref are direct loops in double for the tests. */
#include "nn/ops/ops.h"

#include <string.h>

#include "util/threads.h"

#define DW_SLICES 8       /* batch slices of the weight gradient, at most */
#define DW_MAX_TAPS 49    /* KH * KW, at most (7x7) */

#ifdef __AVX512F__
#include <immintrin.h>
typedef __m512 vf;
typedef __mmask16 vm;
static inline vm vmask(int n) { return n >= 16 ? (vm)0xffff : (vm)((1u << n) - 1); }
static inline vf vzero(void) { return _mm512_setzero_ps(); }
static inline vf vld(const float *p, vm m) {
    return m == 0xffff ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
static inline void vst(float *p, vm m, vf v) {
    if (m == 0xffff) _mm512_storeu_ps(p, v); else _mm512_mask_storeu_ps(p, m, v);
}
static inline vf vfma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vadd(vf a, vf b) { return _mm512_add_ps(a, b); }
#else
typedef struct { float v[16]; } vf;
typedef int vm;
static inline vm vmask(int n) { return n >= 16 ? 16 : n; }
static inline vf vzero(void) { vf r; memset(&r, 0, sizeof r); return r; }
static inline vf vld(const float *p, vm m) {
    vf r = vzero();
    for (int i = 0; i < m; i++) r.v[i] = p[i];
    return r;
}
static inline void vst(float *p, vm m, vf v) { for (int i = 0; i < m; i++) p[i] = v.v[i]; }
static inline vf vfma(vf a, vf b, vf c) {
    for (int i = 0; i < 16; i++) c.v[i] += a.v[i] * b.v[i];
    return c;
}
static inline vf vadd(vf a, vf b) {
    for (int i = 0; i < 16; i++) a.v[i] += b.v[i];
    return a;
}
#endif

#define INLINE static inline __attribute__((always_inline))

static int slices(int B) { return B < DW_SLICES ? B : DW_SLICES; }

int64_t dwconv_workspace(const conv_shape *s) {
    int64_t kk = (int64_t)s->KH * s->KW * s->C;
    return kk * (1 + slices(s->B));
}

/* wp[kh*KW + kw][c] = w[c][0][kh][kw] */
static void pack(float *wp, const float *w, const conv_shape *s) {
    int KK = s->KH * s->KW;
    for (int c = 0; c < s->C; c++)
        for (int t = 0; t < KK; t++) wp[(int64_t)t * s->C + c] = w[(int64_t)c * KK + t];
}

typedef struct {
    const conv_shape *s;
    const float *in, *dout, *wp;
    float *out, *din, *part;
    int accumulate, ns, ncb;
} dw_ctx;

/* ---- forward: output rows r = b * OH + oh ---- */
INLINE void fwd_rows_k(const dw_ctx *k, int64_t r0, int64_t r1, int KH, int KW) {
    const conv_shape *s = k->s;
    int C = s->C, st = s->stride, pad = s->pad;
    for (int64_t r = r0; r < r1; r++) {
        int b = (int)(r / s->OH), oh = (int)(r % s->OH);
        const float *img = k->in + (int64_t)b * s->H * s->W * C;
        float *o = k->out + r * s->OW * C;
        for (int ow = 0; ow < s->OW; ow++)
            for (int c0 = 0; c0 < C; c0 += 16) {
                vm m = vmask(C - c0);
                vf acc = vzero();
                for (int kh = 0; kh < KH; kh++) {
                    int ih = oh * st - pad + kh;
                    if (ih < 0 || ih >= s->H) continue;
                    for (int kw = 0; kw < KW; kw++) {
                        int iw = ow * st - pad + kw;
                        if (iw < 0 || iw >= s->W) continue;
                        acc = vfma(vld(img + ((int64_t)ih * s->W + iw) * C + c0, m),
                                   vld(k->wp + (int64_t)(kh * KW + kw) * C + c0, m), acc);
                    }
                }
                vst(o + (int64_t)ow * C + c0, m, acc);
            }
    }
}

static void fwd_rows(void *v, int64_t r0, int64_t r1, int tid) {
    const dw_ctx *k = v;
    int KH = k->s->KH, KW = k->s->KW;
    if (KH == 3 && KW == 3) fwd_rows_k(k, r0, r1, 3, 3);
    else if (KH == 5 && KW == 5) fwd_rows_k(k, r0, r1, 5, 5);
    else fwd_rows_k(k, r0, r1, KH, KW);
}

void dwconv_forward(float *out, const float *in, const float *w, const conv_shape *s,
                    float *ws) {
    pack(ws, w, s);
    dw_ctx k = { .s = s, .in = in, .wp = ws, .out = out };
    int64_t rows = (int64_t)s->B * s->OH;
    int64_t grain = 16384 / ((int64_t)s->OW * s->C * s->KH * s->KW + 1) + 1;
    ssl_parallel_for(rows, grain, fwd_rows, &k);
}

/* ---- backward-data: input rows r = b * H + ih, a gather ---- */
INLINE void bwd_rows_k(const dw_ctx *k, int64_t r0, int64_t r1, int KH, int KW) {
    const conv_shape *s = k->s;
    int C = s->C, st = s->stride, pad = s->pad;
    for (int64_t r = r0; r < r1; r++) {
        int b = (int)(r / s->H), ih = (int)(r % s->H);
        const float *g = k->dout + (int64_t)b * s->OH * s->OW * C;
        float *d = k->din + r * s->W * C;
        for (int iw = 0; iw < s->W; iw++)
            for (int c0 = 0; c0 < C; c0 += 16) {
                vm m = vmask(C - c0);
                vf acc = vzero();
                for (int kh = 0; kh < KH; kh++) {
                    int th = ih + pad - kh;
                    if (th < 0 || th % st) continue;
                    int oh = th / st;
                    if (oh >= s->OH) continue;
                    for (int kw = 0; kw < KW; kw++) {
                        int tw = iw + pad - kw;
                        if (tw < 0 || tw % st) continue;
                        int ow = tw / st;
                        if (ow >= s->OW) continue;
                        acc = vfma(vld(g + ((int64_t)oh * s->OW + ow) * C + c0, m),
                                   vld(k->wp + (int64_t)(kh * KW + kw) * C + c0, m), acc);
                    }
                }
                float *p = d + (int64_t)iw * C + c0;
                vst(p, m, k->accumulate ? vadd(vld(p, m), acc) : acc);
            }
    }
}

static void bwd_rows(void *v, int64_t r0, int64_t r1, int tid) {
    const dw_ctx *k = v;
    int KH = k->s->KH, KW = k->s->KW;
    if (KH == 3 && KW == 3) bwd_rows_k(k, r0, r1, 3, 3);
    else if (KH == 5 && KW == 5) bwd_rows_k(k, r0, r1, 5, 5);
    else bwd_rows_k(k, r0, r1, KH, KW);
}

/* ---- weight gradient: task = (slice, channel block) ---- */
INLINE void bww_task_k(const dw_ctx *k, int64_t task, int KH, int KW) {
    const conv_shape *s = k->s;
    int C = s->C, st = s->stride, pad = s->pad, KK = KH * KW;
    int sl = (int)(task / k->ncb), c0 = (int)(task % k->ncb) * 16;
    int b0 = (int)((int64_t)sl * s->B / k->ns), b1 = (int)((int64_t)(sl + 1) * s->B / k->ns);
    vm m = vmask(C - c0);
    float *part = k->part + (int64_t)sl * KK * C + c0;
    vf acc[DW_MAX_TAPS];
    for (int b = b0; b < b1; b++) {
        const float *img = k->in + (int64_t)b * s->H * s->W * C + c0;
        const float *g = k->dout + (int64_t)b * s->OH * s->OW * C + c0;
        for (int t = 0; t < KK; t++) acc[t] = vzero();
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                vf d = vld(g + ((int64_t)oh * s->OW + ow) * C, m);
                for (int kh = 0; kh < KH; kh++) {
                    int ih = oh * st - pad + kh;
                    if (ih < 0 || ih >= s->H) continue;
                    for (int kw = 0; kw < KW; kw++) {
                        int iw = ow * st - pad + kw;
                        if (iw < 0 || iw >= s->W) continue;
                        acc[kh * KW + kw] = vfma(d, vld(img + ((int64_t)ih * s->W + iw) * C, m),
                                                 acc[kh * KW + kw]);
                    }
                }
            }
        for (int t = 0; t < KK; t++) {
            float *p = part + (int64_t)t * C;
            vst(p, m, b == b0 ? acc[t] : vadd(vld(p, m), acc[t]));
        }
    }
}

static void bww_tasks(void *v, int64_t t0, int64_t t1, int tid) {
    const dw_ctx *k = v;
    int KH = k->s->KH, KW = k->s->KW;
    for (int64_t t = t0; t < t1; t++) {
        if (KH == 3 && KW == 3) bww_task_k(k, t, 3, 3);
        else if (KH == 5 && KW == 5) bww_task_k(k, t, 5, 5);
        else bww_task_k(k, t, KH, KW);
    }
}

void dwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, const conv_shape *s, int accumulate, float *ws) {
    int C = s->C, KK = s->KH * s->KW;
    int64_t kk = (int64_t)KK * C;
    dw_ctx k = { .s = s, .in = in, .dout = dout, .wp = ws, .din = din, .part = ws + kk,
                 .accumulate = accumulate, .ns = slices(s->B), .ncb = (C + 15) / 16 };
    ssl_parallel_for((int64_t)k.ns * k.ncb, 1, bww_tasks, &k);
    /* slices in order, then onto dw */
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) {
            float acc = k.part[(int64_t)t * C + c];
            for (int sl = 1; sl < k.ns; sl++) acc += k.part[sl * kk + (int64_t)t * C + c];
            dw[(int64_t)c * KK + t] += acc;
        }
    if (!din) return;
    pack(ws, w, s);
    int64_t grain = 16384 / ((int64_t)s->W * C * KK + 1) + 1;
    ssl_parallel_for((int64_t)s->B * s->H, grain, bwd_rows, &k);
}

/* ---- reference: direct loops in double ---- */

void dwconv_forward_ref(float *out, const float *in, const float *w, const conv_shape *s) {
    int C = s->C;
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int c = 0; c < C; c++) {
                    double acc = 0;
                    for (int kh = 0; kh < s->KH; kh++)
                        for (int kw = 0; kw < s->KW; kw++) {
                            int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                            acc += (double)in[(((int64_t)b * s->H + ih) * s->W + iw) * C + c] *
                                   w[((int64_t)c * s->KH + kh) * s->KW + kw];
                        }
                    out[(((int64_t)b * s->OH + oh) * s->OW + ow) * C + c] = (float)acc;
                }
}

void dwconv_backward_ref(float *din, float *dw, const float *dout, const float *in,
                         const float *w, const conv_shape *s, int accumulate) {
    int C = s->C;
    int64_t nin = (int64_t)s->B * s->H * s->W * C;
    if (din && !accumulate) memset(din, 0, (size_t)nin * sizeof(float));
    for (int c = 0; c < C; c++)
        for (int kh = 0; kh < s->KH; kh++)
            for (int kw = 0; kw < s->KW; kw++) {
                double acc = 0, wv = w[((int64_t)c * s->KH + kh) * s->KW + kw];
                for (int b = 0; b < s->B; b++)
                    for (int oh = 0; oh < s->OH; oh++)
                        for (int ow = 0; ow < s->OW; ow++) {
                            int ih = oh * s->stride - s->pad + kh, iw = ow * s->stride - s->pad + kw;
                            if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                            double g = dout[(((int64_t)b * s->OH + oh) * s->OW + ow) * C + c];
                            int64_t ii = (((int64_t)b * s->H + ih) * s->W + iw) * C + c;
                            acc += g * in[ii];
                            if (din) din[ii] += (float)(g * wv);
                        }
                dw[((int64_t)c * s->KH + kh) * s->KW + kw] += (float)acc;
            }
}
