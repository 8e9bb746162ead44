/* bench_npid.c: time npid_step (logits, loss, df, bank write) per shape.
 *
 * usage: bench_npid [SHAPE...] [--steps N] [--threads N] [--precision fp32|bf16]
 *                   [--bank-dtype f32|bf16]
 * SHAPE: paper (B=512, d=2048, k=10000, N=50000, tau 0.2, lambda 20,
 * CutMix, grad write), demo (the demo's bank: B=256, d=2048, k=4096,
 * N=20000, otherwise as paper; bench_step's bank part) or npid (B=128,
 * d=128, all negatives, N=50000, tau 0.1, lambda 0, npid write); paper
 * and npid when none is named. Prints one line
 * per shape on stdout:
 *     paper: B=512 d=2048 K'=10512 N=50000 write=grad: 312.4 ms/step, 212.3 GFLOP/s
 * GFLOP/s counts the big products only: 2 B K' d for s = z Ws^T, the same
 * for dz = dS Ws and, with the grad write, for the deltas. Speed is
 * reported, never asserted. --bank-dtype bf16: the bank in bf16 (its rows
 * read into float32 as gathered, written back rounded). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ssl/npid.h"
#include "util/clock.h"
#include "nn/ops/ops.h"
#include "util/rng.h"
#include "util/threads.h"

static int bench(const char *shape, int steps, int prec, int bank16) {
    int demo = !strcmp(shape, "demo"), paper = demo || !strcmp(shape, "paper");
    if (!paper && strcmp(shape, "npid")) {
        fprintf(stderr, "bench_npid: %s: unknown shape (paper, demo or npid)\n", shape);
        return 2;
    }
    const int64_t N = demo ? 20000 : 50000;
    const int B = demo ? 256 : paper ? 512 : 128, d = paper ? 2048 : 128;
    npid_config cfg = {.neg = paper ? NEG_K : NEG_ALL, .k = demo ? 4096 : 10000,
                       .tau = paper ? 0.2f : 0.1f, .lambda = paper ? 20.0f : 0.0f,
                       .alpha = 0.5f, .m = 0.5f,
                       .write = paper ? BANK_WRITE_GRAD : BANK_WRITE_NPID, .bank_lr = 1.0f,
                       .prec = prec, .bank_bf16 = bank16};
    ssl_err err = {0};
    npid *p = npid_new(&cfg, N, d, B, &err);
    if (!p) { fprintf(stderr, "bench_npid: %s\n", err.msg); return 1; }
    float *bank = malloc(sizeof *bank * N * d), *f = malloc(sizeof *f * B * d);
    float *df = malloc(sizeof *df * B * d);
    int32_t *order = malloc(sizeof *order * N), perm[512];
    int64_t idx[512];
    uint16_t *b16 = bank16 ? malloc(npid_bank_bytes(1, N, d)) : NULL;
    if (!p || !bank || !f || !df || !order || (bank16 && !b16)) {
        fprintf(stderr, "bench_npid: out of memory\n");
        return 1;
    }
    npid_bank_random(bank, N, d, 1);
    l2norm_forward(bank, bank, N, d, L2_EPS);
    for (int64_t i = 0; bank16 && i < N; i++) npid_bank_put_row(b16, 1, i, d, bank + i * d);
    rng r;
    rng_init(&r, 1, RNG_NEGATIVES, 0);
    for (int64_t i = 0; i < N; i++) order[i] = (int32_t)i;
    rng_shuffle_i32(&r, order, N);
    for (int64_t i = 0; i < (int64_t)B * d; i++) f[i] = (float)rng_normal(&r);
    for (int b = 0; b < B; b++) perm[b] = b;
    rng_shuffle_i32(&r, perm, B);
    npid_stats st;
    double t0 = 0, best = 1e30, total = 0;
    for (int s = -1; s < steps; s++) {          /* step -1 warms up */
        for (int b = 0; b < B; b++) idx[b] = order[((int64_t)(s + 1) * B + b) % N];
        t0 = ssl_clock();
        int rc = npid_step(p, f, B, idx, paper ? perm : NULL, 0.7f, bank16 ? (void *)b16 : bank,
                           &r, df, 1, &st);
        double t = ssl_clock() - t0;
        if (rc) {
            fprintf(stderr, "bench_npid: %s\n", npid_error(p)->msg);
            return 1;
        }
        if (s >= 0) {
            total += t;
            if (t < best) best = t;
        }
    }
    double ms = 1e3 * total / steps;
    double flop = (paper ? 3.0 : 2.0) * 2.0 * B * (double)st.ncols * d;
    printf("%s: B=%d d=%d K'=%lld N=%lld write=%s%s%s threads=%d: %.1f ms/step (best %.1f), "
           "%.1f GFLOP/s\n", shape, B, d, (long long)st.ncols, (long long)N,
           paper ? "grad" : "npid", prec == PREC_BF16 ? " bf16" : "", bank16 ? " bank bf16" : "",
           ssl_threads(), ms, 1e3 * best, flop / (ms * 1e-3) * 1e-9);
    npid_free(p);
    free(bank); free(b16); free(f); free(df); free(order);
    return 0;
}

int main(int argc, char **argv) {
    int steps = 5, threads = 2, nshape = 0, prec = PREC_FP32, bank16 = 0;
    const char *shapes[8];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && !strcmp(argv[i + 1], "bf16"))
            prec = PREC_BF16, i++;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc && !strcmp(argv[i + 1], "fp32"))
            prec = PREC_FP32, i++;
        else if (!strcmp(argv[i], "--bank-dtype") && i + 1 < argc &&
                 (!strcmp(argv[i + 1], "f32") || !strcmp(argv[i + 1], "bf16")))
            bank16 = !strcmp(argv[++i], "bf16");
        else if (argv[i][0] != '-' && nshape < 8) shapes[nshape++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_npid [paper|demo|npid...] [--steps N] [--threads N] "
                            "[--precision fp32|bf16] [--bank-dtype f32|bf16]\n");
            return 2;
        }
    }
    if (steps < 1) steps = 1;
    ssl_set_threads(threads);
    if (!nshape) { shapes[0] = "paper"; shapes[1] = "npid"; nshape = 2; }
    for (int i = 0; i < nshape; i++) {
        int rc = bench(shapes[i], steps, prec, bank16);
        if (rc) return rc;
    }
    return 0;
}
