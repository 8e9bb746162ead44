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
#include "ssl/npid.h"
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
    ck->n = d->n;
    ck->d = net_out_dim(ck->net);
    ck->seed = o->seed;
    ck->bank = malloc((size_t)d->n * ck->d * sizeof(float));
    ck->unlabelled = !d->labelled;
    ck->bank_labels = d->labelled ? malloc((size_t)d->n * sizeof(int32_t)) : NULL;
    sv *init = sv_map(), *augm = sv_map();
    ck->config = sv_map();
    if (!ck->bank || (d->labelled && !ck->bank_labels) || !init || !augm || !ck->config) {
        sv_free(init), sv_free(augm);
        ckpt_destroy(ck);
        return ssl_fail(err, SSL_ENOMEM, "out of memory for a bank of %lld x %d floats",
                        (long long)d->n, nc.dim);
    }
    if (d->labelled) memcpy(ck->bank_labels, d->labels, (size_t)d->n * sizeof(int32_t));
    sv_set(augm, "flip", sv_float(tc.flip));
    sv_set(augm, "jitter", sv_float(tc.jitter));
    sv_set(augm, "gray", sv_float(tc.gray));
    sv_set(augm, "crop_scale", sv_float(tc.crop_scale));
    sv_set(init, "recipe", sv_str(o->recipe));
    sv_set(init, "bank", sv_str(bank));
    sv_set(init, "seed", sv_int((int64_t)o->seed));
    sv_set(init, "batch", sv_int(B));
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
        if (train_bank_forward(ck->net, d, &aug, mean, std, (int)B, o->seed, ck->bank, err)) {
            ssl_prefix(err, "%s: ", dname);
            ckpt_destroy(ck);
            return not_usage(err);
        }
    } else {
        npid_bank_random(ck->bank, d->n, ck->d, o->seed);
    }
    if (seconds) *seconds = ssl_clock() - t0;
    return 0;
}

/* ---- training ---- */

typedef struct {
    const run_train_opts *o;
    ssl_ckpt *ck;
} save_ctx;

static int save(void *vctx, const train_status *st, ssl_err *err) {
    save_ctx *c = vctx;
    (void)st;
    if (ckpt_save(c->ck, c->o->out, c->o->created_by, err)) return -1;
    if (c->o->on_save) c->o->on_save(c->o->report.ctx, c->o->out, c->ck->step);
    return 0;
}

/* The configuration of a run on dataset d from checkpoint metadata meta:
 * recipe defaults < the stored settings < the flags; the clips; the
 * resume checks; the thread count a deterministic resume must keep. */
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
    return 0;
}

int run_train(const run_train_opts *o, train_status *st, ssl_err *err) {
    memset(st, 0, sizeof *st);
    const char *dname = stdin_name(o->data);
    ckpt_reader *cr = ckpt_open(o->ckpt, err);
    if (!cr) return not_usage(err);
    ssl_dataset d, mon;
    memset(&d, 0, sizeof d);
    memset(&mon, 0, sizeof mon);
    ssl_ckpt ck;
    memset(&ck, 0, sizeof ck);
    trainer *t = NULL;
    int rc = -1, has_mon = 0;
    train_config tc;
    uint64_t seed;
    int threads = 0;
    if (dataset_load(&d, o->data, err)) { not_usage(err); goto out; }
    /* The monitor is a kNN on labels: both sets checked before any work. */
    if (o->monitor && !d.labelled) {
        ssl_fail(err, SSL_EDATA, "--monitor: %s has no labels; the kNN monitor needs a labelled "
                 "training set", dname);
        goto out;
    }
    if (o->monitor) {
        if (dataset_load(&mon, o->monitor, err)) { not_usage(err); goto out; }
        has_mon = 1;
        if (!mon.labelled) {
            ssl_fail(err, SSL_EDATA, "--monitor: %s has no labels; the kNN monitor needs a "
                     "labelled test set", stdin_name(o->monitor));
            goto out;
        }
    }
    if (resolve(o, ckpt_meta(cr), &d, dname, &tc, &seed, &threads, err)) goto out;
    ssl_set_threads(threads);
    if (ckpt_read(cr, &ck, (int)tc.batch, CKPT_LOAD_ALL, err)) { not_usage(err); goto out; }
    ckpt_close(cr);
    cr = NULL;
    net_set_winograd(ck.net, o->winograd);
    ck.seed = seed;
    /* The checkpoint records the resolved settings it was trained with. */
    int bad = sv_set(ck.config, "train", train_config_to_sv(&tc));
    bad |= sv_set(ck.config, "critical", train_critical_keys());
    bad |= sv_set(ck.config, "threads", sv_int(ssl_threads()));
    if (bad) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        goto out;
    }
    if (!(t = trainer_new(&ck, &d, &tc, seed, err))) {
        ssl_prefix(err, "%s: ", dname);
        not_usage(err);
        goto out;
    }
    if (o->on_start) o->on_start(o->report.ctx, ck.config, seed, ck.step, &tc);
    save_ctx sc = {o, &ck};
    train_hooks h = {.max_steps = o->max_steps, .stop = o->stop,
                     .monitor = has_mon ? &mon : NULL,
                     .monitor_backbone = has_mon && o->monitor_backbone, .ctx = o->report.ctx,
                     .on_step = o->on_step, .on_epoch = o->on_epoch, .save = save,
                     .save_ctx = &sc};
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
    if (ckpt_load(&ck, o->ckpt, o->batch, 0, err)) return not_usage(err);
    net_set_winograd(ck.net, o->winograd);
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
        net_forward(ck.net, x, (int)cnt, 0);
        const float *f = o->head ? net_output(ck.net) : net_features(ck.net);
        if (features_writer_rows(fw, f, labels, cnt, err)) {
            if (err && err->code == SSL_EDATA) ssl_prefix(err, "%s: ", dname);
            goto out;
        }
        res->n += cnt;
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
