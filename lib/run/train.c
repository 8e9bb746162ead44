/* train.c: the bank-initialisation pass, the training step, the epoch loop
 * and the kNN monitor (see train.h; the configuration is in
 * train_config.c).
 *
 * A step (ssl-method(7), THE TRAINING STEP): augment the batch (parallel
 * over images) -> CutMix -> net_forward (training mode) -> npid_step (loss,
 * df, bank write) -> net_zero_grad -> net_backward -> net_sgd_step, which
 * also checks the gradients are finite. Augmentation runs serially before the network, not
 * overlapped with it: on two cores a helper thread would take a core from
 * the GEMMs; its share of the step is reported by train_status.t_aug.
 *
 * The position in training is the checkpoint's global step counter; the
 * epoch, the place in the epoch's order and every random draw follow from
 * it, so resuming needs nothing else. */
#include "run/train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/pixel_ops.h"
#include "eval/knn.h"
#include "nn/ops/ops.h"
#include "run/dist.h"
#include "util/clock.h"

void train_order(int64_t *order, int64_t n, uint64_t seed, uint64_t epoch) {
    rng r;
    for (int64_t i = 0; i < n; i++) order[i] = i;
    rng_init(&r, seed ^ RNG_ORDER, epoch, 0);
    rng_shuffle_i64(&r, order, n);
}

int train_bank_forward(net *n, const ssl_dataset *d, const aug_config *a,
                       const double *mean, const double *std, int B, uint64_t seed,
                       void *bank, int bank_bf16, train_progress_fn progress, void *pctx,
                       ssl_err *err) {
    int64_t N = d->n;
    int dim = net_out_dim(n);
    if (N < 1) {
        ssl_fail(err, SSL_EARG, "the dataset is empty");
        return -1;
    }
    if (B > N) B = (int)N;
    if (B < 1) B = 1;
    int64_t *order = malloc((size_t)N * sizeof *order);
    int64_t *idx = malloc((size_t)B * sizeof *idx);
    float *x = malloc((size_t)B * a->out_h * a->out_w * d->c * sizeof *x);
    float *row = malloc((size_t)dim * sizeof *row);
    if (!order || !idx || !x || !row) {
        free(order), free(idx), free(x), free(row);
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return -1;
    }
    train_order(order, N, seed, TRAIN_INIT_EPOCH);
    int rc = 0;
    for (int64_t start = 0; start < N; start += B) {
        int cnt = (int)(N - start < B ? N - start : B);
        for (int b = 0; b < B; b++)
            /* Pad the last batch with images already seen (the start of
             * the order), so that BN never sees a tiny batch. */
            idx[b] = b < cnt ? order[start + b] : order[b - cnt];
        augment_batch(a, d->images, idx, B, d->c, d->h, d->w, mean, std, seed,
                      TRAIN_INIT_EPOCH, x);
        if (net_forward(n, x, B, 1)) {
            ssl_fail(err, SSL_EARG, "batch %d is larger than the network's maximum", B);
            rc = -1;
            break;
        }
        const float *out = net_output(n);
        for (int b = 0; b < cnt; b++) {
            l2norm_row(row, out + (size_t)b * dim, dim, L2_EPS);
            npid_bank_put_row(bank, bank_bf16, idx[b], dim, row);
        }
        if (progress) progress(pctx, "bank pass", start + cnt, N);
    }
    free(order), free(idx), free(x), free(row);
    return rc;
}

struct trainer {
    ssl_ckpt *ck;
    const ssl_dataset *d;
    train_config cfg;
    npid_config nc;
    aug_config aug;
    lr_sched sch;
    uint64_t seed;
    int B;
    int64_t spe;
    npid *np;
    float *x, *df;
    int64_t *order, order_epoch;
    int32_t *perm;
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
    double ep_loss, ep_ce, ep_kl, ep_acc;
    int64_t ep_n;
    double t_aug, t_net, t_bank;
    /* Data parallel (R > 1): this rank's rows [off, off + Bl) of each
     * global batch of B; on one process Bl = B, off = 0. */
    int R, rank, Bl, off;
    int sync_bn;
    int64_t bucket;               /* gradient bucket, floats; 0: one sum after the backward */
    float *garena;                /* the gradient arena (net_grad_arena) */
    int64_t bk_end;               /* the end of the gradients not yet in a bucket */
    int nbuckets;                 /* buckets started in this step */
    int64_t check_every;          /* compare the replicas' checksums every N steps */
    float *xp;                    /* [Bl] CutMix partners' views */
    int64_t *pidx;                /* [Bl] their dataset indices */
    float *zg;                    /* [B, d] the global batch's z (npid write) */
    float *upd;                   /* [K', d] the grad write's update */
    volatile sig_atomic_t *stop;  /* this rank's stop request (train_run's) */
    int stop_all;                 /* some rank asked to stop: all stop after this step */
    int64_t step_bytes;           /* payload of the last step's collectives */
    double t_comm;                /* seconds of the steps inside collectives */
};

trainer *trainer_new(ssl_ckpt *ck, const ssl_dataset *d, const train_config *cfg,
                     uint64_t seed, ssl_err *err) {
    const net_config *ncfg = net_get_config(ck->net);
    if (ncfg->in_ch != d->c || ncfg->in_h != d->h || ncfg->in_w != d->w) {
        ssl_fail(err, SSL_EARG, "images are %dx%dx%d, the network expects %dx%dx%d", d->c,
                 d->h, d->w, ncfg->in_ch, ncfg->in_h, ncfg->in_w);
        return NULL;
    }
    if (ck->n != d->n || !ckpt_bank(ck)) {
        ssl_fail(err, SSL_EARG, "the bank has %lld rows, the dataset %lld images",
                 (long long)ck->n, (long long)d->n);
        return NULL;
    }
    if (cfg->batch > d->n || cfg->batch < 1) {
        ssl_fail(err, SSL_EARG, "batch %lld does not fit %lld images", (long long)cfg->batch,
                 (long long)d->n);
        return NULL;
    }
    trainer *t = calloc(1, sizeof *t);
    if (!t) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return NULL;
    }
    t->ck = ck;
    t->d = d;
    t->cfg = *cfg;
    t->seed = seed;
    t->B = (int)cfg->batch;
    t->spe = d->n / t->B;
    train_npid_config(cfg, &t->nc);
    t->nc.bank_bf16 = ck->bank_bf16;
    net_set_precision(ck->net, train_precision(cfg));
    train_aug_config(cfg, d->h, d->w, &t->aug);
    train_sched(cfg, &t->sch);
    train_data_norm(sv_get(ck->config, "data"), d, t->mean, t->std);
    t->order_epoch = -1;
    t->R = dist_size();
    t->rank = dist_rank();
    if (t->B % t->R) {
        ssl_fail(err, SSL_EARG, "--batch %d does not split over %d ranks (%d / %d is not whole): "
                 "give a multiple of %d", t->B, t->R, t->B, t->R, t->R);
        free(t);
        return NULL;
    }
    t->Bl = t->B / t->R;
    t->off = t->rank * t->Bl;
    size_t img = (size_t)t->aug.out_h * t->aug.out_w * d->c;
    int bad = 0;
    t->x = malloc((size_t)t->Bl * img * sizeof *t->x);
    t->df = malloc((size_t)t->Bl * ck->d * sizeof *t->df);
    t->order = malloc((size_t)d->n * sizeof *t->order);
    t->perm = malloc((size_t)t->B * sizeof *t->perm);
    if (t->R > 1) {
        int64_t kmax = !strcmp(cfg->negatives, "all") ? d->n
                     : !strcmp(cfg->negatives, "0") ? t->B
                     : cfg->k_negatives < d->n - t->B ? t->B + cfg->k_negatives : d->n;
        bad = !(t->xp = malloc((size_t)t->Bl * img * sizeof *t->xp)) ||
              !(t->pidx = malloc((size_t)t->Bl * sizeof *t->pidx)) ||
              (t->nc.write == BANK_WRITE_NPID &&
               !(t->zg = malloc((size_t)t->B * ck->d * sizeof *t->zg))) ||
              (t->nc.write == BANK_WRITE_GRAD &&
               !(t->upd = malloc((size_t)kmax * ck->d * sizeof *t->upd)));
    }
    if (!(t->np = npid_new(&t->nc, d->n, ck->d, t->B, err))) {
        trainer_free(t);
        return NULL;
    }
    if (bad || !t->x || !t->df || !t->order || !t->perm) {
        ssl_fail(err, SSL_ENOMEM, "out of memory (batch %d, bank %lld x %d)", t->B,
                 (long long)d->n, ck->d);
        trainer_free(t);
        return NULL;
    }
    return t;
}

void trainer_free(trainer *t) {
    if (!t) return;
    npid_free(t->np);
    free(t->x), free(t->df), free(t->order), free(t->perm);
    free(t->xp), free(t->pidx), free(t->zg), free(t->upd);
    if (t->sync_bn) bn_set_sync(NULL, NULL);
    if (t->bucket) net_set_grad_hook(t->ck->net, NULL, NULL, NULL);
    free(t);
}

/* net_set_grad_hook's callback in step_on_dist: the gradients from lo to
 * the end of the arena are final. A bucket closes at t->bucket floats or
 * at lo 0, and its sum starts; the sums in flight advance. */
static void on_grads(void *ctx, int64_t lo) {
    trainer *t = ctx;
    if (t->bk_end - lo >= t->bucket || lo == 0) {
        dist_isum_float(t->garena + lo, t->bk_end - lo);
        t->bk_end = lo;
        t->nbuckets++;
    }
    dist_progress();
}

int trainer_set_parallel(trainer *t, int sync_bn, int64_t check_every, double bucket_mb,
                         ssl_err *err) {
    if (!(bucket_mb >= 0 && bucket_mb <= TRAIN_BUCKET_MB_MAX))
        return ssl_fail(err, SSL_EARG, "bucket of %g MiB: give 0 to %g", bucket_mb,
                        TRAIN_BUCKET_MB_MAX);
    t->sync_bn = sync_bn && t->R > 1;
    bn_set_sync(t->sync_bn ? dist_bn_sum : NULL, NULL);
    t->check_every = check_every;
    int64_t ng;
    t->garena = net_grad_arena(t->ck->net, &ng);
    /* at least one float: a tiny bucket is one per layer */
    t->bucket = bucket_mb > 0 && t->R > 1 ? (int64_t)(bucket_mb * (1 << 20) / sizeof(float)) : 0;
    if (bucket_mb > 0 && t->R > 1 && t->bucket < 1) t->bucket = 1;
    return net_set_grad_hook(t->ck->net, t->bucket ? on_grads : NULL, t, err);
}

uint64_t trainer_checksum(const trainer *t) {
    uint64_t h = net_checksum(t->ck->net);
    const unsigned char *b = (const unsigned char *)ckpt_bank(t->ck);
    size_t n = npid_bank_bytes(t->ck->bank_bf16, t->ck->n, t->ck->d);
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

const float *trainer_last_input(const trainer *t) { return t->x; }

static int fail_loss(const trainer *t, ssl_err *err) {
    return ssl_fail(err, SSL_ENUM, "the loss is not finite at step %lld (epoch %lld): "
                    "training stopped; the last checkpoint written is the last good one",
                    (long long)t->ck->step, (long long)(t->ck->step / t->spe));
}

static int fail_grad(const trainer *t, double loss, ssl_err *err) {
    return ssl_fail(err, SSL_ENUM, "a gradient is not finite at step %lld (loss %g): "
                    "training stopped; the last checkpoint written is the last good one",
                    (long long)t->ck->step, loss);
}

int trainer_step_on(trainer *t, const float *x, int B, const int64_t *idx,
                    const int32_t *perm, float lam, double lr, npid_stats *ns,
                    ssl_err *err) {
    net *n = t->ck->net;
    double t0 = ssl_clock();
    if (net_forward(n, x, B, 1)) {
        ssl_fail(err, SSL_EARG, "batch %d is larger than the network's maximum", B);
        return -1;
    }
    double t1 = ssl_clock();
    rng rn;
    rng_init(&rn, t->seed ^ RNG_NEGATIVES, (uint64_t)t->ck->step, 0);
    memset(ns, 0, sizeof *ns);
    int rc = npid_step(t->np, net_output(n), B, idx, perm, lam, ckpt_bank(t->ck), &rn,
                       t->df, 1, ns);
    if (rc == -2) {
        ssl_forward(err, npid_error(t->np));
        ssl_prefix(err, "bank step: ");
        return -1;
    }
    if (rc) return fail_loss(t, err);
    double t2 = ssl_clock();
    net_zero_grad(n);
    net_backward(n, t->df);
    if (net_sgd_step(n, (float)lr, (float)t->cfg.momentum, (float)t->cfg.wd))
        return fail_grad(t, ns->loss, err);
    double t3 = ssl_clock();
    t->t_net += (t1 - t0) + (t3 - t2);
    t->t_bank += t2 - t1;
    return 0;
}

/* This rank's rows of the global batch idx [B] into t->x, mixed by the
 * global batch's CutMix (perm [B] into t->perm): row b is global row
 * off + b, which takes the box of global row perm[off + b], augmented here
 * from its dataset index (the draws are keyed by index, so the view is
 * the one its own rank makes). Returns lam; *perm NULL without CutMix. */
static float dist_batch(trainer *t, const int64_t *idx, int64_t e, const int32_t **perm) {
    const ssl_dataset *d = t->d;
    int h = t->aug.out_h, w = t->aug.out_w, c = d->c;
    size_t img = (size_t)h * w * c;
    augment_batch(&t->aug, d->images, idx + t->off, t->Bl, c, d->h, d->w, t->mean, t->std,
                  t->seed, (uint64_t)e, t->x);
    *perm = NULL;
    if (!(t->cfg.cutmix > 0)) return 1;
    rng r;
    int box[4];
    rng_init(&r, t->seed ^ RNG_CUTMIX, (uint64_t)t->ck->step, 0);
    float lam = cutmix_draw(t->B, h, w, (float)t->cfg.cutmix, &r, t->perm, box);
    for (int b = 0; b < t->Bl; b++) t->pidx[b] = idx[t->perm[t->off + b]];
    augment_batch(&t->aug, d->images, t->pidx, t->Bl, c, d->h, d->w, t->mean, t->std, t->seed,
                  (uint64_t)e, t->xp);
    for (int b = 0; b < t->Bl; b++)
        if (t->perm[t->off + b] != t->off + b)
            cutmix_paste(t->x + b * img, t->xp + b * img, h, w, c, box);
    *perm = t->perm;
    return lam;
}

/* trainer_step_on for R ranks: this rank's Bl rows through the network,
 * npid_step_part against the global batch, the statistics (and the stop
 * requests) summed, the bank written with the global batch's z (npid) or
 * the summed update (grad), the gradients summed before the SGD step.
 * With buckets (t->bucket > 0) the sums overlap the backward: the grad
 * write's update is summed while it runs and applied after it (the
 * backward does not read the bank: the bits of applying it before), and
 * the gradients go in buckets started as the backward finishes them
 * (on_grads); with t->bucket 0, today's blocking schedule: the update
 * summed and applied before the backward, one allreduce of the whole
 * gradient arena after it. */
static int step_on_dist(trainer *t, const int64_t *idx, const int32_t *perm, float lam,
                        double lr, npid_stats *ns, ssl_err *err) {
    net *n = t->ck->net;
    const int d = t->ck->d;
    int64_t b0 = dist_bytes();
    double w0 = dist_wait_seconds(), t0 = ssl_clock();
    if (net_forward(n, t->x, t->Bl, 1)) {
        ssl_fail(err, SSL_EARG, "batch %d is larger than the network's maximum", t->Bl);
        return -1;
    }
    double t1 = ssl_clock();
    rng rn;
    rng_init(&rn, t->seed ^ RNG_NEGATIVES, (uint64_t)t->ck->step, 0);
    memset(ns, 0, sizeof *ns);
    int rc = npid_step_part(t->np, net_output(n), t->Bl, t->off, t->B, idx, perm, lam,
                            ckpt_bank(t->ck), &rn, t->df, ns);
    if (rc == -2) {               /* the same arguments, so the same verdict, on every rank */
        ssl_forward(err, npid_error(t->np));
        ssl_prefix(err, "bank step: ");
        return -1;
    }
    double sums[5] = {ns->loss, ns->ce, ns->kl, ns->inst_acc, t->stop && *t->stop};
    dist_sum_double(sums, 5);
    ns->loss = sums[0], ns->ce = sums[1], ns->kl = sums[2], ns->inst_acc = sums[3];
    t->stop_all = sums[4] > 0;
    if (!isfinite(ns->loss)) return fail_loss(t, err);
    if (t->nc.write == BANK_WRITE_NPID) {
        dist_gather_float(npid_last_z(t->np), (int64_t)t->Bl * d, t->zg);
        npid_write_npid_rows(t->np, ckpt_bank(t->ck), idx, t->B, t->zg);
    } else {
        int64_t K;
        npid_columns(t->np, &K);
        npid_grad_update(t->np, t->upd);
        if (t->bucket) {
            dist_isum_float(t->upd, K * d);
        } else {
            dist_sum_float(t->upd, K * d);
            npid_apply_update(t->np, ckpt_bank(t->ck), t->upd);
        }
    }
    double t2 = ssl_clock();
    net_zero_grad(n);
    int64_t ng;
    float *g = net_grad_arena(n, &ng);
    t->bk_end = ng;
    t->nbuckets = t->bucket ? 0 : 1;
    net_backward(n, t->df);       /* with t->bucket, on_grads starts the buckets' sums */
    if (!t->bucket) {
        dist_sum_float(g, ng);
    } else {
        dist_wait_all();
        if (t->nc.write == BANK_WRITE_GRAD) npid_apply_update(t->np, ckpt_bank(t->ck), t->upd);
    }
    if (net_sgd_step(n, (float)lr, (float)t->cfg.momentum, (float)t->cfg.wd))
        return fail_grad(t, ns->loss, err);
    if (!t->sync_bn) {
        /* Per-rank statistics moved each rank's running statistics its own
         * way: rank 0's are the run's (PyTorch DDP's broadcast_buffers). */
        int64_t nb;
        float *bufs = net_buffer_arena(n, &nb);
        dist_bcast(bufs, nb * (int64_t)sizeof *bufs, 0);
    }
    double t3 = ssl_clock();
    t->t_net += (t1 - t0) + (t3 - t2);
    t->t_bank += t2 - t1;
    t->step_bytes = dist_bytes() - b0;
    t->t_comm += dist_wait_seconds() - w0;
    return 0;
}

int trainer_step(trainer *t, train_status *st, ssl_err *err) {
    ssl_ckpt *ck = t->ck;
    const ssl_dataset *d = t->d;
    int64_t e = ck->step / t->spe, pos = ck->step % t->spe;
    if (t->order_epoch != e) {
        train_order(t->order, d->n, t->seed, (uint64_t)e);
        t->order_epoch = e;
        t->ep_loss = t->ep_ce = t->ep_kl = t->ep_acc = 0;
        t->ep_n = 0;
    }
    const int64_t *idx = t->order + pos * t->B;
    double t0 = ssl_clock();
    const int32_t *perm = NULL;
    float lam = 1;
    if (t->R > 1) {
        lam = dist_batch(t, idx, e, &perm);
    } else {
        augment_batch(&t->aug, d->images, idx, t->B, d->c, d->h, d->w, t->mean, t->std, t->seed,
                      (uint64_t)e, t->x);
    }
    if (t->R == 1 && t->cfg.cutmix > 0) {
        rng r;
        rng_init(&r, t->seed ^ RNG_CUTMIX, (uint64_t)ck->step, 0);
        lam = cutmix_batch(t->x, t->B, t->aug.out_h, t->aug.out_w, d->c, (float)t->cfg.cutmix,
                           &r, t->perm);
        perm = t->perm;
    }
    t->t_aug += ssl_clock() - t0;
    double lr = lr_sched_rate(&t->sch, (int)e, ck->step, t->spe);
    npid_stats ns;
    if (t->R > 1 ? step_on_dist(t, idx, perm, lam, lr, &ns, err)
                 : trainer_step_on(t, t->x, t->B, idx, perm, lam, lr, &ns, err))
        return -1;
    ck->step++;
    ck->epoch = ck->step / t->spe;
    if (t->R > 1 && t->check_every > 0 && ck->step % t->check_every == 0) {
        int r = dist_differs(trainer_checksum(t));
        if (r) return ssl_fail(err, SSL_EDATA, "--check-replicas: rank %d's network or bank "
                               "differs from rank 0's after step %lld", r, (long long)ck->step);
    }
    t->ep_loss += ns.loss;
    t->ep_ce += ns.ce;
    t->ep_kl += ns.kl;
    t->ep_acc += ns.inst_acc;
    t->ep_n++;
    st->epoch = e;
    st->step = ck->step;
    st->step_in_epoch = pos + 1;
    st->steps_per_epoch = t->spe;
    st->total_steps = t->cfg.epochs * t->spe;
    st->loss = ns.loss;
    st->ce = ns.ce;
    st->kl = ns.kl;
    st->inst_acc = ns.inst_acc;
    st->lr = lr;
    st->lam = lam;
    st->epoch_loss = t->ep_loss / t->ep_n;
    st->epoch_ce = t->ep_ce / t->ep_n;
    st->epoch_kl = t->ep_kl / t->ep_n;
    st->epoch_inst_acc = t->ep_acc / t->ep_n;
    st->t_aug = t->t_aug;
    st->t_net = t->t_net;
    st->t_bank = t->t_bank;
    st->t_comm = t->t_comm;
    st->step_bytes = t->step_bytes;
    st->step_buckets = t->nbuckets;
    st->ranks = t->R;
    st->images += t->B;
    return 0;
}

/* Images of d through the network in eval mode, in batches of the
 * trainer's B: the head output into head [n, D] and/or the pooled backbone
 * output into feat [n, F] (either may be NULL); rows L2-normalised. */
static int monitor_forward(trainer *t, const ssl_dataset *d, float *head, float *feat,
                           ssl_err *err) {
    net *n = t->ck->net;
    int dim = t->ck->d, F = net_feature_dim(n), B = t->Bl;   /* the network's batch */
    size_t img = (size_t)d->c * d->h * d->w;
    float *x = malloc((size_t)B * img * sizeof *x);
    if (!x) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return -1;
    }
    for (int64_t s = 0; s < d->n; s += B) {
        int cnt = (int)(d->n - s < B ? d->n - s : B);
        preprocess_batch(d->images + s * img, cnt, d->c, d->h, d->w, t->mean, t->std, x);
        if (head) net_forward(n, x, cnt, 0);
        else net_forward_features(n, x, cnt);
        if (head) memcpy(head + s * dim, net_output(n), (size_t)cnt * dim * sizeof *head);
        if (feat) memcpy(feat + s * F, net_features(n), (size_t)cnt * F * sizeof *feat);
    }
    free(x);
    if (head) l2norm_forward(head, head, d->n, dim, L2_EPS);
    if (feat) l2norm_forward(feat, feat, d->n, F, L2_EPS);
    return 0;
}

/* A bf16 bank's rows for knn, a block at a time (knn_config.rows):
 * read into float32, and normalised as knn normalises its copies unless
 * every row is unit length already. */
typedef struct { const uint16_t *bank; int d, unit; } bank16_rows;

static void bank16_block(void *ctx, int64_t t0, int64_t n, float *dst) {
    const bank16_rows *b = ctx;
    for (int64_t i = 0; i < n; i++) npid_bank_get_row(b->bank, 1, t0 + i, b->d, dst + i * b->d);
    if (!b->unit) l2norm_forward(dst, dst, n, b->d, L2_EPS);
}

/* (train NULL: the rows from rows/rctx, normalised) */
static int monitor_knn(const float *train, knn_rows_fn rows, void *rctx,
                       const int32_t *train_labels, int64_t N,
                       const float *test, const int32_t *test_labels, int64_t nt, int dim,
                       int nclasses, int k, double sigma, int normalized, double *top1,
                       double *top5, ssl_err *err) {
    int kk = k < N ? k : (int)N;
    knn_config kc = {.k = &kk, .nk = 1, .sigma = &sigma, .nsigma = 1, .normalized = normalized,
                     .rows = rows, .rows_ctx = rctx};
    knn_report rep;
    if (knn_evaluate(train, train_labels, N, test, test_labels, nt, dim, nclasses, &kc, &rep,
                     err))
        return -1;
    *top1 = rep.res[0].top1;
    *top5 = rep.has_top5 ? rep.res[0].top5 : NAN;
    knn_report_destroy(&rep);
    return 0;
}

int trainer_monitor(trainer *t, const ssl_dataset *test, int k, double sigma,
                    double *top1, double *top5, double *bb_top1, double *bb_top5,
                    ssl_err *err) {
    net *n = t->ck->net;
    const net_config *nc = net_get_config(n);
    int dim = t->ck->d, F = net_feature_dim(n);
    int64_t N = t->ck->n, nt = test->n;
    int backbone = bb_top1 && bb_top5;
    *top1 = *top5 = NAN;
    if (backbone) *bb_top1 = *bb_top5 = NAN;
    if (test->c != nc->in_ch || test->h != nc->in_h || test->w != nc->in_w) {
        ssl_fail(err, SSL_EARG, "monitor images are %dx%dx%d, the network expects %dx%dx%d",
                 test->c, test->h, test->w, nc->in_ch, nc->in_h, nc->in_w);
        return -1;
    }
    if (!test->labelled || !t->d->labelled || t->ck->unlabelled || !t->ck->bank_labels)
        return ssl_fail(err, SSL_EDATA, "monitor: the kNN monitor needs labelled training and "
                        "test sets");
    int nclasses = t->d->nclasses > test->nclasses ? t->d->nclasses : test->nclasses;
    float *head = malloc((size_t)(nt + 1) * dim * sizeof *head);   /* + a row of scratch */
    float *tf = backbone ? malloc((size_t)(nt ? nt : 1) * F * sizeof *tf) : NULL;
    float *nf = backbone ? malloc((size_t)(N ? N : 1) * F * sizeof *nf) : NULL;
    int rc = -1;
    if (!head || (backbone && (!tf || !nf))) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        goto out;
    }
    if (monitor_forward(t, test, head, tf, err)) goto out;
    /* The bank is used in place when every row is unit length (it is, once
     * written); a fresh random bank is normalised in a copy by knn. A bf16
     * bank is read into float32 a block at a time by knn (bank16_block;
     * normalised there unless unit: bf16 rows are unit length within
     * bf16's rounding, well inside the test's 1e-3), never copied whole. */
    int unit = 1, bf = t->ck->bank_bf16;
    float *scratch = head + (size_t)nt * dim;
    for (int64_t i = 0; i < N && unit; i++) {
        double s = 0;
        if (bf) npid_bank_get_row(t->ck->bank16, 1, i, dim, scratch);
        const float *r = bf ? scratch : t->ck->bank + i * dim;
        for (int j = 0; j < dim; j++) s += (double)r[j] * r[j];
        unit = fabs(s - 1) < 1e-3;
    }
    bank16_rows br = {t->ck->bank16, dim, unit};
    /* (knn normalises the queries too when it normalises its copies) */
    if (bf && !unit) l2norm_forward(head, head, nt, dim, L2_EPS);
    if (monitor_knn(bf ? NULL : t->ck->bank, bf ? bank16_block : NULL, &br, t->ck->bank_labels,
                    N, head, test->labels, nt, dim, nclasses, k, sigma, unit || bf, top1, top5,
                    err))
        goto out;
    /* Backbone: the training images, un-augmented, as neighbours (what
     * ssl-extract and ssl-knn compute). */
    if (backbone && (monitor_forward(t, t->d, NULL, nf, err) ||
                     monitor_knn(nf, NULL, NULL, t->d->labels, N, tf, test->labels, nt, F,
                                 nclasses, k, sigma, 1, bb_top1, bb_top5, err)))
        goto out;
    rc = 0;
out:
    if (rc) ssl_prefix(err, "monitor: ");
    free(head), free(tf), free(nf);
    return rc;
}

/* The save hook, timed into st->t_save. */
static int save_now(const train_hooks *h, train_status *st, ssl_err *err) {
    if (!h->save) return 0;
    double t0 = ssl_clock();
    int rc = h->save(h->save_ctx ? h->save_ctx : h->ctx, st, err);
    st->t_save += ssl_clock() - t0;
    return rc;
}

int train_run(trainer *t, const train_hooks *h, train_status *st, ssl_err *err) {
    ssl_ckpt *ck = t->ck;
    int64_t total = t->cfg.epochs * t->spe, done = 0, saved = -1;
    double start = ssl_clock();
    int stopped = 0;
    memset(st, 0, sizeof *st);
    st->knn_top1 = st->knn_top5 = st->knn_bb_top1 = st->knn_bb_top5 = NAN;
    st->steps_per_epoch = t->spe;
    st->total_steps = total;
    st->step = ck->step;
    st->epoch = ck->step / t->spe;
    st->step_in_epoch = ck->step % t->spe;
    t->stop = h->stop;
    t->stop_all = 0;
    while (ck->step < total) {
        /* R ranks stop together: after a step in which some rank was asked. */
        int stop = t->R > 1 ? t->stop_all : h->stop && *h->stop;
        if ((h->max_steps >= 0 && done >= h->max_steps) || stop) {
            stopped = 1;
            break;
        }
        if (trainer_step(t, st, err)) return -1;
        done++;
        st->seconds = ssl_clock() - start;
        if (h->on_step) h->on_step(h->ctx, st);
        int epoch_end = ck->step % t->spe == 0;
        int64_t ep = ck->step / t->spe;
        if (epoch_end) {
            st->knn_top1 = st->knn_top5 = st->knn_bb_top1 = st->knn_bb_top5 = NAN;
            double t0 = ssl_clock();
            int mon_now = h->monitor_epochs <= 1 || ep % h->monitor_epochs == 0 ||
                          ep >= t->cfg.epochs;
            /* The monitor runs on rank 0 (the replicas are the same). */
            int mrc = h->monitor && mon_now && t->rank == 0 &&
                trainer_monitor(t, h->monitor, (int)t->cfg.monitor_k, t->cfg.monitor_sigma,
                                &st->knn_top1, &st->knn_top5,
                                h->monitor_backbone ? &st->knn_bb_top1 : NULL,
                                h->monitor_backbone ? &st->knn_bb_top5 : NULL, err);
            if (dist_agree(mrc, err)) return -1;
            st->t_monitor += ssl_clock() - t0;
            if (h->on_epoch) h->on_epoch(h->ctx, st);
        }
        int epoch_save = epoch_end && (h->save_epochs <= 1 || ep % h->save_epochs == 0 ||
                                       (h->keep_epochs > 0 && ep % h->keep_epochs == 0));
        if (epoch_save || (t->cfg.ckpt_every_steps > 0 && ck->step % t->cfg.ckpt_every_steps == 0)) {
            if (save_now(h, st, err)) return -1;
            saved = ck->step;
        }
    }
    if (saved != ck->step && save_now(h, st, err)) return -1;
    return stopped;
}
