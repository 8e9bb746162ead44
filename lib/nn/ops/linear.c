/* linear.c: fully connected layer out = in w^T + b (PyTorch nn.Linear),
 * forward and backward as three matrix products on row-major buffers
 * through gemm_dispatch: gemm.c's where the build has its AVX-512 kernel
 * and the caller gives a workspace, OpenBLAS's sgemm otherwise (lib/README,
 * Matrix products); in bf16 (PREC_BF16, with a workspace, where the CPU
 * has AVX512-BF16) gemm_bf16's. */
#include "nn/ops/ops.h"

int64_t linear_workspace(int N, int I, int O) {
    if (!gemm_available() && !gemm_bf16_available()) return 0;
    /* gemm_bf16_workspace never exceeds gemm_workspace */
    int64_t a = gemm_workspace(N, O, I), b = gemm_workspace(O, I, N),
            c = gemm_workspace(N, I, O);
    return a > b ? (a > c ? a : c) : (b > c ? b : c);
}

void linear_forward(float *out, const float *in, const float *w, const float *bias,
                    int N, int In, int O, float *ws, int prec) {
    if (bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) out[(int64_t)n * O + o] = bias[o];
    gemm_dispatch_prec(prec, 0, 1, N, O, In, 1.0f, in, In, w, In, bias ? 1.0f : 0.0f, out, O, ws);
}

void linear_backward(float *din, float *dw, float *dbias, const float *dout,
                     const float *in, const float *w, int N, int In, int O, float *ws,
                     int prec) {
    gemm_dispatch_prec(prec, 1, 0, O, In, N, 1.0f, dout, O, in, In, 1.0f, dw, In, ws);
    if (dbias)
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += dout[(int64_t)n * O + o];
            dbias[o] += (float)acc;
        }
    if (din) gemm_dispatch_prec(prec, 0, 0, N, In, O, 1.0f, dout, O, w, In, 0.0f, din, In, ws);
}
