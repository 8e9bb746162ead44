/* run.h: the top floor of the library: what ssl-init-bank, ssl-train,
 * ssl-extract and ssl-export do, with every decision they share made here
 * and only here: the recipes' defaults (recipe < checkpoint < flags), the checks of a
 * resumed run (seed, critical settings, dataset, thread count of a
 * deterministic run), the clips (batch to N, k to N - batch) and the
 * thread rule. A tool parses its flags into one of the option structs
 * below, makes one call and reports what comes back: the library never
 * prints, so notices ("--batch 512 clipped to the 60 images of x.sslt")
 * and progress reach the tool through the callbacks it gives.
 *
 * Errors (util/err.h): SSL_EARG means the flags themselves are wrong (a
 * tool exits 2); anything else is a runtime failure (exit 1): a file that
 * cannot be read, a checkpoint that does not fit the dataset or the flags
 * of a resumed run, a non-finite loss. */
#ifndef SSL_RUN_H
#define SSL_RUN_H
#include <signal.h>
#include <stdint.h>

#include "data/prep.h"
#include "nn/net.h"
#include "run/ckpt.h"
#include "ssl/npid.h"
#include "run/train.h"
#include "stream/safetensors.h"
#include "stream/dataset.h"
#include "util/err.h"
#include "util/value.h"

/* How a run reports to its tool. Every member may be NULL. */
typedef struct {
    void *ctx;
    /* One line about a decision the user should hear of (a clip). */
    void (*notice)(void *ctx, const char *msg);
    /* Progress of a long pass (train.h: train_progress_fn); called often,
     * the tool throttles what it draws. */
    train_progress_fn progress;
} run_report;

/* Precision (--precision of ssl-init-bank, ssl-train, ssl-extract): PREC_BF16
 * runs where gemm_bf16_available() and no_bf16 is 0; elsewhere it is
 * refused (SSL_EARG) with "--precision bf16: this CPU lacks the
 * AVX512_BF16 instruction set (avx512_bf16); use --precision fp32". */
int run_check_precision(int precision, int no_bf16, ssl_err *err);

/* ---- the work of a training step (make bench) ---- */
/* FLOPs per batch of B of one training step (forward and backward), in
 * three parts, for reports of GFLOP/s against the FMA peak:
 *   backbone, head: 3x their forward FLOPs (net_flops: 2 x the
 *     multiply-adds of the convolutions and linear layers, BN, ReLU and
 *     pooling not counted), as bench_net counts a training step: the
 *     forward, the input gradient and the weight gradient each do the
 *     forward's multiply-adds (the stem's input gradient, which is not
 *     computed, is counted too: 0.13% of the backbone at ResNet-18 width
 *     0.25 on 28x28). Winograd convolutions count as the direct
 *     convolution's multiply-adds (the work they replace), so a step can
 *     exceed the peak;
 *   bank: npid_step_flops (the logits, dz and the grad write's deltas),
 *     with K' = npid_ncols(npid, N, B).
 * The head's part is net_flops of nc less that of nc with head "none".
 * 0, or -1 with err on a bad network configuration. */
typedef struct {
    double backbone, head, bank;
    int64_t ncols;                /* K' */
} run_step_flops;
int run_step_cost(const net_config *nc, const npid_config *npid, int64_t N, int B,
                  run_step_flops *f, ssl_err *err);

/* ---- datasets (ssl-prep) ---- */
typedef struct {
    const char *const *paths;     /* the inputs (data/prep.h: prep_load) */
    int npaths;                   /* 1 or 2 */
    prep_opts po;                 /* split, labels, channels, size, on_error, progress, notices */
    const char *classes;          /* comma-separated class names replacing the source's, or NULL */
    const char *subset;           /* "N" per class or a fraction "F" per class, or NULL */
    uint64_t seed;                /* of the subset choice */
    const char *output;           /* the dataset stream ("-" or NULL: stdout) */
    int level;                    /* zstd level */
} run_prep_opts;

typedef struct {
    int64_t n;
    int c, h, w, nclasses;        /* nclasses 0: unlabelled */
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];   /* of the [0,1] pixels written */
} run_prep_result;

/* Load, relabel, subset, measure and write one split as a dataset stream
 * whose metadata records the class names, mean/std, source, format, split
 * and the subset's spec, seed and indices; data without labels gives a
 * stream without labels and classes (stream/dataset.h). 0, or -1 with err
 * (no output file is left under the name). */
int run_prep(const run_prep_opts *o, run_prep_result *res, ssl_err *err);

/* ---- the starting checkpoint (ssl-init-bank) ---- */
typedef struct {
    const char *recipe;           /* "paper" or "npid": the defaults below */
    const char *arch, *stem;      /* "resnet18", "cifar" */
    double width;                 /* 1 */
    const char *head;             /* NULL: paper mlp3, npid linear */
    int64_t dim;                  /* <= 0: paper 2048, npid 128 */
    int64_t hidden;               /* mlp3 hidden width: 2048 */
    const char *bank;             /* NULL: paper "forward", npid "random" */
    int bank_bf16;                /* 1: the bank in bf16 (--bank-dtype bf16), else f32 */
    int64_t batch;                /* <= 0: the recipe's training batch (paper 512, npid 128) */
    double flip, jitter, gray, crop_scale;   /* < 0: the recipe's augmentation */
    uint64_t seed;                /* weights, bank and the pass's order */
    int winograd;                 /* CONV_WINOGRAD_* (nn/ops/ops.h) */
    int precision;                /* PREC_FP32 / PREC_BF16 (nn/ops/ops.h) of the pass */
    int no_bf16;                  /* 1: refuse bf16 as on a CPU without AVX512-BF16 */
} run_init_opts;

/* The defaults: recipe "paper", resnet18, cifar stem, width 1, hidden
 * 2048, every other choice the recipe's, seed 0. */
void run_init_opts_default(run_init_opts *o);

/* The starting checkpoint for dataset d (named dname in messages): the
 * network at its seed and the bank, from one no-gradient pass of the
 * network over every image (bank "forward", which also sets the BN
 * running statistics) or random (NPID's). *ck is filled (free with
 * ckpt_destroy); its config records net, data and init. *seconds gets the
 * bank's time. 0, or -1 with err. */
int run_init_bank(const run_init_opts *o, const ssl_dataset *d, const char *dname,
                  const run_report *rep, ssl_ckpt *ck, double *seconds, ssl_err *err);

/* ---- training (ssl-train) ---- */
typedef struct {
    const char *ckpt;             /* the checkpoint to train ("-": stdin) */
    const char *data;             /* the dataset stream ("-": stdin) */
    const char *out;              /* the checkpoint written after every epoch (a file) */
    int64_t keep_every;           /* > 0: also keep every N-th epoch's checkpoint
                                   * (run_keep_path); 0: none */
    int64_t ckpt_every_epochs;    /* > 1: write out after every N-th epoch only (and
                                   * after the last, and when stopping); 0, 1: every epoch */
    const char *monitor;          /* test set for the kNN monitor, or NULL */
    int monitor_backbone;         /* the monitor also runs the backbone's kNN */
    int64_t monitor_epochs;       /* > 1: the monitor after every N-th epoch only (and
                                   * the last); 0, 1: every epoch */
    const char *recipe;           /* --recipe, or NULL: the checkpoint's */
    const sv *flags;              /* train_config keys given as flags (a map, or NULL) */
    int has_seed;
    uint64_t seed;                /* --seed, if has_seed; else the checkpoint's */
    int threads;                  /* --threads (0: all cores) */
    int has_threads;              /* --threads was given */
    int64_t max_steps;            /* stop after this many steps; < 0: no limit */
    int winograd;                 /* CONV_WINOGRAD_* */
    int no_bf16;                  /* 1: refuse bf16 as on a CPU without AVX512-BF16
                                   * (the precision is the train key "precision") */
    /* Data parallel (R = dist_size() > 1, run/dist.h): every rank calls
     * run_train with the same options; the checks, the failures and the
     * stop are collective, rank 0 writes the checkpoints and runs the
     * monitor. No effect with one process. */
    int sync_bn;                  /* BatchNorm statistics over the global batch */
    int64_t check_replicas;       /* > 0: compare the ranks' checksums every N steps */
    double bucket_mb;             /* gradient bucket, MiB (trainer_set_parallel; 0: one
                                   * sum after the backward), if has_bucket_mb */
    int has_bucket_mb;            /* else TRAIN_BUCKET_MB */
    const char *created_by;       /* recorded in the checkpoint ("ssl-train 0.1.0") */
    volatile sig_atomic_t *stop;  /* set by a signal handler: save and stop after the step */
    run_report report;
    /* The resolved configuration (the checkpoint's config map), the seed
     * and the step training starts from, before the first step. */
    void (*on_start)(void *ctx, const sv *config, uint64_t seed, int64_t step,
                     const train_config *tc);
    void (*on_step)(void *ctx, const train_status *st);
    void (*on_epoch)(void *ctx, const train_status *st);
    /* After each checkpoint written to out. */
    void (*on_save)(void *ctx, const char *path, int64_t step);
} run_train_opts;

/* Resolve the configuration (recipe < stored < flags; the recipe's lr
 * scaled linearly to the batch when neither the checkpoint nor the flags
 * give one, with a notice), check a resume, clip, set the threads, and
 * train until the configured epochs are done, max_steps are done or *stop
 * is set; the checkpoint is written to out (atomically) after every epoch
 * (with ckpt_every_epochs N after every N-th and the last), every
 * ckpt_every_steps and when stopping, and with keep_every K also to
 * run_keep_path(out, epoch) after every K-th epoch (written to out then
 * too, whatever N says). A checkpoint that has
 * already done the configured epochs trains nothing and writes nothing (a
 * notice says so). Returns 0 when finished (or nothing to do), 1 when
 * stopped early (checkpoint written), -1 with err. *st holds the last
 * status. With R = dist_size() > 1 ranks (run/dist.h) every rank makes
 * this call: a failure on any rank (a missing file, a refused setting)
 * is every rank's, with that rank's message; the ranks' settings,
 * checkpoint metadata, dataset and loaded network and bank must equal
 * rank 0's; the batch must be a multiple of R (SSL_EARG); rank 0 writes
 * the checkpoints and runs the monitor. */
int run_train(const run_train_opts *o, train_status *st, ssl_err *err);

/* The name of the copy --keep-every keeps of epoch `epoch` beside out:
 * ".eNNNN" (4 digits at least) inserted before the extension of out's
 * last path component, or appended when it has none: run.ckpt ->
 * run.e0005.ckpt, runs/a -> runs/a.e0005. 0, or -1 if it does not fit
 * len. */
int run_keep_path(char *buf, size_t len, const char *out, int64_t epoch);

/* ---- features (ssl-extract) ---- */
typedef struct {
    const char *ckpt;             /* checkpoint ("-": stdin) */
    const char *data;             /* dataset stream ("-": stdin) */
    const char *out;              /* features stream ("-": stdout) */
    int head;                     /* 1: the head's output; 0: the pooled backbone */
    int batch;                    /* images per forward pass */
    int winograd;                 /* CONV_WINOGRAD_* */
    int precision;                /* PREC_FP32 / PREC_BF16 */
    int no_bf16;                  /* 1: refuse bf16 as on a CPU without AVX512-BF16 */
    run_report report;            /* progress: "images", done of the stream's N */
} run_extract_opts;

typedef struct {
    int64_t n;                    /* images */
    int dim;                      /* feature width */
    double seconds;
} run_extract_result;

/* Stream every image of data through the checkpoint's network in
 * evaluation mode (the training set's normalisation, no augmentation) and
 * write a features stream, in memory independent of the dataset size.
 * 0, or -1 with err (out is then not created). */
int run_extract(const run_extract_opts *o, run_extract_result *res, ssl_err *err);

/* ---- safetensors (ssl-export) ---- */
typedef struct {
    const char *ckpt;             /* checkpoint ("-": stdin) */
    const char *out;              /* the safetensors file ("-" or NULL: stdout) */
    int head;                     /* also the head's tensors (the backbone's always) */
    const char *created_by;       /* recorded in __metadata__ ("ssl-export 0.1.0") */
} run_export_opts;

typedef struct {
    int ntensors;                 /* tensors written */
    int64_t bytes;                /* bytes of tensor data */
    int features;                 /* F, the pooled backbone's width */
} run_export_result;

/* Write the checkpoint's backbone (and with o->head its head) as a
 * safetensors file (stream/safetensors.h) that loads into the PyTorch
 * module of examples/ssl_resnet.py with load_state_dict(strict=True): the
 * checkpoint's tensor names and shapes (f32), each BatchNorm's
 * num_batches_tracked (i64 scalar: the checkpoint's step), and in
 * __metadata__ what builds the module and prepares its input: arch, stem,
 * width, in_channels, in_height, in_width, features, head (and dim,
 * hidden), mean and std (JSON lists), the checkpoint's epoch, step, seed
 * and config (JSON). ssl-export(1) lists them. 0, or -1 with err (out is
 * then not created). */
int run_export(const run_export_opts *o, run_export_result *res, ssl_err *err);
#endif
