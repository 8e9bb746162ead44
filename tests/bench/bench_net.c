/* bench_net.c: throughput of the networks (lib/nn/net.h) on this machine.
 *
 * Runs `--warmup` untimed then `--iters` timed iterations of either a
 * training step (forward in training mode, backward of a fixed random
 * gradient, SGD step) or an inference forward, on random inputs, and
 * prints one line: median img/s, achieved GFLOP/s (training counts 3x the
 * forward FLOPs), its fraction of the fp32 FMA peak measured in the same
 * process on the same threads (a register-only FMA loop, AVX-512 where the
 * build has it), and peak RSS. --profile adds the per-layer table
 * (stderr). --json prints the same figures as one JSON object instead.
 * --precision bf16 runs the network in bf16 (net_set_precision; needs
 * AVX512-BF16); --precision ab builds the network twice, fp32 and bf16,
 * and alternates their iterations in this one process, printing both and
 * the ratio bf16 / fp32 of their medians (an A/B that both sides see
 * under the same load); --precision abc adds, in each round, the bf16
 * network with AMX turned off (gemm_bf16_set_amx(0)) and prints the three
 * medians and their ratios (needs AMX). The bf16 products (the GEMMs and
 * the Winograd products of 32k channels) run on AMX where the CPU has it
 * (SSL_NO_AMX=1: VDPBF16PS, as in the tools).
 * --split off runs inference with the threads sharing each layer (one
 * ssl_parallel_for per op), on with the batch split, each thread running
 * every layer on its own slice of the batch, auto (the default, as in the
 * tools) with the split where net_set_batch_split's rule allows it;
 * --split ab alternates off and on on the same network, iteration by
 * iteration in this one process, and prints both and the ratio split /
 * per-op of their medians (an A/B that both sides see under the same
 * load), and the process's CPU time per image of each. The two give the
 * same bits.
 * --fuse off turns the training-mode fusions off (net_set_fusion: the
 * MobileNets' around the depthwise layers, the ResNet blocks' BN read
 * through by the next 3x3 convolution; the separate passes, the same
 * bits); --fuse ab alternates off and on on the same network, step by
 * step in this one process (training only), and prints both, the ratio
 * on / off of their medians and the process's CPU time per image of each.
 * --winograd N sets the convolutions' CONV_WINOGRAD_* mode (net_set_winograd),
 * as SSL_CONV_WINOGRAD does in the tools: 0 the direct kernels only, 1
 * the default, 2 F(2x2, 3x3) wherever it applies, 3 the default with
 * F(2x2) only, 4 F(4x4, 3x3) in fp32 wherever it applies.
 * --cpu-time (with --threads 1) times the iterations (and --profile's
 * layers) in this thread's CPU time instead of wall time, which leaves out the waits for a core on a
 * shared machine (for comparing builds there; OpenBLAS, which the
 * networks use only in builds without AVX-512, runs on the same thread at
 * --threads 1).
 *
 * The peak is measured, not quoted, as it depends on the CPU
 * (bench_util.h: bench_fp32_peak). The FLOPs are the network's nominal ones, those
 * of direct convolutions; the Winograd kernels do fewer multiplies, so
 * the fraction of the peak can exceed 100%. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "nn/net.h"
#include "nn/ops/ops.h"
#include "util/clock.h"
#include "bench_util.h"
#include "util/mem.h"
#include "util/rng.h"
#include "util/threads.h"

static long num(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_net: %s: '%s' is not an integer in [%ld, %ld]\n", flag, s, lo, hi);
        exit(2);
    }
    return v;
}

static int cpu_time;

static double now(void) {
    if (!cpu_time) return ssl_clock();
    return bench_thread_cpu();
}

static void step(net *n, const float *x, const float *dout, int B, int train) {
    if (train) {
        net_zero_grad(n);
        net_forward(n, x, B, 1);
        net_backward(n, dout);
        net_sgd_step(n, 1e-6f, 0.9f, 5e-4f);
    } else {
        net_forward(n, x, B, 0);
    }
}

/* Alternating A/B rounds: side(ctx, 0) then side(ctx, 1) each round;
 * med[0..3] = the medians after warmup of A's and B's wall seconds, then
 * of their process CPU seconds. 0, or 1 out of memory. */
static int ab_rounds(void (*side)(void *ctx, int b), void *ctx, int iters, int warmup,
                     double med[4]) {
    double *t = malloc(sizeof *t * 4 * (size_t)iters);
    if (!t) return 1;
    for (int it = 0; it < warmup + iters; it++) {
        double t0 = now(), c0 = bench_process_cpu();
        side(ctx, 0);
        double t1 = now(), c1 = bench_process_cpu();
        side(ctx, 1);
        double t2 = now(), c2 = bench_process_cpu();
        if (it >= warmup) {
            int i = it - warmup;
            t[i] = t1 - t0; t[iters + i] = t2 - t1;
            t[2 * iters + i] = c1 - c0; t[3 * iters + i] = c2 - c1;
        }
    }
    for (int k = 0; k < 4; k++) med[k] = bench_median(t + k * iters, iters);
    free(t);
    return 0;
}

typedef struct { net *n; const float *x, *dout; int B; } ab_side_ctx;

static void split_side(void *v, int b) {
    ab_side_ctx *a = v;
    net_set_batch_split(a->n, b ? NET_SPLIT_ALWAYS : NET_SPLIT_OFF);
    net_forward(a->n, a->x, a->B, 0);
}

static void fuse_side(void *v, int b) {
    ab_side_ctx *a = v;
    net_set_fusion(a->n, b);
    step(a->n, a->x, a->dout, a->B, 1);
}

/* --split ab: inference with the per-op threads and with the batch split
 * alternating on one network; beside the wall time, the CPU time of the
 * whole process per image (all threads: what each way costs in work, its
 * waits for a core on a loaded machine left out). */
static int split_ab(net *n, const net_config *c, int B, int iters, int warmup, int threads) {
    size_t nx = (size_t)B * c->in_h * c->in_w * c->in_ch;
    float *x = malloc(nx * sizeof *x);
    double m[4];
    if (!x) { fprintf(stderr, "bench_net: out of memory\n"); return 1; }
    rng r;
    rng_init(&r, 1, 0, 0);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_normal(&r);
    ab_side_ctx a = { n, x, NULL, B };
    if (ab_rounds(split_side, &a, iters, warmup, m)) { fprintf(stderr, "bench_net: out of memory\n"); return 1; }
    double mo = m[0], ms = m[1], co = m[2], cs = m[3];
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-8s w%-5g infer B%-4d threads %d: per-op %8.1f img/s, split %8.1f img/s, "
           "split/per-op %.2f (A/B, alternating); CPU ms/img per-op %.3f, split %.3f; "
           "RSS %.0f MiB\n", c->arch, c->width, B, threads, B / mo, B / ms, mo / ms,
           1e3 * co / B, 1e3 * cs / B, ru.ru_maxrss / 1024.0);
    free(x);
    net_free(n);
    return 0;
}

/* --fuse ab: training steps with the fusions off
 * and on alternating on one network (wall and process CPU time). */
static int fuse_ab(net *n, const net_config *c, int B, int iters, int warmup, int threads) {
    size_t nx = (size_t)B * c->in_h * c->in_w * c->in_ch, nd = (size_t)B * net_out_dim(n);
    float *x = malloc(nx * sizeof *x), *dout = malloc(nd * sizeof *dout);
    double m[4];
    if (!x || !dout) { fprintf(stderr, "bench_net: out of memory\n"); return 1; }
    rng r;
    rng_init(&r, 1, 0, 0);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < nd; i++) dout[i] = (float)rng_normal(&r) * 1e-3f;
    ab_side_ctx a = { n, x, dout, B };
    if (ab_rounds(fuse_side, &a, iters, warmup, m)) { fprintf(stderr, "bench_net: out of memory\n"); return 1; }
    double mo = m[0], mf = m[1], co = m[2], cf = m[3];
    printf("%-8s w%-5g train B%-4d threads %d: fusion off %8.1f img/s, on %8.1f img/s, "
           "on/off %.2f (A/B, alternating); CPU ms/img off %.3f, on %.3f\n", c->arch, c->width,
           B, threads, B / mo, B / mf, mo / mf, 1e3 * co / B, 1e3 * cf / B);
    free(x); free(dout);
    net_free(n);
    return 0;
}

/* --precision ab: fp32 (n) and bf16 (a second copy) alternating; abc:
 * also bf16 with AMX off (gemm_bf16_set_amx(0) around its steps: the
 * products on VDPBF16PS) and on, in that order each round. */
static int ab(net *n, const net_config *c, int B, int iters, int warmup, int train, int threads,
              int three) {
    ssl_err err = {0};
    net *h = net_new(c, B, &err);
    if (!h) { fprintf(stderr, "bench_net: %s\n", err.msg); return 1; }
    net_init(h, 1);
    net_set_precision(h, PREC_BF16);
    size_t nx = (size_t)B * c->in_h * c->in_w * c->in_ch, nd = (size_t)B * net_out_dim(n);
    float *x = malloc(nx * sizeof *x), *dout = malloc(nd * sizeof *dout);
    double *t = malloc(sizeof *t * 3 * (size_t)iters), *u = t + iters, *v = u + iters;
    if (!x || !dout || !t) { fprintf(stderr, "bench_net: out of memory\n"); return 1; }
    rng r;
    rng_init(&r, 1, 0, 0);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < nd; i++) dout[i] = (float)rng_normal(&r) * 1e-3f;
    for (int it = 0; it < warmup + iters; it++) {
        double t0 = now();
        step(n, x, dout, B, train);
        double t1 = now(), t3 = t1;     /* the bf16 (AMX) step's start */
        if (three) {
            gemm_bf16_set_amx(0);
            step(h, x, dout, B, train);
            gemm_bf16_set_amx(1);
            t3 = now();
        }
        step(h, x, dout, B, train);
        double t2 = now();
        if (it >= warmup) {
            t[it - warmup] = t1 - t0;
            u[it - warmup] = t2 - t3;
            v[it - warmup] = t3 - t1;
        }
    }
    double m32 = bench_median(t, iters), m16 = bench_median(u, iters);
    if (three) {
        double mv = bench_median(v, iters);
        printf("%-8s w%-5g %-5s B%-4d threads %d: fp32 %8.1f img/s, bf16 VDPBF16PS %8.1f, "
               "bf16 AMX %8.1f; amx/fp32 %.2f, vdp/fp32 %.2f, amx/vdp %.2f (alternating)\n",
               c->arch, c->width, train ? "train" : "infer", B, threads, B / m32, B / mv,
               B / m16, m32 / m16, m32 / mv, mv / m16);
    } else {
        printf("%-8s w%-5g %-5s B%-4d threads %d: fp32 %8.1f img/s, bf16 %8.1f img/s, "
               "bf16/fp32 %.2f (A/B, alternating)\n", c->arch, c->width, train ? "train" : "infer",
               B, threads, B / m32, B / m16, m32 / m16);
    }
    free(x); free(dout); free(t);
    net_free(h);
    net_free(n);
    return 0;
}

static void usage(FILE *f) {
    fprintf(f, "usage: bench_net [--arch resnet18|resnet34|resnet50|mobilenetv2|mobilenetv3s]\n"
               "  [--stem cifar|imagenet]\n"
               "  [--width W] [--size S] [--in-ch C] [--head none|linear|mlp3] [--batch B]\n"
               "  [--mode train|infer] [--iters N] [--warmup N] [--threads N] [--cpu-time] [--profile]\n"
               "  [--json] [--precision fp32|bf16|ab|abc] [--split off|auto|on|ab]\n"
               "  [--fuse on|off|ab] [--winograd 0-4]\n");
}

int main(int argc, char **argv) {
    net_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.arch, "resnet18"); strcpy(c.stem, "cifar"); strcpy(c.head, "none");
    c.width = 1; c.in_ch = 3; c.in_h = c.in_w = 32; c.hidden = 2048; c.dim = 128;
    int B = 128, iters = 5, warmup = 1, threads = 2, profile = 0, json = 0, train = 1, prec = 0;
    int split = NET_SPLIT_AUTO, fuse = 1, wmode = CONV_WINOGRAD_AUTO;
    const char *nohuge = getenv("SSL_NO_HUGEPAGES");   /* as the tools: 1 for 4 KiB pages */
    if (nohuge && !strcmp(nohuge, "1")) ssl_set_huge_pages(0);
    static const struct option opts[] = {
        { "arch", 1, 0, 'a' }, { "stem", 1, 0, 's' }, { "width", 1, 0, 'w' },
        { "size", 1, 0, 'S' }, { "in-ch", 1, 0, 'c' }, { "head", 1, 0, 'H' },
        { "batch", 1, 0, 'b' }, { "mode", 1, 0, 'm' }, { "iters", 1, 0, 'i' },
        { "warmup", 1, 0, 'W' }, { "threads", 1, 0, 't' }, { "profile", 0, 0, 'p' },
        { "json", 0, 0, 'j' }, { "precision", 1, 0, 'P' }, { "cpu-time", 0, 0, 'C' },
        { "split", 1, 0, 'x' }, { "fuse", 1, 0, 'f' }, { "winograd", 1, 0, 'g' },
        { "help", 0, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'a': snprintf(c.arch, sizeof c.arch, "%s", optarg); break;
        case 's': snprintf(c.stem, sizeof c.stem, "%s", optarg); break;
        case 'H': snprintf(c.head, sizeof c.head, "%s", optarg); break;
        case 'w': {
            char *end;
            c.width = strtof(optarg, &end);
            if (end == optarg || *end || !(c.width > 0)) {
                fprintf(stderr, "bench_net: --width: '%s' is not a positive number\n", optarg);
                return 2;
            }
            break;
        }
        case 'S': c.in_h = c.in_w = (int)num("--size", optarg, 8, 4096); break;
        case 'c': c.in_ch = (int)num("--in-ch", optarg, 1, 4096); break;
        case 'b': B = (int)num("--batch", optarg, 1, 1 << 16); break;
        case 'i': iters = (int)num("--iters", optarg, 1, 100000); break;
        case 'W': warmup = (int)num("--warmup", optarg, 0, 100000); break;
        case 't': threads = (int)num("--threads", optarg, 1, 64); break;
        case 'p': profile = 1; break;
        case 'j': json = 1; break;
        case 'C': cpu_time = 1; break;
        case 'g': wmode = (int)num("--winograd", optarg, 0, 4); break;
        case 'm':
            if (!strcmp(optarg, "train")) train = 1;
            else if (!strcmp(optarg, "infer")) train = 0;
            else { fprintf(stderr, "bench_net: --mode: '%s' is not train or infer\n", optarg); return 2; }
            break;
        case 'P':
            if (!strcmp(optarg, "fp32")) prec = 0;
            else if (!strcmp(optarg, "bf16")) prec = 1;
            else if (!strcmp(optarg, "ab")) prec = 2;
            else if (!strcmp(optarg, "abc")) prec = 3;
            else { fprintf(stderr, "bench_net: --precision: '%s' is not fp32, bf16, ab or abc\n", optarg); return 2; }
            break;
        case 'x':
            if (!strcmp(optarg, "off")) split = NET_SPLIT_OFF;
            else if (!strcmp(optarg, "auto")) split = NET_SPLIT_AUTO;
            else if (!strcmp(optarg, "on")) split = NET_SPLIT_ALWAYS;
            else if (!strcmp(optarg, "ab")) split = 3;
            else { fprintf(stderr, "bench_net: --split: '%s' is not off, auto, on or ab\n", optarg); return 2; }
            break;
        case 'f':
            if (!strcmp(optarg, "off")) fuse = 0;
            else if (!strcmp(optarg, "on")) fuse = 1;
            else if (!strcmp(optarg, "ab")) fuse = 2;
            else { fprintf(stderr, "bench_net: --fuse: '%s' is not on, off or ab\n", optarg); return 2; }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (cpu_time && threads != 1) {
        fprintf(stderr, "bench_net: --cpu-time needs --threads 1\n");
        return 2;
    }
    if (fuse == 2 && (!train || prec >= 2 || split == 3)) {
        fprintf(stderr, "bench_net: --fuse ab needs --mode train, no --precision ab and no --split ab\n");
        return 2;
    }
    if (split == 3 && (train || prec == 2)) {
        fprintf(stderr, "bench_net: --split ab needs --mode infer and no --precision ab\n");
        return 2;
    }
    ssl_set_threads(threads);
    if (prec && !gemm_bf16_available()) {
        fprintf(stderr, "bench_net: --precision bf16: this CPU has no AVX512-BF16\n");
        return 1;
    }
    const char *no_amx = getenv("SSL_NO_AMX");     /* as the tools read it */
    if (no_amx && !strcmp(no_amx, "1")) gemm_bf16_set_amx(0);
    if (prec) fprintf(stderr, "bench_net: bf16 matrix products on %s\n",
                      gemm_bf16_amx() ? "AMX where the shape allows, else VDPBF16PS"
                                      : "VDPBF16PS");
    double peak = bench_fp32_peak(threads);
    ssl_err err = {0};
    net *n = net_new(&c, B, &err);
    if (!n) { fprintf(stderr, "bench_net: %s\n", err.msg); return 1; }
    net_init(n, 1);
    net_set_winograd(n, wmode);
    if (prec == 1) net_set_precision(n, PREC_BF16);
    if (prec == 3 && !gemm_bf16_amx()) {
        fprintf(stderr, "bench_net: --precision abc: no AMX here (or SSL_NO_AMX=1)\n");
        return 1;
    }
    if (prec >= 2) return ab(n, &c, B, iters, warmup, train, threads, prec == 3);
    if (split == 3) return split_ab(n, &c, B, iters, warmup, threads);
    if (fuse == 2) return fuse_ab(n, &c, B, iters, warmup, threads);
    net_set_fusion(n, fuse);
    net_set_batch_split(n, split);
    size_t nx = (size_t)B * c.in_h * c.in_w * c.in_ch, nd = (size_t)B * net_out_dim(n);
    float *x = malloc(nx * sizeof *x), *dout = malloc(nd * sizeof *dout);
    if (!x || !dout) { fprintf(stderr, "bench_net: out of memory\n"); return 1; }
    rng r;
    rng_init(&r, 1, 0, 0);
    for (size_t i = 0; i < nx; i++) x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < nd; i++) dout[i] = (float)rng_normal(&r) * 1e-3f;
    double *t = malloc((size_t)iters * sizeof *t);
    for (int it = 0; it < warmup + iters; it++) {
        if (profile && it == warmup) net_profile_enable(n, cpu_time ? 2 : 1);
        double t0 = now();
        step(n, x, dout, B, train);
        if (it >= warmup) t[it - warmup] = now() - t0;
    }
    double med = bench_median(t, iters);
    double ips = B / med, gf = ips * net_flops(n) * (train ? 3 : 1) * 1e-9;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss = ru.ru_maxrss / 1024.0;
    if (json)
        printf("{\"arch\":\"%s\",\"width\":%g,\"batch\":%d,\"mode\":\"%s\",\"threads\":%d,"
               "\"img_per_s\":%.2f,\"gflops\":%.1f,\"peak_gflops\":%.1f,\"peak_frac\":%.3f,"
               "\"rss_mib\":%.0f}\n",
               c.arch, c.width, B, train ? "train" : "infer", threads, ips, gf, peak,
               peak > 0 ? gf / peak : 0, rss);
    else if (peak > 0)
        printf("%-8s w%-5g %-5s B%-4d %8.1f img/s %7.1f GFLOP/s (%4.1f%% of the %.0f FMA peak) "
               "RSS %6.0f MiB\n",
               c.arch, c.width, train ? "train" : "infer", B, ips, gf, 100 * gf / peak, peak, rss);
    else
        printf("%-8s w%-5g %-5s B%-4d %8.1f img/s %7.1f GFLOP/s RSS %6.0f MiB\n", c.arch,
               c.width, train ? "train" : "infer", B, ips, gf, rss);
    if (profile) net_profile_print(n, stderr);
    free(t); free(x); free(dout);
    net_free(n);
    return 0;
}
