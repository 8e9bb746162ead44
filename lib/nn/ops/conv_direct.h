/* conv_direct.h: direct AVX-512 convolution kernels behind conv.c (private).
 *
 * "Implicit GEMM" on NHWC: no im2col matrix. The input images of a group
 * are copied, zero-padded, into a per-thread buffer (a few hundred KiB, so
 * it stays in L2), and register-blocked micro-kernels read the taps from
 * it directly:
 *   forward      out[p, oc] (+)= sum_k x[p, k] wpk[k, oc]   (tile P pixels x
 *                16*J channels, the input scalars broadcast)
 *   weight grad  dwp[k, oc]    += sum_p x[p, k] dout[p, oc] (tile KP of k x
 *                16*J channels, or 48 k x 8 channels with the vector over
 *                input channels; summed per batch slice, then over slices)
 * with k = (kh*KW + kw)*C + c. Weights are packed per block of NB = 16*J
 * output channels (64, with narrower blocks for the last OC % 64; see
 * cd_nblocks): block ob, from channel o0, at wpk[o0 * K + k * NB + j], zero
 * beyond OC. Backward-data of a
 * stride-1 convolution is the forward of the transposed, flipped weight
 * (cd_pack_bwd_data) over dout with pad KH-1-pad.
 *
 * Every output element is computed by one thread in a fixed order, so the
 * results do not depend on the thread count. Compiled only with AVX-512F
 * (the Makefile's -march=native on this machine); cd_available() says
 * whether it was, and conv.c falls back to im2col + sgemm otherwise. */
#ifndef SSL_CONV_DIRECT_H
#define SSL_CONV_DIRECT_H
#include <stdint.h>

#include "nn/ops/ops.h"

/* 1 if the direct kernels were compiled in. */
int cd_available(void);
/* The output-channel blocks for OC output channels: their count, and
 * block ob's first channel and width NB (16, 32 or 64): one block of 16 or
 * 32 up to 32 channels, then blocks of 64 with the last OC % 64 channels
 * in the narrowest that hold them (16, 32, 32 + 16 or 64). */
int cd_nblocks(int OC);
int cd_block_start(int OC, int ob);
int cd_block_width(int OC, int ob);
/* Floats of packed weight for s (forward) and for its backward-data
 * (transposed) convolution. */
int64_t cd_packed_size(const conv_shape *s);
int64_t cd_packed_size_bwd_data(const conv_shape *s);
/* Floats of per-thread scratch cd_forward / cd_backward_weights need. */
int64_t cd_scratch(const conv_shape *s);
/* The transposed shape whose forward is s's backward-data (stride 1 and
 * pad < KH, KW only). Returns 0, or -1 if s does not qualify. */
int cd_bwd_data_shape(conv_shape *t, const conv_shape *s);

/* wpk = w [OC, C, KH, KW] packed for the forward of s. */
void cd_pack(float *wpk, const float *w, const conv_shape *s);
/* wpk packed for the forward of t = cd_bwd_data_shape(s). */
void cd_pack_bwd_data(float *wpk, const float *w, const conv_shape *s);

/* Backward-data of any stride: din [B, H, W, C] = (accumulate ? din : 0) +
 * the gradient from dout [B, OH, OW, OC], reading each din pixel's taps by
 * parity class (no zero-stuffing). wpk from cd_pack_bwd_data_strided
 * (cd_packed_size_bwd_data floats); scratch: cd_scratch_bwd_data_strided. */
void cd_pack_bwd_data_strided(float *wpk, const float *w, const conv_shape *s);
int64_t cd_scratch_bwd_data_strided(const conv_shape *s);
void cd_backward_data_strided(float *din, const float *dout, const float *wpk,
                              const conv_shape *s, int accumulate, float *scratch);

/* Optional epilogue of cd_forward, applied in registers before the store:
 * out = act(out * scale[oc] + shift[oc] + res) (res [B, OH, OW, OC] or
 * NULL; act an ACT_*, ACT_RELU = 1, the same bits as act_forward). */
typedef struct {
    const float *scale, *shift, *res;
    int act;
} cd_epilogue;

/* out [B, OH, OW, OC] = epilogue((accumulate ? out : 0) + conv(in, wpk)),
 * ep NULL: no epilogue. scratch: cd_scratch(s) floats. */
void cd_forward(float *out, const float *in, const float *wpk, const conv_shape *s,
                int accumulate, const cd_epilogue *ep, float *scratch);
/* cd_forward and cd_backward_weights reading their input in through the
 * transform xf (NULL: none; ops.h, conv_in_xf), group by group into the
 * scratch's group buffer: scratch cd_scratch_xf(s) floats (with xf). */
int64_t cd_scratch_xf(const conv_shape *s);
void cd_forward_xf(float *out, const float *in, const conv_in_xf *xf, const float *wpk,
                   const conv_shape *s, int accumulate, const cd_epilogue *ep, float *scratch);
void cd_backward_weights_xf(float *dw, const float *dout, const float *in,
                            const conv_in_xf *xf, const conv_shape *s, float *dwp,
                            float *scratch);
/* Floats of the weight gradient's packed partial sums (cd_backward_weights'
 * dwp): one packed weight per batch slice. */
int64_t cd_bww_size(const conv_shape *s);
/* dw [OC, C, KH, KW] += dL/dw, from dout [B, OH, OW, OC] and in.
 * dwp: cd_bww_size(s) floats of scratch; scratch: cd_scratch(s). */
void cd_backward_weights(float *dw, const float *dout, const float *in,
                         const conv_shape *s, float *dwp, float *scratch);
#endif
