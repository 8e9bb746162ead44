/* conv_amx.h: the bf16 forward of the non-Winograd convolutions (the
 * stems, the strided 3x3, the 1x1 downsamples) on AMX, for the
 * evaluation-mode forward with BN folded into the epilogue
 * (conv2d_forward_affine). Private to nn/ops.
 *
 * im2col into bf16 rows, then TDPBF16PS: per output pixel p and channel
 * oc, out = epilogue(sum_k bf(x[p, k]) bf(w[oc, k])), k = (kh*KW + kw)*C
 * + c, with x the zero-padded input and bf() the rounding to bf16 (round
 * to nearest even). The K products go through one fp32 chain per
 * element, a pair of k per step (AMX's TDPBF16PS), in increasing k; each
 * element's sum depends on its pixel and channel only, so the results
 * do not depend on the batch, its split or the thread count.
 * Only where ca_applies(s): an AVX-512 build, s->prec PREC_BF16, a CPU
 * where gemm_bf16_amx(), OC a multiple of 16. */
#ifndef SSL_CONV_AMX_H
#define SSL_CONV_AMX_H
#include <stdint.h>

#include "nn/ops/conv_direct.h"
#include "nn/ops/ops.h"

int ca_applies(const conv_shape *s);
/* Floats of workspace ca_forward needs for s (0 where no AVX-512). */
int64_t ca_workspace(const conv_shape *s);
/* out [B, OH, OW, OC] = epilogue(conv(in, w)) (ep NULL: none) with
 * w [OC, C, KH, KW] fp32, packed here into ws (ca_workspace(s) floats). */
void ca_forward(float *out, const float *in, const float *w, const cd_epilogue *ep,
                const conv_shape *s, float *ws);
#endif
