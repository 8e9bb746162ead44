/* lineval.h: linear evaluation (ssl-method(7), EVALUATION): a multinomial
 * logistic-regression classifier trained on frozen features.
 *
 * Training: mean cross-entropy over a batch; SGD with PyTorch semantics
 * (g += wd * p; v = momentum * v + g; p -= lr * v; weight decay on the
 * weight and the bias); cosine learning rate per epoch (nn/lr_sched.h:
 * lr_e = lr * 0.5 * (1 + cos(pi * e / E))); batches of `batch` rows in an
 * order reshuffled each epoch (rng tag RNG_LINEVAL, key (seed, 1, epoch));
 * the last, shorter batch is kept. Initialisation as MoCo's linear
 * evaluation: weight ~ N(0, 0.01^2) (key (seed, 0, 0)), bias 0. Forward and
 * backward are two sgemm each. The same seed and thread count repeat
 * exactly.
 *
 * Feature normalisation (applied to train and test alike):
 *   l2           each row divided by max(||x||, 1e-12) (the default);
 *   standardize  per feature (x - mean) / std with the training mean and
 *                (population) std; std < 1e-8 counts as 1;
 *   none.
 * The default learning rate (LINEVAL_DEFAULT_LR = 10) was chosen for L2-
 * normalised features (100 epochs, batch 256, wd 0, test top-1):
 *   Fashion-MNIST raw pixels (60000/10000), lr 1, 3, 10, 30, 100:
 *     0.8466, 0.8496, 0.8471, 0.8448, 0.8264;
 *   pooled features of an untrained width-0.25 ResNet-18 (1000/500 images
 *   of Fashion-MNIST), lr 3, 10, 30, 100: 0.574, 0.620, 0.616, 0.604.
 * Network features, all positive after ReLU, are close to each other once
 * L2-normalised and want the larger rate; 10 is within 0.3 points of the
 * best on both. Standardised features want a much smaller one (pixels:
 * 0.8446 at lr 0.01, 0.8341 at 0.1; network features: 0.678 at 0.01).
 *
 * Accuracy: the rank of the true class among the logits, ties going to the
 * lower class index; top-5 only with more than 5 classes. */
#ifndef SSL_LINEVAL_H
#define SSL_LINEVAL_H
#include <stdint.h>

#include "util/err.h"
#include "util/value.h"

#define LINEVAL_DEFAULT_LR 10.0

typedef enum { LINEVAL_NORM_NONE, LINEVAL_NORM_L2, LINEVAL_NORM_STANDARDIZE } lineval_norm;

/* "none", "l2", "standardize"; lineval_norm_parse returns -1 if unknown. */
const char *lineval_norm_name(lineval_norm n);
int lineval_norm_parse(const char *s);

/* Called after each epoch with the epoch (0-based), its learning rate,
 * the mean training loss of the epoch and the share of training rows the
 * batches classified right (before their step). */
typedef void (*lineval_epoch_fn)(void *ctx, int epoch, double lr, double loss, double acc);

typedef struct {
    int epochs;                   /* 100 */
    double lr;                    /* LINEVAL_DEFAULT_LR */
    int batch;                    /* 256 */
    double wd;                    /* 0 */
    double momentum;              /* 0.9 */
    lineval_norm norm;            /* LINEVAL_NORM_L2 */
    uint64_t seed;                /* 0 */
    lineval_epoch_fn on_epoch;    /* NULL, or called after every epoch */
    void *ctx;
} lineval_config;

void lineval_config_default(lineval_config *c);

typedef struct {
    int nclasses, dim;            /* C, F */
    float *params;                /* one allocation: weight then bias */
    float *weight;                /* [C, F], view into params */
    float *bias;                  /* [C], view into params */
    lineval_norm norm;
    float *mean, *std;            /* [F] each with standardize, else NULL */
} lineval_model;

void lineval_model_destroy(lineval_model *m);   /* NULL or zeroed: no-op */

/* Normalise n rows of m->dim in place as the model says. */
void lineval_apply_norm(const lineval_model *m, float *x, int64_t n);

/* Mean cross-entropy of one batch and its gradient. x [B, F], y [B] in
 * [0, C); w [C, F], b [C]. ACCUMULATES into dw [C, F] and db [C] (the
 * caller zeroes them). logits: workspace [B, C]. If correct != NULL it
 * receives the number of rows whose true class ranks first. */
double lineval_loss_grad(const float *w, const float *b, const float *x, const int32_t *y,
                         int B, int F, int C, float *dw, float *db, float *logits,
                         int64_t *correct);

/* Train on x [n, dim] (not modified; a normalised copy is made) with
 * labels y [n] in [0, nclasses). Fills *m (free with lineval_model_destroy).
 * Returns 0, or -1 with err: empty set, bad sizes or hyper-parameters,
 * labels out of range, a non-finite feature, a loss that became
 * non-finite, out of memory. */
int lineval_train(const lineval_config *cfg, const float *x, const int32_t *y, int64_t n,
                  int dim, int nclasses, lineval_model *m, ssl_err *err);

typedef struct {
    int64_t n, correct1, correct5;
    double top1, top5;            /* fractions; top5 NAN when C <= 5 */
    double loss;                  /* mean cross-entropy */
} lineval_acc;

/* Accuracy of m on x [n, m->dim] with labels y (x not modified; rows are
 * normalised block by block). Returns 0, or -1 with err (labels out of
 * range, out of memory). */
int lineval_evaluate(const lineval_model *m, const float *x, const int32_t *y, int64_t n,
                     lineval_acc *acc, ssl_err *err);

/* Write m as a stream of kind "classifier" to path ("-": stdout), atomically
 * for a regular file: tensors weight f32 [C, F], bias f32 [C], and with
 * standardize mean f32 [F] and std f32 [F]; meta: normalize (str),
 * nclasses, dim, classes ([str], if given), recipe (map, if given; copied),
 * and the entries of extra (a map, if given; copied). 0 or -1 with err. */
int lineval_save(const lineval_model *m, const char *path, const char *const *classes,
                 const sv *recipe, const sv *extra, ssl_err *err);
#endif
