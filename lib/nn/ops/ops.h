/* ops.h: the layer operations of the networks, as free functions on raw
 * float32 buffers (llm.c style). The caller owns every buffer.
 *
 * Layout: activations are NHWC ([B, H, W, C], C fastest); a 2-D activation
 * [N, C] is the same thing with H = W = 1. Parameters use PyTorch's shapes:
 * conv weight [OC, C, KH, KW], linear weight [O, I].
 *
 * Conventions: every backward ACCUMULATES (+=) into parameter gradients
 * (dweight, dbias, dgamma, dbeta), so one zero_grad clears them. Whether an
 * input gradient is written (=) or accumulated (+=) is stated per function.
 * Optimised kernels (conv2d_*, dwconv_*, bn_*, gemm, linear_*) use
 * util/threads.h's pool: the convolutions are direct AVX-512 kernels
 * (conv_direct.c), or Winograd F(2x2, 3x3) ones (conv_winograd.c) for the
 * 3x3 stride-1 pad-1 shapes with channel counts that are multiples of 16,
 * where the build has AVX-512, im2col + OpenBLAS sgemm otherwise; the
 * linear layers run on gemm.c's AVX-512 kernel when given a workspace,
 * OpenBLAS sgemm otherwise. The AVX-512 convolutions, gemm, and the BN,
 * activation and pooling ops give the same bits at any thread count;
 * whatever runs on OpenBLAS sgemm (linear_* without a workspace, se_*,
 * the convolutions without AVX-512) may not, as OpenBLAS splits its sums
 * by thread count (seen with a 3000-wide linear layer). The same thread count gives the
 * same bits. The *_ref versions are plain loops kept for the tests.
 * No function here allocates, prints or fails: shapes are the caller's
 * contract. */
#ifndef SSL_OPS_H
#define SSL_OPS_H
#include <stdint.h>

/* ---- 2-D convolution (conv.c) ---- */
typedef struct {
    int B, H, W, C;        /* input [B, H, W, C] */
    int OC, KH, KW;        /* weight [OC, C, KH, KW] */
    int stride, pad;       /* the same in both directions */
    int OH, OW;            /* output [B, OH, OW, OC]: PyTorch's formula */
    int winograd;          /* CONV_WINOGRAD_*: which kernel may run (below) */
    int prec;              /* PREC_FP32 (conv_shape_init's) or PREC_BF16 (below) */
} conv_shape;

/* The 3x3 stride-1 pad-1 convolutions with C and OC multiples of 16 have
 * a second kernel, Winograd F(2x2, 3x3) or F(4x4, 3x3) (conv_winograd.c,
 * AVX-512 builds only). A shape's winograd field chooses: OFF never uses
 * it; AUTO (conv_shape_init's default) uses it for the shapes and parts
 * (forward, backward-data, weight gradient) where it was measured faster
 * than the direct kernels, F(4x4) where it saves multiplies (in fp32; in
 * bf16 on VDPBF16PS, not AMX, its forward and backward-data up to 256
 * channels; the fp32 weight gradient from 256 tiles a batch); ALWAYS
 * F(2x2) wherever it applies (tests, benchmarks); AUTO_F2 AUTO with
 * F(2x2) only (comparisons); ALWAYS_F4 F(4x4) wherever it applies, in
 * bf16 on VDPBF16PS its weight gradient too (tests). The kernels
 * give the same bits at any thread count, but not the same bits as each
 * other (F(4x4) errs about 10x more than F(2x2),
 * 5e-6 of the output's scale: tests/test_ops.c). conv2d_workspace covers
 * them all, so the field may change between calls. */
enum { CONV_WINOGRAD_OFF = 0, CONV_WINOGRAD_AUTO = 1, CONV_WINOGRAD_ALWAYS = 2,
       CONV_WINOGRAD_AUTO_F2 = 3, CONV_WINOGRAD_ALWAYS_F4 = 4 };
/* A shape's prec PREC_BF16 (gemm_bf16.c's enum), where the CPU has
 * AVX512-BF16 (gemm_bf16_available()), runs the Winograd forward,
 * backward-data and weight-gradient products with bf16 inputs (the
 * transformed input and weight, or input and output gradient, rounded to
 * 8 significant bits) and fp32 sums, on AMX where
 * gemm_bf16_amx() (tests/test_conv_bf16.c bounds the error of both
 * units), and the pointwise shapes (1x1, stride 1, no padding) as
 * gemm_bf16 products (conv2d_bf16_applies, below). In
 * conv2d_forward_affine (evaluation's forward with BN folded in) it also
 * runs the other shapes Winograd does not take, with 16 or more input
 * channels and OC a multiple of 16 (the strided 3x3 and the 1x1 stride-2
 * downsamples), on AMX where gemm_bf16_amx(): im2col rows and weights
 * rounded to bf16, one fp32 chain over all K (conv_amx.h;
 * tests/test_conv_amx.c bounds its error); without AMX those with 64 or
 * more input channels, as a gemm_bf16 product on im2col blocks. In
 * training (conv2d_forward, conv2d_backward) those shapes run in bf16 the
 * parts measured faster there (conv2d_train_bf16, below: the forward on
 * conv_amx or gemm_bf16, the weight gradient and the backward-data as
 * gemm_bf16 products on im2col blocks). Elsewhere the direct kernels (the stems, the parts of those
 * shapes left fp32) and the im2col path stay fp32 whatever it says. */

/* The precision a bf16 network gives shape s: PREC_BF16, except
 * PREC_FP32 for the Winograd shapes (wg_applies) with fewer than 32 input
 * or output channels. There one AMX pair row holds 32 channels, half of
 * it zero at 16, and the transforms outweigh the products: measured (one
 * thread's CPU time under load, batch 256, 28x28x16 -> 16) the bf16
 * forward and backward-data 1.25-1.35x slower than fp32's on AMX and
 * 1.6x on VDPBF16PS, the weight gradient no faster (tests/bench:
 * bench_conv 256 28 28 16 16 3 1 1 1 15 1 fp32|bf16). Where gemm_bf16 is
 * unavailable it makes no difference (the shape's products are fp32
 * anyway). */
int conv_bf16_prec(const conv_shape *s);
/* The parts of a training step (conv2d_forward, conv2d_backward) that run
 * in bf16 for shape s, CONV_BF16_* bits; 0 for all but the shapes
 * conv_amx takes (the strided 3x3 and the 1x1 stride-2 downsamples, 16
 * or more input channels, prec PREC_BF16, AVX512-BF16), and among those
 * only the parts measured faster than the fp32 direct kernels on the
 * CPU's unit (conv.c, above conv2d_train_bf16): the forward on conv_amx
 * (AMX) or as a gemm_bf16 product on im2col blocks (VDPBF16PS; the
 * bounds of tests/test_conv_amx.c), the
 * weight gradient dw += dout^T col and the backward-data dcol = dout w
 * (then col2im, fp32 sums of the taps) as gemm_bf16 products on fp32
 * im2col blocks of whole images. The same bits at any thread count. */
enum { CONV_BF16_FWD = 1, CONV_BF16_BWW = 2, CONV_BF16_BWD = 4 };
int conv2d_train_bf16(const conv_shape *s);

/* Fills s (winograd = CONV_WINOGRAD_AUTO); OH = (H + 2 pad - KH) /
 * stride + 1 (floor), likewise OW.
 * Returns 0, or -1 when the output would be empty or an argument is <= 0. */
int conv_shape_init(conv_shape *s, int B, int H, int W, int C, int OC, int KH,
                    int KW, int stride, int pad);

/* Floats of workspace conv2d_forward/backward/forward_affine need for
 * shape s (for any batch up to s->B and up to 8 threads' scratch; more
 * threads than that use 8). Several convolutions may share one workspace
 * of the largest size. */
int64_t conv2d_workspace(const conv_shape *s);

/* out[B,OH,OW,OC] = conv(in[B,H,W,C], w[OC,C,KH,KW]) (+ bias[OC] if not
 * NULL). Written. ws: conv2d_workspace(s) floats, clobbered. */
void conv2d_forward(float *out, const float *in, const float *w, const float *bias,
                    const conv_shape *s, float *ws);
/* dw[OC,C,KH,KW] += dL/dw; dbias[OC] += dL/dbias (if not NULL);
 * din[B,H,W,C] (if not NULL) is written (accumulate == 0) or accumulated
 * (accumulate != 0). in and w are the forward's inputs. */
void conv2d_backward(float *din, float *dw, float *dbias, const float *dout,
                     const float *in, const float *w, const conv_shape *s,
                     int accumulate, float *ws);
/* Convolution with a per-channel affine epilogue (an eval-mode BN folded
 * in, see bn_eval_affine): out[B,OH,OW,OC] = act(conv(in, w) * scale[oc] +
 * shift[oc] + res), res [B,OH,OW,OC] or NULL, act an ACT_* (below; 1 =
 * ACT_RELU, so a relu flag is one). Written; the same bits as
 * conv2d_forward then bn_apply_affine (bn_forward_eval for ACT_RELU, then
 * act_forward for the others), except for the bf16 shapes that run on
 * conv_amx.c (above: conv2d_forward keeps those fp32). ws as for
 * conv2d_forward. */
void conv2d_forward_affine(float *out, const float *in, const float *w,
                           const float *scale, const float *shift, const float *res,
                           int act, const conv_shape *s, float *ws);
/* An input transform: a convolution that reads act(fma(in[.., c],
 * scale[c], shift[c])) wherever it would read in (its padding stays zero),
 * in being the input of the BN before it and scale, shift, act that BN's
 * affine and activation as bn_forward_train_aff saved them (no residual),
 * so that the BN need not write its output (training mode). The same bits
 * as bn_apply_affine, then the convolution on its output. act: an ACT_*. */
typedef struct conv_in_xf_s {
    const float *scale, *shift;     /* [C] */
    int act;
} conv_in_xf;
/* conv2d_forward (no bias) and
 * conv2d_backward (no bias gradient) reading act(fma(in, xf->scale[c],
 * xf->shift[c])) wherever they read in, so that the BN before the
 * convolution need not write its output: the same bits as bn_apply_affine
 * then conv2d_forward / conv2d_backward on its output. Only where
 * conv2d_xf_applies(s): the pointwise (1x1, stride 1, no padding) shapes
 * on the AVX-512 kernels (in bf16, conv2d_bf16_applies, on gemm_bf16_xf); the transformed input is made group by group in
 * the kernels' per-thread scratch (in L2); and the shapes that run on the
 * Winograd kernels (forward and weight gradient: the transform as the
 * input transform reads each pixel, the padding zero; ResNet's second
 * convolution of a block, net.c). din is the gradient of the
 * transformed input. ws: conv2d_xf_workspace(s) floats (at least
 * conv2d_workspace(s)). */
int conv2d_xf_applies(const conv_shape *s);
int64_t conv2d_xf_workspace(const conv_shape *s);
void conv2d_forward_xf(float *out, const float *in, const conv_in_xf *xf,
                       const float *w, const conv_shape *s, float *ws);
void conv2d_backward_xf(float *din, float *dw, const float *dout, const float *in,
                        const conv_in_xf *xf, const float *w, const conv_shape *s,
                        int accumulate, float *ws);
/* The pointwise convolutions in bf16 (the MobileNets' 1x1 layers,
 * --precision bf16): where conv2d_bf16_applies(s) (prec PREC_BF16, a 1x1
 * stride-1 unpadded shape, gemm_bf16_available()), conv2d_forward,
 * conv2d_forward_affine and conv2d_backward run as gemm_bf16 products
 * over the M = B OH OW pixel rows:
 *   forward          out[M, OC]  = in[M, C] w[OC, C]^T   (K = C)
 *   weight gradient  dw[OC, C]  += dout[M, OC]^T in[M, C] (K = M)
 *   backward-data    din[M, C]   = or += dout[M, OC] w[OC, C] (K = OC)
 * each within gemm_bf16's bound for its K (tests/test_conv_bf16.c), the
 * same bits at any thread count, on AMX where gemm_bf16_amx() and the
 * shape suits it. conv2d_forward_affine's epilogue runs inside the
 * product as it stores each element (gemm_bf16_affine: the same bits as
 * conv2d_forward then bn_apply_affine, here too), and conv2d_forward_xf
 * and conv2d_backward_xf apply their input transform as the product
 * rounds its input to bf16 (gemm_bf16_xf: the bits of bn_apply_affine
 * then conv2d_forward / conv2d_backward, here too).
 * conv2d_bf16_workspace(s): floats of workspace they need (whatever s's
 * prec now says; at least conv2d_workspace(s)). */
int conv2d_bf16_applies(const conv_shape *s);
int64_t conv2d_bf16_workspace(const conv_shape *s);
/* Direct loops (double accumulation), same contracts, no workspace. */
void conv2d_forward_ref(float *out, const float *in, const float *w, const float *bias,
                        const conv_shape *s);
void conv2d_backward_ref(float *din, float *dw, float *dbias, const float *dout,
                         const float *in, const float *w, const conv_shape *s,
                         int accumulate);

/* ---- depthwise 2-D convolution (dwconv.c) ----
 * groups = channels, no bias (PyTorch Conv2d(C, C, k, stride, pad,
 * groups=C, bias=False)): output channel c is input channel c convolved
 * with w[c, 0, :, :]. The shape is a conv_shape with OC == C and KH * KW
 * <= 49 (its winograd field is ignored); weight [C, 1, KH, KW]. The same
 * bits at any thread count (vectors along the channels, every element
 * summed in one fixed order). */
/* Floats of workspace dwconv_forward/backward need for shape s (for any
 * batch up to s->B). */
int64_t dwconv_workspace(const conv_shape *s);
/* out[B,OH,OW,C] = dwconv(in[B,H,W,C], w[C,1,KH,KW]). Written. ws:
 * dwconv_workspace(s) floats, clobbered. */
void dwconv_forward(float *out, const float *in, const float *w, const conv_shape *s,
                    float *ws);
/* dwconv_forward with an eval-mode BN, a residual and an activation
 * applied to the sums in registers: out = act(fma(dwconv(in, w), scale[c],
 * shift[c]) + res), res [B,OH,OW,C] or NULL, act an ACT_*. The same bits as
 * dwconv_forward then bn_apply_affine. */
void dwconv_forward_affine(float *out, const float *in, const float *w, const float *scale,
                           const float *shift, const float *res, int act,
                           const conv_shape *s, float *ws);
/* dw[C,1,KH,KW] += dL/dw; din[B,H,W,C] (if not NULL) written (accumulate
 * == 0) or accumulated (accumulate != 0). in and w are the forward's
 * inputs. */
void dwconv_backward(float *din, float *dw, const float *dout, const float *in,
                     const float *w, const conv_shape *s, int accumulate, float *ws);
/* The training-mode fusions with the BNs around a depthwise layer, so
 * that neither the input BN's output nor the output BN's input gradient
 * goes through memory (both the same bits as the separate passes):
 *  - an input transform xf (NULL: none): the convolution reads
 *    act(fma(in[.., c], xf->scale[c], xf->shift[c])) wherever it reads in
 *    (the padding stays zero), i.e. in is the previous BN's input and xf
 *    its affine and activation as bn_forward_train_aff saved them (no
 *    residual): the same bits as bn_apply_affine then the convolution.
 *    ReLU6 and ReLU have kernels of their own; other activations work,
 *    slower. din is still the gradient of the transformed input.
 *  - dwconv_backward_bn: the output gradient is the input gradient of the
 *    BN after the convolution (bn_backward_act's dx; d: its sums already
 *    run, d->x the convolution's output), computed image by image into
 *    scratch (bn_backward_act_rows) just before the image's weight and
 *    input gradients read it: the same bits as bn_backward_act then
 *    dwconv_backward. din must not overlap d->dy. scratch:
 *    dwconv_bn_scratch(s) floats (at most B OH OW C); ws as for
 *    dwconv_backward. */
/* A training-mode BN backward whose dx pass is deferred to its consumer
 * (bn_backward_act_sums, below, fills coef) */
typedef struct {
    const float *dy, *x;            /* [N, C]: the output gradient, the BN's input */
    const float *scale, *shift;     /* [C]: the forward's affine (bn_forward_train_aff) */
    const float *mean, *rstd;       /* [C]: the forward's statistics */
    const float *coef;              /* [3 C]: bn_backward_act_sums' */
    int act, C;
} bn_dx_src;
void dwconv_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *w,
                       const conv_shape *s, float *ws);
int64_t dwconv_bn_scratch(const conv_shape *s);
void dwconv_backward_bn(float *din, float *dw, const bn_dx_src *d, const float *in,
                        const conv_in_xf *xf, const float *w, const conv_shape *s, int accumulate,
                        float *ws, float *scratch);
/* Direct loops (double accumulation), same contracts, no workspace. */
void dwconv_forward_ref(float *out, const float *in, const float *w, const conv_shape *s);
void dwconv_backward_ref(float *din, float *dw, const float *dout, const float *in,
                         const float *w, const conv_shape *s, int accumulate);

/* ---- batch normalisation over [N, C] rows (bn.c; N = B*H*W for 2-D) ----
 * Fused epilogue: y = act(gamma * xhat + beta + res), where res [N, C] is an
 * optional residual (NULL: none) and act is ReLU when relu != 0. */

/* Training mode: batch statistics, biased variance for normalising; saves
 * mean[C] and rstd[C] = 1/sqrt(var + eps) for the backward; updates
 * running_mean/var (if not NULL) with momentum: r = (1-m) r + m * stat,
 * using the unbiased variance (N/(N-1), PyTorch; N == 1 keeps var as is).
 * y written. Statistics are accumulated in double. */
void bn_forward_train(float *y, float *mean, float *rstd, const float *x,
                      const float *gamma, const float *beta, const float *res,
                      int relu, int64_t N, int C, float *running_mean,
                      float *running_var, float momentum, float eps);
/* bn_forward_train that also saves the epilogue's affine: scale[C],
 * shift[C] (both or neither; NULL: as bn_forward_train) written, the float
 * rounding of gamma * rstd and beta - mean * gamma * rstd, such that
 * y = act(fma(x, scale, shift) + res) exactly (one rounding in the fma;
 * x * scale + shift where the target has no FMA), where act is any ACT_*
 * (below; ACT_RELU is 1, so a relu flag is one): the MobileNets'
 * activations fused into the BN pass, the same bits as act_forward after
 * it. bn_backward_xmask and bn_backward_act use them. The same bits in y,
 * mean, rstd and the running statistics as bn_forward_train (and
 * act_forward) up to 4096 channels; above, y is computed from the affine
 * instead of in double (a last-bit difference). y NULL: no output pass
 * (the statistics, the affine and the running statistics only; for a
 * consumer that applies the affine itself, conv_in_xf). */
void bn_forward_train_aff(float *y, float *mean, float *rstd, float *scale, float *shift,
                          const float *x, const float *gamma, const float *beta,
                          const float *res, int act, int64_t N, int C,
                          float *running_mean, float *running_var, float momentum,
                          float eps);
/* The affine of an eval-mode BN: scale[c] = gamma / sqrt(var + eps),
 * shift[c] = beta - mean * scale (computed in double, then rounded). */
void bn_eval_affine(float *scale, float *shift, const float *gamma, const float *beta,
                    const float *running_mean, const float *running_var, int C, float eps);
/* y = act(fma(x, scale[c], shift[c]) + res), res [N, C] or NULL, act an
 * ACT_* (1 = ACT_RELU): the affine pass of bn_forward_eval (and of the
 * training forward), the one rounding rule of bn.c. y written; y may
 * equal x. */
void bn_apply_affine(float *y, const float *x, const float *scale, const float *shift,
                     const float *res, int act, int64_t N, int C);
/* Eval mode: normalise with the running statistics. y written; y may
 * equal x. */
void bn_forward_eval(float *y, const float *x, const float *gamma, const float *beta,
                     const float *res, int relu, int64_t N, int C,
                     const float *running_mean, const float *running_var, float eps);
/* Backward of a training-mode forward. If y is not NULL, dy is first masked
 * by y > 0 (the fused ReLU; y is the forward's output). dx written;
 * dgamma, dbeta accumulated. The residual's gradient is the masked dy:
 * the caller handles it (relu_backward), or see bn_backward_res. */
void bn_backward(float *dx, float *dgamma, float *dbeta, const float *dy,
                 const float *y, const float *x, const float *mean,
                 const float *rstd, const float *gamma, int64_t N, int C);
/* Backward of a BN with the fused ReLU and no residual, without reading y,
 * whose output gradient is dy + dy2 (dy2 may be NULL): the mask y > 0 is
 * recomputed from x as fma(x, scale, shift) > 0, with scale, shift as
 * saved by bn_forward_train_aff for this x with relu and no residual (the
 * same mask, NaN included).
 * dx written; dgamma, dbeta accumulated. The same bits as add_inplace(dy,
 * dy2) then bn_backward with y. */
void bn_backward_xmask(float *dx, float *dgamma, float *dbeta, const float *dy,
                       const float *dy2, const float *x, const float *scale,
                       const float *shift, const float *mean, const float *rstd,
                       const float *gamma, int64_t N, int C);
/* Backward of a BN with a fused activation act (any ACT_*) and no
 * residual, y = act(v), v = fma(x, scale, shift) with scale, shift as
 * bn_forward_train_aff saved them: the activation's gradient is taken at
 * v recomputed from x, in both passes, so neither v nor y is read or kept.
 * dx written (dx != dy); dgamma, dbeta accumulated. The same bits as
 * act_backward(g, dy, v, act) then bn_backward with y NULL (ACT_RELU:
 * bn_backward_xmask; ACT_NONE: bn_backward). */
void bn_backward_act(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                     const float *scale, const float *shift, int act, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C);
/* bn_backward_act in two halves, so that its dx pass can run inside the
 * op that reads dx (dwconv_backward_bn), image by image while that op's
 * tiles are in cache, instead of as a pass of its own over [N, C] that
 * writes dx to memory for the op to read back. d describes the backward
 * (dy, x, the forward's scale, shift, mean, rstd, act, C; coef set after
 * the sums). bn_backward_act_sums runs the sums pass (threaded):
 * dgamma, dbeta accumulated, coef [3 C] written. bn_backward_act_rows then
 * writes dx for rows [r0, r1) of [N, C] to dx[(r - r0) C + c], on the
 * calling thread: the same bits as bn_backward_act's dx there. Only where
 * bn_backward_act_split(act, C) is 1: act ACT_NONE, ACT_RELU, ACT_RELU6 or
 * ACT_HSWISH, 1 <= C <= 2048. (bn_dx_src: with the depthwise
 * convolution, above.) */
int bn_backward_act_split(int act, int C);
void bn_backward_act_sums(float *coef, float *dgamma, float *dbeta, const bn_dx_src *d,
                          const float *gamma, int64_t N);
void bn_backward_act_rows(float *dx, const bn_dx_src *d, int64_t r0, int64_t r1);
/* Backward of a BN with the fused residual and ReLU, whose output gradient
 * is dy + dy2 (dy2 may be NULL): dres = (dy + dy2) * (y > 0), the
 * residual's gradient, and dx (from dres) written; dgamma, dbeta
 * accumulated. dres may equal dy or dy2 (in place). The same bits as
 * add_inplace(dy, dy2), relu_backward(dres, dy, y), then bn_backward with
 * y NULL, in two passes over [N, C] instead of four. */
void bn_backward_res(float *dx, float *dres, float *dgamma, float *dbeta, const float *dy,
                     const float *dy2, const float *y, const float *x, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C);
/* Data parallel (SyncBatchNorm): while fn is set, every training-mode
 * forward and backward above sums its per-channel statistics over the
 * replicas with fn(ctx, buf, n) (in place, the same sum on every replica:
 * an allreduce), so that R replicas of B rows compute what one process of
 * R B rows computes, to rounding: the forward's shifted sums (the shift is
 * the running mean, or 0 without running statistics, instead of the first
 * row) and row count, the backward's sum g and sum g xhat. dgamma and
 * dbeta get this replica's own share (the gradient sum across replicas
 * adds the shares). NULL (the default): per-process statistics, as
 * before. Not thread-safe: set it between steps. */
typedef void (*bn_sync_fn)(void *ctx, double *buf, int64_t n);
void bn_set_sync(bn_sync_fn fn, void *ctx);
/* Plain loops (double), same contracts. */
void bn_forward_train_ref(float *y, float *mean, float *rstd, const float *x,
                          const float *gamma, const float *beta, const float *res,
                          int relu, int64_t N, int C, float *running_mean,
                          float *running_var, float momentum, float eps);
void bn_backward_ref(float *dx, float *dgamma, float *dbeta, const float *dy,
                     const float *y, const float *x, const float *mean,
                     const float *rstd, const float *gamma, int64_t N, int C);

/* ---- pooling (pool.c) ---- */
/* Max-pool k x k, stride, pad (padding never wins). in [B,H,W,C] ->
 * out [B,OH,OW,C], OH = (H + 2 pad - k) / stride + 1. arg [B,OH,OW,C]
 * receives the flat input index (h*W + w)*C + c within the image of each
 * maximum (the first one on ties), for the backward. Written. */
void maxpool_forward(float *out, int32_t *arg, const float *in, int B, int H, int W,
                     int C, int k, int stride, int pad, int OH, int OW);
/* din [B,H,W,C] written (zeroed, then each dout added at its argmax). */
void maxpool_backward(float *din, const float *dout, const int32_t *arg, int B, int H,
                      int W, int C, int OH, int OW);
/* Global average pool: in [B,H,W,C] -> out [B,C]. Written. */
void avgpool_forward(float *out, const float *in, int B, int H, int W, int C);
/* din [B,H,W,C] written: dout[b,c] / (H*W) everywhere. */
void avgpool_backward(float *din, const float *dout, int B, int H, int W, int C);

/* ---- matrix product (gemm.c) ----
 * C[M,N] = alpha op(A) op(B) + beta C, row-major: op(A) [M,K] is A [M,K]
 * (ta 0, lda >= K) or the transpose of A [K,M] (ta 1, lda >= M); op(B)
 * [K,N] is B [K,N] (tb 0, ldb >= N) or the transpose of B [N,K] (tb 1,
 * ldb >= K); ldc >= N. As in BLAS, C is not read when beta is 0 (NaN there
 * does not propagate), and neither are A and B when alpha is 0 or K is 0.
 * Each element is an fp32 FMA chain over k in order, restarted at every
 * block of 256 k (one more fma folds each block into C), so
 *   |C - exact| <= gamma(n) (|alpha| sum_k |a_ik b_kj| + |beta c_ij|),
 *   gamma(n) = n u / (1 - n u), u = 2^-24, n = K + ceil(K / 256) + 2
 * (tests/test_gemm.c). The same bits at any thread count. AVX-512 builds
 * run a register-blocked kernel at the FMA rate; others a plain C one
 * (gemm_available() says which). ws: gemm_workspace(M, N, K) floats,
 * clobbered; that size never decreases as M, N or K grow, so one
 * workspace for the largest shape serves the smaller ones. */
int gemm_available(void);
int64_t gemm_workspace(int M, int N, int K);
void gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
          const float *B, int ldb, float beta, float *C, int ldc, float *ws);
/* What the library's callers run: gemm where gemm_available() and ws is
 * not NULL, OpenBLAS's cblas_sgemm otherwise (same contract, but its sums
 * may depend on the thread count). */
void gemm_dispatch(int ta, int tb, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc,
                   float *ws);
/* OpenBLAS's cblas_sgemm (row-major, gemm's arguments). Built without
 * AVX-512, where OpenBLAS runs every convolution and product, it runs on
 * this library's threads: C cut into one range of rows or columns per
 * thread (the larger side, multiples of 16), one single-threaded
 * cblas_sgemm each (ssl_set_threads keeps OpenBLAS at one thread there,
 * so no OpenBLAS thread spins while ours work); an element's sum does not
 * depend on which range holds it. With AVX-512 one call on OpenBLAS's own
 * threads, as before. */
void sgemm_par(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc);
/* Plain loops, double accumulation, same contract (no workspace). */
void gemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* ---- mixed precision: bf16 inputs, fp32 sums (gemm_bf16.c) ----
 * The precision a network or a bank step computes in (--precision):
 * PREC_FP32 everywhere, or PREC_BF16: the matrix products' inputs rounded
 * to bfloat16 (8 significant bits), their sums in fp32. */
enum { PREC_FP32 = 0, PREC_BF16 = 1 };
/* 1 if this CPU (and OS) runs AVX512-BF16 (cpuid), whatever the build's
 * -march: the only condition for calling gemm_bf16. */
int gemm_bf16_available(void);
/* x rounded to bfloat16 as the kernels round their inputs
 * (VCVTNE2PS2BF16): to nearest even on 8 significant bits, subnormals to
 * a signed zero, NaN kept (quiet), infinities kept; returned as the
 * float of the same value. For tests and references. */
float bf16_round(float x);
/* gemm's contract with op(A) and op(B) rounded by bf16_round (the
 * products are then exact) and fp32 sums: per element one chain over k
 * in order, two k per step, restarted at every block of 512 k and folded
 * into C as gemm folds, so (tests/test_gemm_bf16.c)
 *   |C - exact| <= ((1 + 2^-8)^2 (1 + gamma(n)) - 1) |alpha| sum_k |a_ik b_kj|
 *                  + gamma(n) |beta c_ij|,  n = K + ceil(K / 512) + 2,
 * about 2^-7 of sum |a b| (fp32 gemm: n 2^-24 of it). The same bits at
 * any thread count. Only where gemm_bf16_available(). ws:
 * gemm_bf16_workspace(M, N, K) floats (never more than gemm_workspace's),
 * clobbered; that size never decreases as M, N or K grow. */
int64_t gemm_bf16_workspace(int M, int N, int K);
void gemm_bf16(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc, float *ws);
/* 1 if gemm_bf16 runs its products on AMX (the tile unit's TDPBF16PS):
 * where the CPU has AMX-TILE and AMX-BF16, Linux grants the process the
 * tile state (arch_prctl, asked once) and gemm_bf16_set_amx(0) has not
 * been called (the tools call it for SSL_NO_AMX=1); 0: on AVX512-BF16's
 * VDPBF16PS. Both
 * keep gemm_bf16's contract, bound and per-thread-count bits, but not
 * each other's bits (a pair's two products may be added in another order;
 * test_gemm_bf16). AMX takes the shapes whose packed blocks, their pairs
 * padded to steps of 16, fit at least two of the workspace's eight parts
 * (then running on at most as many parts as fit: all eight where min(M,
 * 256) rounded up to 8 is a multiple of 16 and ceil(K / 2) a multiple of
 * 16 or K > 511; fewer for a small K padded up to 32, as the MobileNets'
 * 1x1 convolutions have), VDPBF16PS the others: which unit runs depends on
 * M, N and K only.
 * gemm_bf16_set_amx(0) forces VDPBF16PS, 1 or -1 (the default) AMX where
 * it can run; not during a product. */
int gemm_bf16_amx(void);
void gemm_bf16_set_amx(int on);
/* gemm_bf16 (alpha 1, beta 0) with an affine epilogue on each element as
 * its last k block is stored: C[i, j] = act(fma(c, scale[j], shift[j]) +
 * res[i * ldc + j]) (res NULL: none; act an ACT_*), the same bits as
 * gemm_bf16 then bn_apply_affine (the 1x1 convolutions' eval-mode BN,
 * shortcut and activation; conv2d_forward_affine). */
void gemm_bf16_affine(int ta, int tb, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float *C, int ldc, const float *scale,
                      const float *shift, const float *res, int act, float *ws);
/* gemm_bf16 reading A (ta 0 only) and B (tb 0 only) through an input
 * transform, act(fma(x, scale[j], shift[j])) on the element of memory
 * column j (xa, xb: a conv_in_xf, below; NULL: none), applied as the
 * inputs are rounded to bf16: the same bits as bn_apply_affine on the
 * input, then gemm_bf16 (the MobileNets' projection reading the
 * depthwise BN's input through its affine, conv2d_forward_xf and
 * conv2d_backward_xf in bf16). */
struct conv_in_xf_s;
void gemm_bf16_xf(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const struct conv_in_xf_s *xa, const float *B, int ldb,
                  const struct conv_in_xf_s *xb, float beta, float *C, int ldc, float *ws);
/* What the library's callers run for precision prec: gemm_bf16 for
 * PREC_BF16 where gemm_bf16_available() and ws is not NULL, gemm_dispatch
 * otherwise. */
void gemm_dispatch_prec(int prec, int ta, int tb, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, float beta, float *C,
                        int ldc, float *ws);

/* ---- squeeze-and-excitation (se.c) ----
 * torchvision's SqueezeExcitation of MobileNetV3 on x [B, P, C] (P = H*W
 * pixels), S squeeze channels:
 *   pooled[b,c] = mean over p of x[b,p,c]                     [B, C]
 *   z1 = pooled w1^T + b1    (fc1, a 1x1 Conv2d: w1 [S, C])   [B, S]
 *   z2 = relu(z1) w2^T + b2  (fc2: w2 [C, S])                 [B, C]
 *   sc = hardsigmoid(z2)                                      [B, C]
 *   out[b,p,c] = x[b,p,c] sc[b,c]
 * (the weights [S, C, 1, 1] of a 1x1 Conv2d are the same memory as a
 * Linear's [S, C]). pooled, z1, z2 and sc are the caller's buffers, kept
 * for the backward. The fully connected layers run on gemm.c's products
 * (linear_* with a workspace; OpenBLAS sgemm only where gemm_available()
 * is 0), so the bits do not depend on the thread count. */
/* Floats of workspace se_forward/backward need for batches up to B. */
int64_t se_workspace(int B, int C, int S);
/* out [B, P, C] written; pooled, z1, z2, sc written. */
void se_forward(float *out, float *pooled, float *z1, float *z2, float *sc, const float *x,
                const float *w1, const float *b1, const float *w2, const float *b2, int B,
                int64_t P, int C, int S, float *ws);
/* dx [B, P, C] written (not aliasing dout or x); dw1, db1, dw2, db2
 * accumulated. x and the weights are the forward's; pooled, z1, z2, sc as
 * it left them. */
void se_backward(float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dout,
                 const float *x, const float *w1, const float *w2, const float *pooled,
                 const float *z1, const float *z2, const float *sc, int B, int64_t P, int C,
                 int S, float *ws);

/* ---- linear (linear.c) ----
 * The products are gemm's where gemm_available(), OpenBLAS's sgemm
 * otherwise (whose sums may depend on the thread count, see above); with
 * prec PREC_BF16 and a workspace, gemm_bf16's where gemm_bf16_available()
 * (elsewhere prec is ignored: callers check first). */
/* Floats of workspace linear_forward/backward need for N rows of I -> O
 * in either precision (0 where neither gemm nor gemm_bf16 can run). */
int64_t linear_workspace(int N, int I, int O);
/* out[N,O] = in[N,I] w[O,I]^T + bias[O] (bias may be NULL). Written.
 * ws: linear_workspace(N, I, O) floats (or more), clobbered; NULL runs
 * OpenBLAS's sgemm (gemm_dispatch). prec: PREC_FP32 or PREC_BF16. */
void linear_forward(float *out, const float *in, const float *w, const float *bias,
                    int N, int I, int O, float *ws, int prec);
/* dw += dout^T in; dbias += column sums of dout; din[N,I] (if not NULL)
 * written = dout w. ws and prec as for linear_forward. */
void linear_backward(float *din, float *dw, float *dbias, const float *dout,
                     const float *in, const float *w, int N, int I, int O, float *ws,
                     int prec);

/* ---- elementwise (act.c) ---- */
/* Activations of the MobileNets, PyTorch's definitions:
 *   ACT_RELU      max(x, 0)
 *   ACT_RELU6     min(max(x, 0), 6)                (nn.ReLU6)
 *   ACT_HSWISH    x * min(max(x + 3, 0), 6) / 6    (nn.Hardswish)
 *   ACT_HSIGMOID  min(max(x + 3, 0), 6) / 6        (nn.Hardsigmoid)
 * and their gradients as PyTorch computes them at the kinks: ReLU passes
 * where x > 0; ReLU6 where 0 < x < 6; hard-swish is 0 for x < -3,
 * x / 3 + 0.5 for -3 <= x <= 3 and 1 above; hard-sigmoid 1/6 where
 * -3 < x < 3, else 0. ACT_NONE is the identity. */
enum { ACT_NONE = 0, ACT_RELU, ACT_RELU6, ACT_HSWISH, ACT_HSIGMOID };
/* out = act(in), written; out may equal in. */
void act_forward(float *out, const float *in, int64_t n, int act);
/* dx = dy * act'(x) with x the forward's input, written; dx may equal dy. */
void act_backward(float *dx, const float *dy, const float *x, int64_t n, int act);
void relu_forward(float *out, const float *in, int64_t n);          /* written */
/* dx = dy * (y > 0), written; dx may equal dy (in place). */
void relu_backward(float *dx, const float *dy, const float *y, int64_t n);
/* out = a + b, written; out may alias a or b. */
void add_forward(float *out, const float *a, const float *b, int64_t n);
/* acc += x. */
void add_inplace(float *acc, const float *x, int64_t n);
/* Rows of x [N, D] scaled to unit L2 norm: out = x / max(||x||, eps).
 * Written; out may equal x. The library's one row normalisation (the
 * bank, the kNN monitor, ssl-knn, ssl-lineval): the squared norm is summed
 * in double in a fixed order and the scale rounded to float, so the same
 * row gives the same bits everywhere, at any thread count. Returns -1, or
 * the first row whose norm is not finite (every row is still written). */
#define L2_EPS 1e-12
/* sum a[i] b[i] in double: 8 partial sums in a fixed order (the products
 * are exact), so a row gives the same bits wherever it is summed. */
double dot_d(const float *a, const float *b, int d);
int64_t l2norm_forward(float *out, const float *x, int64_t N, int D, double eps);
/* One row of it (y may equal x), on the calling thread; returns ||x||. */
double l2norm_row(float *y, const float *x, int d, double eps);
/* dx = (dout - (dout . z) z) / max(||x||, eps) with z the forward output;
 * written. */
void l2norm_backward(float *dx, const float *dout, const float *x, int N, int D,
                     float eps);
#endif
