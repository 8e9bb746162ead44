/* bench_util.h: what the bench programs share: medians of timings and
 * CPU-time clocks (for comparing builds on a machine shared with other
 * work, where wall time also counts the waits for a core). Header only:
 * each bench program is one .c file. */
#ifndef SSL_BENCH_UTIL_H
#define SSL_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

static int bench_cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v). */
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* CPU seconds of the calling thread / of the whole process. */
static inline double bench_thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static inline double bench_process_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

#endif
