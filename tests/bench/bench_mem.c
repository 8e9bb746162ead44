/* bench_mem.c: the memory bandwidth this machine gives, and how much of it
 * BatchNorm's backward takes (issue 16: at width 0.25 the BN passes are
 * about a fifth of the bf16 network's time at 2 threads and scale little
 * from one thread to two: they run at the memory's speed, not the
 * cores').
 *   triad:  bench_stream's (bench_util.h, as bench_dwconv's line of
 *           bandwidth): a[i] = b[i] + 3 c[i] over 3 arrays of 64 MiB on
 *           the library's threads, 12 bytes an element, the best of 5;
 *   bn:     bn_backward_xmask (BN + ReLU, the mask from x) on the demo's
 *           first stage, 256 x 32 x 32 rows of 16 channels: its two passes
 *           read dy and x twice and write dx once, 5 x 16 MiB, as GB/s and
 *           as a share of the triad's. The share can pass 100 %: the second
 *           pass finds part of dy and x (32 MiB) still in a 32 MiB L3,
 *           and neither figure counts the write's read-for-ownership.
 * The BN figure is the median of ROUNDS, wall time, each round after a
 * triad pass that evicts its arrays (back to back, the second and later
 * rounds found much of them in the L3 and ran up to twice as fast); both
 * at 1 thread and at THREADS. Speed is reported, never asserted.
 * Usage: bench_mem [--threads N] [--rounds R] */
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "nn/ops/ops.h"

#define TRIAD_N (16LL << 20)          /* floats per array: 64 MiB */
#define BN_ROWS (256LL * 32 * 32)
#define BN_C 16

static float *filled(int64_t n, float v0, float step) {
    float *p = malloc((size_t)n * sizeof(float));
    if (p)
        for (int64_t i = 0; i < n; i++) p[i] = v0 + step * (float)(i % 1000);
    return p;
}

int main(int argc, char **argv) {
    int threads = 2, rounds = 7;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_mem [--threads N] [--rounds R]\n");
            return 2;
        }
    }
    if (threads < 1 || rounds < 1 || rounds > 1000) {
        fprintf(stderr, "bench_mem: --threads and --rounds must be positive\n");
        return 2;
    }
    int64_t nb = BN_ROWS * BN_C;
    float *a = filled(TRIAD_N, 0, 0), *b = filled(TRIAD_N, 1, 1e-3f), *c = filled(TRIAD_N, 2, 1e-3f);
    float *dy = filled(nb, -0.5f, 1e-3f), *x = filled(nb, -0.4f, 1e-3f), *dx = filled(nb, 0, 0);
    float par[7][BN_C];
    double *t = malloc((size_t)rounds * sizeof *t);
    if (!a || !b || !c || !dy || !x || !dx || !t) {
        fprintf(stderr, "bench_mem: out of memory\n");
        return 1;
    }
    for (int k = 0; k < BN_C; k++) {
        par[0][k] = 1.1f; par[1][k] = -0.05f;        /* the forward's scale, shift */
        par[2][k] = 0.0f; par[3][k] = 1.0f;          /* mean, rstd */
        par[4][k] = 1.0f;                            /* gamma */
        par[5][k] = par[6][k] = 0.0f;                /* dgamma, dbeta */
    }
    int tc[2] = { 1, threads };
    double tri[2] = { 0, 0 };
    for (int j = 0; j < (threads > 1 ? 2 : 1); j++) {
        ssl_set_threads(tc[j]);
        tri[j] = bench_stream(a, b, c, TRIAD_N, 1);
        bench_stream_ctx flush = { a, b, c, 1 };
        for (int r = 0; r < rounds; r++) {
            /* 192 MiB of triad first, so BN finds its inputs no more in the
             * caches than in a network, where other layers ran between */
            ssl_parallel_for(TRIAD_N, 1 << 16, bench_stream_range, &flush);
            double t0 = ssl_clock();
            bn_backward_xmask(dx, par[5], par[6], dy, NULL, x, par[0], par[1], par[2], par[3],
                              par[4], BN_ROWS, BN_C);
            t[r] = ssl_clock() - t0;
        }
        double tbn = bench_median(t, rounds);
        double gbn = 5.0 * 4 * nb / tbn * 1e-9;
        printf("threads %d: triad %.1f GB/s; bn_backward_xmask %d x %d: %.2f ms, %.1f GB/s "
               "(%.0f%% of the triad)\n", tc[j], tri[j], (int)BN_ROWS, BN_C, 1e3 * tbn, gbn,
               100 * gbn / tri[j]);
    }
    if (threads > 1) printf("triad %d threads / 1 thread: %.2f\n", threads, tri[1] / tri[0]);
    free(a); free(b); free(c); free(dy); free(x); free(dx); free(t);
    return 0;
}
