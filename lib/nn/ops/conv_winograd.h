/* conv_winograd.h: Winograd F(2x2, 3x3) and F(4x4, 3x3) convolution
 * behind conv.c (private).
 *
 * For 3x3 stride-1 pad-1 convolutions on NHWC float32 with C and OC
 * multiples of 16 (any H, W >= 1: the right and bottom tiles may be
 * partial). A 2x2 output tile costs 16 multiplies per (input, output)
 * channel pair instead of the direct method's 36; a 4x4 tile (F(4x4):
 * the fp32 shapes where it saves multiplies, the shape's winograd field
 * permitting, ops.h) 36 instead of 144:
 *   forward      Y = A^T [sum_c U[c] .* V[c]] A, U = G g G^T, V = B^T d B
 *   backward-data the forward of the transposed, flipped weight over dout
 *                (wg_pack_bwd_data and cd_bwd_data_shape's shape)
 *   weight grad  dU = sum over tiles of V .* (A dY A^T), dw += G^T dU G
 * The batch's tiles are cut into blocks small enough that their
 * transformed data stays in L2; every output element is computed by one
 * task in a fixed order and the weight gradient is summed per fixed
 * batch slice, the slices added in order, so the results do not depend on
 * the thread count. Compiled only with AVX-512F, like conv_direct.c;
 * wg_available() says whether it was. Nothing here allocates: scratch and
 * packed weights come from the caller. */
#ifndef SSL_CONV_WINOGRAD_H
#define SSL_CONV_WINOGRAD_H
#include <stdint.h>

#include "nn/ops/conv_direct.h"
#include "nn/ops/ops.h"

/* 1 if the Winograd kernels were compiled in. */
int wg_available(void);
/* 1 if s is a shape they handle: 3x3, stride 1, pad 1, C % 16 == 0,
 * OC % 16 == 0. */
int wg_applies(const conv_shape *s);
/* 1 if the conv.c dispatch gives s to Winograd (forward, backward-data
 * and weight gradient alike): where it was measured faster than the
 * direct kernels. */
int wg_preferred(const conv_shape *s);

/* Floats of transformed weight (16 * C * OC, or 36 * C * OC where the
 * forward of s runs F(4x4); both directions). */
int64_t wg_packed_size(const conv_shape *s);
/* u = w [OC, C, 3, 3] transformed for the forward of s (in bf16 pairs
 * when s->prec is PREC_BF16 and the CPU has AVX512-BF16: then wg_forward
 * runs its products in bf16 with fp32 sums). */
void wg_pack(float *u, const float *w, const conv_shape *s);
/* u = w transformed for the forward of t = cd_bwd_data_shape(s): the
 * transposed, flipped kernel (inputs OC, outputs C). */
void wg_pack_bwd_data(float *u, const float *w, const conv_shape *s);
/* 1 if wg_forward (and wg_backward_weights) run s's products on AMX
 * (TDPBF16PS): s a Winograd shape in bf16 and gemm_bf16_amx(); other
 * bf16 shapes run the forward's on VDPBF16PS and the weight gradient in
 * fp32. Both keep the bounds of tests/test_conv_bf16.c and give the
 * same bits at any thread count, not always each other's bits. */
int wg_amx(const conv_shape *s);

/* Floats of scratch wg_forward needs for s (up to 8 threads). */
int64_t wg_scratch(const conv_shape *s);
/* out [B, H, W, OC] = epilogue((accumulate ? out : 0) + conv(in, u)), ep
 * NULL: no epilogue (cd_forward's contract). u from wg_pack; scratch:
 * wg_scratch(s) floats. */
void wg_forward(float *out, const float *in, const float *u, const conv_shape *s,
                int accumulate, const cd_epilogue *ep, float *scratch);
/* wg_forward reading xf(in) (conv_in_xf, ops.h: the padding stays zero):
 * the same bits as wg_forward on bn_apply_affine's output. */
void wg_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *u,
                   const conv_shape *s, int accumulate, const cd_epilogue *ep, float *scratch);

/* Floats of the weight gradient's per-slice sums (du) and of its scratch. */
int64_t wg_bww_size(const conv_shape *s);
int64_t wg_scratch_bww(const conv_shape *s);
/* dw [OC, C, 3, 3] += dL/dw from dout [B, H, W, OC] and in [B, H, W, C].
 * du: wg_bww_size(s) floats; scratch: wg_scratch_bww(s) floats. Where
 * wg_amx(s), the products over the tiles run on AMX with bf16 inputs and
 * fp32 sums (the bounds of tests/test_conv_bf16.c); elsewhere fp32, in
 * every precision. The same bits at any thread count. */
void wg_backward_weights(float *dw, const float *dout, const float *in,
                         const conv_shape *s, float *du, float *scratch);
/* wg_backward_weights reading xf(in), as wg_forward_xf. */
void wg_backward_weights_xf(float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const conv_shape *s, float *du,
                            float *scratch);
#endif
