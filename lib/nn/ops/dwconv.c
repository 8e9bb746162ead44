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
 *   weight grad     dw[c][tap] += sum over b, oh, ow of
 *                   dout[b,oh,ow,c] in[b,ih,iw,c]: each image summed in
 *                   float in registers, images added into the partial of
 *                   their batch slice (slices fixed by the batch alone,
 *                   at most DW_SLICES), slices added in order at the end;
 *                   threads over slices;
 *   backward-data   din[b,ih,iw,c] (+)= sum of the taps that read it,
 *                   dout[b,oh,ow,c] wp[tap][c], a gather, in the same
 *                   task as the weight gradient, image by image after its
 *                   weight sums (its dout block still in cache, read from
 *                   memory once for both), so no two threads write one
 *                   element.
 * Taps are visited in (kh, kw) order and padded taps skipped, so every
 * element is computed in one fixed order by one thread: the same bits at
 * any thread count. 3x3 and 5x5 get kernels with the size fixed at
 * compile time (the taps unrolled, the weight-gradient sums in registers).
 * With the padding k/2 (the MobileNets'), the forward and the input
 * gradient run on strips of T = 8 (then 4) neighbouring pixels of a row
 * whose T sums stay in registers: each input (or output-gradient) vector
 * of a kernel row is loaded once and multiplied into every sum of the
 * strip it belongs to, with that kernel row's KW weights in registers,
 * instead of one load of each per tap and pixel; the strip walks its
 * vectors in the order that gives each sum its taps in (kh, kw) order, so
 * the bits are those of the pixel-by-pixel loop, which finishes the rows
 * (and runs every other shape).
 * dwconv_forward_affine applies an eval-mode BN's affine, a residual and
 * an activation to the sums in registers (the same bits as
 * dwconv_forward, then bn_apply_affine). dwconv_backward_bn takes the
 * following BN's backward dx pass in: each task computes its image's
 * output gradient (bn_backward_act_rows) into its slice's scratch (an
 * image of it: in L2 for the MobileNets' shapes) just before the
 * image's weight and input gradients read it, so that gradient is never
 * written to memory and read back. An input transform (conv_in_xf: the
 * BN before the layer, its output never written) is applied to every
 * input vector as the forward and the weight gradient load it, the
 * padded taps still skipped; ReLU6 and ReLU get kernels of their own,
 * other activations a switch at run time.
 * Without AVX-512 the same loops run on a plain 16-float struct.
 *
 * dwconv_*_ref are direct loops in double for the tests. */
#include "nn/ops/ops.h"
#include "nn/ops/act_impl.h"

#include <math.h>
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
/* bn_apply_affine's epilogue (bn.c): fma, residual, activation */
static inline vf vaff(vf x, vf sc, vf sh) { return _mm512_fmadd_ps(x, sc, sh); }
static inline vf vact(vf x, int act) {
    return act == ACT_RELU ? _mm512_max_ps(x, _mm512_setzero_ps()) : act16(x, act);
}
#elif defined(__AVX2__) && defined(__FMA__)
/* AVX2: 16 lanes as two ymm, the partial vectors by maskload/maskstore
 * (lanes past the mask read as 0, not touched by the store); the same
 * operations per lane as the AVX-512 and plain versions (one rounding
 * per FMA, act1's max/min then multiply then divide) */
#include <immintrin.h>
typedef struct { __m256 lo, hi; } vf;
typedef int vm;
static inline vm vmask(int n) { return n >= 16 ? 16 : n; }
static inline vf vzero(void) { vf r = { _mm256_setzero_ps(), _mm256_setzero_ps() }; return r; }
static inline __m256i lanes8(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vf vld(const float *p, vm m) {
    vf r;
    if (m == 16) { r.lo = _mm256_loadu_ps(p); r.hi = _mm256_loadu_ps(p + 8); return r; }
    r.lo = _mm256_maskload_ps(p, lanes8(m));
    r.hi = m > 8 ? _mm256_maskload_ps(p + 8, lanes8(m - 8)) : _mm256_setzero_ps();
    return r;
}
static inline void vst(float *p, vm m, vf v) {
    if (m == 16) { _mm256_storeu_ps(p, v.lo); _mm256_storeu_ps(p + 8, v.hi); return; }
    _mm256_maskstore_ps(p, lanes8(m), v.lo);
    if (m > 8) _mm256_maskstore_ps(p + 8, lanes8(m - 8), v.hi);
}
static inline vf vfma(vf a, vf b, vf c) {
    c.lo = _mm256_fmadd_ps(a.lo, b.lo, c.lo);
    c.hi = _mm256_fmadd_ps(a.hi, b.hi, c.hi);
    return c;
}
static inline vf vadd(vf a, vf b) {
    a.lo = _mm256_add_ps(a.lo, b.lo);
    a.hi = _mm256_add_ps(a.hi, b.hi);
    return a;
}
static inline vf vaff(vf x, vf sc, vf sh) { return vfma(x, sc, sh); }
static inline vf vact(vf x, int act) {
    x.lo = act8(x.lo, act);
    x.hi = act8(x.hi, act);
    return x;
}
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
/* bn.c's rounding rule for the affine (one rounding where the target has
 * an FMA, as bn_apply_affine's plain loops) */
#ifdef FP_FAST_FMAF
#define AFF1(x, s, h) fmaf((x), (s), (h))
#else
#define AFF1(x, s, h) ((x) * (s) + (h))
#endif
static inline vf vaff(vf x, vf sc, vf sh) {
    for (int i = 0; i < 16; i++) x.v[i] = AFF1(x.v[i], sc.v[i], sh.v[i]);
    return x;
}
static inline vf vact(vf x, int act) {
    for (int i = 0; i < 16; i++) x.v[i] = act1(x.v[i], act);
    return x;
}
#endif

#define INLINE static inline __attribute__((always_inline))
/* The strips' loops, unrolled whole so that their sums stay in registers
 * (gcc peels at most 16 iterations on its own). */
#define UNROLL _Pragma("GCC unroll 32")

static int slices(int B) { return B < DW_SLICES ? B : DW_SLICES; }

/* [packed weight][the slices' partial sums][the slices' image sums] */
int64_t dwconv_workspace(const conv_shape *s) {
    int64_t kk = (int64_t)s->KH * s->KW * s->C;
    return kk * (1 + 2 * (int64_t)slices(s->B));
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
    int accumulate, ns;
    /* dwconv_forward_affine's epilogue (scale NULL: none) */
    const float *scale, *shift, *res;
    int act;
    /* dwconv_backward_bn: dout from this BN backward (NULL: read dout),
     * one image of it per slice in gbuf */
    const bn_dx_src *bn;
    float *gbuf;
    /* conv_in_xf: the input read as act(fma(in, isc, ish)) (isc NULL: as is) */
    const float *isc, *ish;
    int iact;
} dw_ctx;

/* The input transform as compiled into a kernel: XA_OFF none, XA_RT the
 * activation k->iact chosen at run time, else that ACT_* (fixed). */
enum { XA_OFF = -1, XA_RT = -2 };

/* The per-channel transform of channels c0..: into xs, xh. */
INLINE void xin_load(const dw_ctx *k, int XA, int c0, vm m, vf *xs, vf *xh) {
    if (XA == XA_OFF) { *xs = *xh = vzero(); return; }
    *xs = vld(k->isc + c0, m);
    *xh = vld(k->ish + c0, m);
}

/* An input vector as the convolution reads it: bn_apply_affine's pass
 * (bn.c: fma, then the activation) applied to x, for the same bits. */
INLINE vf xin(const dw_ctx *k, int XA, vf x, vf xs, vf xh) {
    if (XA == XA_OFF) return x;
    x = vaff(x, xs, xh);
    int act = XA == XA_RT ? k->iact : XA;
    return act == ACT_NONE ? x : vact(x, act);
}

/* The forward's store of the sums acc of output element o (offset off in
 * out, channels c0..): the epilogue first, if any. */
INLINE void fwd_store(const dw_ctx *k, int64_t off, int c0, vm m, vf acc) {
    if (k->scale) {
        acc = vaff(acc, vld(k->scale + c0, m), vld(k->shift + c0, m));
        if (k->res) acc = vadd(acc, vld(k->res + off, m));
        if (k->act) acc = vact(acc, k->act);
    }
    vst(k->out + off, m, acc);
}

/* One output pixel (b, oh, ow) of image img, channels c0.. (the loop that
 * finishes the rows and runs the shapes without strips). */
INLINE void fwd_px(const dw_ctx *k, const float *img, int64_t off, int oh, int ow, int c0,
                   vm m, int KH, int KW, int XA) {
    const conv_shape *s = k->s;
    int C = s->C, st = s->stride, pad = s->pad;
    vf acc = vzero(), xs, xh;
    xin_load(k, XA, c0, m, &xs, &xh);
    for (int kh = 0; kh < KH; kh++) {
        int ih = oh * st - pad + kh;
        if (ih < 0 || ih >= s->H) continue;
        for (int kw = 0; kw < KW; kw++) {
            int iw = ow * st - pad + kw;
            if (iw < 0 || iw >= s->W) continue;
            acc = vfma(xin(k, XA, vld(img + ((int64_t)ih * s->W + iw) * C + c0, m), xs, xh),
                       vld(k->wp + (int64_t)(kh * KW + kw) * C + c0, m), acc);
        }
    }
    fwd_store(k, off, c0, m, acc);
}

/* T output pixels ow0.. of row oh, K x K, stride S, padding K/2, all
 * compile-time: input vector j of kernel row kh (column ow0 S - K/2 + j)
 * feeds sum t through tap kw = j - t S; j ascending gives each sum its
 * taps in kw order. */
INLINE void fwd_strip(const dw_ctx *k, const float *img, int64_t off, int oh, int ow0, int c0,
                      vm m, int K, int S, int T, int XA) {
    const conv_shape *s = k->s;
    int C = s->C, P = K / 2;
    vf acc[8], wv[5], xs, xh;
    xin_load(k, XA, c0, m, &xs, &xh);
    UNROLL for (int t = 0; t < T; t++) acc[t] = vzero();
    for (int kh = 0; kh < K; kh++) {
        int ih = oh * S - P + kh;
        if (ih < 0 || ih >= s->H) continue;
        const float *row = img + (int64_t)ih * s->W * C + c0;
        UNROLL for (int kw = 0; kw < K; kw++)
            wv[kw] = vld(k->wp + (int64_t)(kh * K + kw) * C + c0, m);
        UNROLL for (int j = 0; j < (T - 1) * S + K; j++) {
            int iw = ow0 * S - P + j;
            if (iw < 0 || iw >= s->W) continue;
            vf x = xin(k, XA, vld(row + (int64_t)iw * C, m), xs, xh);
            UNROLL for (int kw = 0; kw < K; kw++) {
                int d = j - kw;
                if (d >= 0 && d % S == 0 && d / S < T) acc[d / S] = vfma(x, wv[kw], acc[d / S]);
            }
        }
    }
    UNROLL for (int t = 0; t < T; t++) fwd_store(k, off + (int64_t)t * C, c0, m, acc[t]);
}

/* ---- forward: output rows r = b * OH + oh ---- */
/* K, S: compile-time kernel and stride of the strips (0: no strips). */
INLINE void fwd_rows_k(const dw_ctx *k, int64_t r0, int64_t r1, int KH, int KW, int K, int S,
                       int XA) {
    const conv_shape *s = k->s;
    int C = s->C;
    for (int64_t r = r0; r < r1; r++) {
        int b = (int)(r / s->OH), oh = (int)(r % s->OH);
        const float *img = k->in + (int64_t)b * s->H * s->W * C;
        int64_t o = r * s->OW * C;
        int ow = 0;     /* strips of 8, then 4, each over all the channels; then pixels */
        if (K) {
            for (; ow + 8 <= s->OW; ow += 8)
                for (int c0 = 0; c0 < C; c0 += 16)
                    fwd_strip(k, img, o + (int64_t)ow * C + c0, oh, ow, c0, vmask(C - c0), K, S, 8,
                              XA);
            for (; ow + 4 <= s->OW; ow += 4)
                for (int c0 = 0; c0 < C; c0 += 16)
                    fwd_strip(k, img, o + (int64_t)ow * C + c0, oh, ow, c0, vmask(C - c0), K, S, 4,
                              XA);
        }
        for (; ow < s->OW; ow++)
            for (int c0 = 0; c0 < C; c0 += 16)
                fwd_px(k, img, o + (int64_t)ow * C + c0, oh, ow, c0, vmask(C - c0), KH, KW, XA);
    }
}

/* The strips' shapes: K x K, stride 1 or 2, padding K/2. */
static int strip_shape(const conv_shape *s, int K) {
    return s->KH == K && s->KW == K && s->pad == K / 2 && (s->stride == 1 || s->stride == 2);
}

/* The transform a kernel is compiled for: ReLU6 and ReLU fixed, other
 * activations at run time. */
static int xa_of(const dw_ctx *k) {
    if (!k->isc) return XA_OFF;
    return k->iact == ACT_RELU6 || k->iact == ACT_RELU ? k->iact : XA_RT;
}

INLINE void fwd_rows_x(const dw_ctx *k, int64_t r0, int64_t r1, int XA) {
    const conv_shape *s = k->s;
    int KH = s->KH, KW = s->KW;
    if (strip_shape(s, 3) && s->stride == 1) fwd_rows_k(k, r0, r1, 3, 3, 3, 1, XA);
    else if (strip_shape(s, 3)) fwd_rows_k(k, r0, r1, 3, 3, 3, 2, XA);
    else if (strip_shape(s, 5) && s->stride == 1) fwd_rows_k(k, r0, r1, 5, 5, 5, 1, XA);
    else if (strip_shape(s, 5)) fwd_rows_k(k, r0, r1, 5, 5, 5, 2, XA);
    else if (KH == 3 && KW == 3) fwd_rows_k(k, r0, r1, 3, 3, 0, 0, XA);
    else if (KH == 5 && KW == 5) fwd_rows_k(k, r0, r1, 5, 5, 0, 0, XA);
    else fwd_rows_k(k, r0, r1, KH, KW, 0, 0, XA);
}

static void fwd_rows(void *v, int64_t r0, int64_t r1, int tid) {
    const dw_ctx *k = v;
    switch (xa_of(k)) {
    case XA_OFF: fwd_rows_x(k, r0, r1, XA_OFF); break;
    case ACT_RELU6: fwd_rows_x(k, r0, r1, ACT_RELU6); break;
    case ACT_RELU: fwd_rows_x(k, r0, r1, ACT_RELU); break;
    default: fwd_rows_x(k, r0, r1, XA_RT); break;
    }
}

static void forward_run(dw_ctx *k, const float *w, float *ws) {
    const conv_shape *s = k->s;
    pack(ws, w, s);
    k->wp = ws;
    int64_t rows = (int64_t)s->B * s->OH;
    int64_t grain = 16384 / ((int64_t)s->OW * s->C * s->KH * s->KW + 1) + 1;
    ssl_parallel_for(rows, grain, fwd_rows, k);
}

void dwconv_forward(float *out, const float *in, const float *w, const conv_shape *s,
                    float *ws) {
    dw_ctx k = { .s = s, .in = in, .out = out };
    forward_run(&k, w, ws);
}

void dwconv_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *w,
                       const conv_shape *s, float *ws) {
    dw_ctx k = { .s = s, .in = in, .out = out };
    if (xf) { k.isc = xf->scale; k.ish = xf->shift; k.iact = xf->act; }
    forward_run(&k, w, ws);
}

void dwconv_forward_affine(float *out, const float *in, const float *w, const float *scale,
                           const float *shift, const float *res, int act,
                           const conv_shape *s, float *ws) {
    dw_ctx k = { .s = s, .in = in, .out = out, .scale = scale, .shift = shift, .res = res,
                 .act = act };
    forward_run(&k, w, ws);
}

/* ---- backward-data: input rows r = b * H + ih, a gather ---- */
INLINE void bwd_store(const dw_ctx *k, float *p, vm m, vf acc) {
    vst(p, m, k->accumulate ? vadd(vld(p, m), acc) : acc);
}

/* One input pixel (b, ih, iw), channels c0.. of g (image b's dout). */
INLINE void bwd_px(const dw_ctx *k, const float *g, float *p, int ih, int iw, int c0, vm m,
                   int KH, int KW) {
    const conv_shape *s = k->s;
    int C = s->C, st = s->stride, pad = s->pad;
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
    bwd_store(k, p, m, acc);
}

/* T input pixels iw0.. (iw0 a multiple of T) of row ih, K x K, stride S,
 * padding P = K/2: output-gradient column ow = iw0 / S + e feeds sum t
 * through tap kw = t + P - S e (when that is in [0, K)); e descending
 * gives each sum its taps in kw order. */
INLINE void bwd_strip(const dw_ctx *k, const float *g, float *p, int ih, int iw0, int c0, vm m,
                      int K, int S, int T) {
    const conv_shape *s = k->s;
    int C = s->C, P = K / 2;
    /* e range: t + P - S e in [0, K) for some t in [0, T) */
    const int e_lo = -((K - 1 - P + S - 1) / S), e_hi = (T - 1 + P) / S;
    vf acc[8], wv[5];
    UNROLL for (int t = 0; t < T; t++) acc[t] = vzero();
    for (int kh = 0; kh < K; kh++) {
        int th = ih + P - kh;
        if (th < 0 || th % S) continue;
        int oh = th / S;
        if (oh >= s->OH) continue;
        const float *row = g + (int64_t)oh * s->OW * C + c0;
        UNROLL for (int kw = 0; kw < K; kw++)
            wv[kw] = vld(k->wp + (int64_t)(kh * K + kw) * C + c0, m);
        UNROLL for (int e = e_hi; e >= e_lo; e--) {
            int ow = iw0 / S + e;
            if (ow < 0 || ow >= s->OW) continue;
            vf x = vld(row + (int64_t)ow * C, m);
            UNROLL for (int t = 0; t < T; t++) {
                int kw = t + P - S * e;
                if (kw >= 0 && kw < K) acc[t] = vfma(x, wv[kw], acc[t]);
            }
        }
    }
    UNROLL for (int t = 0; t < T; t++) bwd_store(k, p + (int64_t)t * C, m, acc[t]);
}

/* Input row r = b * H + ih (g: image b's dout), all channels: strips of
 * 8, then 4, each over the channel blocks; then pixels. */
INLINE void bwd_row(const dw_ctx *k, const float *g, int64_t r, int KH, int KW, int K, int S) {
    const conv_shape *s = k->s;
    int C = s->C, ih = (int)(r % s->H), iw = 0;
    float *d = k->din + r * s->W * C;
    if (K) {
        for (; iw + 8 <= s->W; iw += 8)
            for (int c0 = 0; c0 < C; c0 += 16)
                bwd_strip(k, g, d + (int64_t)iw * C + c0, ih, iw, c0, vmask(C - c0), K, S, 8);
        for (; iw + 4 <= s->W; iw += 4)
            for (int c0 = 0; c0 < C; c0 += 16)
                bwd_strip(k, g, d + (int64_t)iw * C + c0, ih, iw, c0, vmask(C - c0), K, S, 4);
    }
    for (; iw < s->W; iw++)
        for (int c0 = 0; c0 < C; c0 += 16)
            bwd_px(k, g, d + (int64_t)iw * C + c0, ih, iw, c0, vmask(C - c0), KH, KW);
}

/* ---- weight gradient (and input gradient): task = batch slice ----
 * Image by image: its weight-gradient sums ia[tap][c] (zeroed, then every
 * output pixel in order, row by row), added into the slice's partial;
 * then (din) its input gradient, while its output gradient is still in
 * cache. The sums of a channel block stay in registers over a strip of T
 * output pixels (each input vector of a kernel row loaded once for the
 * taps of every pixel of the strip that reads it), loaded from and stored
 * to ia between strips. */

/* One output pixel (oh, ow) into ia, channels c0.. (img, g: image b's
 * input and output gradient). */
INLINE void bww_px(const dw_ctx *k, const float *img, const float *g, float *ia, int oh, int ow,
                   int c0, vm m, int KH, int KW, int XA) {
    const conv_shape *s = k->s;
    int C = s->C, st = s->stride, pad = s->pad;
    vf d = vld(g + ((int64_t)oh * s->OW + ow) * C + c0, m), xs, xh;
    xin_load(k, XA, c0, m, &xs, &xh);
    for (int kh = 0; kh < KH; kh++) {
        int ih = oh * st - pad + kh;
        if (ih < 0 || ih >= s->H) continue;
        for (int kw = 0; kw < KW; kw++) {
            int iw = ow * st - pad + kw;
            if (iw < 0 || iw >= s->W) continue;
            float *p = ia + (int64_t)(kh * KW + kw) * C + c0;
            vst(p, m, vfma(d, xin(k, XA, vld(img + ((int64_t)ih * s->W + iw) * C + c0, m), xs, xh),
                           vld(p, m)));
        }
    }
}

/* T output pixels ow0.. of row oh, K x K, stride S, padding K/2: input
 * vector j of kernel row kh feeds tap kw of pixel t = (j - kw) / S; j
 * ascending gives each tap's sum its pixels in order. */
INLINE void bww_strip(const dw_ctx *k, const float *img, const float *g, float *ia, int oh,
                      int ow0, int c0, vm m, int K, int S, int T, int XA) {
    const conv_shape *s = k->s;
    int C = s->C, P = K / 2;
    vf acc[25], d[8], xs, xh;
    xin_load(k, XA, c0, m, &xs, &xh);
    UNROLL for (int i = 0; i < K * K; i++) acc[i] = vld(ia + (int64_t)i * C + c0, m);
    UNROLL for (int t = 0; t < T; t++) d[t] = vld(g + ((int64_t)oh * s->OW + ow0 + t) * C + c0, m);
    for (int kh = 0; kh < K; kh++) {
        int ih = oh * S - P + kh;
        if (ih < 0 || ih >= s->H) continue;
        const float *row = img + (int64_t)ih * s->W * C + c0;
        UNROLL for (int j = 0; j < (T - 1) * S + K; j++) {
            int iw = ow0 * S - P + j;
            if (iw < 0 || iw >= s->W) continue;
            vf x = xin(k, XA, vld(row + (int64_t)iw * C, m), xs, xh);
            UNROLL for (int kw = 0; kw < K; kw++) {
                int e = j - kw;
                if (e >= 0 && e % S == 0 && e / S < T)
                    acc[kh * K + kw] = vfma(d[e / S], x, acc[kh * K + kw]);
            }
        }
    }
    UNROLL for (int i = 0; i < K * K; i++) vst(ia + (int64_t)i * C + c0, m, acc[i]);
}

/* The strip width of the weight gradient: its K*K sums and T output
 * vectors in registers. */
#define BWW_T(K) ((K) == 3 ? 8 : 4)

INLINE void bww_task_k(const dw_ctx *k, int sl, float *ia, int KH, int KW, int K, int S,
                       int XA) {
    const conv_shape *s = k->s;
    int C = s->C;
    int64_t kk = (int64_t)KH * KW * C;
    int b0 = (int)((int64_t)sl * s->B / k->ns), b1 = (int)((int64_t)(sl + 1) * s->B / k->ns);
    float *part = k->part + sl * kk;
    int64_t opx = (int64_t)s->OH * s->OW;
    for (int b = b0; b < b1; b++) {
        const float *img = k->in + (int64_t)b * s->H * s->W * C;
        const float *g = k->dout + b * opx * C;
        if (k->bn) {    /* this image's dout, from the BN backward */
            float *gb = k->gbuf + sl * opx * C;
            bn_backward_act_rows(gb, k->bn, b * opx, (b + 1) * opx);
            g = gb;
        }
        memset(ia, 0, (size_t)kk * sizeof(float));
        for (int oh = 0; oh < s->OH; oh++) {
            int ow = 0;
            if (K) {
                for (; ow + BWW_T(K) <= s->OW; ow += BWW_T(K))
                    for (int c0 = 0; c0 < C; c0 += 16)
                        bww_strip(k, img, g, ia, oh, ow, c0, vmask(C - c0), K, S, BWW_T(K), XA);
                for (; ow + 4 <= s->OW; ow += 4)
                    for (int c0 = 0; c0 < C; c0 += 16)
                        bww_strip(k, img, g, ia, oh, ow, c0, vmask(C - c0), K, S, 4, XA);
            }
            for (; ow < s->OW; ow++)
                for (int c0 = 0; c0 < C; c0 += 16)
                    bww_px(k, img, g, ia, oh, ow, c0, vmask(C - c0), KH, KW, XA);
        }
        if (b == b0) memcpy(part, ia, (size_t)kk * sizeof(float));
        else for (int64_t i = 0; i < kk; i++) part[i] += ia[i];
        if (k->din)
            for (int ih = 0; ih < s->H; ih++) bwd_row(k, g, (int64_t)b * s->H + ih, KH, KW, K, S);
    }
}

INLINE void bww_task_x(const dw_ctx *k, int sl, float *ia, int KH, int KW, int XA) {
    const conv_shape *s = k->s;
    if (strip_shape(s, 3) && s->stride == 1) bww_task_k(k, sl, ia, 3, 3, 3, 1, XA);
    else if (strip_shape(s, 3)) bww_task_k(k, sl, ia, 3, 3, 3, 2, XA);
    else if (strip_shape(s, 5) && s->stride == 1) bww_task_k(k, sl, ia, 5, 5, 5, 1, XA);
    else if (strip_shape(s, 5)) bww_task_k(k, sl, ia, 5, 5, 5, 2, XA);
    else if (KH == 3 && KW == 3) bww_task_k(k, sl, ia, 3, 3, 0, 0, XA);
    else if (KH == 5 && KW == 5) bww_task_k(k, sl, ia, 5, 5, 0, 0, XA);
    else bww_task_k(k, sl, ia, KH, KW, 0, 0, XA);
}

static void bww_tasks(void *v, int64_t t0, int64_t t1, int tid) {
    const dw_ctx *k = v;
    const conv_shape *s = k->s;
    int KH = s->KH, KW = s->KW;
    for (int64_t t = t0; t < t1; t++) {
        int sl = (int)t;
        float *ia = k->part + (int64_t)(k->ns + sl) * KH * KW * s->C;
        switch (xa_of(k)) {
        case XA_OFF: bww_task_x(k, sl, ia, KH, KW, XA_OFF); break;
        case ACT_RELU6: bww_task_x(k, sl, ia, KH, KW, ACT_RELU6); break;
        case ACT_RELU: bww_task_x(k, sl, ia, KH, KW, ACT_RELU); break;
        default: bww_task_x(k, sl, ia, KH, KW, XA_RT); break;
        }
    }
}

/* The backward for k (in, dout or bn, din, accumulate set). */
static void backward_run(dw_ctx *k, float *dw, const float *w, float *ws) {
    const conv_shape *s = k->s;
    int C = s->C, KK = s->KH * s->KW;
    int64_t kk = (int64_t)KK * C;
    k->wp = ws;
    k->part = ws + kk;
    k->ns = slices(s->B);
    if (k->din) pack(ws, w, s);
    ssl_parallel_for(k->ns, 1, bww_tasks, k);
    /* slices in order, then onto dw */
    for (int c = 0; c < C; c++)
        for (int t = 0; t < KK; t++) {
            float acc = k->part[(int64_t)t * C + c];
            for (int sl = 1; sl < k->ns; sl++) acc += k->part[sl * kk + (int64_t)t * C + c];
            dw[(int64_t)c * KK + t] += acc;
        }
}

void dwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, const conv_shape *s, int accumulate, float *ws) {
    dw_ctx k = { .s = s, .in = in, .dout = dout, .din = din, .accumulate = accumulate };
    backward_run(&k, dw, w, ws);
}

int64_t dwconv_bn_scratch(const conv_shape *s) {
    return slices(s->B) * (int64_t)s->OH * s->OW * s->C;
}

void dwconv_backward_bn(float *din, float *dw, const bn_dx_src *d, const float *in,
                        const conv_in_xf *xf, const float *w, const conv_shape *s, int accumulate,
                        float *ws, float *scratch) {
    dw_ctx k = { .s = s, .in = in, .dout = d->dy, .din = din, .accumulate = accumulate,
                 .bn = d, .gbuf = scratch };
    if (xf) { k.isc = xf->scale; k.ish = xf->shift; k.iact = xf->act; }
    backward_run(&k, dw, w, ws);
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
