/* linear.c: fully connected layer out = in w^T + b (PyTorch nn.Linear),
 * forward and backward as OpenBLAS sgemm calls on row-major buffers. */
#include "nn/ops/ops.h"

#include <cblas.h>

void linear_forward(float *out, const float *in, const float *w, const float *bias,
                    int N, int In, int O) {
    if (bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < O; o++) out[(int64_t)n * O + o] = bias[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, O, In, 1.0f, in, In, w, In,
                bias ? 1.0f : 0.0f, out, O);
}

void linear_backward(float *din, float *dw, float *dbias, const float *dout,
                     const float *in, const float *w, int N, int In, int O) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, In, N, 1.0f, dout, O, in, In,
                1.0f, dw, In);
    if (dbias)
        for (int o = 0; o < O; o++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += dout[(int64_t)n * O + o];
            dbias[o] += (float)acc;
        }
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, In, O, 1.0f, dout, O, w,
                    In, 0.0f, din, In);
}
