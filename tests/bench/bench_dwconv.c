/* bench_dwconv.c: the depthwise convolutions of a MobileNet (nn/ops/ops.h,
 * dwconv_*) against this machine's memory bandwidth, measured in the same
 * process.
 *
 * Depthwise convolutions do KH*KW multiply-adds per element they read or
 * write, so they are bound by memory, not by FMAs: each pass is reported in
 * GB/s of the traffic it cannot avoid (every tensor it reads or writes
 * once, the weights left out) and as a fraction of a STREAM-style triad
 * a[i] = b[i] + s c[i] (3 x 4 bytes per element) on the same threads.
 * The bandwidth is measured first on 1 and on `--threads` threads: copy
 * (a[i] = b[i], 8 bytes per element) and triad over arrays of 2^24 floats
 * (64 MiB, far beyond any cache), the best of 5 runs each.
 *
 * The shapes are those the network (--arch, --width, 32x32x3 input, the
 * cifar stem) runs, read from its layer table (net_dw_layer), each distinct one (input
 * size, channels, kernel, stride) once with the layers that share it, at
 * batch --batch:
 *   fwd     reads in, writes out;
 *   data    the input gradient (dwconv_backward with din less the same
 *           call without it, per iteration; "under the noise" where that
 *           median is not positive): reads dout, writes din;
 *   weights the weight gradient (dwconv_backward without din): reads in
 *           and dout.
 * Each is the median over --iters; --rounds repeats the whole table.
 * Usage: bench_dwconv [--arch mobilenetv2|mobilenetv3s] [--width W]
 *                     [--batch B] [--threads N] [--iters N] */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn/ops/ops.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/threads.h"
#include "bench_util.h"

#define STREAM_N (1L << 24)

static long num(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_dwconv: %s: '%s' is not an integer in [%ld, %ld]\n", flag, s, lo,
                hi);
        exit(2);
    }
    return v;
}

static float *alloc_randn(int64_t n, uint64_t seed) {
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) { fprintf(stderr, "bench_dwconv: out of memory\n"); exit(1); }
    rng r;
    rng_init(&r, seed, 0, 0);
    for (int64_t i = 0; i < n; i++) p[i] = (float)rng_normal(&r);
    return p;
}

/* ---- the network's depthwise shapes ---- */
#define MAX_SHAPES 64
typedef struct { conv_shape s; int layers; } dw_shape;

/* Adds layer i of n to the distinct shapes t[0..ns); returns the new ns. */
static int add_shape(dw_shape *t, int ns, const net *n, int i) {
    int H, W, C, k, st;
    net_dw_layer(n, i, &H, &W, &C, &k, &st);
    for (int j = 0; j < ns; j++) {
        const conv_shape *s = &t[j].s;
        if (s->H == H && s->W == W && s->C == C && s->KH == k && s->stride == st) {
            t[j].layers++;
            return ns;
        }
    }
    if (ns == MAX_SHAPES || conv_shape_init(&t[ns].s, 1, H, W, C, C, k, k, st, k / 2) < 0)
        return ns;
    t[ns].layers = 1;
    return ns + 1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_dwconv [--arch mobilenetv2|mobilenetv3s] [--width W] [--batch B]\n"
               "  [--threads N] [--iters N]\n");
}

int main(int argc, char **argv) {
    net_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "mobilenetv2"); strcpy(c.stem, "cifar"); strcpy(c.head, "none");
    c.width = 1; c.in_ch = 3; c.in_h = c.in_w = 32; c.hidden = 2048; c.dim = 128;
    int B = 128, threads = 2, iters = 5;
    static const struct option opts[] = {
        { "arch", 1, 0, 'a' }, { "width", 1, 0, 'w' }, { "batch", 1, 0, 'b' },
        { "threads", 1, 0, 't' }, { "iters", 1, 0, 'i' }, { "help", 0, 0, 'h' }, { 0, 0, 0, 0 }
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'a': snprintf(c.arch, sizeof c.arch, "%s", optarg); break;
        case 'w': {
            char *end;
            c.width = strtof(optarg, &end);
            if (end == optarg || *end || !(c.width > 0)) {
                fprintf(stderr, "bench_dwconv: --width: '%s' is not a positive number\n", optarg);
                return 2;
            }
            break;
        }
        case 'b': B = (int)num("--batch", optarg, 1, 1 << 14); break;
        case 't': threads = (int)num("--threads", optarg, 1, 64); break;
        case 'i': iters = (int)num("--iters", optarg, 1, 100000); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    ssl_err err = {0};
    net *n = net_new(&c, 1, &err);        /* batch 1: only its layer table is read */
    if (!n) { fprintf(stderr, "bench_dwconv: %s\n", err.msg); return 1; }
    int nl = net_dw_layer(n, 0, NULL, NULL, NULL, NULL, NULL);
    if (!nl) {
        fprintf(stderr, "bench_dwconv: --arch: '%s' has no depthwise convolutions\n", c.arch);
        return 2;
    }
    dw_shape tab[MAX_SHAPES];
    int ns = 0;
    for (int i = 0; i < nl; i++) ns = add_shape(tab, ns, n, i);
    net_free(n);

    /* bandwidth on 1 thread, then on `threads` */
    float *a = alloc_randn(STREAM_N, 1), *b = alloc_randn(STREAM_N, 2), *cc = alloc_randn(STREAM_N, 3);
    double copy1, triad1, copyT, triadT;
    ssl_set_threads(1);
    copy1 = bench_stream(a, b, cc, STREAM_N, 0);
    triad1 = bench_stream(a, b, cc, STREAM_N, 1);
    ssl_set_threads(threads);
    copyT = bench_stream(a, b, cc, STREAM_N, 0);
    triadT = bench_stream(a, b, cc, STREAM_N, 1);
    free(a); free(b); free(cc);
    printf("memory bandwidth: copy %.1f GB/s, triad %.1f GB/s on 1 thread; copy %.1f, "
           "triad %.1f on %d\n", copy1, triad1, copyT, triadT, threads);
    printf("%s w%g depthwise convolutions, batch %d, %d threads: ms, GB/s, %% of the "
           "%d-thread triad\n", c.arch, c.width, B, threads, threads);

    for (int i = 0; i < ns; i++) {
        conv_shape s = tab[i].s;
        s.B = B;
        int64_t nin = (int64_t)B * s.H * s.W * s.C, nout = (int64_t)B * s.OH * s.OW * s.C;
        int64_t nw = (int64_t)s.C * s.KH * s.KW;
        float *in = alloc_randn(nin, 4), *w = alloc_randn(nw, 5), *dout = alloc_randn(nout, 6);
        float *out = alloc_randn(nout, 7), *din = alloc_randn(nin, 8), *dw = alloc_randn(nw, 9);
        float *ws = alloc_randn(dwconv_workspace(&s), 10);
        double *tf = malloc(3 * (size_t)iters * sizeof *tf), *td = tf + iters, *tw = td + iters;
        if (!tf) { fprintf(stderr, "bench_dwconv: out of memory\n"); return 1; }
        dwconv_forward(out, in, w, &s, ws);                  /* warm up */
        dwconv_backward(din, dw, dout, in, w, &s, 0, ws);
        for (int it = 0; it < iters; it++) {
            double t0 = ssl_clock();
            dwconv_forward(out, in, w, &s, ws);
            double t1 = ssl_clock();
            dwconv_backward(din, dw, dout, in, w, &s, 0, ws);
            double t2 = ssl_clock();
            dwconv_backward(NULL, dw, dout, in, w, &s, 0, ws);
            double t3 = ssl_clock();
            tf[it] = t1 - t0;
            tw[it] = t3 - t2;
            td[it] = (t2 - t1) - (t3 - t2);
        }
        double f = bench_median(tf, iters), d = bench_median(td, iters), g = bench_median(tw, iters);
        double bytes = 4.0 * (nin + nout);                  /* each pass: one of each */
        double gf = bytes / f * 1e-9, gd = d > 0 ? bytes / d * 1e-9 : 0, gw = bytes / g * 1e-9;
        char data[64];
        if (d > 0)
            snprintf(data, sizeof data, "%6.2f ms %5.1f %3.0f%%", 1e3 * d, gd, 100 * gd / triadT);
        else   /* a difference of two timings: lost in the noise */
            snprintf(data, sizeof data, "(under the noise)");
        printf("  %2dx%-2d C%-4d %dx%d s%d (%d layer%s): fwd %6.2f ms %5.1f GB/s %3.0f%%; "
               "data %s; weights %6.2f ms %5.1f %3.0f%%\n",
               s.H, s.W, s.C, s.KH, s.KW, s.stride, tab[i].layers, tab[i].layers > 1 ? "s" : "",
               1e3 * f, gf, 100 * gf / triadT, data, 1e3 * g, gw, 100 * gw / triadT);
        free(in); free(w); free(dout); free(out); free(din); free(dw); free(ws); free(tf);
    }
    return 0;
}
