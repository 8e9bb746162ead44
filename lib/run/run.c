/* run.c: ssl-init-bank, ssl-train and ssl-extract as library calls, with
 * the decisions they share (run.h). */
#include "run/run.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/augment.h"
#include "nn/net.h"
#include "nn/ops/ops.h"
#include "run/dist.h"
#include "ssl/npid.h"
#include "util/mem.h"
#include "util/clock.h"
#include "util/threads.h"

static void notice(const run_report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(const run_report *r, const char *fmt, ...) {
    if (!r || !r->notice) return;
    char msg[SSL_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->notice(r->ctx, msg);
}

/* An error that is not the flags' fault: SSL_EARG from a lower layer
 * (a stored setting, a network the checkpoint describes) becomes
 * SSL_EDATA, so the tool exits 1, not 2. */
static int not_usage(ssl_err *err) {
    if (err && err->code == SSL_EARG) err->code = SSL_EDATA;
    return -1;
}

static const char *stdin_name(const char *path) {
    return path && strcmp(path, "-") ? path : "<stdin>";
}

int run_check_precision(int precision, int no_bf16, ssl_err *err) {
    if (precision == PREC_BF16 && (no_bf16 || !gemm_bf16_available()))
        return ssl_fail(err, SSL_EARG, "--precision bf16: this CPU lacks the AVX512_BF16 "
                        "instruction set (avx512_bf16); use --precision fp32");
    return 0;
}

int run_step_cost(const net_config *nc, const npid_config *npid, int64_t N, int B,
                  run_step_flops *f, ssl_err *err) {
    net_config bb = *nc;
    double body;
    snprintf(bb.head, sizeof bb.head, "none");
    net *n = net_new(nc, 1, err);
    if (!n) return -1;
    if (net_cost(&bb, NULL, NULL, &body, err) < 0) { net_free(n); return -1; }
    f->backbone = 3.0 * B * body;
    f->head = 3.0 * B * (net_flops(n) - body);
    f->ncols = npid_ncols(npid, N, B);
    f->bank = npid_step_flops(npid, N, B, net_out_dim(n));
    net_free(n);
    return 0;
}

/* ---- the starting checkpoint ---- */

void run_init_opts_default(run_init_opts *o) {
    memset(o, 0, sizeof *o);
    o->recipe = "paper";
    o->arch = "resnet18";
    o->stem = "cifar";
    o->width = 1;
    o->hidden = 2048;
    o->flip = o->jitter = o->gray = o->crop_scale = -1;
    o->winograd = CONV_WINOGRAD_AUTO;
}

int run_init_bank(const run_init_opts *o, const ssl_dataset *d, const char *dname,
                  const run_report *rep, ssl_ckpt *ck, double *seconds, ssl_err *err) {
    memset(ck, 0, sizeof *ck);
    if (run_check_precision(o->precision, o->no_bf16, err)) return -1;
    if (d->n < 1) return ssl_fail(err, SSL_EDATA, "%s: the dataset is empty", dname);
    /* The recipe's training settings give the pass's batch and augmentation. */
    train_config tc;
    if (train_config_default(&tc, o->recipe, d->h, d->w))
        return ssl_fail(err, SSL_EARG, "--recipe: unknown recipe '%s' (paper, npid)", o->recipe);
    int paper = !strcmp(o->recipe, "paper");
    net_config nc;
    memset(&nc, 0, sizeof nc);
    snprintf(nc.arch, sizeof nc.arch, "%s", o->arch);
    snprintf(nc.stem, sizeof nc.stem, "%s", o->stem);
    snprintf(nc.head, sizeof nc.head, "%s", o->head ? o->head : paper ? "mlp3" : "linear");
    nc.width = (float)o->width;
    nc.in_ch = d->c;
    nc.in_h = d->h;
    nc.in_w = d->w;
    nc.hidden = (int)o->hidden;
    nc.dim = (int)(o->dim > 0 ? o->dim : paper ? 2048 : 128);
    const char *bank = o->bank ? o->bank : paper ? "forward" : "random";
    if (strcmp(bank, "forward") && strcmp(bank, "random"))
        return ssl_fail(err, SSL_EARG, "--bank: unknown bank '%s' (forward, random)", bank);
    int64_t B = o->batch > 0 ? o->batch : tc.batch;
    if (B > d->n) {
        notice(rep, "notice: --batch %lld clipped to the %lld images of %s", (long long)B,
               (long long)d->n, dname);
        B = d->n;
    }
    if (o->flip >= 0) tc.flip = o->flip;
    if (o->jitter >= 0) tc.jitter = o->jitter;
    if (o->gray >= 0) tc.gray = o->gray;
    if (o->crop_scale >= 0) tc.crop_scale = o->crop_scale;
    aug_config aug;
    train_aug_config(&tc, d->h, d->w, &aug);

    if (!(ck->net = net_new(&nc, (int)B, err))) {
        ssl_prefix(err, "invalid network: ");
        return -1;
    }
    net_init(ck->net, o->seed);
    net_set_winograd(ck->net, o->winograd);
    net_set_precision(ck->net, o->precision);
    ck->n = d->n;
    ck->d = net_out_dim(ck->net);
    ck->seed = o->seed;
    ck->bank_bf16 = o->bank_bf16 != 0;
    size_t bb = npid_bank_bytes(ck->bank_bf16, d->n, ck->d);
    if (ck->bank_bf16) ssl_advise_huge(ck->bank16 = malloc(bb), bb);
    else ssl_advise_huge(ck->bank = malloc(bb), bb);
    ck->unlabelled = !d->labelled;
    ck->bank_labels = d->labelled ? malloc((size_t)d->n * sizeof(int32_t)) : NULL;
    sv *init = sv_map(), *augm = sv_map();
    ck->config = sv_map();
    if (!ckpt_bank(ck) || (d->labelled && !ck->bank_labels) || !init || !augm || !ck->config) {
        sv_free(init), sv_free(augm);
        ckpt_destroy(ck);
        return ssl_fail(err, SSL_ENOMEM, "out of memory for a bank of %lld x %d %s",
                        (long long)d->n, nc.dim, o->bank_bf16 ? "bf16" : "floats");
    }
    if (d->labelled) memcpy(ck->bank_labels, d->labels, (size_t)d->n * sizeof(int32_t));
    sv_set(augm, "flip", sv_float(tc.flip));
    sv_set(augm, "jitter", sv_float(tc.jitter));
    sv_set(augm, "gray", sv_float(tc.gray));
    sv_set(augm, "crop_scale", sv_float(tc.crop_scale));
    sv_set(init, "recipe", sv_str(o->recipe));
    sv_set(init, "bank", sv_str(bank));
    if (ck->bank_bf16) sv_set(init, "bank_dtype", sv_str("bf16"));   /* f32: no key, as before */
    sv_set(init, "seed", sv_int((int64_t)o->seed));
    sv_set(init, "batch", sv_int(B));
    sv_set(init, "precision", sv_str(o->precision == PREC_BF16 ? "bf16" : "fp32"));
    sv_set(init, "augment", augm);
    sv_set(init, "bn_stats", sv_str(strcmp(bank, "forward") ? "initial"
                                    : "updated by the bank-init pass"));
    sv_set(ck->config, "net", net_config_to_sv(&nc));
    sv_set(ck->config, "data", train_data_sv(d));
    sv_set(ck->config, "init", init);
    if (!sv_get(ck->config, "data") || !sv_get(ck->config, "net") ||
        !sv_get(ck->config, "init")) {
        ckpt_destroy(ck);
        return ssl_fail(err, SSL_ENOMEM, "out of memory");
    }

    double t0 = ssl_clock();
    if (!strcmp(bank, "forward")) {
        double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
        train_data_norm(sv_get(ck->config, "data"), d, mean, std);
        if (train_bank_forward(ck->net, d, &aug, mean, std, (int)B, o->seed, ckpt_bank(ck),
                               ck->bank_bf16, rep ? rep->progress : NULL, rep ? rep->ctx : NULL,
                               err)) {
            ssl_prefix(err, "%s: ", dname);
            ckpt_destroy(ck);
            return not_usage(err);
        }
    } else {
        if (ck->bank_bf16) npid_bank_random_bf16(ck->bank16, d->n, ck->d, o->seed);
        else npid_bank_random(ck->bank, d->n, ck->d, o->seed);
    }
    if (seconds) *seconds = ssl_clock() - t0;
    return 0;
}

/* ---- training ---- */

int run_keep_path(char *buf, size_t len, const char *out, int64_t epoch) {
    const char *base = strrchr(out, '/');
    base = base ? base + 1 : out;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot > base ? (size_t)(dot - out) : strlen(out);
    int n = snprintf(buf, len, "%.*s.e%04lld%s", (int)stem, out, (long long)epoch, out + stem);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

typedef struct {
    const run_train_opts *o;
    ssl_ckpt *ck;
    int64_t spe;                  /* steps per epoch */
} save_ctx;

static int save_files(void *vctx, const train_status *st, ssl_err *err);

/* Rank 0 writes (atomically: ckpt_save renames into place); every rank
 * learns whether it could. */
static int save(void *vctx, const train_status *st, ssl_err *err) {
    int rc = dist_rank() == 0 ? save_files(vctx, st, err) : 0;
    return dist_agree(rc, err);
}

static int save_files(void *vctx, const train_status *st, ssl_err *err) {
    save_ctx *c = vctx;
    (void)st;
    if (ckpt_save(c->ck, c->o->out, c->o->created_by, err)) return -1;
    if (c->o->on_save) c->o->on_save(c->o->report.ctx, c->o->out, c->ck->step);
    /* --keep-every: a copy of every N-th epoch's checkpoint as well. */
    int64_t step = c->ck->step, epoch = c->spe > 0 ? step / c->spe : 0;
    if (c->o->keep_every > 0 && step > 0 && step % c->spe == 0 && epoch % c->o->keep_every == 0) {
        char kept[4096];
        if (run_keep_path(kept, sizeof kept, c->o->out, epoch))
            return ssl_fail(err, SSL_EARG, "%s: name too long for --keep-every", c->o->out);
        if (ckpt_save(c->ck, kept, c->o->created_by, err)) return -1;
        if (c->o->on_save) c->o->on_save(c->o->report.ctx, kept, step);
    }
    return 0;
}

/* The configuration of a run on dataset d from checkpoint metadata meta:
 * recipe defaults < the stored settings < the flags; the clips; the
 * recipe's learning rate scaled to the batch when neither the checkpoint
 * nor the flags set one; the resume checks; the thread count a
 * deterministic resume must keep. Returns 0, 1 when the checkpoint has
 * already done the configured epochs (nothing to train; a notice says
 * so), or -1 with err. */
static int resolve(const run_train_opts *o, const sv *meta, const ssl_dataset *d,
                   const char *dname, train_config *tc, uint64_t *seed, int *threads,
                   ssl_err *err) {
    const sv *cfg = sv_get(meta, "config");
    const sv *stored = sv_get(cfg, "train");
    int64_t step = sv_get_int(meta, "step", 0);
    int resuming = stored && step > 0;
    uint64_t stored_seed = (uint64_t)sv_get_int(meta, "seed", 0);
    *seed = o->has_seed ? o->seed : stored_seed;
    if (resuming && stored_seed != *seed)
        return ssl_fail(err, SSL_EDATA, "--seed: %llu in the checkpoint, %llu now; a resumed run "
                        "must keep its critical settings", (unsigned long long)stored_seed,
                        (unsigned long long)*seed);
    if (train_data_check(sv_get(cfg, "data"), d, err)) {
        ssl_prefix(err, "%s: ", dname);
        return not_usage(err);
    }
    const char *recipe = o->recipe ? o->recipe
                       : stored ? sv_get_str(stored, "recipe", "paper")
                       : sv_get_str(sv_get(cfg, "init"), "recipe", "paper");
    if (train_config_default(tc, recipe, d->h, d->w)) {
        if (o->recipe) return ssl_fail(err, SSL_EARG, "--recipe: unknown recipe '%s'", recipe);
        return ssl_fail(err, SSL_EDATA, "%s: unknown recipe '%s'", o->ckpt, recipe);
    }
    if (stored && train_config_apply(tc, stored, err)) {
        ssl_prefix(err, "%s: ", o->ckpt);
        return not_usage(err);
    }
    if (o->flags && train_config_apply(tc, o->flags, err)) return -1;
    if (tc->batch > d->n) {
        notice(&o->report, "notice: --batch %lld clipped to the %lld images of %s",
               (long long)tc->batch, (long long)d->n, dname);
        tc->batch = d->n;
    }
    if (!strcmp(tc->negatives, "k") && tc->k_negatives > d->n - tc->batch) {
        if (d->n - tc->batch < 1) {
            notice(&o->report, "notice: --negatives k: no image outside the batch; using "
                   "in-batch negatives (--negatives 0)");
            snprintf(tc->negatives, sizeof tc->negatives, "0");
        } else {
            notice(&o->report, "notice: --k-negatives %lld clipped to %lld (N - batch)",
                   (long long)tc->k_negatives, (long long)(d->n - tc->batch));
            tc->k_negatives = d->n - tc->batch;
        }
    }
    /* The recipe's lr belongs to its batch: scaled to the batch used. */
    if (!sv_get(stored, "lr") && !sv_get(o->flags, "lr")) {
        double base;
        int64_t ref;
        if (!train_config_scale_lr(tc, &base, &ref)) {
            if (ref == tc->batch)
                notice(&o->report, "notice: --lr %g: the %s recipe's, at its batch %lld", tc->lr,
                       tc->recipe, (long long)ref);
            else
                notice(&o->report, "notice: --lr %g: the %s recipe's %g at batch %lld, scaled "
                       "linearly to batch %lld (give --lr to set it)", tc->lr, tc->recipe, base,
                       (long long)ref, (long long)tc->batch);
        }
    }
    if (o->monitor && tc->monitor_k > d->n)
        notice(&o->report, "notice: --monitor-k %lld clipped to the %lld images of %s",
               (long long)tc->monitor_k, (long long)d->n, dname);
    if (train_config_check(tc, err)) return -1;
    if (resuming) {
        sv *now = train_config_to_sv(tc);
        if (!now) return ssl_fail(err, SSL_ENOMEM, "out of memory");
        int rc = train_config_compare(stored, now, err);
        sv_free(now);
        if (rc) {
            ssl_prefix(err, "%s: ", o->ckpt);
            return not_usage(err);
        }
    }
    /* --deterministic keeps the thread count the run started with. */
    *threads = o->threads;
    if (tc->deterministic) {
        int64_t st_thr = sv_get_int(cfg, "threads", 0);
        if (resuming && st_thr > 0 && sv_get_int(stored, "deterministic", 0)) {
            if (o->has_threads && o->threads != st_thr)
                return ssl_fail(err, SSL_EDATA, "--threads: %lld in the checkpoint's "
                                "deterministic run, %d now", (long long)st_thr, o->threads);
            *threads = (int)st_thr;
        }
    }
    /* Where the checkpoint stands against --epochs. */
    int64_t spe = d->n / tc->batch, done = spe > 0 ? step / spe : 0;
    if (step >= tc->epochs * spe) {
        notice(&o->report, "notice: nothing to do: %s is at epoch %lld (step %lld) and --epochs "
               "is %lld; nothing written", stdin_name(o->ckpt), (long long)done, (long long)step,
               (long long)tc->epochs);
        return 1;
    }
    int64_t planned = sv_get_int(stored, "epochs", tc->epochs);
    if (resuming && planned != tc->epochs && !strcmp(tc->schedule, "cosine")) {
        lr_sched s;
        train_sched(tc, &s);
        notice(&o->report, "notice: --epochs %lld on a run planned for %lld (now at epoch %lld): "
               "the cosine schedule is recomputed for %lld epochs, so epoch %lld runs at lr %g "
               "and the run differs from one planned for %lld epochs from the start",
               (long long)tc->epochs, (long long)planned, (long long)done, (long long)tc->epochs,
               (long long)done + 1, lr_sched_rate(&s, (int)done, step, spe), (long long)tc->epochs);
    }
    return 0;
}

/* The inputs of a run: datasets loaded, the configuration resolved
 * (resolve's 0 or 1), or -1 with err. */
static int open_inputs(const run_train_opts *o, ckpt_reader *cr, ssl_dataset *d,
                       ssl_dataset *mon, int *has_mon, const char *dname, train_config *tc,
                       uint64_t *seed, int *threads, ssl_err *err) {
    if (dataset_load(d, o->data, err)) return not_usage(err);
    /* The monitor is a kNN on labels: both sets checked before any work. */
    if (o->monitor && !d->labelled)
        return ssl_fail(err, SSL_EDATA, "--monitor: %s has no labels; the kNN monitor needs a "
                        "labelled training set", dname);
    if (o->monitor) {
        if (dataset_load(mon, o->monitor, err)) return not_usage(err);
        *has_mon = 1;
        if (!mon->labelled)
            return ssl_fail(err, SSL_EDATA, "--monitor: %s has no labels; the kNN monitor needs "
                            "a labelled test set", stdin_name(o->monitor));
    }
    return resolve(o, ckpt_meta(cr), d, dname, tc, seed, threads, err);
}

/* FNV-1a of v as JSON text (0 if it cannot be written). */
static uint64_t sv_hash(const sv *v) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return 0;
    sv_write_json(v, f, -1);
    if (fclose(f)) return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)buf[i]) * 0x100000001b3ULL;
    free(buf);
    return h;
}

/* The gradient bucket: the flag's, or the default. */
static double run_bucket_mb(const run_train_opts *o) {
    return o->has_bucket_mb ? o->bucket_mb : TRAIN_BUCKET_MB;
}

/* R ranks: the same settings, checkpoint metadata and dataset on every
 * rank (each compared by a hash with rank 0's), else -1 with err naming
 * the first rank that differs (the same verdict on every rank). */
static int same_inputs(const run_train_opts *o, ckpt_reader *cr, const ssl_dataset *d,
                       const train_config *tc, uint64_t seed, const char *dname, ssl_err *err) {
    sv *flags = train_config_to_sv(tc), *data = train_data_sv(d);
    int bad = !flags || !data || sv_set(flags, "seed", sv_int((int64_t)seed)) ||
              sv_set(flags, "max_steps", sv_int(o->max_steps)) ||
              sv_set(flags, "sync_bn", sv_int(o->sync_bn)) ||
              sv_set(flags, "check_replicas", sv_int(o->check_replicas)) ||
              sv_set(flags, "bucket_mb", sv_float(run_bucket_mb(o)));
    uint64_t hf = bad ? 0 : sv_hash(flags), hd = bad ? 0 : sv_hash(data);
    uint64_t hc = sv_hash(ckpt_meta(cr));
    sv_free(flags);
    sv_free(data);
    if (bad) ssl_fail(err, SSL_ENOMEM, "out of memory");
    if (dist_agree(bad, err)) return -1;
    int r;
    if ((r = dist_differs(hf)))
        return ssl_fail(err, SSL_EARG, "rank %d was given other settings than rank 0 (every rank "
                        "needs the same flags)", r);
    if ((r = dist_differs(hc)))
        return ssl_fail(err, SSL_EDATA, "rank %d: its checkpoint %s differs from rank 0's",
                        r, stdin_name(o->ckpt));
    if ((r = dist_differs(hd)))
        return ssl_fail(err, SSL_EDATA, "rank %d: its dataset %s differs from rank 0's", r, dname);
    return 0;
}

int run_train(const run_train_opts *o, train_status *st, ssl_err *err) {
    memset(st, 0, sizeof *st);
    const char *dname = stdin_name(o->data);
    ssl_dataset d, mon;
    memset(&d, 0, sizeof d);
    memset(&mon, 0, sizeof mon);
    ssl_ckpt ck;
    memset(&ck, 0, sizeof ck);
    trainer *t = NULL;
    int rc = -1, has_mon = 0, R = dist_size();
    train_config tc;
    uint64_t seed = 0;
    int threads = 0, r = -1;
    ckpt_reader *cr = ckpt_open(o->ckpt, err);
    if (!cr) not_usage(err);
    else r = open_inputs(o, cr, &d, &mon, &has_mon, dname, &tc, &seed, &threads, err);
    /* R ranks: all have their inputs, or all stop with the first failure. */
    if (dist_agree(r < 0, err)) goto out;
    if (R > 1 && same_inputs(o, cr, &d, &tc, seed, dname, err)) goto out;
    if (r > 0) {                  /* nothing to train */
        st->step = sv_get_int(ckpt_meta(cr), "step", 0);
        rc = 0;
        goto out;
    }
    if (run_check_precision(train_precision(&tc), o->no_bf16, err)) goto out;
    if (tc.batch % R) {
        ssl_fail(err, SSL_EARG, "--batch %lld does not split over %d ranks (%lld / %d is not "
                 "whole): give a multiple of %d", (long long)tc.batch, R, (long long)tc.batch, R,
                 R);
        goto out;
    }
    ssl_set_threads(threads);
    /* Each rank's network runs its B / R rows. */
    r = ckpt_read(cr, &ck, (int)(tc.batch / R), CKPT_LOAD_ALL, err) ? not_usage(err) : 0;
    ckpt_close(cr);
    cr = NULL;
    if (!r) {
        net_set_winograd(ck.net, o->winograd);
        ck.seed = seed;
        /* The checkpoint records the resolved settings it was trained with. */
        int bad = sv_set(ck.config, "train", train_config_to_sv(&tc));
        bad |= sv_set(ck.config, "critical", train_critical_keys());
        bad |= sv_set(ck.config, "threads", sv_int(ssl_threads()));
        if (bad) r = ssl_fail(err, SSL_ENOMEM, "out of memory");
    }
    if (!r && !(t = trainer_new(&ck, &d, &tc, seed, err))) {
        ssl_prefix(err, "%s: ", dname);
        r = not_usage(err);
    }
    if (dist_agree(r, err)) goto out;
    if (R > 1 && (r = dist_differs(trainer_checksum(t)))) {
        ssl_fail(err, SSL_EDATA, "rank %d: the network or bank read from %s differs from rank "
                 "0's", r, stdin_name(o->ckpt));
        goto out;
    }
    r = trainer_set_parallel(t, o->sync_bn, o->check_replicas, run_bucket_mb(o), err);
    if (dist_agree(r, err)) goto out;
    if (o->on_start) o->on_start(o->report.ctx, ck.config, seed, ck.step, &tc);
    save_ctx sc = {o, &ck, d.n / tc.batch};
    train_hooks h = {.max_steps = o->max_steps, .stop = o->stop,
                     .monitor = has_mon ? &mon : NULL,
                     .monitor_backbone = has_mon && o->monitor_backbone,
                     .monitor_epochs = o->monitor_epochs, .ctx = o->report.ctx,
                     .on_step = o->on_step, .on_epoch = o->on_epoch, .save = save,
                     .save_ctx = &sc, .save_epochs = o->ckpt_every_epochs,
                     .keep_epochs = o->keep_every};
    rc = train_run(t, &h, st, err);
    if (rc < 0) not_usage(err);
out:
    trainer_free(t);
    ckpt_close(cr);
    ckpt_destroy(&ck);
    dataset_destroy(&d);
    if (has_mon) dataset_destroy(&mon);
    return rc;
}

/* ---- features ---- */

int run_extract(const run_extract_opts *o, run_extract_result *res, ssl_err *err) {
    memset(res, 0, sizeof *res);
    const char *dname = stdin_name(o->data);
    ssl_ckpt ck;
    memset(&ck, 0, sizeof ck);
    if (run_check_precision(o->precision, o->no_bf16, err)) return -1;
    /* The backbone's features need neither the head nor the bank. */
    if (ckpt_load(&ck, o->ckpt, o->batch, o->head ? 0 : CKPT_SKIP_HEAD, err)) return not_usage(err);
    net_set_winograd(ck.net, o->winograd);
    net_set_precision(ck.net, o->precision);
    const net_config *nc = net_get_config(ck.net);
    int F = o->head ? net_out_dim(ck.net) : net_feature_dim(ck.net);
    ssl_dstream *s = dstream_open(o->data, err);
    if (!s) {
        ckpt_destroy(&ck);
        return not_usage(err);
    }
    const ssl_dataset *in = dstream_info(s);
    int rc = -1;
    sv *meta = NULL;
    uint8_t *images = NULL;
    int32_t *labels = NULL;
    float *x = NULL;
    features_writer *fw = NULL;
    if (in->c != nc->in_ch || in->h != nc->in_h || in->w != nc->in_w) {
        ssl_fail(err, SSL_EDATA, "%s: images are %dx%dx%d, the network of %s expects %dx%dx%d",
                 dname, in->c, in->h, in->w, stdin_name(o->ckpt), nc->in_ch, nc->in_h, nc->in_w);
        goto out;
    }
    /* The training set's normalisation (stored in the checkpoint). */
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
    train_data_norm(sv_get(ck.config, "data"), in, mean, std);
    meta = sv_map();
    const sv *classes = sv_get(in->meta, "classes");
    if (!meta || (classes && sv_set(meta, "classes", sv_copy(classes))) ||
        sv_set(meta, "checkpoint", sv_str(stdin_name(o->ckpt))) ||
        sv_set(meta, "layer", sv_str(o->head ? "head" : "backbone")) ||
        sv_set(meta, "dataset", sv_copy(in->meta))) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        goto out;
    }
    size_t img = (size_t)in->c * in->h * in->w;
    images = malloc((size_t)o->batch * img);
    labels = malloc((size_t)o->batch * sizeof *labels);
    x = malloc((size_t)o->batch * img * sizeof *x);
    if (!images || !labels || !x) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        goto out;
    }
    if (!(fw = features_writer_open(o->out, meta, in->n, F, in->labelled, err))) goto out;
    double t0 = ssl_clock();
    int64_t cnt;
    while ((cnt = dstream_next(s, images, labels, o->batch)) > 0) {
        preprocess_batch(images, (int)cnt, in->c, in->h, in->w, mean, std, x);
        if (o->head) net_forward(ck.net, x, (int)cnt, 0);
        else net_forward_features(ck.net, x, (int)cnt);
        const float *f = o->head ? net_output(ck.net) : net_features(ck.net);
        if (features_writer_rows(fw, f, labels, cnt, err)) {
            if (err && err->code == SSL_EDATA) ssl_prefix(err, "%s: ", dname);
            goto out;
        }
        res->n += cnt;
        if (o->report.progress) o->report.progress(o->report.ctx, "images", res->n, in->n);
    }
    if (cnt < 0) {
        ssl_forward(err, dstream_error(s));
        goto out;
    }
    rc = features_writer_close(fw, err);
    fw = NULL;
    res->dim = F;
    res->seconds = ssl_clock() - t0;
out:
    features_writer_abort(fw);
    dstream_close(s);
    sv_free(meta);
    free(images), free(labels), free(x);
    ckpt_destroy(&ck);
    return rc < 0 ? not_usage(err) : 0;
}

/* ---- safetensors ---- */

/* v as compact JSON text in a new string value (NULL on out of memory). */
static sv *json_string(const sv *v) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    sv_write_json(v, f, -1);
    if (fclose(f)) return NULL;
    sv *s = sv_strn(buf, len);
    free(buf);
    return s;
}

static sv *int_string(int64_t x) {
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)x);
    return sv_str(b);
}

/* __metadata__ of run_export (run.h). */
static sv *export_meta(const run_export_opts *o, const ssl_ckpt *ck) {
    const net_config *nc = net_get_config(ck->net);
    const char *head = o->head ? nc->head : "none";
    ssl_dataset d;
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
    memset(&d, 0, sizeof d);
    d.c = nc->in_ch < SSL_MAX_CHANNELS ? nc->in_ch : SSL_MAX_CHANNELS;
    for (int c = 0; c < d.c; c++) d.std[c] = 1;
    train_data_norm(sv_get(ck->config, "data"), &d, mean, std);
    sv *m = sv_map(), *mv = sv_float_array(mean, (size_t)d.c), *sdv = sv_float_array(std, (size_t)d.c);
    char w[32];
    snprintf(w, sizeof w, "%.9g", nc->width);
    int bad = !m || !mv || !sdv || sv_set(m, "format", sv_str("pt")) ||
              sv_set(m, "created_by", sv_str(o->created_by ? o->created_by : "ssl-tools")) ||
              sv_set(m, "arch", sv_str(nc->arch)) || sv_set(m, "stem", sv_str(nc->stem)) ||
              sv_set(m, "width", sv_str(w)) || sv_set(m, "in_channels", int_string(nc->in_ch)) ||
              sv_set(m, "in_height", int_string(nc->in_h)) ||
              sv_set(m, "in_width", int_string(nc->in_w)) ||
              sv_set(m, "features", int_string(net_feature_dim(ck->net))) ||
              sv_set(m, "head", sv_str(head));
    if (!bad && strcmp(head, "none")) bad = sv_set(m, "dim", int_string(nc->dim));
    if (!bad && !strcmp(head, "mlp3")) bad = sv_set(m, "hidden", int_string(nc->hidden));
    bad = bad || sv_set(m, "mean", json_string(mv)) || sv_set(m, "std", json_string(sdv)) ||
          sv_set(m, "input", sv_str("float32 [N, C, H, W]: (pixel / 255 - mean[c]) / std[c]")) ||
          sv_set(m, "epoch", int_string(ck->epoch)) || sv_set(m, "step", int_string(ck->step)) ||
          sv_set(m, "seed", int_string((int64_t)ck->seed)) ||
          sv_set(m, "config", json_string(ck->config));
    sv_free(mv);
    sv_free(sdv);
    if (bad) {
        sv_free(m);
        return NULL;
    }
    return m;
}

int run_export(const run_export_opts *o, run_export_result *res, ssl_err *err) {
    memset(res, 0, sizeof *res);
    ssl_ckpt ck;
    if (ckpt_load(&ck, o->ckpt, 1, o->head ? 0 : CKPT_SKIP_HEAD, err)) return not_usage(err);
    int nt = net_ntensors(ck.net), k = 0, rc = -1;
    /* At most one num_batches_tracked per BN, i.e. per two net tensors. */
    st_tensor *ts = calloc((size_t)nt * 3 / 2 + 1, sizeof *ts);
    const void **data = calloc((size_t)nt * 3 / 2 + 1, sizeof *data);
    char **names = calloc((size_t)nt + 1, sizeof *names);
    int nnames = 0;
    int64_t step = ck.step;
    sv *meta = export_meta(o, &ck);
    if (!ts || !data || !names || !meta) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < nt; i++) {
        net_tensor *t = net_tensor_at(ck.net, i);
        if (strncmp(t->name, "backbone.", 9) && !(o->head && !strncmp(t->name, "head.", 5))) continue;
        ts[k].name = (char *)t->name;
        strcpy(ts[k].dtype, "F32");
        ts[k].ndim = t->ndim;
        memcpy(ts[k].shape, t->shape, sizeof t->shape);
        data[k++] = t->data;
        res->bytes += t->numel * 4;
        /* PyTorch's BatchNorm also keeps a batch counter after its
         * running_var; the checkpoint has none, so its step stands in. */
        size_t len = strlen(t->name), suf = strlen(".running_var");
        if (t->is_buffer && len > suf && !strcmp(t->name + len - suf, ".running_var")) {
            char *nm = malloc(len + 16);
            if (!nm) {
                ssl_fail(err, SSL_ENOMEM, "out of memory");
                goto out;
            }
            snprintf(nm, len + 16, "%.*s.num_batches_tracked", (int)(len - suf), t->name);
            names[nnames++] = nm;
            ts[k].name = nm;
            strcpy(ts[k].dtype, "I64");
            ts[k].ndim = 0;
            data[k++] = &step;
            res->bytes += 8;
        }
    }
    if (st_write(o->out, meta, k, ts, data, err)) goto out;
    res->ntensors = k;
    res->features = net_feature_dim(ck.net);
    rc = 0;
out:
    for (int i = 0; i < nnames; i++) free(names[i]);
    free(names);
    free(ts);
    free(data);
    sv_free(meta);
    ckpt_destroy(&ck);
    return rc < 0 ? not_usage(err) : 0;
}
