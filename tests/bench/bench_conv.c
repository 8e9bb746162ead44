/* bench_conv.c: one convolution's forward and backward (nn/ops/ops.h) at a
 * given shape, on this machine: milliseconds and GFLOP/s of the forward,
 * of the backward-data and of the weight gradient, each the median over
 * the iterations (this machine's speed moves between runs; medians are
 * steadier than minima).
 * Usage: bench_conv B H W C OC K stride pad [threads [iters [winograd
 * [precision]]]].
 * winograd: the shape's CONV_WINOGRAD_* mode, 0 (direct kernels only), 1
 * (the default dispatch), 2 (Winograd F(2x2, 3x3) wherever it applies:
 * 3x3 s1 p1, C and OC multiples of 16), 3 (the default dispatch with
 * F(2x2) only) or 4 (F(4x4, 3x3) wherever it applies, in fp32). precision: fp32 (the default) or bf16 (the
 * shape's prec PREC_BF16: needs AVX512-BF16; on AMX unless SSL_NO_AMX=1).
 * With threads 1 the times are the thread's CPU time (bench_thread_cpu),
 * which leaves out the waits for a core on a shared machine; with more,
 * wall time. The backward-data time is that of conv2d_backward with the
 * data gradient less that of the same call without it, per iteration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_util.h"
#include <time.h>

#include "nn/ops/ops.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/threads.h"

static float *randn(int64_t n, uint64_t seed) {
    float *p = malloc((size_t)n * sizeof *p);
    if (!p) { fprintf(stderr, "bench_conv: out of memory\n"); exit(1); }
    rng r;
    rng_init(&r, seed, 0, 0);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rng_normal(&r);
    return p;
}

static int parse_int(const char *s, const char *what, int lo, int hi) {
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end != 0 || v < lo || v > hi) {
        fprintf(stderr, "bench_conv: bad %s: %s\n", what, s);
        exit(2);
    }
    return (int)v;
}

int main(int argc, char **argv) {
    static const char *names[8] = { "B", "H", "W", "C", "OC", "K", "stride", "pad" };
    if (argc < 9 || argc > 13) {
        fprintf(stderr, "usage: bench_conv B H W C OC K stride pad [threads [iters "
                        "[winograd [fp32|bf16]]]]\n");
        return 2;
    }
    int a[8];
    for (int i = 0; i < 8; i++) a[i] = parse_int(argv[i + 1], names[i], i == 7 ? 0 : 1, 1 << 20);
    int threads = argc > 9 ? parse_int(argv[9], "threads", 1, 64) : 1;
    int iters = argc > 10 ? parse_int(argv[10], "iters", 1, 1 << 20) : 10;
    conv_shape s;
    if (conv_shape_init(&s, a[0], a[1], a[2], a[3], a[4], a[5], a[5], a[6], a[7]) < 0) {
        fprintf(stderr, "bench_conv: bad shape\n");
        return 2;
    }
    if (argc > 11) s.winograd = parse_int(argv[11], "winograd", 0, 4);
    if (argc > 12) {
        if (!strcmp(argv[12], "bf16")) s.prec = PREC_BF16;
        else if (strcmp(argv[12], "fp32")) {
            fprintf(stderr, "bench_conv: bad precision: %s (fp32 or bf16)\n", argv[12]);
            return 2;
        }
        const char *no_amx = getenv("SSL_NO_AMX");     /* as the tools read it */
        if (no_amx && !strcmp(no_amx, "1")) gemm_bf16_set_amx(0);
        if (s.prec == PREC_BF16 && !gemm_bf16_available()) {
            fprintf(stderr, "bench_conv: bf16: this CPU has no AVX512-BF16\n");
            return 2;
        }
    }
    ssl_set_threads(threads);
    int64_t nin = (int64_t)s.B * s.H * s.W * s.C, nout = (int64_t)s.B * s.OH * s.OW * s.OC;
    int64_t nw = (int64_t)s.OC * s.C * s.KH * s.KW;
    float *in = randn(nin, 1), *w = randn(nw, 2), *dout = randn(nout, 3), *out = randn(nout, 4);
    float *din = randn(nin, 5), *dw = randn(nw, 6), *ws = randn(conv2d_bf16_workspace(&s), 7);
    double *tf = malloc(3 * (size_t)iters * sizeof *tf), *td = tf + iters, *tw = td + iters;
    if (!tf) { fprintf(stderr, "bench_conv: out of memory\n"); return 1; }
    double fl = 2.0 * nout * s.C * s.KH * s.KW;
    double (*clk)(void) = threads == 1 ? bench_thread_cpu : ssl_clock;
    conv2d_forward(out, in, w, NULL, &s, ws);                 /* warm up */
    for (int it = 0; it < iters; it++) {
        double t0 = clk();
        conv2d_forward(out, in, w, NULL, &s, ws);
        double t1 = clk();
        conv2d_backward(din, dw, NULL, dout, in, w, &s, 0, ws);
        double t2 = clk();
        conv2d_backward(NULL, dw, NULL, dout, in, w, &s, 0, ws);
        double t3 = clk();
        tf[it] = t1 - t0;
        tw[it] = t3 - t2;
        td[it] = (t2 - t1) - (t3 - t2);
    }
    double f = bench_median(tf, iters), d = bench_median(td, iters), g = bench_median(tw, iters);
    printf("B%d %dx%dx%d -> %dx%dx%d k%d s%d p%d t%d wg%d%s: fwd %.2f ms %.1f GFLOP/s; "
           "data %.2f ms %.1f; weights %.2f ms %.1f\n",
           s.B, s.H, s.W, s.C, s.OH, s.OW, s.OC, s.KH, s.stride, s.pad, threads,
           s.winograd, s.prec == PREC_BF16 ? (gemm_bf16_amx() ? " bf16-amx" : " bf16") : "",
           1e3 * f, fl / f * 1e-9, 1e3 * d, fl / d * 1e-9, 1e3 * g,
           fl / g * 1e-9);
    free(in); free(w); free(dout); free(out); free(din); free(dw); free(ws); free(tf);
    return 0;
}
