/* ssl-train: train a checkpoint on a dataset stream (NPID with the
 * improvements of Cao & Wu), writing a checkpoint every epoch; resumes
 * where a checkpoint stopped. See man ssl-train(1).
 *
 * The tool parses flags, prints progress and JSON logs and turns
 * SIGINT/SIGTERM into a stop after the step; run_train (lib/run/run.c)
 * resolves the configuration (recipe < checkpoint < flags), checks a
 * resume, clips, trains and writes the checkpoints. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "nn/ops/ops.h"
#include "run/dist.h"
#include "run/run.h"

static const char usage_text[] =
    "usage: ssl-train [options] CKPT DATA -o OUT\n"
    "       ssl-train [options] --in-place CKPT DATA\n"
    "Train the checkpoint CKPT on the dataset stream DATA ('-': stdin) for --epochs\n"
    "epochs in total; write the checkpoint to OUT every epoch (atomically), or over\n"
    "CKPT with --in-place. Defaults: the checkpoint's own settings when it is\n"
    "continued, else --recipe's.\n"
    "\n"
    "  --recipe paper|npid     ssl-method(7) recipe (default: the bank-init one)\n"
    "  --negatives all|k|0     negatives per step (paper: k, npid: all)\n"
    "  -k, --k-negatives N     negatives drawn with 'k' (10000; clipped to N - batch)\n"
    "  --tau T                 temperature (paper 0.2, npid 0.1)\n"
    "  --bank-momentum M       bank momentum m (0.5)\n"
    "  --bank-write npid|grad  bank write rule (paper: grad, npid: npid)\n"
    "  --bank-lr F             grad write step factor ((1-m)/m)\n"
    "  --lambda L, --alpha A   SqrtKL weight and power (paper 20 and 0.5, npid 0)\n"
    "  --kl-keepgrad           SqrtKL: the gradient also flows through u = p^A / sum p^A\n"
    "  --kl-forward            SqrtKL as KL(u||p) (default KL(p||u))\n"
    "  --kl-terms both|l1|l2   keep both terms of KL(p||u) = L1 + L2 or one (l1, l2\n"
    "                          need --kl-keepgrad; default both)\n"
    "  --cutmix A, --no-cutmix CutMix Beta(A, A) (paper 0.5, npid off)\n"
    "  --batch B               batch (paper 512, npid 128; clipped to N)\n"
    "  --lr LR, --wd WD, --momentum MU   SGD (paper 1.0 1e-4 0.9, npid 0.03 5e-4 0.9;\n"
    "                          the recipe's lr is for its batch, scaled linearly to\n"
    "                          --batch: lr x batch / (512 or 128); an explicit --lr\n"
    "                          is taken as given)\n"
    "  --schedule cosine|step|constant, --milestones E1,E2, --gamma G, --warmup E\n"
    "  --flip P, --jitter P, --gray P, --crop-scale MIN, --blur P   augmentation\n"
    "  --epochs E              total epochs, at least 1 (200)\n"
    "  --ckpt-every-steps N    also write the checkpoint every N steps\n"
    "  --ckpt-every-epochs N   write it after every N-th epoch only (and the last,\n"
    "                          and on a stop); a crash loses up to N epochs (1)\n"
    "  --max-steps N           stop after N steps in this run (checkpoint written)\n"
    "  --deterministic         keep the thread count of the run (bit-exact resume)\n"
    "  --precision fp32|bf16   arithmetic of the matrix products (fp32; bf16: bfloat16\n"
    "                          inputs, fp32 sums, on AVX512-BF16; weights, SGD, BN,\n"
    "                          loss and bank stay fp32; kept on resume)\n"
    "  --seed N                seed of order, augmentation, CutMix, negatives\n"
    "                          (default: the checkpoint's)\n"
    "  --log FILE              append JSON lines (every step and epoch) to FILE\n"
    "  --monitor TEST          weighted kNN of TEST against the bank every epoch\n"
    "  --monitor-every-epochs N\n"
    "                          the monitor after every N-th epoch only, and the\n"
    "                          last (1: every epoch)\n"
    "  --monitor-k K, --monitor-sigma S   (200, 0.1)\n"
    "  --monitor-backbone      the monitor also runs the backbone's kNN (the test\n"
    "                          images against the training images, as ssl-knn)\n"
    "  -o, --output FILE       write the checkpoint to FILE\n"
    "      --in-place          write the checkpoint over CKPT\n"
    "      --keep-every N      also keep the checkpoint of every N-th epoch beside\n"
    "                          OUT, named with the epoch: run.ckpt -> run.e0005.ckpt\n"
    "      --threads N         threads (0: all cores; per rank under mpirun)\n"
    "Under mpirun -n R (a build with MPI): R data-parallel ranks, B / R images each\n"
    "      --sync-bn           BatchNorm statistics over the global batch (default:\n"
    "                          each rank's own, as PyTorch DDP)\n"
    "      --check-replicas N  compare the ranks' network and bank checksums every N\n"
    "                          steps; stop if they differ (debugging)\n"
    "      --bucket-mb X       sum the gradients in buckets of X MiB started during\n"
    "                          the backward, overlapping it (4); 0: one sum after it\n"
    "  -q, --quiet / -v, --verbose   less / more on stderr\n"
    "  -h, --help, -V, --version\n";

enum {
    O_RECIPE = 256, O_NEG, O_TAU, O_BANKM, O_BANKW, O_BANKLR, O_LAMBDA, O_ALPHA, O_CUTMIX,
    O_NOCUTMIX, O_BATCH, O_LR, O_WD, O_MOM, O_SCHED, O_MILES, O_GAMMA, O_WARMUP, O_FLIP,
    O_JITTER, O_GRAY, O_CROP, O_BLUR, O_EPOCHS, O_CKEVERY, O_MAXSTEPS, O_DET, O_SEED, O_LOG,
    O_MON, O_MONK, O_MONS, O_THREADS, O_KLKEEP, O_KLFWD, O_KLTERMS, O_MONBB, O_INPLACE,
    O_KEEP, O_PREC, O_SYNCBN, O_CHECKREP, O_CKEPOCHS, O_BUCKET, O_MONEVERY
};

static const struct option long_opts[] = {
    {"recipe", 1, 0, O_RECIPE}, {"negatives", 1, 0, O_NEG}, {"k-negatives", 1, 0, 'k'},
    {"tau", 1, 0, O_TAU}, {"bank-momentum", 1, 0, O_BANKM}, {"bank-write", 1, 0, O_BANKW},
    {"bank-lr", 1, 0, O_BANKLR}, {"lambda", 1, 0, O_LAMBDA}, {"alpha", 1, 0, O_ALPHA},
    {"kl-keepgrad", 0, 0, O_KLKEEP}, {"kl-forward", 0, 0, O_KLFWD}, {"kl-terms", 1, 0, O_KLTERMS},
    {"cutmix", 1, 0, O_CUTMIX}, {"no-cutmix", 0, 0, O_NOCUTMIX}, {"batch", 1, 0, O_BATCH},
    {"lr", 1, 0, O_LR}, {"wd", 1, 0, O_WD}, {"momentum", 1, 0, O_MOM},
    {"schedule", 1, 0, O_SCHED}, {"milestones", 1, 0, O_MILES}, {"gamma", 1, 0, O_GAMMA},
    {"warmup", 1, 0, O_WARMUP}, {"flip", 1, 0, O_FLIP}, {"jitter", 1, 0, O_JITTER},
    {"gray", 1, 0, O_GRAY}, {"crop-scale", 1, 0, O_CROP}, {"blur", 1, 0, O_BLUR},
    {"epochs", 1, 0, O_EPOCHS}, {"ckpt-every-steps", 1, 0, O_CKEVERY},
    {"ckpt-every-epochs", 1, 0, O_CKEPOCHS},
    {"max-steps", 1, 0, O_MAXSTEPS}, {"deterministic", 0, 0, O_DET}, {"seed", 1, 0, O_SEED},
    {"log", 1, 0, O_LOG}, {"monitor", 1, 0, O_MON}, {"monitor-k", 1, 0, O_MONK},
    {"monitor-sigma", 1, 0, O_MONS}, {"monitor-every-epochs", 1, 0, O_MONEVERY},
    {"monitor-backbone", 0, 0, O_MONBB}, {"output", 1, 0, 'o'}, {"in-place", 0, 0, O_INPLACE},
    {"keep-every", 1, 0, O_KEEP}, {"threads", 1, 0, O_THREADS}, {"precision", 1, 0, O_PREC},
    {"sync-bn", 0, 0, O_SYNCBN}, {"check-replicas", 1, 0, O_CHECKREP},
    {"bucket-mb", 1, 0, O_BUCKET},
    {"quiet", 0, 0, 'q'}, {"verbose", 0, 0, 'v'}, {"help", 0, 0, 'h'},
    {"version", 0, 0, 'V'}, {0, 0, 0, 0}};

typedef struct {
    sv *ov;                       /* flag overrides, train_config keys */
    const char *recipe, *ckpt, *data, *out, *log, *monitor;
    int has_seed, threads, has_threads, monitor_backbone, in_place, sync_bn, has_bucket_mb;
    double bucket_mb;
    uint64_t seed;
    long long max_steps, keep_every, check_replicas, ckpt_every_epochs, monitor_every;
} opts;

typedef struct {
    const opts *o;
    int64_t epochs;               /* of the resolved configuration */
    FILE *log;
    int tty, bar;
    double last_print;
    int64_t step0;
} run_ctx;

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) {
    stop_signal = sig;
    signal(sig, SIG_DFL);         /* a second signal ends the process at once */
}

/* Images per second of training steps (augmentation, network, bank):
 * the speed, without the monitor and checkpoint writes between epochs. */
static double step_ips(const train_status *st) {
    double busy = st->t_aug + st->t_net + st->t_bank;
    return busy > 0 ? st->images / busy : 0;
}

/* The share of the step time spent inside collectives (R > 1). */
static double comm_share(const train_status *st) {
    double busy = st->t_aug + st->t_net + st->t_bank;
    return busy > 0 ? st->t_comm / busy : 0;
}

static void on_step(void *vctx, const train_status *st) {
    run_ctx *c = vctx;
    int64_t done = st->step - c->step0;
    double ips = st->seconds > 0 ? st->images / st->seconds : 0, sips = step_ips(st);
    double eta = done > 0 ? (st->total_steps - st->step) * st->seconds / done : NAN;
    double rss = peak_rss_mib();
    if (c->log) {
        fprintf(c->log,
                "{\"event\":\"step\",\"epoch\":%lld,\"step\":%lld,\"step_in_epoch\":%lld,"
                "\"loss\":%.6g,\"ce\":%.6g,\"kl\":%.6g,\"inst_acc\":%.6g,\"lr\":%.6g,\"lam\":%.6g,"
                "\"img_s\":%.1f,\"step_img_s\":%.1f,\"eta_s\":%.0f,\"rss_mib\":%.0f,"
                "\"seconds\":%.3f",
                (long long)st->epoch, (long long)st->step, (long long)st->step_in_epoch,
                st->loss, st->ce, st->kl, st->inst_acc, st->lr, st->lam, ips, sips,
                isfinite(eta) ? eta : -1, rss, st->seconds);
        if (st->ranks > 1)
            fprintf(c->log, ",\"ranks\":%d,\"comm_share\":%.4f,\"step_bytes\":%lld,"
                    "\"buckets\":%d", st->ranks, comm_share(st), (long long)st->step_bytes,
                    st->step_buckets);
        fputs("}\n", c->log);
        fflush(c->log);
    }
    if (verbosity < 1) return;
    double now = ssl_clock();
    int last = st->step == st->total_steps;
    if (!last && now - c->last_print < (c->tty ? 0.25 : 10)) return;
    c->last_print = now;
    char e[32], comm[48] = "";
    fmt_eta(e, sizeof e, eta);
    if (st->ranks > 1)
        snprintf(comm, sizeof comm, " (%d ranks, comm %.0f%%)", st->ranks, 100 * comm_share(st));
    if (c->tty) {
        int w = 20, fill = st->total_steps ? (int)(w * st->step / st->total_steps) : w;
        char bar[32];
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = 0;
        fprintf(stderr, "\r%s: [%s] epoch %lld/%lld step %lld/%lld loss %.4f lr %.4g %.0f img/s%s "
                "ETA %s RSS %.0f MiB\033[K", prog, bar, (long long)st->epoch + 1,
                (long long)c->epochs, (long long)st->step_in_epoch,
                (long long)st->steps_per_epoch, st->loss, st->lr, sips, comm, e, rss);
        c->bar = 1;
    } else {
        fprintf(stderr, "%s: epoch %lld/%lld step %lld/%lld loss %.4f lr %.4g %.0f img/s%s ETA %s "
                "RSS %.0f MiB\n", prog, (long long)st->epoch + 1, (long long)c->epochs,
                (long long)st->step_in_epoch, (long long)st->steps_per_epoch, st->loss, st->lr,
                sips, comm, e, rss);
    }
}

static void log_num(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ",\"%s\":%.6g", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

static void on_epoch(void *vctx, const train_status *st) {
    run_ctx *c = vctx;
    double ips = st->seconds > 0 ? st->images / st->seconds : 0;
    double busy = st->t_aug + st->t_net + st->t_bank;
    if (c->log) {
        fprintf(c->log, "{\"event\":\"epoch\",\"epoch\":%lld,\"step\":%lld",
                (long long)st->epoch + 1, (long long)st->step);
        log_num(c->log, "loss", st->epoch_loss);
        log_num(c->log, "ce", st->epoch_ce);
        log_num(c->log, "kl", st->epoch_kl);
        log_num(c->log, "inst_acc", st->epoch_inst_acc);
        log_num(c->log, "knn_top1", st->knn_top1);
        log_num(c->log, "knn_top5", st->knn_top5);
        if (c->o->monitor_backbone) {
            log_num(c->log, "knn_backbone_top1", st->knn_bb_top1);
            log_num(c->log, "knn_backbone_top5", st->knn_bb_top5);
        }
        log_num(c->log, "lr", st->lr);
        log_num(c->log, "img_s", ips);
        log_num(c->log, "step_img_s", step_ips(st));
        log_num(c->log, "aug_share", busy > 0 ? st->t_aug / busy : NAN);
        if (st->ranks > 1) {
            fprintf(c->log, ",\"ranks\":%d", st->ranks);
            log_num(c->log, "comm_share", comm_share(st));
        }
        log_num(c->log, "monitor_s", st->t_monitor);
        log_num(c->log, "save_s", st->t_save);
        log_num(c->log, "rss_mib", peak_rss_mib());
        log_num(c->log, "seconds", st->seconds);
        fprintf(c->log, "}\n");
        fflush(c->log);
    }
    if (verbosity < 1) return;
    if (c->bar) fputc('\n', stderr), c->bar = 0;
    char knn[96] = "";
    if (isfinite(st->knn_bb_top1))
        snprintf(knn, sizeof knn, " kNN top-1 %.4f (backbone %.4f)", st->knn_top1, st->knn_bb_top1);
    else if (isfinite(st->knn_top1))
        snprintf(knn, sizeof knn, " kNN top-1 %.4f", st->knn_top1);
    fprintf(stderr, "%s: epoch %lld/%lld done: loss %.4f inst_acc %.4f%s, %.0f img/s "
            "(%.0f with monitor and checkpoints; augmentation %.0f%%)\n", prog,
            (long long)st->epoch + 1, (long long)c->epochs, st->epoch_loss,
            st->epoch_inst_acc, knn, step_ips(st), ips, busy > 0 ? 100 * st->t_aug / busy : 0);
}

static void on_notice(void *vctx, const char *msg) {
    run_ctx *c = vctx;
    if (c->bar && verbosity >= 1) fputc('\n', stderr), c->bar = 0;
    info(1, "%s", msg);
}

static void on_start(void *vctx, const sv *config, uint64_t seed, int64_t step,
                     const train_config *tc) {
    run_ctx *c = vctx;
    c->epochs = tc->epochs;
    c->step0 = step;
    /* Opened once the run is known to start, so a refused run leaves no log. */
    if (c->o->log && tool_rank == 0 && !(c->log = fopen(c->o->log, "a")))
        die("%s: %s", c->o->log, strerror(errno));
    if (verbosity >= 2) {
        fprintf(stderr, "%s: configuration (seed %llu, step %lld): ", prog,
                (unsigned long long)seed, (long long)step);
        sv_write_json(config, stderr, -1);
        fputc('\n', stderr);
    }
}

static void on_save(void *vctx, const char *path, int64_t step) {
    (void)vctx;
    info(2, "checkpoint written: %s (step %lld)", path, (long long)step);
}

static int run(opts *o, int *argc, char ***argv) {
    tool_dist_start(argc, argv);
    if (tool_ranks > 1 && (!strcmp(o->ckpt, "-") || !strcmp(o->data, "-")))
        usage_error("under mpirun every rank reads CKPT and DATA itself: give files, not stdin");
    run_ctx rc = {.o = o, .tty = isatty(STDERR_FILENO)};
    char by[64];
    snprintf(by, sizeof by, "ssl-train %s", SSL_VERSION);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    no_amx_from_env();
    run_train_opts to = {
        .ckpt = o->ckpt, .data = o->data, .out = o->out, .keep_every = o->keep_every,
        .ckpt_every_epochs = o->ckpt_every_epochs,
        .monitor = o->monitor, .monitor_epochs = o->monitor_every,
        .monitor_backbone = o->monitor_backbone, .recipe = o->recipe, .flags = o->ov, .has_seed = o->has_seed, .seed = o->seed,
        .threads = o->threads, .has_threads = o->has_threads, .max_steps = o->max_steps,
        .winograd = conv_mode_from_env(), .no_bf16 = no_bf16_from_env(), .sync_bn = o->sync_bn,
        .bucket_mb = o->bucket_mb, .has_bucket_mb = o->has_bucket_mb,
        .check_replicas = o->check_replicas, .created_by = by, .stop = &stop_signal,
        .report = {.ctx = &rc, .notice = on_notice}, .on_start = on_start,
        .on_step = on_step, .on_epoch = on_epoch, .on_save = on_save};
    train_status st;
    ssl_err err;
    int r = run_train(&to, &st, &err);
    /* Every rank is here together (run_train's failures are collective);
     * a signal that reached one rank stopped them all: all report it. */
    int sig = dist_max_int((int)stop_signal);
    tool_dist_end();
    if (rc.bar) fputc('\n', stderr);
    if (r < 0) {
        if (err.code == SSL_EARG) usage_error("%s", err.msg);
        die("%s", err.msg);
    }
    if (rc.log && fclose(rc.log)) die("%s: %s", o->log, strerror(errno));
    int status = 0;
    if (sig) {
        info(1, "stopped by signal %d at epoch %lld, step %lld; checkpoint written to %s",
             sig, (long long)(st.steps_per_epoch ? st.step / st.steps_per_epoch : 0),
             (long long)st.step, o->out);
        status = 128 + sig;
    } else {
        info(2, "done: step %lld, %.1f s", (long long)st.step, st.seconds);
    }
    sv_free(o->ov);
    return status;
}

static void set_ov(opts *o, const char *key, sv *v) {
    if (sv_set(o->ov, key, v)) die("out of memory");
}

int main(int argc, char **argv) {
    static const char *const recipes[] = {"paper", "npid", NULL};
    static const char *const negs[] = {"all", "k", "0", NULL};
    static const char *const writes[] = {"npid", "grad", NULL};
    static const char *const scheds[] = {"cosine", "step", "constant", NULL};
    static const char *const terms[] = {"both", "l1", "l2", NULL};
    opts o = {.max_steps = -1};
    long long ll[TRAIN_MAX_MILESTONES];
    int c, n;
    tool_init(argc, argv);
    if (!(o.ov = sv_map())) die("out of memory");
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":k:o:qvhV", long_opts, NULL)) != -1) {
        switch (c) {
        case O_RECIPE:
            o.recipe = recipes[parse_choice("--recipe", optarg, recipes)];
            set_ov(&o, "recipe", sv_str(o.recipe));
            break;
        case O_NEG: set_ov(&o, "negatives", sv_str(negs[parse_choice("--negatives", optarg, negs)])); break;
        case 'k': set_ov(&o, "k_negatives", sv_int(parse_int("--k-negatives", optarg, 1, 1LL << 40))); break;
        case O_TAU: set_ov(&o, "tau", sv_float(parse_double("--tau", optarg, 1e-6, 1e6))); break;
        case O_BANKM: set_ov(&o, "bank_momentum", sv_float(parse_double("--bank-momentum", optarg, 1e-6, 1 - 1e-6))); break;
        case O_BANKW: set_ov(&o, "bank_write", sv_str(writes[parse_choice("--bank-write", optarg, writes)])); break;
        case O_BANKLR: set_ov(&o, "bank_lr", sv_float(parse_double("--bank-lr", optarg, 0, 1e6))); break;
        case O_LAMBDA: set_ov(&o, "lambda", sv_float(parse_double("--lambda", optarg, 0, 1e6))); break;
        case O_ALPHA: set_ov(&o, "alpha", sv_float(parse_double("--alpha", optarg, 1e-6, 1 - 1e-6))); break;
        case O_KLKEEP: set_ov(&o, "kl_keepgrad", sv_int(1)); break;
        case O_KLFWD: set_ov(&o, "kl_reverse", sv_int(0)); break;
        case O_PREC:
            set_ov(&o, "precision", sv_str(parse_precision("--precision", optarg) == PREC_BF16
                                           ? "bf16" : "fp32"));
            break;
        case O_KLTERMS: set_ov(&o, "kl_terms", sv_str(terms[parse_choice("--kl-terms", optarg, terms)])); break;
        case O_CUTMIX: set_ov(&o, "cutmix", sv_float(parse_double("--cutmix", optarg, 0, 1e6))); break;
        case O_NOCUTMIX: set_ov(&o, "cutmix", sv_float(0)); break;
        case O_BATCH: set_ov(&o, "batch", sv_int(parse_int("--batch", optarg, 2, 1 << 20))); break;
        case O_LR: set_ov(&o, "lr", sv_float(parse_double("--lr", optarg, 0, 1e30))); break;
        case O_WD: set_ov(&o, "wd", sv_float(parse_double("--wd", optarg, 0, 1))); break;
        case O_MOM: set_ov(&o, "momentum", sv_float(parse_double("--momentum", optarg, 0, 0.999999))); break;
        case O_SCHED: set_ov(&o, "schedule", sv_str(scheds[parse_choice("--schedule", optarg, scheds)])); break;
        case O_MILES: {
            n = parse_int_list("--milestones", optarg, ll, TRAIN_MAX_MILESTONES, 0, 1 << 20);
            int64_t v[TRAIN_MAX_MILESTONES];
            for (int i = 0; i < n; i++) v[i] = ll[i];
            set_ov(&o, "milestones", sv_int_array(v, (size_t)n));
            break;
        }
        case O_GAMMA: set_ov(&o, "gamma", sv_float(parse_double("--gamma", optarg, 1e-9, 1))); break;
        case O_WARMUP: set_ov(&o, "warmup", sv_int(parse_int("--warmup", optarg, 0, 1 << 20))); break;
        case O_FLIP: set_ov(&o, "flip", sv_float(parse_double("--flip", optarg, 0, 1))); break;
        case O_JITTER: set_ov(&o, "jitter", sv_float(parse_double("--jitter", optarg, 0, 1))); break;
        case O_GRAY: set_ov(&o, "gray", sv_float(parse_double("--gray", optarg, 0, 1))); break;
        case O_CROP: set_ov(&o, "crop_scale", sv_float(parse_double("--crop-scale", optarg, 0.01, 1))); break;
        case O_BLUR: set_ov(&o, "blur", sv_float(parse_double("--blur", optarg, 0, 1))); break;
        case O_EPOCHS: set_ov(&o, "epochs", sv_int(parse_int("--epochs", optarg, 1, 1 << 20))); break;
        case O_CKEVERY: set_ov(&o, "ckpt_every_steps", sv_int(parse_int("--ckpt-every-steps", optarg, 0, 1LL << 40))); break;
        case O_DET: set_ov(&o, "deterministic", sv_int(1)); break;
        case O_MONK: set_ov(&o, "monitor_k", sv_int(parse_int("--monitor-k", optarg, 1, 1 << 20))); break;
        case O_MONS: set_ov(&o, "monitor_sigma", sv_float(parse_double("--monitor-sigma", optarg, 1e-6, 1e6))); break;
        case O_MAXSTEPS: o.max_steps = parse_int("--max-steps", optarg, 0, 1LL << 40); break;
        case O_SEED: o.seed = parse_seed("--seed", optarg), o.has_seed = 1; break;
        case O_LOG: o.log = optarg; break;
        case O_MON: o.monitor = optarg; break;
        case O_MONBB: o.monitor_backbone = 1; break;
        case O_THREADS: o.threads = (int)parse_int("--threads", optarg, 0, 1024), o.has_threads = 1; break;
        case 'o': o.out = optarg; break;
        case O_INPLACE: o.in_place = 1; break;
        case O_KEEP: o.keep_every = parse_int("--keep-every", optarg, 1, 1 << 20); break;
        case O_SYNCBN: o.sync_bn = 1; break;
        case O_CHECKREP: o.check_replicas = parse_int("--check-replicas", optarg, 1, 1LL << 40); break;
        case O_BUCKET:
            o.bucket_mb = parse_double("--bucket-mb", optarg, 0, TRAIN_BUCKET_MB_MAX);
            o.has_bucket_mb = 1;
            break;
        case O_CKEPOCHS: o.ckpt_every_epochs = parse_int("--ckpt-every-epochs", optarg, 1, 1 << 20); break;
        case O_MONEVERY: o.monitor_every = parse_int("--monitor-every-epochs", optarg, 1, 1 << 20); break;
        case 'q': verbosity = 0; break;
        case 'v': verbosity++; break;
        case 'h':
            fputs(usage_text, stdout);
            puts(dist_available() ? "This build has MPI (make MPI=0 builds without)."
                                  : "This build has no MPI (make MPI=1, with libopenmpi-dev).");
            sv_free(o.ov);
            return 0;
        case 'V': print_version();
        default: bad_option(c, argv);
        }
    }
    if (argc - optind != 2) usage_error("expected CKPT and DATA operands");
    if (o.monitor_backbone && !o.monitor) usage_error("--monitor-backbone needs --monitor TEST");
    o.ckpt = argv[optind];
    o.data = argv[optind + 1];
    if (!strcmp(o.ckpt, "-") && !strcmp(o.data, "-"))
        usage_error("CKPT and DATA cannot both be stdin");
    if (o.in_place && o.out) usage_error("-o and --in-place exclude each other");
    if (o.in_place && !strcmp(o.ckpt, "-")) usage_error("--in-place: CKPT is stdin: give -o FILE");
    if (!o.out && !o.in_place)
        usage_error("give -o FILE for the trained checkpoint, or --in-place to write over CKPT");
    if (o.in_place) o.out = o.ckpt;
    if (!strcmp(o.out, "-")) usage_error("-o: checkpoints are written to a file, not stdout");
    refuse_tty_input(o.ckpt);
    refuse_tty_input(o.data);
    return run(&o, &argc, &argv);
}
