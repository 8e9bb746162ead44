/* bench_gemm.c: gemm (lib/nn/ops/gemm.c) against OpenBLAS's cblas_sgemm on
 * the products of the demo-shaped training step (ResNet-18 head mlp3
 * 128 -> 2048 -> 2048 -> 2048, batch 256, k 4096 negatives, bank dim 2048),
 * alternating the two in one process so that both see the same machine;
 * where the CPU has AVX512-BF16, gemm_bf16 (--precision bf16's product)
 * on VDPBF16PS as a third in each round, with its ratio to gemm, and where
 * it also has AMX, gemm_bf16 on the tile unit as a fourth (its ratio to
 * gemm, "amx/gemm"; shapes AMX does not take run VDPBF16PS there too).
 *
 * usage: bench_gemm [--threads N] [--rounds R] [--cpu-time] [MxNxK:AB ...]
 * A shape names C [M, N] and the reduction K, AB the transposes of A and B
 * (N or T, as cblas's); without shapes, the step's nine. Each round times
 * gemm then OpenBLAS, each repeating the product for about 0.2 s; a
 * shape's line gives the median GFLOP/s of each and the median (and range)
 * of the rounds' ratios gemm / OpenBLAS:
 *   head.3 fwd 256x2048x2048:NT x2: gemm 180.2, OpenBLAS 110.1 GFLOP/s; ratio 1.64 (1.55-1.70)
 * and a last line the step's whole GEMM work (each shape times its count
 * per step) at the medians. --cpu-time (with --threads 1) counts the
 * thread's CPU time instead of wall time: on a machine shared with other
 * work it leaves out the time the thread waited for a core. Speed is
 * reported, never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_util.h"

#include "nn/ops/ops.h"
#include "util/clock.h"
#include "util/rng.h"
#include "util/threads.h"

#include <cblas.h>

typedef struct {
    const char *name;
    int M, N, K, ta, tb, count;
    float alpha, beta;
} shape;

/* The step's products, with the callers' alpha and beta (linear_forward's
 * bias is added as beta 1, the weight gradient accumulates, the bank
 * write adds step * g^T z to the gathered rows). */
static const shape step[] = {
    {"head.0 fwd", 256, 2048, 128, 0, 1, 1, 1, 1},
    {"head.3 fwd", 256, 2048, 2048, 0, 1, 2, 1, 1},
    {"head.0 dw", 2048, 128, 256, 1, 0, 1, 1, 1},
    {"head.3 dw", 2048, 2048, 256, 1, 0, 2, 1, 1},
    {"head.0 din", 256, 128, 2048, 0, 0, 1, 1, 0},
    {"head.3 din", 256, 2048, 2048, 0, 0, 2, 1, 0},
    {"bank s=zW^T", 256, 4352, 2048, 0, 1, 1, 1, 0},
    {"bank dz=dS W", 256, 2048, 4352, 0, 0, 1, 1, 0},
    {"bank write", 4352, 2048, 256, 1, 0, 1, 0.5f, 1},
};

static int cpu_time;

static double now(void) {
    if (!cpu_time) return ssl_clock();
    return bench_thread_cpu();
}

/* Seconds per product, the mean of enough repetitions for ~0.2 s. */
static double timed(const shape *s, int ours, const float *A, const float *B, float *C,
                    float *ws, int reps) {
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double t0 = now();
    if (ours >= 2) gemm_bf16_set_amx(ours == 3);
    for (int i = 0; i < reps; i++) {
        if (ours >= 2)
            gemm_bf16(s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, C,
                      s->N, ws);
        else if (ours)
            gemm(s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, C, s->N,
                 ws);
        else
            cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                        s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, s->alpha, A, lda,
                        B, ldb, s->beta, C, s->N);
    }
    return (now() - t0) / reps;
}

/* One shape: *tg, *tb, *t16 the median seconds per product of gemm,
 * OpenBLAS and gemm_bf16 (0 where the CPU has no AVX512-BF16). */
static int bench(const shape *s, int rounds, double *tg, double *tb, double *t16, double *tx) {
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    int64_t nw = gemm_workspace(s->M, s->N, s->K);
    float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
    float *ws = malloc(sizeof(float) * (size_t)nw);
    int bf = gemm_bf16_available(), amx = 0;
    if (bf) {
        gemm_bf16_set_amx(1);
        amx = gemm_bf16_amx();
    }
    double *g = malloc(sizeof *g * 7 * rounds), *o = g + rounds, *r = o + rounds;
    double *h = r + rounds, *rh = h + rounds, *x = rh + rounds, *rx = x + rounds;
    if (!A || !B || !C || !ws || !g) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        return 1;
    }
    rng rg;
    rng_init(&rg, 1, 2, 3);
    for (size_t i = 0; i < na; i++) A[i] = rng_uniform(&rg) - 0.5f;
    for (size_t i = 0; i < nb; i++) B[i] = rng_uniform(&rg) - 0.5f;
    for (size_t i = 0; i < nc; i++) C[i] = 0;
    double flop = 2.0 * s->M * s->N * s->K;
    /* warm both up (first-touch pages, OpenBLAS's buffers), size the reps */
    double t = timed(s, 1, A, B, C, ws, 1) + timed(s, 0, A, B, C, ws, 1);
    if (bf) timed(s, 2, A, B, C, ws, 1);
    if (amx) timed(s, 3, A, B, C, ws, 1);
    int reps = (int)(0.2 / (t / 2 > 1e-6 ? t / 2 : 1e-6)) + 1;
    for (int i = 0; i < rounds; i++) {
        g[i] = timed(s, 1, A, B, C, ws, reps);
        o[i] = timed(s, 0, A, B, C, ws, reps);
        r[i] = o[i] / g[i];
        h[i] = bf ? timed(s, 2, A, B, C, ws, reps) : 0;
        rh[i] = bf ? g[i] / h[i] : 0;
        x[i] = amx ? timed(s, 3, A, B, C, ws, reps) : 0;
        rx[i] = amx ? g[i] / x[i] : 0;
    }
    *tg = bench_median(g, rounds);
    *tb = bench_median(o, rounds);
    *t16 = bf ? bench_median(h, rounds) : 0;
    *tx = amx ? bench_median(x, rounds) : 0;
    double rm = bench_median(r, rounds);
    printf("%-12s %dx%dx%d:%c%c x%d: gemm %.1f, OpenBLAS %.1f GFLOP/s; ratio %.2f (%.2f-%.2f)",
           s->name, s->M, s->N, s->K, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->count,
           flop / *tg * 1e-9, flop / *tb * 1e-9, rm, r[0], r[rounds - 1]);
    if (bf) {
        double rhm = bench_median(rh, rounds);
        printf("; bf16 %.1f GFLOP/s, bf16/gemm %.2f (%.2f-%.2f)", flop / *t16 * 1e-9, rhm, rh[0],
               rh[rounds - 1]);
    }
    if (amx) {
        double rxm = bench_median(rx, rounds);
        printf("; amx %.1f GFLOP/s, amx/gemm %.2f (%.2f-%.2f)", flop / *tx * 1e-9, rxm, rx[0],
               rx[rounds - 1]);
    }
    printf("\n");
    fflush(stdout);
    free(A); free(B); free(C); free(ws); free(g);
    return 0;
}

static int parse_shape(shape *s, const char *arg) {
    char a, b;
    int n = 0;
    memset(s, 0, sizeof *s);
    if (sscanf(arg, "%dx%dx%d:%c%c%n", &s->M, &s->N, &s->K, &a, &b, &n) != 5 || arg[n] ||
        s->M < 1 || s->N < 1 || s->K < 1 || (a != 'N' && a != 'T') || (b != 'N' && b != 'T'))
        return -1;
    s->ta = a == 'T';
    s->tb = b == 'T';
    s->name = "";
    s->count = 1;
    s->alpha = 1;
    return 0;
}

int main(int argc, char **argv) {
    int threads = 2, rounds = 5, ns = 0;
    size_t nstep = sizeof step / sizeof step[0];
    shape *list = calloc((size_t)argc + nstep, sizeof *list);
    if (!list) { fprintf(stderr, "bench_gemm: out of memory\n"); return 1; }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--cpu-time")) cpu_time = 1;
        else if (parse_shape(&list[ns], argv[i]) == 0) ns++;
        else {
            fprintf(stderr, "usage: bench_gemm [--threads N] [--rounds R] [--cpu-time] "
                            "[MxNxK:AB ...] (A, B: N or T)\n");
            return 2;
        }
    }
    if (threads < 1 || rounds < 1 || rounds > 1000 || (cpu_time && threads != 1)) {
        fprintf(stderr, "bench_gemm: need --threads >= 1, 1 <= --rounds <= 1000, and "
                        "--threads 1 with --cpu-time\n");
        return 2;
    }
    if (!gemm_available())
        printf("note: gemm runs its plain C kernel here (no AVX-512 in this build)\n");
    ssl_set_threads(threads);
    if (!ns) {
        ns = (int)nstep;
        memcpy(list, step, sizeof step);
    }
    printf("%d threads, %d rounds, %s time\n", ssl_threads(), rounds,
           cpu_time ? "thread CPU" : "wall");
    double fg = 0, fo = 0, fh = 0, fx = 0, flop = 0;
    for (int i = 0; i < ns; i++) {
        double tg, to, th, tx;
        if (bench(&list[i], rounds, &tg, &to, &th, &tx)) return 1;
        fx += list[i].count * tx;
        fg += list[i].count * tg;
        fo += list[i].count * to;
        fh += list[i].count * th;
        flop += list[i].count * 2.0 * list[i].M * list[i].N * list[i].K;
    }
    if (ns > 1)
        printf("all %.1f GFLOP: gemm %.1f ms, %.1f GFLOP/s; OpenBLAS %.1f ms, %.1f GFLOP/s; "
               "ratio %.2f\n", flop * 1e-9, fg * 1e3, flop / fg * 1e-9, fo * 1e3,
               flop / fo * 1e-9, fo / fg);
    if (ns > 1 && fh > 0)
        printf("all, bf16: %.1f ms, %.1f GFLOP/s; bf16/gemm %.2f\n", fh * 1e3, flop / fh * 1e-9,
               fg / fh);
    if (ns > 1 && fx > 0)
        printf("all, amx: %.1f ms, %.1f GFLOP/s; amx/gemm %.2f\n", fx * 1e3, flop / fx * 1e-9,
               fg / fx);
    free(list);
    return 0;
}
