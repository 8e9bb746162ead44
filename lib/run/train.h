/* train.h: the training loop as a library: configuration (recipes, flags,
 * resume checks), the bank-initialisation pass, one training step, the
 * epoch loop with its hooks, and the kNN monitor.
 *
 * Randomness is a function of (seed, purpose, epoch/step/index) (util/rng.h),
 * so a run resumes from a checkpoint with no RNG state beyond its step
 * counter:
 *   data order of epoch e   rng_init(seed ^ RNG_ORDER, e, 0), Fisher-Yates
 *   augmentation            augment_batch(seed, epoch e, dataset index)
 *   CutMix of global step s rng_init(seed ^ RNG_CUTMIX, s, 0)
 *   negatives of step s     rng_init(seed ^ RNG_NEGATIVES, s, 0)
 *   bank-init pass          epoch TRAIN_INIT_EPOCH for order and augmentation
 * Steps per epoch: floor(N / B) (drop_last); epoch = step / spe.
 *
 * Configuration as a value map (train_config_to_sv) uses the long flag
 * names with '-' written '_' (tau, bank_momentum, k_negatives, ...), so a
 * refused resume names the flag (kl_reverse is set by --kl-forward). Keys
 * added after the first checkpoints (kl_keepgrad, kl_reverse, kl_terms,
 * precision) may be absent from a stored map: absent means the default. */
#ifndef SSL_TRAIN_H
#define SSL_TRAIN_H
#include <signal.h>
#include <stdint.h>

#include "data/augment.h"
#include "run/ckpt.h"
#include "stream/dataset.h"
#include "ssl/npid.h"
#include "nn/lr_sched.h"
#include "util/value.h"

#define TRAIN_INIT_EPOCH UINT64_C(0xFFFFFFFF)   /* "epoch" of the bank-init pass */
#define TRAIN_MAX_MILESTONES 8

typedef struct {
    char recipe[16];              /* "paper" or "npid" */
    char negatives[8];            /* "all", "k", "0" */
    int64_t k_negatives;
    double tau, bank_momentum;
    char bank_write[8];           /* "npid" or "grad" */
    double bank_lr;               /* grad write step factor, default (1-m)/m */
    double lambda, alpha;         /* SqrtKL */
    int64_t kl_keepgrad;          /* 0/1: the gradient also flows through u */
    int64_t kl_reverse;           /* 1: KL(p||u) (default), 0: KL(u||p) (--kl-forward) */
    char kl_terms[8];             /* "both", "l1", "l2" (l1/l2 need keepgrad, reverse) */
    double cutmix;                /* Beta(alpha, alpha); 0 = off */
    int64_t batch;
    double lr, wd, momentum;
    char schedule[16];            /* "cosine", "step", "constant" */
    int64_t milestones[TRAIN_MAX_MILESTONES];
    int64_t nmilestones;
    double gamma;
    int64_t warmup, epochs;
    double flip, jitter, gray, crop_scale;
    double brightness, contrast, saturation, hue, blur;
    int64_t ckpt_every_steps;     /* 0: only at epoch ends */
    int64_t deterministic;        /* 0/1 */
    int64_t monitor_k;
    double monitor_sigma;
    char precision[8];            /* "fp32" or "bf16" (nn/ops/ops.h PREC_*) */
} train_config;

/* Defaults of a recipe ("paper" or "npid") for images of h x w (the
 * augmentation defaults come from aug_config_default). 0, or -1 if the
 * recipe is unknown. */
int train_config_default(train_config *c, const char *recipe, int h, int w);
/* The configuration as a flat map; NULL on out of memory. */
sv *train_config_to_sv(const train_config *c);
/* Set every key present in m (a map of the same keys; unknown keys and
 * values of the wrong type are errors naming the key). Setting
 * bank_momentum without bank_lr resets bank_lr to (1-m)/m. */
int train_config_apply(train_config *c, const sv *m, ssl_err *err);
/* The recipe's learning rate belongs to its batch (paper 1.0 at 512, npid
 * 0.03 at 128): set c->lr to it scaled linearly to c->batch,
 * lr = base * batch / ref (Goyal et al. 2017; as solo-learn and lightly
 * do). *base and *ref get the recipe's rate and batch. 0, or -1 if
 * c->recipe is unknown. */
int train_config_scale_lr(train_config *c, double *base, int64_t *ref);
/* Check ranges and choices: 0, or -1 with err naming the flag. */
int train_config_check(const train_config *c, ssl_err *err);
/* The keys whose change makes a resumed run a different run (everything
 * but epochs, ckpt_every_steps, deterministic and the monitor settings). */
sv *train_critical_keys(void);
/* Compare the critical keys of two configuration maps: 0 if equal, else
 * -1 with err "--tau: 0.1 in the checkpoint, 0.2 now" style. A later key
 * absent from stored compares as its default. */
int train_config_compare(const sv *stored, const sv *now, ssl_err *err);
/* Derived settings for the compute library. */
int train_precision(const train_config *c);   /* PREC_FP32 or PREC_BF16 */
void train_npid_config(const train_config *c, npid_config *n);
void train_aug_config(const train_config *c, int h, int w, aug_config *a);
void train_sched(const train_config *c, lr_sched *s);

/* The dataset part of a checkpoint's config: n, c, h, w, mean, std,
 * nclasses, source, and labels_crc (the CRC-32 of the labels), or for an
 * unlabelled dataset labelled: false and images_crc (of the pixels).
 * NULL on out of memory. */
sv *train_data_sv(const ssl_dataset *d);
/* Check that d is the dataset the checkpoint's bank was built from (size,
 * shape, labelled or not, labels or pixels). 0, or -1 with err. */
int train_data_check(const sv *data_cfg, const ssl_dataset *d, ssl_err *err);
/* The per-channel mean/std stored in data_cfg (falls back to d's). */
void train_data_norm(const sv *data_cfg, const ssl_dataset *d, double *mean, double *std);

/* Progress of a long pass: `done` of `total` units of `what` ("bank pass",
 * images). Called often; the caller throttles what it draws. */
typedef void (*train_progress_fn)(void *ctx, const char *what, int64_t done, int64_t total);

/* ---- bank initialisation (ssl-method(7), BANK INITIALISATION) ---- */
/* forward: one no-gradient pass over all N images of d in a seeded
 * shuffled order (TRAIN_INIT_EPOCH), training augmentation a, BN in
 * training mode (running statistics updated), batches of B (the net's
 * max_batch must be >= B; B is clipped to N); the last partial batch is
 * padded with images already seen; bank[i] = normalised head output of
 * image i (rounded to bf16 where bank_bf16). Every row is written.
 * mean/std: normalisation. progress (may
 * be NULL) is called with pctx after every batch (images done of N). */
int train_bank_forward(net *n, const ssl_dataset *d, const aug_config *a,
                       const double *mean, const double *std, int B, uint64_t seed,
                       void *bank, int bank_bf16, train_progress_fn progress, void *pctx,
                       ssl_err *err);
/* The order of that pass (and of training epoch e): a permutation of [0, n). */
void train_order(int64_t *order, int64_t n, uint64_t seed, uint64_t epoch);

/* ---- training ---- */
typedef struct {
    int64_t epoch;                /* current epoch (0-based) */
    int64_t step;                 /* global steps completed */
    int64_t step_in_epoch;        /* steps completed in this epoch */
    int64_t steps_per_epoch, total_steps;
    double loss, ce, kl, inst_acc, lr, lam;   /* of the last step */
    double epoch_loss, epoch_ce, epoch_kl, epoch_inst_acc;  /* means over the epoch so far */
    double knn_top1, knn_top5;    /* monitor (NAN when not run) */
    double knn_bb_top1, knn_bb_top5;  /* backbone monitor (NAN when not run) */
    double seconds;               /* wall time of this run so far */
    double t_aug, t_net, t_bank;  /* seconds in augmentation, network, npid step */
    double t_comm;                /* of those, seconds inside collectives (R > 1) */
    int64_t step_bytes;           /* payload of the last step's collectives (R > 1) */
    int step_buckets;             /* sums of the gradient arena in the last step (R > 1:
                                   * 1 with bucket_mb 0, trainer_set_parallel) */
    int ranks;                    /* R: data-parallel processes */
    double t_monitor, t_save;     /* seconds in the monitor and in the save hook */
    int64_t images;               /* images trained in this run (global batches) */
} train_status;

typedef struct trainer trainer;

/* A trainer over checkpoint ck (network with max_batch >= cfg->batch,
 * bank loaded) and dataset d (in memory). Both are borrowed and must
 * outlive the trainer. cfg must be checked and clipped (batch <= N,
 * k_negatives <= N - batch). NULL with err. */
trainer *trainer_new(ssl_ckpt *ck, const ssl_dataset *d, const train_config *cfg,
                     uint64_t seed, ssl_err *err);
void trainer_free(trainer *t);

/* One step at the checkpoint's position: augmentation, CutMix, forward,
 * loss and bank write, backward, SGD. Advances ck->step (and ck->epoch at
 * an epoch end). Returns 0, or -1 with err when the loss or a gradient is
 * not finite (the network or bank may then be partly updated: do not save). */
int trainer_step(trainer *t, train_status *st, ssl_err *err);
/* The core of a step on a given batch x [B, H, W, C] (already augmented and
 * mixed): perm NULL for no CutMix. The negatives are drawn for the
 * checkpoint's current step. Does not advance the step. */
int trainer_step_on(trainer *t, const float *x, int B, const int64_t *idx,
                    const int32_t *perm, float lam, double lr, npid_stats *ns,
                    ssl_err *err);
/* Data parallel (run/dist.h, ssl-train(1) DATA PARALLEL): with R = dist_size()
 * > 1 ranks, trainer_new refuses a batch B that R does not divide, the
 * network (max_batch >= B / R) runs this rank's B / R rows of every
 * global batch, and trainer_step does the collectives (every rank calls
 * it in step). sync_bn: BatchNorm statistics over the global batch
 * (bn_set_sync; reset by trainer_free); check_every > 0: every that many
 * steps, compare the ranks' checksums (trainer_checksum) and fail when
 * they differ. bucket_mb > 0: the gradients are summed in buckets of about
 * that many MiB (2^20 bytes), each started (dist_isum_float) as soon as
 * the backward has finished it, last layers first, overlapped with the rest
 * of the backward (net_set_grad_hook), and the grad write's update is
 * summed while the backward runs; 0: no overlap, the update summed before
 * the backward and one sum of the whole gradient arena after it. The buckets are a function of the network
 * and bucket_mb, so every rank starts the same sums in the same order (the
 * ranks must be given the same bucket_mb). With 2 ranks every bucket size
 * gives the same bits (a + b); with more, the sums' order may depend on
 * the message sizes. 0, or -1 with err (out of memory, bucket_mb < 0). No
 * effect with one process. */
/* --bucket-mb's default, MiB. */
#define TRAIN_BUCKET_MB 4.0
/* --bucket-mb's largest value, MiB. */
#define TRAIN_BUCKET_MB_MAX 65536.0
int trainer_set_parallel(trainer *t, int sync_bn, int64_t check_every, double bucket_mb,
                         ssl_err *err);
/* FNV-1a over the network's parameters, momenta and buffers and the bank. */
uint64_t trainer_checksum(const trainer *t);
/* The last batch trainer_step fed to the network (after CutMix), for tests. */
const float *trainer_last_input(const trainer *t);

/* Monitor: test images through the network in eval mode, head output,
 * L2-normalised, weighted kNN (k, sigma) against the bank with
 * bank_labels. Fills *top1 and *top5 (top5 NAN with <= 5 classes). With
 * bb_top1 and bb_top5 (else NULL) also the backbone's kNN: the pooled
 * backbone features of the test images against those of the un-augmented
 * training images, as ssl-extract + ssl-knn compute them (a forward pass
 * over the training set: about the cost of a third of an epoch). Both
 * sets must be labelled (else -1 with err). */
int trainer_monitor(trainer *t, const ssl_dataset *test, int k, double sigma,
                    double *top1, double *top5, double *bb_top1, double *bb_top5,
                    ssl_err *err);

typedef struct {
    int64_t max_steps;            /* stop after this many steps in this run; <0: no limit */
    volatile sig_atomic_t *stop;  /* set (by a signal handler) to stop after the step */
    const ssl_dataset *monitor;   /* test set for the kNN monitor, or NULL */
    int monitor_backbone;         /* the monitor also runs the backbone's kNN */
    int64_t monitor_epochs;       /* > 1: run the monitor after every monitor_epochs-th
                                   * epoch only, and after the last; 0, 1: every epoch */
    void *ctx;
    /* Called after every step. */
    void (*on_step)(void *ctx, const train_status *st);
    /* Called after every epoch (after the monitor). */
    void (*on_epoch)(void *ctx, const train_status *st);
    /* Write the checkpoint; 0 or -1 with err. Called (with save_ctx, or
     * ctx when save_ctx is NULL) at epoch ends (below), every
     * cfg->ckpt_every_steps steps, after the last step and when stopping
     * early. */
    int (*save)(void *ctx, const train_status *st, ssl_err *err);
    void *save_ctx;
    /* > 1: at epoch ends, save only after every save_epochs-th epoch and
     * every keep_epochs-th (when > 0); 0 or 1: after every epoch. The
     * last step and an early stop are saved whatever these say. */
    int64_t save_epochs, keep_epochs;
} train_hooks;

/* Train until cfg->epochs epochs are complete, max_steps are done or *stop
 * is set. Returns 0 when finished, 1 when stopped early (after saving),
 * -1 with err on failure (a non-finite loss: nothing saved after the last
 * good checkpoint). */
int train_run(trainer *t, const train_hooks *h, train_status *st, ssl_err *err);
#endif
