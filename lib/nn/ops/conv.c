/* conv.c: 2-D convolution on NHWC float32, forward and backward.
 *
 * Method (darknet's im2col + GEMM, batch-level): the output rows
 * (b, oh, ow) of a block of whole images form a matrix col[rows, K] with
 * K = KH*KW*C in (kh, kw, c) order, so each (kh, kw) tap is one contiguous
 * copy of C floats. The PyTorch weight [OC, C, KH, KW] is repacked once per
 * call into wp[OC, K] in that order, and
 *     forward:          out[rows, OC]  = col * wp^T        (one sgemm)
 *     backward weights: dwp[OC, K]    += dout^T * col      (one sgemm)
 *     backward data:    dcol[rows, K]  = dout * wp         (one sgemm),
 *                       then col2im, written as a gather (each input pixel
 *                       sums the taps that read it), so threads never write
 *                       the same element.
 * 1x1 stride-1 unpadded convolutions skip im2col: the input is col.
 * Blocks hold whole images, sized so col stays under COL_BUDGET floats
 * (one image at least), which bounds memory for any batch.
 * The workspace holds wp, dwp and the col block.
 *
 * Where the direct AVX-512 kernels of conv_direct.c are compiled in, they
 * replace the GEMM path entirely: the forward, the weight gradient, and
 * the backward-data (stride 1: the forward of the transposed convolution;
 * strided: by parity class). They run 2-10x faster on the small-channel
 * layers of these networks and need no col matrix. Without AVX-512 the
 * im2col + sgemm path below runs.
 *
 * The 3x3 stride-1 pad-1 convolutions with C and OC multiples of 16 have a
 * third path, Winograd F(2x2, 3x3) (conv_winograd.c: 16 multiplies per
 * 2x2 output tile and channel pair instead of 36), for the forward, the
 * backward-data and the weight gradient, each where wg_preferred says it
 * was measured faster; a shape's winograd field (ops.h) turns it off or on
 * everywhere for comparisons. Its workspace needs are included in
 * conv2d_workspace whatever the field says.
 *
 * With prec PREC_BF16 the pointwise shapes take a fourth path: their
 * three products on gemm_bf16 (conv2d_bf16_applies below; its workspace
 * is conv2d_bf16_workspace's), the affine forward's epilogue inside the
 * product (gemm_bf16_affine). The shapes conv_amx takes (strided 3x3,
 * 1x1 stride 2) run the forward on conv_amx (AMX) or as a gemm_bf16
 * product on im2col blocks (VDPBF16PS), and the weight gradient and
 * backward-data as gemm_bf16 products on the im2col blocks, the parts
 * measured faster than the direct kernels (conv2d_train_bf16 below).
 *
 * conv2d_*_ref are direct loops in double, used by the tests. */
#include "nn/ops/ops.h"

#include "nn/ops/conv_amx.h"
#include "nn/ops/conv_direct.h"
#include "nn/ops/conv_winograd.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/threads.h"

#define COL_BUDGET (4LL << 20)   /* floats of col per block (16 MiB) */

static int is_pointwise(const conv_shape *s) {
    return s->KH == 1 && s->KW == 1 && s->stride == 1 && s->pad == 0;
}

/* ---- the pointwise convolutions in bf16 (ops.h: conv2d_bf16_applies) ----
 * A 1x1 stride-1 unpadded convolution is a matrix product over the
 * M = B OH OW pixel rows; with prec PREC_BF16 its three products run on
 * gemm_bf16 (the input, weight and output gradient rounded to bf16 while
 * packed, fp32 sums in an order that depends only on the reduction
 * length: the same bits at any thread count). */
int conv2d_bf16_applies(const conv_shape *s) {
    return s->prec == PREC_BF16 && is_pointwise(s) && gemm_bf16_available();
}

static int64_t pw_rows(const conv_shape *s) { return (int64_t)s->B * s->OH * s->OW; }

int64_t conv2d_bf16_workspace(const conv_shape *s) {
    int64_t w = conv2d_workspace(s);
    if (!is_pointwise(s) || !gemm_bf16_available()) return w;
    int M = (int)pw_rows(s);
    int64_t f = gemm_bf16_workspace(M, s->OC, s->C);          /* forward */
    int64_t d = gemm_bf16_workspace(M, s->C, s->OC);          /* backward-data */
    int64_t g = gemm_bf16_workspace(s->OC, s->C, M);          /* weight gradient */
    if (f > w) w = f;
    if (d > w) w = d;
    if (g > w) w = g;
    return w;
}

/* out[M, OC] = in[M, C] w[OC, C]^T */
static void pw_bf16_forward(float *out, const float *in, const float *w, const conv_shape *s,
                            float *ws) {
    gemm_bf16(0, 1, (int)pw_rows(s), s->OC, s->C, 1.0f, in, s->C, w, s->C, 0.0f, out, s->OC,
              ws);
}

/* dw[OC, C] += dout[M, OC]^T in[M, C]; din[M, C] = (+=) dout w[OC, C] */
static void pw_bf16_backward(float *din, float *dw, const float *dout, const float *in,
                             const float *w, const conv_shape *s, int accumulate, float *ws) {
    int M = (int)pw_rows(s);
    gemm_bf16(1, 0, s->OC, s->C, M, 1.0f, dout, s->OC, in, s->C, 1.0f, dw, s->C, ws);
    if (din)
        gemm_bf16(0, 0, M, s->C, s->OC, 1.0f, dout, s->OC, w, s->C, accumulate ? 1.0f : 0.0f,
                  din, s->C, ws);
}

/* ---- the strided convolutions in bf16 in training ----
 * The shapes conv_amx takes (ca_applies: the strided 3x3 and the 1x1
 * stride-2 downsamples, C >= 16) run their training forward on
 * ca_forward (no epilogue) where the CPU has AMX, else on sb_forward (the
 * same im2col blocks times wp^T on gemm_bf16's VDPBF16PS, the epilogue
 * of conv2d_forward_affine in the product), and their weight gradient
 * and backward-data as gemm_bf16 products on fp32 im2col blocks of
 * SB_COL_BUDGET floats (whole images, one at least):
 *     out_blk = col_blk wp^T,
 *     dwp[OC, K] += dout_blk^T col_blk,   dcol_blk = dout_blk wp, col2im
 * (each within gemm_bf16's bound for its reduction length; the blocks
 * depend on the shape only, so the same bits at any thread count).
 * Each part only where conv2d_train_bf16 says it measured faster than the fp32
 * direct kernels. Workspace: [wp][dwp][col block][gemm_bf16's]. */
#define SB_COL_BUDGET (1LL << 20)

/* Images per col block of at most budget floats (one at least). */
static int images_per_block(const conv_shape *s, int64_t budget) {
    int64_t per = (int64_t)s->OH * s->OW * s->KH * s->KW * s->C;
    int64_t n = budget / (per > 0 ? per : 1);
    if (n < 1) n = 1;
    if (n > s->B) n = s->B;
    return (int)n;
}

static int sb_images(const conv_shape *s) { return images_per_block(s, SB_COL_BUDGET); }

static int sb_eligible(const conv_shape *s) {
    return !is_pointwise(s) && gemm_bf16_available() && ca_workspace(s) > 0;
}

static int64_t sb_workspace(const conv_shape *s) {
    if (!sb_eligible(s)) return 0;
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    int rows = sb_images(s) * s->OH * s->OW;
    int64_t g = gemm_bf16_workspace(s->OC, (int)K, rows);
    int64_t d = gemm_bf16_workspace(rows, (int)K, s->OC);
    int64_t f = gemm_bf16_workspace(rows, s->OC, (int)K);
    if (f > g) g = f;
    return 2 * (int64_t)s->OC * K + (int64_t)rows * K + (g > d ? g : d);
}

/* Which parts of shape s run in bf16 in training: CONV_BF16_FWD (the forward),
 * CONV_BF16_BWW (the weight gradient), CONV_BF16_BWD (the backward-data),
 * each where it measured faster than the fp32 direct kernels (one
 * thread, the ResNet-18 CIFAR shapes at widths 1 (B 128) and 0.25 (B 256);
 * tests/bench: bench_conv B H W C OC 3|1 2 1|0 1 3 1 fp32|bf16).
 * On AMX (Intel Xeon, CPU time under load): the forward and the weight
 * gradient 1.3-6x faster from 32 input channels (3x3) or 64 (1x1), even
 * or slower below; the backward-data (two passes over an fp32 col block
 * around its product) 1.9-2.3x faster from 128 input channels,
 * 0.85-1.25x at 64, slower below.
 * On VDPBF16PS (sb_forward for the forward; AMD Zen 4, 2026-12-07, the
 * other core busy): from 64 input channels all three parts 1.25-1.8x
 * faster (3x3: 1.4-1.8x; 1x1 at 32x32x64: forward and backward-data
 * 1.25-1.35x, weight gradient 1.0-1.06x); at 32 channels even or slower
 * (3x3 16x16x32: forward 0.98x, backward-data 1.0x, weight gradient 1.1x). */
int conv2d_train_bf16(const conv_shape *s) {
    if (s->prec != PREC_BF16 || !sb_eligible(s)) return 0;
    if (!ca_applies(s))          /* VDPBF16PS */
        return s->C >= 64 ? CONV_BF16_FWD | CONV_BF16_BWW | CONV_BF16_BWD : 0;
    int p = 0;
    if (s->C >= (s->KH == 1 && s->KW == 1 ? 64 : 32)) p |= CONV_BF16_FWD | CONV_BF16_BWW;
    if (s->C >= 128) p |= CONV_BF16_BWD;
    return p;
}

/* Images per col block. */
static int block_images(const conv_shape *s) { return images_per_block(s, COL_BUDGET); }

/* [wp][dwp][col block]; the col block also holds the backward-data's
 * blocks of dout (stride 1: a convolution of dout, below) */
static int64_t im2col_workspace(const conv_shape *s) {
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    int64_t w = 2 * (int64_t)s->OC * K;
    if (is_pointwise(s)) return w;
    int64_t col = (int64_t)block_images(s) * s->OH * s->OW * K;
    conv_shape t;
    if (cd_bwd_data_shape(&t, s) == 0) {
        int64_t tcol = (int64_t)block_images(&t) * t.OH * t.OW * t.KH * t.KW * t.C;
        if (tcol > col) col = tcol;
    }
    return w + col;
}

static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The Winograd kernels' part of the workspace starts at a 64-byte
 * boundary (whole-cache-line vector stores); the workspace has 16 floats
 * of slack for it. */
static float *wg_base(float *ws) {
    return (float *)(((uintptr_t)ws + 63) & ~(uintptr_t)63);
}

/* 1 if shape s runs on the Winograd kernels. */
static int use_winograd(const conv_shape *s) {
    if (!wg_available() || !wg_applies(s)) return 0;
    return s->winograd == CONV_WINOGRAD_ALWAYS || s->winograd == CONV_WINOGRAD_ALWAYS_F4 ||
           ((s->winograd == CONV_WINOGRAD_AUTO || s->winograd == CONV_WINOGRAD_AUTO_F2) &&
            wg_preferred(s));
}

/* Direct path layout: [packed weight P1][scratch] for the forwards and
 * backward-data, [dwp][scratch] for the weight gradient (run first). */
static int64_t direct_p1(const conv_shape *s) {
    return max64(cd_packed_size(s), cd_packed_size_bwd_data(s));
}

/* The AVX-512 forward, Winograd or direct, reading in through xf (NULL:
 * as it is), with epilogue ep (NULL: none). Returns 0 when the build has
 * neither. */
static int forward_avx512(float *out, const float *in, const conv_in_xf *xf, const float *w,
                          const cd_epilogue *ep, const conv_shape *s, float *ws) {
    if (use_winograd(s)) {
        float *u = wg_base(ws);
        wg_pack(u, w, s);
        wg_forward_xf(out, in, xf, u, s, 0, ep, u + wg_packed_size(s));
    } else if (cd_available()) {
        cd_pack(ws, w, s);
        cd_forward_xf(out, in, xf, ws, s, 0, ep, ws + direct_p1(s));
    } else {
        return 0;
    }
    return 1;
}

/* The AVX-512 backward (cd_available()): the weight gradient, Winograd
 * or direct, reading in through xf (NULL: as it is), unless skip_dw;
 * then the data gradient (din NULL: none). */
static void backward_avx512(float *din, float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const float *w, const conv_shape *s,
                            int accumulate, int skip_dw, float *ws) {
    conv_shape t;
    if (skip_dw)
        ;
    else if (use_winograd(s))
        wg_backward_weights_xf(dw, dout, in, xf, s, wg_base(ws), wg_base(ws) + wg_bww_size(s));
    else
        cd_backward_weights_xf(dw, dout, in, xf, s, ws, ws + cd_bww_size(s));
    if (!din) return;
    if (use_winograd(s) && cd_bwd_data_shape(&t, s) == 0) {
        float *u = wg_base(ws);
        wg_pack_bwd_data(u, w, s);
        wg_forward(din, dout, u, &t, accumulate, NULL, u + wg_packed_size(s));
    } else if (cd_bwd_data_shape(&t, s) == 0) {
        cd_pack_bwd_data(ws, w, s);
        cd_forward(din, dout, ws, &t, accumulate, NULL, ws + direct_p1(s));
    } else {
        cd_pack_bwd_data_strided(ws, w, s);
        cd_backward_data_strided(din, dout, ws, s, accumulate, ws + direct_p1(s));
    }
}

int64_t conv2d_workspace(const conv_shape *s) {
    if (!cd_available()) return im2col_workspace(s);
    conv_shape t;
    int64_t sc = cd_scratch(s);
    int64_t w = max64(direct_p1(s), cd_bww_size(s)) + sc;
    if (cd_bwd_data_shape(&t, s) == 0)
        w = max64(w, direct_p1(s) + cd_scratch(&t));
    else
        w = max64(w, direct_p1(s) + cd_scratch_bwd_data_strided(s));
    if (wg_available() && wg_applies(s)) {
        /* [U][scratch] for the forwards and backward-data, [dU][scratch]
         * for the weight gradient, whatever the switch says now (F(2x2)
         * or F(4x4)), and in either precision (net_set_precision changes
         * prec after the networks sized their workspace) */
        for (int p = 0; p < 4; p++) {
            conv_shape a = *s, at = t;
            a.prec = at.prec = p & 1 ? PREC_BF16 : PREC_FP32;
            a.winograd = at.winograd = p & 2 ? CONV_WINOGRAD_ALWAYS_F4 : CONV_WINOGRAD_ALWAYS;
            w = max64(w, 16 + wg_packed_size(&a) + max64(wg_scratch(&a), wg_scratch(&at)));
            w = max64(w, 16 + wg_bww_size(&a) + wg_scratch_bww(&a));
        }
    }
    return max64(max64(w, ca_workspace(s)), sb_workspace(s));
}

/* wp[oc][(kh*KW + kw)*C + c] = w[oc][c][kh][kw] */
static void pack_weight(float *wp, const float *w, const conv_shape *s) {
    int C = s->C, KK = s->KH * s->KW;
    for (int oc = 0; oc < s->OC; oc++) {
        const float *src = w + (int64_t)oc * C * KK;
        float *dst = wp + (int64_t)oc * C * KK;
        for (int c = 0; c < C; c++)
            for (int k = 0; k < KK; k++) dst[k * C + c] = src[c * KK + k];
    }
}

/* The backward-data of a stride-1 convolution as the forward of t
 * (cd_bwd_data_shape: dout in, din out, OC and C swapped, pad KH-1-pad)
 * with the kernel flipped: wt[c][(kh*KW + kw)*OC + oc] =
 * w[oc][c][KH-1-kh][KW-1-kw], pack_weight's layout for t. */
static void pack_weight_bwd_data(float *wt, const float *w, const conv_shape *s) {
    int C = s->C, OC = s->OC, KK = s->KH * s->KW;
    for (int oc = 0; oc < OC; oc++)
        for (int c = 0; c < C; c++) {
            const float *src = w + ((int64_t)oc * C + c) * KK;
            for (int k = 0; k < KK; k++) wt[((int64_t)c * KK + KK - 1 - k) * OC + oc] = src[k];
        }
}

/* dw[oc][c][kh][kw] += dwp[oc][(kh*KW + kw)*C + c] */
static void unpack_add_grad(float *dw, const float *dwp, const conv_shape *s) {
    int C = s->C, KK = s->KH * s->KW;
    for (int oc = 0; oc < s->OC; oc++) {
        const float *src = dwp + (int64_t)oc * C * KK;
        float *dst = dw + (int64_t)oc * C * KK;
        for (int c = 0; c < C; c++)
            for (int k = 0; k < KK; k++) dst[c * KK + k] += src[k * C + c];
    }
}

typedef struct {
    const conv_shape *s;
    const float *in;      /* image b0 */
    float *col;
    float *din;           /* image b0 */
    int accumulate;
} im2col_ctx;

static void im2col_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    im2col_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, OHW = s->OH * s->OW;
    int64_t K = (int64_t)s->KH * s->KW * C;
    size_t bytes = (size_t)C * sizeof(float);
    for (int64_t r = r0; r < r1; r++) {
        int b = (int)(r / OHW), p = (int)(r % OHW);
        int oh = p / s->OW, ow = p % s->OW;
        const float *img = x->in + (int64_t)b * s->H * s->W * C;
        float *dst = x->col + r * K;
        int iw0 = ow * s->stride - s->pad;
        for (int kh = 0; kh < s->KH; kh++) {
            int ih = oh * s->stride - s->pad + kh;
            /* stride 1 inside the image: the row's KW taps are one run */
            if (s->stride == 1 && ih >= 0 && ih < s->H && iw0 >= 0 && iw0 + s->KW <= s->W) {
                memcpy(dst, img + ((int64_t)ih * s->W + iw0) * C, bytes * s->KW);
                dst += (int64_t)s->KW * C;
                continue;
            }
            for (int kw = 0; kw < s->KW; kw++, dst += C) {
                int iw = ow * s->stride - s->pad + kw;
                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W)
                    memset(dst, 0, bytes);
                else
                    memcpy(dst, img + ((int64_t)ih * s->W + iw) * C, bytes);
            }
        }
    }
}

/* One index per input pixel (b, ih, iw) of the block: sum the taps. */
static void col2im_range(void *vctx, int64_t q0, int64_t q1, int tid) {
    im2col_ctx *x = vctx;
    const conv_shape *s = x->s;
    int C = s->C, HW = s->H * s->W, OHW = s->OH * s->OW;
    int64_t K = (int64_t)s->KH * s->KW * C;
    for (int64_t q = q0; q < q1; q++) {
        int b = (int)(q / HW), p = (int)(q % HW);
        int ih = p / s->W, iw = p % s->W;
        float *dst = x->din + q * C;
        if (!x->accumulate) memset(dst, 0, (size_t)C * sizeof(float));
        for (int kh = 0; kh < s->KH; kh++) {
            int th = ih + s->pad - kh;
            if (th < 0 || th % s->stride) continue;
            int oh = th / s->stride;
            if (oh >= s->OH) continue;
            for (int kw = 0; kw < s->KW; kw++) {
                int tw = iw + s->pad - kw;
                if (tw < 0 || tw % s->stride) continue;
                int ow = tw / s->stride;
                if (ow >= s->OW) continue;
                const float *src = x->col + ((int64_t)b * OHW + oh * s->OW + ow) * K +
                                   (int64_t)(kh * s->KW + kw) * C;
                for (int c = 0; c < C; c++) dst[c] += src[c];
            }
        }
    }
}

typedef struct { float *out; const float *bias; int OC; } bias_ctx;

static void bias_range(void *vctx, int64_t r0, int64_t r1, int tid) {
    bias_ctx *x = vctx;
    for (int64_t r = r0; r < r1; r++) {
        float *o = x->out + r * x->OC;
        for (int c = 0; c < x->OC; c++) o[c] += x->bias[c];
    }
}

/* The forward of the strided shapes in bf16 without AMX: im2col blocks
 * (sb_backward's) times wp^T on gemm_bf16, with epilogue ep (NULL: none)
 * on each block's last k block (gemm_bf16_affine). */
static void sb_forward(float *out, const float *in, const float *w, const cd_epilogue *ep,
                       const conv_shape *s, float *ws) {
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    int64_t OHW = (int64_t)s->OH * s->OW, HWC = (int64_t)s->H * s->W * s->C;
    int nb = sb_images(s);
    float *wp = ws, *col = ws + 2 * (int64_t)s->OC * K;
    float *gws = col + (int64_t)nb * OHW * K;
    pack_weight(wp, w, s);
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        int bn = s->B - b0 < nb ? s->B - b0 : nb;
        int rows = (int)(bn * OHW);
        int64_t o = b0 * OHW * s->OC;
        im2col_ctx x = { s, in + b0 * HWC, col, NULL, 0 };
        ssl_parallel_for(rows, 64, im2col_range, &x);
        if (ep)
            gemm_bf16_affine(0, 1, rows, s->OC, (int)K, col, (int)K, wp, (int)K, out + o, s->OC,
                             ep->scale, ep->shift, ep->res ? ep->res + o : NULL, ep->act, gws);
        else
            gemm_bf16(0, 1, rows, s->OC, (int)K, 1.0f, col, (int)K, wp, (int)K, 0.0f, out + o,
                      s->OC, gws);
    }
}

void conv2d_forward(float *out, const float *in, const float *w, const float *bias,
                    const conv_shape *s, float *ws) {
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    int64_t OHW = (int64_t)s->OH * s->OW;
    float *wp = ws, *col = ws + 2 * (int64_t)s->OC * K;
    if (conv2d_bf16_applies(s)) {
        pw_bf16_forward(out, in, w, s, ws);
    } else if (conv2d_train_bf16(s) & CONV_BF16_FWD) {
        if (ca_applies(s)) ca_forward(out, in, w, NULL, s, ws);
        else sb_forward(out, in, w, NULL, s, ws);
    } else if (forward_avx512(out, in, NULL, w, NULL, s, ws)) {
        /* done */
    } else if (is_pointwise(s)) {
        sgemm_par(0, 1, (int)(s->B * OHW), s->OC,
                    (int)K, 1.0f, in, (int)K, w, (int)K, 0.0f, out, s->OC);
    } else {
        pack_weight(wp, w, s);
        int nb = block_images(s);
        for (int b0 = 0; b0 < s->B; b0 += nb) {
            int bn = s->B - b0 < nb ? s->B - b0 : nb;
            im2col_ctx x = { s, in + (int64_t)b0 * s->H * s->W * s->C, col, NULL, 0 };
            ssl_parallel_for(bn * OHW, 64, im2col_range, &x);
            sgemm_par(0, 1, (int)(bn * OHW), s->OC,
                        (int)K, 1.0f, col, (int)K, wp, (int)K, 0.0f,
                        out + b0 * OHW * s->OC, s->OC);
        }
    }
    if (bias) {
        bias_ctx x = { out, bias, s->OC };
        ssl_parallel_for(s->B * OHW, 256, bias_range, &x);
    }
}

void conv2d_forward_affine(float *out, const float *in, const float *w,
                           const float *scale, const float *shift, const float *res,
                           int act, const conv_shape *s, float *ws) {
    cd_epilogue ep = { scale, shift, res, act };
    if (conv2d_bf16_applies(s)) {          /* the epilogue on the product's last k block */
        gemm_bf16_affine(0, 1, (int)pw_rows(s), s->OC, s->C, in, s->C, w, s->C, out, s->OC,
                         scale, shift, res, act, ws);
        return;
    }
    if (ca_applies(s)) {         /* bf16 on AMX: strided 3x3, 1x1 stride 2 (conv_amx.h) */
        ca_forward(out, in, w, &ep, s, ws);
        return;
    }
    if (conv2d_train_bf16(s) & CONV_BF16_FWD) {   /* the same shapes on VDPBF16PS */
        sb_forward(out, in, w, &ep, s, ws);
        return;
    }
    if (forward_avx512(out, in, NULL, w, &ep, s, ws)) return;
    conv2d_forward(out, in, w, NULL, s, ws);
    bn_apply_affine(out, out, scale, shift, res, act, (int64_t)s->B * s->OH * s->OW, s->OC);
}

int conv2d_xf_applies(const conv_shape *s) {
    return cd_available() && (is_pointwise(s) || use_winograd(s));
}

int64_t conv2d_xf_workspace(const conv_shape *s) {
    int64_t w = conv2d_workspace(s);
    if (!cd_available()) return w;
    return max64(w, max64(direct_p1(s), cd_bww_size(s)) + cd_scratch_xf(s));
}

void conv2d_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *w,
                       const conv_shape *s, float *ws) {
    if (conv2d_bf16_applies(s))            /* the transform as the input is rounded */
        gemm_bf16_xf(0, 1, (int)pw_rows(s), s->OC, s->C, 1.0f, in, s->C, xf, w, s->C, NULL,
                     0.0f, out, s->OC, ws);
    else                                   /* Winograd: in the input transform */
        forward_avx512(out, in, xf, w, NULL, s, ws);
}

void conv2d_backward_xf(float *din, float *dw, const float *dout, const float *in,
                        const conv_in_xf *xf, const float *w, const conv_shape *s,
                        int accumulate, float *ws) {
    if (conv2d_bf16_applies(s)) {          /* dw += dout^T xf(in); din = (+=) dout w */
        int M = (int)pw_rows(s);
        gemm_bf16_xf(1, 0, s->OC, s->C, M, 1.0f, dout, s->OC, NULL, in, s->C, xf, 1.0f, dw,
                     s->C, ws);
        if (din)
            gemm_bf16(0, 0, M, s->C, s->OC, 1.0f, dout, s->OC, w, s->C,
                      accumulate ? 1.0f : 0.0f, din, s->C, ws);
        return;
    }
    backward_avx512(din, dw, dout, in, xf, w, s, accumulate, 0, ws);
}

static void sb_backward(float *din, float *dw, const float *dout, const float *in,
                        const float *w, const conv_shape *s, int accumulate, float *ws) {
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    int64_t OHW = (int64_t)s->OH * s->OW, HWC = (int64_t)s->H * s->W * s->C;
    int nb = sb_images(s);
    float *wp = ws, *dwp = ws + (int64_t)s->OC * K, *col = ws + 2 * (int64_t)s->OC * K;
    float *gws = col + (int64_t)nb * OHW * K;
    if (din) pack_weight(wp, w, s);
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        int bn = s->B - b0 < nb ? s->B - b0 : nb;
        int rows = (int)(bn * OHW);
        im2col_ctx x = { s, in + b0 * HWC, col, din ? din + b0 * HWC : NULL, accumulate };
        const float *g = dout + b0 * OHW * s->OC;
        ssl_parallel_for(rows, 64, im2col_range, &x);
        gemm_bf16(1, 0, s->OC, (int)K, rows, 1.0f, g, s->OC, col, (int)K, b0 ? 1.0f : 0.0f,
                  dwp, (int)K, gws);
        if (din) {
            gemm_bf16(0, 0, rows, (int)K, s->OC, 1.0f, g, s->OC, wp, (int)K, 0.0f, col,
                      (int)K, gws);
            ssl_parallel_for((int64_t)bn * s->H * s->W, 32, col2im_range, &x);
        }
    }
    unpack_add_grad(dw, dwp, s);
}

void conv2d_backward(float *din, float *dw, float *dbias, const float *dout,
                     const float *in, const float *w, const conv_shape *s,
                     int accumulate, float *ws) {
    int64_t K = (int64_t)s->KH * s->KW * s->C;
    int64_t OHW = (int64_t)s->OH * s->OW, HWC = (int64_t)s->H * s->W * s->C;
    int64_t M = s->B * OHW;
    if (dbias) {
        for (int64_t r = 0; r < M; r++) {
            const float *g = dout + r * s->OC;
            for (int c = 0; c < s->OC; c++) dbias[c] += g[c];
        }
    }
    if (conv2d_bf16_applies(s)) {
        pw_bf16_backward(din, dw, dout, in, w, s, accumulate, ws);
        return;
    }
    int sb = conv2d_train_bf16(s);
    if (sb & CONV_BF16_BWW) {                     /* and the data gradient where CONV_BF16_BWD */
        sb_backward(sb & CONV_BF16_BWD ? din : NULL, dw, dout, in, w, s, accumulate, ws);
        if (!din || (sb & CONV_BF16_BWD)) return;
    }
    if (cd_available()) {                 /* (the weight gradient done above where sb says) */
        backward_avx512(din, dw, dout, in, NULL, w, s, accumulate, sb & CONV_BF16_BWW, ws);
        return;
    }
    if (is_pointwise(s)) {
        sgemm_par(1, 0, s->OC, (int)K, (int)M, 1.0f,
                    dout, s->OC, in, (int)K, 1.0f, dw, (int)K);
        if (din)
            sgemm_par(0, 0, (int)M, (int)K, s->OC,
                        1.0f, dout, s->OC, w, (int)K, accumulate ? 1.0f : 0.0f, din,
                        (int)K);
        return;
    }
    float *wp = ws, *dwp = ws + (int64_t)s->OC * K, *col = ws + 2 * (int64_t)s->OC * K;
    conv_shape t;
    /* stride 1: din = the forward of dout (t) with the flipped kernel, an
     * im2col of dout and one product, instead of a product into col and
     * its scatter back (col2im, a seventh of the demo step without
     * AVX-512) */
    int fwd_bwd = din && cd_bwd_data_shape(&t, s) == 0;
    if (fwd_bwd) pack_weight_bwd_data(wp, w, s);
    else if (din) pack_weight(wp, w, s);
    int nb = block_images(s);
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        int bn = s->B - b0 < nb ? s->B - b0 : nb;
        im2col_ctx x = { s, in + b0 * HWC, col, din ? din + b0 * HWC : NULL, accumulate };
        const float *g = dout + b0 * OHW * s->OC;
        ssl_parallel_for(bn * OHW, 64, im2col_range, &x);
        sgemm_par(1, 0, s->OC, (int)K, (int)(bn * OHW),
                    1.0f, g, s->OC, col, (int)K, b0 ? 1.0f : 0.0f, dwp, (int)K);
        if (din && !fwd_bwd) {
            sgemm_par(0, 0, (int)(bn * OHW), (int)K,
                        s->OC, 1.0f, g, s->OC, wp, (int)K, 0.0f, col, (int)K);
            ssl_parallel_for((int64_t)bn * s->H * s->W, 32, col2im_range, &x);
        }
    }
    unpack_add_grad(dw, dwp, s);
    if (!fwd_bwd) return;
    int64_t KT = (int64_t)t.KH * t.KW * t.C, THW = (int64_t)t.OH * t.OW;
    int nt = block_images(&t);
    for (int b0 = 0; b0 < t.B; b0 += nt) {
        int bn = t.B - b0 < nt ? t.B - b0 : nt;
        im2col_ctx x = { &t, dout + b0 * OHW * s->OC, col, NULL, 0 };
        ssl_parallel_for(bn * THW, 64, im2col_range, &x);
        sgemm_par(0, 1, (int)(bn * THW), t.OC, (int)KT, 1.0f, col, (int)KT, wp, (int)KT,
                  accumulate ? 1.0f : 0.0f, din + b0 * HWC, t.OC);
    }
}

/* ---- reference: direct loops ---- */

void conv2d_forward_ref(float *out, const float *in, const float *w, const float *bias,
                        const conv_shape *s) {
    for (int b = 0; b < s->B; b++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++)
                for (int oc = 0; oc < s->OC; oc++) {
                    double acc = bias ? bias[oc] : 0.0;
                    for (int c = 0; c < s->C; c++)
                        for (int kh = 0; kh < s->KH; kh++)
                            for (int kw = 0; kw < s->KW; kw++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)in[(((int64_t)b * s->H + ih) * s->W + iw) * s->C + c] *
                                       w[(((int64_t)oc * s->C + c) * s->KH + kh) * s->KW + kw];
                            }
                    out[(((int64_t)b * s->OH + oh) * s->OW + ow) * s->OC + oc] = (float)acc;
                }
}

void conv2d_backward_ref(float *din, float *dw, float *dbias, const float *dout,
                         const float *in, const float *w, const conv_shape *s,
                         int accumulate) {
    int64_t nin = (int64_t)s->B * s->H * s->W * s->C;
    if (din && !accumulate) memset(din, 0, (size_t)nin * sizeof(float));
    for (int oc = 0; oc < s->OC; oc++) {
        if (dbias) {
            double acc = 0;
            for (int64_t r = 0; r < (int64_t)s->B * s->OH * s->OW; r++)
                acc += dout[r * s->OC + oc];
            dbias[oc] += (float)acc;
        }
        for (int c = 0; c < s->C; c++)
            for (int kh = 0; kh < s->KH; kh++)
                for (int kw = 0; kw < s->KW; kw++) {
                    double acc = 0;
                    for (int b = 0; b < s->B; b++)
                        for (int oh = 0; oh < s->OH; oh++)
                            for (int ow = 0; ow < s->OW; ow++) {
                                int ih = oh * s->stride - s->pad + kh;
                                int iw = ow * s->stride - s->pad + kw;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                double g = dout[(((int64_t)b * s->OH + oh) * s->OW + ow) * s->OC + oc];
                                int64_t ii = (((int64_t)b * s->H + ih) * s->W + iw) * s->C + c;
                                acc += g * in[ii];
                                if (din)
                                    din[ii] += (float)(g * w[(((int64_t)oc * s->C + c) * s->KH + kh) * s->KW + kw]);
                            }
                    dw[(((int64_t)oc * s->C + c) * s->KH + kh) * s->KW + kw] += (float)acc;
                }
    }
}
