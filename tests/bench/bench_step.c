/* bench_step.c: the training step of ssl-train, in process, as a fraction
 * of the FMA peak.
 *
 * usage: bench_step CKPT DATA [--batch B] [-k K] [--steps N] [--warmup N]
 *                   [--threads N] [--precision fp32|bf16|ab]
 *
 * Loads CKPT (ssl-init-bank's: network and bank) and DATA (its dataset)
 * and runs the library's own training step (run/train.h: trainer_step:
 * augmentation, CutMix, forward, loss, bank write, backward, SGD) with the
 * paper recipe's settings at batch B (default 256) and K negatives
 * (default 4096; clipped to N - B as ssl-train clips it), Winograd as the
 * tools choose it (SSL_CONV_WINOGRAD unset). --warmup steps (default 2)
 * are not timed, then the median of --steps (default 8) is. Prints:
 *   - the FLOPs per batch, from run_step_cost (run/run.h; tested against a
 *     hand count in tests/test_flops.c): backbone and head 3x their forward
 *     FLOPs (forward, input gradient, weight gradient; Winograd layers
 *     counted as the direct convolution's multiply-adds, the work they
 *     replace, so a step may exceed the peak), the bank's products 2 B K' d
 *     each (logits, dz, the grad write's deltas); BN, ReLU, pooling,
 *     augmentation, the softmax and SGD are time but no FLOPs;
 *   - the fp32 FMA peak measured in this process on the same threads
 *     (bench_util.h), and where the CPU has AVX512-BF16 the VDPBF16PS
 *     peak (bf16 products with fp32 sums, 2x the FMA's FLOPs per
 *     instruction; AMX tiles, which the bf16 products use where the CPU
 *     has them, are not measured);
 *   - per precision: img/s and GFLOP/s of the median step, its % of the
 *     fp32 peak (bf16 also of the VDPBF16PS peak), and the step's time
 *     split (augmentation, network, bank) over the timed steps with the
 *     network's and the bank's own GFLOP/s.
 * --precision ab (needs AVX512-BF16) loads the checkpoint twice and
 * alternates fp32 and bf16 steps in this one process, and prints the
 * ratio of the medians, bf16 / fp32 speed (an A/B both sides see under
 * the same load). Speed is reported, never asserted. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "run/run.h"
#include "run/train.h"
#include "util/clock.h"
#include "util/threads.h"
#include "bench_util.h"

static long num(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_step: %s: '%s' is not an integer in [%ld, %ld]\n", flag, s, lo, hi);
        exit(2);
    }
    return v;
}

typedef struct {
    ssl_ckpt ck;
    trainer *t;
    train_status st;
    double *times;
    double aug, net, bank;        /* seconds over the timed steps */
} side;

static int side_open(side *s, const char *ckpt, const ssl_dataset *d, const train_config *tc,
                     int steps) {
    ssl_err err = {0};
    memset(s, 0, sizeof *s);
    if (ckpt_load(&s->ck, ckpt, (int)tc->batch, CKPT_LOAD_ALL, &err)) {
        fprintf(stderr, "bench_step: %s: %s\n", ckpt, err.msg);
        return -1;
    }
    net_set_winograd(s->ck.net, CONV_WINOGRAD_AUTO);
    if (!(s->t = trainer_new(&s->ck, d, tc, 1, &err))) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return -1;
    }
    if (!(s->times = malloc(sizeof *s->times * (size_t)steps))) {
        fprintf(stderr, "bench_step: out of memory\n");
        return -1;
    }
    return 0;
}

static void side_close(side *s) {
    trainer_free(s->t);
    ckpt_destroy(&s->ck);
    free(s->times);
}

/* One step; i >= 0: timed as step i. */
static int side_step(side *s, int i) {
    ssl_err err = {0};
    double a = s->st.t_aug, n = s->st.t_net, b = s->st.t_bank, t0 = ssl_clock();
    if (trainer_step(s->t, &s->st, &err)) {
        fprintf(stderr, "bench_step: step %lld: %s\n", (long long)s->st.step, err.msg);
        return -1;
    }
    if (i >= 0) {
        s->times[i] = ssl_clock() - t0;
        s->aug += s->st.t_aug - a;
        s->net += s->st.t_net - n;
        s->bank += s->st.t_bank - b;
    }
    return 0;
}

/* The line of one precision; returns its median seconds per step. */
static double report(side *s, const char *name, int steps, int B, const run_step_flops *f,
                     double peak32, double peak16) {
    double med = bench_median(s->times, steps), all = s->aug + s->net + s->bank;
    double fl = f->backbone + f->head + f->bank, gf = fl / med * 1e-9;
    printf("%s: %7.1f img/s, %6.1f GFLOP/s = %5.1f%% of the fp32 FMA peak", name, B / med, gf,
           peak32 > 0 ? 100 * gf / peak32 : 0);
    if (peak16 > 0) printf(", %5.1f%% of the VDPBF16PS peak", 100 * gf / peak16);
    printf("\n      time: augmentation %4.1f%%, network %4.1f%% (%.0f GFLOP/s), bank %4.1f%% "
           "(%.0f GFLOP/s)\n", 100 * s->aug / all, 100 * s->net / all,
           (f->backbone + f->head) * steps / s->net * 1e-9, 100 * s->bank / all,
           f->bank * steps / s->bank * 1e-9);
    return med;
}

int main(int argc, char **argv) {
    const char *ckpt = NULL, *data = NULL;
    int B = 256, steps = 8, warmup = 2, threads = 2, prec = 0;
    long k = 4096;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--batch") && v) B = (int)num(a, argv[++i], 1, 1 << 16);
        else if (!strcmp(a, "-k") && v) k = num(a, argv[++i], 0, 1L << 40);
        else if (!strcmp(a, "--steps") && v) steps = (int)num(a, argv[++i], 1, 100000);
        else if (!strcmp(a, "--warmup") && v) warmup = (int)num(a, argv[++i], 0, 100000);
        else if (!strcmp(a, "--threads") && v) threads = (int)num(a, argv[++i], 1, 64);
        else if (!strcmp(a, "--precision") && v) {
            v = argv[++i];
            if (!strcmp(v, "fp32")) prec = 0;
            else if (!strcmp(v, "bf16")) prec = 1;
            else if (!strcmp(v, "ab")) prec = 2;
            else { fprintf(stderr, "bench_step: --precision: '%s' is not fp32, bf16 or ab\n", v); return 2; }
        } else if (a[0] != '-' && !ckpt) ckpt = a;
        else if (a[0] != '-' && !data) data = a;
        else {
            fprintf(stderr, "usage: bench_step CKPT DATA [--batch B] [-k K] [--steps N] "
                            "[--warmup N] [--threads N] [--precision fp32|bf16|ab]\n");
            return 2;
        }
    }
    if (!ckpt || !data) {
        fprintf(stderr, "bench_step: give a checkpoint and its dataset (bench_step --help)\n");
        return 2;
    }
    if (prec && !gemm_bf16_available()) {
        fprintf(stderr, "bench_step: --precision bf16: this CPU has no AVX512-BF16\n");
        return 1;
    }
    ssl_set_threads(threads);
    ssl_err err = {0};
    ssl_dataset d;
    if (dataset_load(&d, data, &err)) { fprintf(stderr, "bench_step: %s: %s\n", data, err.msg); return 1; }
    if (B > d.n) { fprintf(stderr, "bench_step: --batch %d: %s has %lld images\n", B, data, (long long)d.n); return 2; }
    train_config tc;
    train_config_default(&tc, "paper", d.h, d.w);
    tc.batch = B;
    tc.k_negatives = k < d.n - B ? k : d.n - B;
    tc.lr = 0.5;
    tc.epochs = 1000;             /* the schedule never ends inside the bench */
    snprintf(tc.precision, sizeof tc.precision, "%s", prec == 1 ? "bf16" : "fp32");
    if (train_config_check(&tc, &err)) { fprintf(stderr, "bench_step: %s\n", err.msg); return 2; }

    side s32, s16;
    int n_sides = prec == 2 ? 2 : 1;
    if (side_open(&s32, ckpt, &d, &tc, steps)) return 1;
    if (n_sides == 2) {
        snprintf(tc.precision, sizeof tc.precision, "bf16");
        if (side_open(&s16, ckpt, &d, &tc, steps)) return 1;
    }
    run_step_flops f;
    npid_config nc;
    train_npid_config(&tc, &nc);
    if (run_step_cost(net_get_config(s32.ck.net), &nc, d.n, B, &f, &err)) {
        fprintf(stderr, "bench_step: %s\n", err.msg);
        return 1;
    }
    const net_config *c = net_get_config(s32.ck.net);
    printf("step: %s w%g %dx%dx%d, head %s d %d, batch %d, k %lld (K' %lld), N %lld, %s write, "
           "threads %d\n", c->arch, c->width, d.h, d.w, d.c, c->head, net_out_dim(s32.ck.net), B,
           (long long)tc.k_negatives, (long long)f.ncols, (long long)d.n, tc.bank_write,
           ssl_threads());
    printf("FLOP per batch: %.2f G = backbone %.2f G + head %.2f G (forward + backward, 3x "
           "forward; Winograd counted as direct) + bank products %.2f G\n",
           (f.backbone + f.head + f.bank) * 1e-9, f.backbone * 1e-9, f.head * 1e-9, f.bank * 1e-9);

    for (int it = 0; it < warmup + steps; it++) {
        int i = it < warmup ? -1 : it - warmup;
        if (side_step(&s32, i)) return 1;
        if (n_sides == 2 && side_step(&s16, i)) return 1;
    }
    double p32 = bench_fp32_peak(threads), p16 = prec ? bench_bf16_peak(threads) : 0;
    printf("peaks (this process, %d threads): fp32 FMA %.0f GFLOP/s", threads, p32);
    if (prec) printf(", VDPBF16PS %.0f GFLOP/s", p16);
    printf("\n");
    double m32 = report(&s32, prec == 1 ? "bf16" : "fp32", steps, B, &f, p32,
                        prec == 1 ? p16 : 0);
    if (n_sides == 2) {
        double m16 = report(&s16, "bf16", steps, B, &f, p32, p16);
        printf("bf16/fp32 %.2f (medians of %d alternating steps each)\n", m32 / m16, steps);
        side_close(&s16);
    }
    side_close(&s32);
    dataset_destroy(&d);
    return 0;
}
