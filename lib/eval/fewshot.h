/* fewshot.h: few-label evaluation, the way self-supervised features are used
 * when labels are scarce: a class-balanced labelled subset of the training
 * set (N rows of every class), drawn again for each of D draws, and the mean
 * and sample standard deviation of a figure over the draws.
 *
 * Draw d of N per class from seed S uses one rng stream keyed (S ^
 * RNG_FEWSHOT, N, d) (util/rng.h): the classes in index order, each
 * a partial Fisher-Yates pick of N of its rows (taken in row order). So a
 * subset is a function of (labels, N, S, d) only: the same on any thread
 * count and machine, independent of the other draws, and subsets of
 * different N are drawn independently (not nested). */
#ifndef SSL_FEWSHOT_H
#define SSL_FEWSHOT_H
#include <stdint.h>

#include "util/err.h"

/* Draws per labels-per-class setting when the user names none. */
#define FEWSHOT_DEFAULT_DRAWS 5


/* The class with the fewest rows among labels [n] (labels in [0,
 * nclasses)), the lowest index on ties; its row count in *count (may be 0:
 * a class with no row). Returns -1 on bad arguments (n < 1, nclasses < 1,
 * a label out of range). */
int fewshot_smallest_class(const int32_t *labels, int64_t n, int nclasses, int64_t *count);

/* Choose per_class rows of every class (see above) for draw `draw` from
 * `seed`. out [nclasses * per_class] (caller-owned) receives their indices
 * in ascending order. Returns 0, or -1 with err: n < 1, nclasses < 1, a
 * label out of range, per_class < 1, draw < 0, a class with fewer than
 * per_class rows ("class C has only M rows"), out of memory. */
int fewshot_select(const int32_t *labels, int64_t n, int nclasses, int per_class,
                   uint64_t seed, int draw, int64_t *out, ssl_err *err);

/* Mean and sample (n - 1) standard deviation of x [n], n >= 1, in double;
 * the std is 0 (and the mean that value) when all n are equal, n == 1 included. A value that is not finite makes both NAN (so
 * a figure that does not exist, such as top-5 with five classes, stays
 * absent). */
void fewshot_mean_std(const double *x, int n, double *mean, double *std);
#endif
