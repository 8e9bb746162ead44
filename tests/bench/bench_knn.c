/* bench_knn.c: times lib/eval/knn on random features, by default the case the
 * task names: 10000 queries against 50000 training rows of 512 floats,
 * k = 200, sigma = 0.1 (make bench; tests/bench/knn.sh).
 * Usage: bench_knn [NTEST NTRAIN DIM [THREADS]]. Prints one line:
 *   knn NTEST x NTRAIN x DIM k=200: SECONDS s (GFLOP/s of the GEMM part) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eval/knn.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/threads.h"

int main(int argc, char **argv) {
    int64_t nte = argc > 3 ? atoll(argv[1]) : 10000, ntr = argc > 3 ? atoll(argv[2]) : 50000;
    int dim = argc > 3 ? atoi(argv[3]) : 512, thr = argc > 4 ? atoi(argv[4]) : 2, C = 10;
    if (nte < 1 || ntr < 200 || dim < 1 || thr < 1) {
        fprintf(stderr, "usage: bench_knn [NTEST NTRAIN DIM [THREADS]] (NTRAIN >= 200)\n");
        return 2;
    }
    ssl_set_threads(thr);
    float *tr = malloc(sizeof(float) * ntr * dim), *te = malloc(sizeof(float) * nte * dim);
    int32_t *ytr = malloc(sizeof(int32_t) * ntr), *yte = malloc(sizeof(int32_t) * nte);
    if (!tr || !te || !ytr || !yte) { fprintf(stderr, "bench_knn: out of memory\n"); return 1; }
    rng r;
    rng_init(&r, 1, 2, 3);
    for (int64_t i = 0; i < ntr * dim; i++) tr[i] = rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < nte * dim; i++) te[i] = rng_uniform(&r) - 0.5f;
    for (int64_t i = 0; i < ntr; i++) ytr[i] = (int32_t)rng_below(&r, C);
    for (int64_t i = 0; i < nte; i++) yte[i] = (int32_t)rng_below(&r, C);
    int k = 200;
    double sigma = 0.1;
    knn_config cfg = { &k, 1, &sigma, 1, 0, 0, 0, NULL, NULL };
    knn_report rep;
    ssl_err err = {0};
    double t = ssl_clock();
    if (knn_evaluate(tr, ytr, ntr, te, yte, nte, dim, C, &cfg, &rep, &err)) {
        fprintf(stderr, "bench_knn: %s\n", err.msg);
        return 1;
    }
    t = ssl_clock() - t;
    printf("knn %lld x %lld x %d k=200, %d threads: %.2f s (%.0f GFLOP/s over the GEMM work), top1 %.4f\n",
           (long long)nte, (long long)ntr, dim, thr, t, 2.0 * nte * ntr * dim / t * 1e-9,
           rep.res[0].top1);
    knn_report_destroy(&rep);
    free(tr); free(te); free(ytr); free(yte);
    return 0;
}
