/* threads.c: a small persistent pthread pool behind ssl_parallel_for. */
#include "util/threads.h"

#include <pthread.h>
#include <unistd.h>
#include <stdlib.h>

void openblas_set_num_threads(int);   /* from OpenBLAS; declared here to avoid cblas.h */



static int nthreads = 1;
static pthread_t workers[SSL_MAX_THREADS];
static int nworkers;                  /* workers started (nthreads - 1) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_done = PTHREAD_COND_INITIALIZER;
static unsigned long generation;
static int pending;
static struct { ssl_range_fn fn; void *ctx; int64_t n, chunk; int parts; } job;
static __thread int in_worker;

static void run_part(int part) {
    int64_t b = part * job.chunk, e = b + job.chunk;
    if (e > job.n) e = job.n;
    if (b < e) job.fn(job.ctx, b, e, part);
}

static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg;      /* 1..nworkers */
    unsigned long seen = 0;
    in_worker = 1;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (generation == seen) pthread_cond_wait(&cv_work, &mu);
        seen = generation;
        int active = id < job.parts;
        pthread_mutex_unlock(&mu);
        if (active) run_part(id);
        pthread_mutex_lock(&mu);
        if (--pending == 0) pthread_cond_signal(&cv_done);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

void ssl_set_threads(int n) {
    if (n < 1) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    if (n > SSL_MAX_THREADS) n = SSL_MAX_THREADS;
#ifdef __AVX512F__
    openblas_set_num_threads(n);
#else
    /* sgemm_par (nn/ops/gemm.c) runs OpenBLAS on our threads: its own
     * would spin (sched_yield) through every step of ours between calls,
     * a quarter of the demo step's time on 2 cores */
    openblas_set_num_threads(1);
#endif
    pthread_mutex_lock(&mu);
    nthreads = n;
    while (nworkers < n - 1) {
        if (pthread_create(&workers[nworkers], NULL, worker_main,
                           (void *)(intptr_t)(nworkers + 1)))
            break;                      /* fewer threads; still correct */
        pthread_detach(workers[nworkers]);
        nworkers++;
    }
    pthread_mutex_unlock(&mu);
}

int ssl_threads(void) { return nthreads; }

int ssl_parts(int64_t ntasks, int max_parts) {
    if (in_worker) return 1;          /* its parallel_for runs serially */
    int p = nthreads < max_parts ? nthreads : max_parts;
    if (p > ntasks) p = (int)ntasks;
    return p < 1 ? 1 : p;
}

void ssl_parallel_for(int64_t n, int64_t grain, ssl_range_fn fn, void *ctx) {
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int t = nthreads < nworkers + 1 ? nthreads : nworkers + 1;
    int64_t maxparts = (n + grain - 1) / grain;
    if (t > maxparts) t = (int)maxparts;
    if (t <= 1 || in_worker) { fn(ctx, 0, n, 0); return; }
    pthread_mutex_lock(&mu);
    job.fn = fn; job.ctx = ctx; job.n = n;
    job.chunk = (n + t - 1) / t; job.parts = t;
    pending = nworkers;
    generation++;
    pthread_cond_broadcast(&cv_work);
    pthread_mutex_unlock(&mu);
    in_worker = 1;
    run_part(0);
    in_worker = 0;
    pthread_mutex_lock(&mu);
    while (pending) pthread_cond_wait(&cv_done, &mu);
    pthread_mutex_unlock(&mu);
}
