/* threads.h: the library's one thread pool and the --threads setting.
 *
 * ssl_set_threads(n) sets both OpenBLAS's pool and ours, so the two never
 * oversubscribe the cores; n <= 0 means every online core (--threads 0). ssl_parallel_for splits [0, n) into contiguous
 * ranges, one per thread, in a fixed way that depends only on n, grain and
 * the thread count: work that writes disjoint outputs per index is
 * deterministic. A call from inside a worker runs serially. Do not call
 * OpenBLAS from inside a parallel_for body unless single-threaded BLAS is
 * what you want (it is then slower, but correct). */
#ifndef SSL_THREADS_H
#define SSL_THREADS_H
#include <stdint.h>

/* The most threads the pool runs; ssl_set_threads clips to it. */
#define SSL_MAX_THREADS 64

void ssl_set_threads(int n);
int ssl_threads(void);

/* fn(ctx, begin, end, tid) is called on disjoint ranges covering [0, n);
 * ranges hold at least `grain` indices (except the last); tid < ssl_threads(). */
typedef void (*ssl_range_fn)(void *ctx, int64_t begin, int64_t end, int tid);
void ssl_parallel_for(int64_t n, int64_t grain, ssl_range_fn fn, void *ctx);
/* How many contiguous parts to cut ntasks tasks into for one
 * ssl_parallel_for(parts, 1, ...): the thread count, at most max_parts
 * (the callers' per-part scratch) and ntasks, at least 1; 1 from inside a
 * worker (where the parallel_for runs serially), so that such a call
 * touches only part 0's scratch and threads that each run one on their
 * own scratch (the networks' batch-split inference, nn/net.c) never
 * share any. */
int ssl_parts(int64_t ntasks, int max_parts);
#endif
