/* bench_augment.c: images per second of augment_batch (and CutMix).
 *
 * usage: bench_augment [SHAPE...] [--seconds S] [--threads N]
 * SHAPE: mnist (1x28x28 -> 28x28, paper recipe), cifar (3x32x32 -> 32x32,
 * paper), tiny (3x64x64 -> 64x64, paper with GaussianBlur p 0.5); all three
 * when none is named. Batches of 256 views of a synthetic random dataset
 * (N = 4096) are timed for about S seconds (default 0.5) after one warm-up
 * batch. Prints one line per shape on stdout:
 *     cifar 3x32x32->32x32 paper threads=2: 41234 img/s (6.21 ms/batch of 256)
 * and, for the same batch, CutMix in place. Speed is reported, never
 * asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/augment.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/threads.h"

static int bench(const char *shape, double seconds) {
    int c, s;
    if (!strcmp(shape, "mnist")) { c = 1; s = 28; }
    else if (!strcmp(shape, "cifar")) { c = 3; s = 32; }
    else if (!strcmp(shape, "tiny")) { c = 3; s = 64; }
    else {
        fprintf(stderr, "bench_augment: %s: unknown shape (mnist, cifar or tiny)\n", shape);
        return 2;
    }
    enum { N = 4096, B = 256 };
    size_t in = (size_t)c * s * s;
    uint8_t *data = malloc((size_t)N * in);
    float *out = malloc((size_t)B * in * sizeof *out);
    int64_t idx[B];
    int32_t perm[B];
    if (!data || !out) { fprintf(stderr, "bench_augment: out of memory\n"); return 1; }
    rng r;
    rng_init(&r, 1, 2, 3);
    for (size_t i = 0; i < (size_t)N * in; i++) data[i] = (uint8_t)(rng_u64(&r) >> 56);
    aug_config a;
    aug_config_default(&a, "paper", s, s);
    const double mean[3] = {0.5, 0.5, 0.5}, std[3] = {0.25, 0.25, 0.25};
    double t0 = ssl_clock(), t = 0, tmix = 0;
    long batches = 0;
    for (long k = -1;; k++) {               /* batch -1 warms up */
        for (int b = 0; b < B; b++) idx[b] = (int64_t)((k + 1) * B + b) % N;
        double t1 = ssl_clock();
        augment_batch(&a, data, idx, B, c, s, s, mean, std, 42, (uint64_t)(k + 1), out);
        double t2 = ssl_clock();
        rng_init(&r, 42 ^ RNG_CUTMIX, (uint64_t)(k + 1), 0);
        cutmix_batch(out, B, s, s, c, 0.5f, &r, perm);
        double t3 = ssl_clock();
        if (k < 0) { t0 = t3; continue; }
        t += t2 - t1; tmix += t3 - t2; batches++;
        if (t3 - t0 >= seconds) break;
    }
    printf("%-5s %dx%dx%d->%dx%d paper%s threads=%d: %.0f img/s (%.2f ms/batch of %d); "
           "cutmix %.3f ms/batch\n", shape, c, s, s, s, s, a.blur_p > 0 ? "+blur" : "",
           ssl_threads(), batches * B / t, 1e3 * t / batches, B, 1e3 * tmix / batches);
    free(data); free(out);
    return 0;
}

int main(int argc, char **argv) {
    double seconds = 0.5;
    int threads = 1, rc = 0, named = 0;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = strtod(argv[++i], &end);
            if (*end || !(seconds > 0 && seconds <= 600)) {
                fprintf(stderr, "bench_augment: --seconds: expected a number in (0, 600]\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = (int)strtol(argv[++i], &end, 10);
            if (*end || threads < 1 || threads > 64) {
                fprintf(stderr, "bench_augment: --threads: expected an integer in [1, 64]\n");
                return 2;
            }
        }
    }
    ssl_set_threads(threads);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") || !strcmp(argv[i], "--threads")) { i++; continue; }
        named = 1;
        if ((rc = bench(argv[i], seconds))) return rc;
    }
    if (!named) {
        const char *all[] = {"mnist", "cifar", "tiny"};
        for (int i = 0; i < 3 && !rc; i++) rc = bench(all[i], seconds);
    }
    return rc;
}
