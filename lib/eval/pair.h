/* pair.h: the training and test sets of an evaluation (ssl-knn,
 * ssl-lineval): loaded together and checked against each other, and the
 * labelled training subsets of a few-label evaluation (eval/fewshot.h). */
#ifndef SSL_EVAL_PAIR_H
#define SSL_EVAL_PAIR_H
#include <stdint.h>

#include "stream/dataset.h"
#include "util/err.h"

/* Load the training and test sets (features or dataset streams; "-" is
 * stdin) and check that they agree: both non-empty and labelled, the same feature
 * width, the same class list where both have one, every label within the
 * classes and, with check_finite, every value finite. *nclasses gets the
 * class count. 0, or -1 with err naming the file (both sets are then
 * freed). */
int eval_load_pair(ssl_features *tr, ssl_features *te, const char *train_path,
                   const char *test_path, int check_finite, int *nclasses, ssl_err *err);

/* Refuse a few-label request no class can serve: every lpc[i] must be at
 * most the smallest class's row count ("TRAIN: --labels-per-class 600:
 * class 3 (Dress) has only 512 training images"). 0, or -1 with err. */
int eval_check_labels_per_class(const ssl_features *tr, int nclasses, const char *train_path,
                                const int *lpc, int n, ssl_err *err);

/* Draw `draw` of per_class labelled rows per class from seed (fewshot.h):
 * x [nclasses * per_class, dim] and y [nclasses * per_class] (caller-owned)
 * receive the rows in index order. 0, or -1 with err. */
int eval_labelled_subset(const ssl_features *tr, int nclasses, int per_class, uint64_t seed,
                         int draw, float *x, int32_t *y, ssl_err *err);
#endif
