/* knn.h: weighted k-nearest-neighbour evaluation of features (ssl-method(7),
 * EVALUATION: the NPID protocol).
 *
 * Train and test rows are L2-normalised in copies (norms accumulated in
 * double), unless the caller says they already are (knn_config.normalized);
 * cosine similarities come from blocked GEMM (a block of queries against a
 * block of training rows at a time, so the working set is bounded); each
 * query keeps its Kmax most similar training rows (Kmax = the largest K
 * asked for) in a small heap. Then for every (K, sigma) pair the class
 * score is sum over the K nearest of exp(sim / sigma), and the rank of
 * the true class among the class scores gives top-1 and top-5. One pass
 * over the data answers the whole (K list x sigma list) sweep.
 *
 * Tie rules (documented, deterministic):
 *   - neighbours: higher similarity first; for equal similarity the lower
 *     training index comes first (is kept when only one fits in K);
 *   - classes: higher score first; for equal scores the lower class index
 *     ranks first. A class with no neighbour has score 0 and still takes a
 *     rank, so "top-5" means the true class is among the first 5 classes
 *     of that order.
 * Threads: selection and voting run in parallel over the queries of a
 * block (util/threads.h); the products run on gemm_dispatch (nn/ops): the
 * library's GEMM on AVX-512 builds, whose sums do not depend on the thread
 * count, so neither do the results; OpenBLAS's sgemm elsewhere, whose
 * rounding OpenBLAS keeps fixed for a given thread count. */
#ifndef SSL_KNN_H
#define SSL_KNN_H
#include <stdint.h>

#include "util/err.h"

/* Default block sizes: queries x training rows per GEMM (32 MiB of floats). */
#define KNN_QUERY_BLOCK 1024
#define KNN_TRAIN_BLOCK 8192

/* Training rows made block by block instead of read from an array (a
 * bf16 memory bank read into float32 a block at a time): writes rows
 * [t0, t0 + n) of the training set, [n, dim] floats, to dst. */
typedef void (*knn_rows_fn)(void *ctx, int64_t t0, int64_t n, float *dst);

typedef struct {
    const int *k;                 /* [nk] neighbour counts, each >= 1 */
    int nk;
    const double *sigma;          /* [nsigma] temperatures, each > 0 */
    int nsigma;
    int64_t query_block;          /* queries per GEMM block; 0: KNN_QUERY_BLOCK */
    int64_t train_block;          /* training rows per GEMM block; 0: KNN_TRAIN_BLOCK */
    int normalized;               /* 1: rows are already L2-normalised (no copies made) */
    knn_rows_fn rows;             /* knn_evaluate with train NULL: the training rows from */
    void *rows_ctx;               /* rows(rows_ctx, ...), a block at a time; normalized 1 */
} knn_config;

typedef struct {
    int k;
    double sigma;
    int64_t correct1, correct5;   /* test items whose class ranks first / in the first 5 */
    double top1, top5;            /* fractions of n_test; top5 is NAN when nclasses <= 5 */
    int64_t *class_correct1;      /* [nclasses] top-1 hits per true class (owned) */
} knn_result;

typedef struct {
    int nresults;                 /* nk * nsigma */
    knn_result *res;              /* order: for each k in the list, each sigma */
    int nclasses;
    int has_top5;                 /* nclasses > 5 */
    int64_t n_test, n_train;
    int64_t *class_count;         /* [nclasses] test items per class */
} knn_report;

/* The kmax nearest training rows of every query, by cosine similarity of
 * the rows AS GIVEN (the caller normalises). train [ntrain, dim], test
 * [ntest, dim]; sims [ntest, kmax] and idx [ntest, kmax] (caller-owned)
 * receive, per query, the similarities and training indices best first
 * (tie rule above). 1 <= kmax <= ntrain. qblock/tblock: block sizes (0:
 * defaults). Returns 0, or -1 on a bad argument or out of memory. */
int knn_topk(const float *train, int64_t ntrain, const float *test, int64_t ntest,
             int dim, int kmax, int64_t qblock, int64_t tblock, float *sims,
             int64_t *idx);
/* The same with the training rows from rows(ctx, ...), made once per block
 * of queries and block of training rows. */
int knn_topk_rows(knn_rows_fn rows, void *ctx, int64_t ntrain, const float *test,
                  int64_t ntest, int dim, int kmax, int64_t qblock, int64_t tblock,
                  float *sims, int64_t *idx);

/* Weighted kNN evaluation. train [ntrain, dim] with labels ytrain [ntrain],
 * test [ntest, dim] with ytest [ntest]; labels in [0, nclasses). Inputs
 * are not modified (unless cfg->normalized, they are copied and
 * normalised). train NULL: the rows come from cfg->rows, already normalised
 * (cfg->normalized; no copy of them is made: a block at a time, as the
 * products need them). Fills *rep (free with knn_report_destroy). Returns 0, or -1
 * with err: empty sets, dim < 1, a K larger than ntrain, a sigma <= 0, a
 * label out of range, a non-finite feature, out of memory. */
int knn_evaluate(const float *train, const int32_t *ytrain, int64_t ntrain,
                 const float *test, const int32_t *ytest, int64_t ntest,
                 int dim, int nclasses, const knn_config *cfg, knn_report *rep,
                 ssl_err *err);
void knn_report_destroy(knn_report *rep);
#endif
