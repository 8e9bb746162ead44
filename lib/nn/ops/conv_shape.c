/* conv_shape.c: conv_shape_init (ops.h), on its own so that every
 * convolution file (conv.c, conv_direct.c, conv_winograd.c) uses it
 * without depending on another. */
#include "nn/ops/ops.h"

#include <string.h>

int conv_shape_init(conv_shape *s, int B, int H, int W, int C, int OC, int KH,
                    int KW, int stride, int pad) {
    memset(s, 0, sizeof *s);
    if (B <= 0 || H <= 0 || W <= 0 || C <= 0 || OC <= 0 || KH <= 0 || KW <= 0 ||
        stride <= 0 || pad < 0)
        return -1;
    s->B = B; s->H = H; s->W = W; s->C = C; s->OC = OC; s->KH = KH; s->KW = KW;
    s->stride = stride; s->pad = pad;
    if (H + 2 * pad < KH || W + 2 * pad < KW) return -1;
    s->OH = (H + 2 * pad - KH) / stride + 1;
    s->OW = (W + 2 * pad - KW) / stride + 1;
    s->winograd = CONV_WINOGRAD_AUTO;
    return 0;
}
