/* bench_conv.c: one convolution's forward and backward (lib/ops.h) at a
 * given shape, on this machine: GFLOP/s of the forward, of the whole
 * backward (weights + data) and of the backward's weight half alone.
 * Usage: bench_conv B H W C OC K stride pad [threads [iters]]. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ops.h"
#include "rng.h"
#include "threads.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static float *randn(int64_t n, uint64_t seed) {
    float *p = malloc((size_t)n * sizeof *p);
    if (!p) { fprintf(stderr, "bench_conv: out of memory\n"); exit(1); }
    rng r;
    rng_init(&r, seed, 0, 0);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rng_normal(&r);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: bench_conv B H W C OC K stride pad [threads [iters]]\n");
        return 2;
    }
    int a[8];
    for (int i = 0; i < 8; i++) a[i] = atoi(argv[i + 1]);
    int threads = argc > 9 ? atoi(argv[9]) : 1, iters = argc > 10 ? atoi(argv[10]) : 10;
    conv_shape s;
    if (conv_shape_init(&s, a[0], a[1], a[2], a[3], a[4], a[5], a[5], a[6], a[7]) < 0) {
        fprintf(stderr, "bench_conv: bad shape\n");
        return 2;
    }
    ssl_set_threads(threads);
    int64_t nin = (int64_t)s.B * s.H * s.W * s.C, nout = (int64_t)s.B * s.OH * s.OW * s.OC;
    int64_t nw = (int64_t)s.OC * s.C * s.KH * s.KW;
    float *in = randn(nin, 1), *w = randn(nw, 2), *dout = randn(nout, 3), *out = randn(nout, 4);
    float *din = randn(nin, 5), *dw = randn(nw, 6), *ws = randn(conv2d_workspace(&s), 7);
    double fl = 2.0 * nout * s.C * s.KH * s.KW, tf = 1e30, tb = 1e30, tw = 1e30;
    for (int it = 0; it < iters; it++) {
        double t0 = now_s();
        conv2d_forward(out, in, w, NULL, &s, ws);
        double t1 = now_s();
        conv2d_backward(din, dw, NULL, dout, in, w, &s, 0, ws);
        double t2 = now_s();
        conv2d_backward(NULL, dw, NULL, dout, in, w, &s, 0, ws);
        double t3 = now_s();
        if (t1 - t0 < tf) tf = t1 - t0;
        if (t2 - t1 < tb) tb = t2 - t1;
        if (t3 - t2 < tw) tw = t3 - t2;
    }
    printf("B%d %dx%dx%d -> %dx%dx%d k%d s%d p%d t%d: fwd %.2f ms %.1f GFLOP/s; "
           "bwd %.2f ms %.1f GFLOP/s (weights %.2f ms %.1f, data %.2f ms %.1f)\n",
           s.B, s.H, s.W, s.C, s.OH, s.OW, s.OC, s.KH, s.stride, s.pad, threads, 1e3 * tf,
           fl / tf * 1e-9, 1e3 * tb, 2 * fl / tb * 1e-9, 1e3 * tw, fl / tw * 1e-9,
           1e3 * (tb - tw), fl / (tb - tw) * 1e-9);
    free(in); free(w); free(dout); free(out); free(din); free(dw); free(ws);
    return 0;
}
