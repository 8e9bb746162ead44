/* train_config.c: the training configuration (see train.h): recipe
 * defaults (ssl-method(7), RECIPES), the flat value map stored in
 * checkpoints, flag overrides, range checks, the resume check on critical
 * keys, and the dataset identity (size, shape, label checksum) that binds
 * a bank to its data.
 *
 * One table describes every key (name, type, offset), so conversion to and
 * from the value map and the critical comparison are one loop each. */
#include "run/train.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"

typedef enum { K_STR, K_INT, K_DBL, K_LIST } key_type;

typedef struct {
    const char *key;
    key_type type;
    size_t off;
    size_t len;                   /* K_STR: buffer size */
    int critical;
    int later;                    /* added after checkpoints existed: absent = default */
    const char *flag;             /* for messages when not --key (NULL: --key) */
} key_def;

#define S(k, crit) {#k, K_STR, offsetof(train_config, k), sizeof(((train_config *)0)->k), crit, 0, NULL}
#define I(k, crit) {#k, K_INT, offsetof(train_config, k), 0, crit, 0, NULL}
#define D(k, crit) {#k, K_DBL, offsetof(train_config, k), 0, crit, 0, NULL}
/* critical keys added later (absent from older checkpoints) */
#define LATER_S(k) {#k, K_STR, offsetof(train_config, k), sizeof(((train_config *)0)->k), 1, 1, NULL}
#define LATER_I(k, flag) {#k, K_INT, offsetof(train_config, k), 0, 1, 1, flag}

static const key_def keys[] = {
    S(recipe, 1), S(negatives, 1), I(k_negatives, 1), D(tau, 1), D(bank_momentum, 1),
    S(bank_write, 1), D(bank_lr, 1), D(lambda, 1), D(alpha, 1),
    LATER_I(kl_keepgrad, NULL), LATER_I(kl_reverse, "--kl-forward (kl_reverse)"),
    LATER_S(kl_terms),
    D(cutmix, 1), I(batch, 1), D(lr, 1), D(wd, 1), D(momentum, 1), S(schedule, 1),
    {"milestones", K_LIST, offsetof(train_config, milestones), 0, 1, 0, NULL},
    D(gamma, 1), I(warmup, 1), I(epochs, 0),
    D(flip, 1), D(jitter, 1), D(gray, 1), D(crop_scale, 1),
    D(brightness, 1), D(contrast, 1), D(saturation, 1), D(hue, 1), D(blur, 1),
    I(ckpt_every_steps, 0), I(deterministic, 0), I(monitor_k, 0), D(monitor_sigma, 0),
    LATER_S(precision),
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))

/* A float setting as the decimal it was written as (0.8f -> 0.8, not
 * 0.800000011920929), so that stored configurations read naturally. */
static double f2d(float x) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", x);
    return strtod(buf, NULL);
}

int train_config_default(train_config *c, const char *recipe, int h, int w) {
    int paper = !strcmp(recipe, "paper");
    if (!paper && strcmp(recipe, "npid")) return -1;
    memset(c, 0, sizeof *c);
    snprintf(c->recipe, sizeof c->recipe, "%s", recipe);
    snprintf(c->negatives, sizeof c->negatives, "%s", paper ? "k" : "all");
    c->k_negatives = paper ? 10000 : 4096;
    c->tau = paper ? 0.2 : 0.1;
    c->bank_momentum = 0.5;
    snprintf(c->bank_write, sizeof c->bank_write, "%s", paper ? "grad" : "npid");
    c->bank_lr = (1 - c->bank_momentum) / c->bank_momentum;
    c->lambda = paper ? 20 : 0;
    c->alpha = 0.5;
    c->kl_keepgrad = 0;
    c->kl_reverse = 1;
    snprintf(c->kl_terms, sizeof c->kl_terms, "both");
    c->cutmix = paper ? 0.5 : 0;
    c->batch = paper ? 512 : 128;
    c->lr = paper ? 1.0 : 0.03;
    c->wd = paper ? 1e-4 : 5e-4;
    c->momentum = 0.9;
    snprintf(c->schedule, sizeof c->schedule, "%s", paper ? "cosine" : "step");
    c->nmilestones = 2;
    c->milestones[0] = 120;
    c->milestones[1] = 160;
    c->gamma = 0.1;
    c->warmup = 0;
    c->epochs = 200;
    aug_config a;
    if (aug_config_default(&a, recipe, h, w)) return -1;
    c->flip = f2d(a.flip_p);
    c->jitter = f2d(a.jitter_p);
    c->gray = f2d(a.gray_p);
    c->crop_scale = f2d(a.scale_min);
    c->brightness = f2d(a.brightness);
    c->contrast = f2d(a.contrast);
    c->saturation = f2d(a.saturation);
    c->hue = f2d(a.hue);
    c->blur = f2d(a.blur_p);
    c->ckpt_every_steps = 0;
    c->deterministic = 0;
    c->monitor_k = 200;
    c->monitor_sigma = 0.1;
    snprintf(c->precision, sizeof c->precision, "fp32");
    return 0;
}

int train_config_scale_lr(train_config *c, double *base, int64_t *ref) {
    train_config r;
    if (train_config_default(&r, c->recipe, 32, 32)) return -1;
    *base = r.lr;
    *ref = r.batch;
    c->lr = r.lr * (double)c->batch / (double)r.batch;
    return 0;
}

static sv *key_value(const train_config *c, const key_def *k) {
    const char *p = (const char *)c + k->off;
    switch (k->type) {
    case K_STR: return sv_str(p);
    case K_INT: return sv_int(*(const int64_t *)p);
    case K_DBL: return sv_float(*(const double *)p);
    case K_LIST: return sv_int_array(c->milestones, (size_t)c->nmilestones);
    }
    return NULL;
}

sv *train_config_to_sv(const train_config *c) {
    sv *m = sv_map();
    if (!m) return NULL;
    for (int i = 0; i < NKEYS; i++)
        if (sv_set(m, keys[i].key, key_value(c, &keys[i]))) {
            sv_free(m);
            return NULL;
        }
    return m;
}

static void flag_name(char *buf, size_t len, const char *key) {
    snprintf(buf, len, "--%s", key);
    for (char *p = buf; *p; p++)
        if (*p == '_') *p = '-';
}

int train_config_apply(train_config *c, const sv *m, ssl_err *err) {
    int set_m = 0, set_blr = 0;
    if (m && m->type != SV_MAP) {
        ssl_fail(err, SSL_EARG, "train configuration: not a map");
        return -1;
    }
    for (size_t j = 0; j < sv_len(m); j++) {
        const char *key = sv_key(m, j);
        const sv *v = sv_at(m, j);
        const key_def *k = NULL;
        for (int i = 0; i < NKEYS; i++)
            if (!strcmp(keys[i].key, key)) k = &keys[i];
        if (!k) {
            if (!strcmp(key, "critical")) continue;   /* informational */
            ssl_fail(err, SSL_EARG, "train configuration: unknown key '%.100s'", key);
            return -1;
        }
        char *p = (char *)c + k->off;
        double d;
        switch (k->type) {
        case K_STR:
            if (v->type != SV_STR || strlen(v->u.str.s) >= k->len) goto bad;
            snprintf(p, k->len, "%s", v->u.str.s);
            break;
        case K_INT:
            if (v->type != SV_INT) goto bad;
            *(int64_t *)p = v->u.i;
            break;
        case K_DBL:
            if (sv_number(v, &d)) goto bad;
            *(double *)p = d;
            break;
        case K_LIST:
            if (v->type != SV_ARRAY || sv_len(v) > TRAIN_MAX_MILESTONES) goto bad;
            for (size_t i = 0; i < sv_len(v); i++) {
                if (sv_at(v, i)->type != SV_INT) goto bad;
                c->milestones[i] = sv_at(v, i)->u.i;
            }
            c->nmilestones = (int64_t)sv_len(v);
            break;
        }
        if (!strcmp(key, "bank_momentum")) set_m = 1;
        if (!strcmp(key, "bank_lr")) set_blr = 1;
        continue;
    bad:
        ssl_fail(err, SSL_EARG, "train configuration: '%.100s' has a value of the wrong type", key);
        return -1;
    }
    if (set_m && !set_blr && c->bank_momentum > 0)
        c->bank_lr = (1 - c->bank_momentum) / c->bank_momentum;
    return 0;
}

#define RANGE(cond, flag, ...) do { if (!(cond)) { \
    ssl_fail(err, SSL_EARG, flag ": " __VA_ARGS__); return -1; } } while (0)

int train_config_check(const train_config *c, ssl_err *err) {
    RANGE(!strcmp(c->recipe, "paper") || !strcmp(c->recipe, "npid"), "--recipe",
          "'%s' is not one of paper, npid", c->recipe);
    RANGE(!strcmp(c->negatives, "all") || !strcmp(c->negatives, "k") ||
          !strcmp(c->negatives, "0"), "--negatives", "'%s' is not one of all, k, 0", c->negatives);
    RANGE(c->k_negatives >= 1, "--k-negatives", "must be at least 1");
    RANGE(c->tau > 0 && isfinite(c->tau), "--tau", "must be > 0");
    RANGE(c->bank_momentum > 0 && c->bank_momentum < 1, "--bank-momentum", "must be in (0, 1)");
    RANGE(!strcmp(c->bank_write, "npid") || !strcmp(c->bank_write, "grad"), "--bank-write",
          "'%s' is not one of npid, grad", c->bank_write);
    RANGE(c->bank_lr >= 0 && isfinite(c->bank_lr), "--bank-lr", "must be >= 0");
    RANGE(c->lambda >= 0 && isfinite(c->lambda), "--lambda", "must be >= 0");
    RANGE(c->alpha > 0 && c->alpha < 1, "--alpha", "must be in (0, 1)");
    RANGE(c->kl_keepgrad == 0 || c->kl_keepgrad == 1, "--kl-keepgrad", "must be 0 or 1");
    RANGE(c->kl_reverse == 0 || c->kl_reverse == 1, "--kl-forward", "kl_reverse must be 0 or 1");
    RANGE(!strcmp(c->kl_terms, "both") || !strcmp(c->kl_terms, "l1") ||
          !strcmp(c->kl_terms, "l2"), "--kl-terms", "'%s' is not one of both, l1, l2", c->kl_terms);
    RANGE(!strcmp(c->kl_terms, "both") || (c->kl_keepgrad && c->kl_reverse), "--kl-terms",
          "%s needs --kl-keepgrad and not --kl-forward", c->kl_terms);
    RANGE(c->cutmix >= 0 && isfinite(c->cutmix), "--cutmix", "must be >= 0");
    RANGE(c->batch >= 2, "--batch", "must be at least 2");
    RANGE(c->lr >= 0 && isfinite(c->lr), "--lr", "must be >= 0");
    RANGE(c->wd >= 0 && isfinite(c->wd), "--wd", "must be >= 0");
    RANGE(c->momentum >= 0 && c->momentum < 1, "--momentum", "must be in [0, 1)");
    RANGE(!strcmp(c->schedule, "cosine") || !strcmp(c->schedule, "step") ||
          !strcmp(c->schedule, "constant"), "--schedule",
          "'%s' is not one of cosine, step, constant", c->schedule);
    for (int i = 0; i < c->nmilestones; i++)
        RANGE(c->milestones[i] >= 0 && c->milestones[i] <= INT_MAX &&
              (i == 0 || c->milestones[i] > c->milestones[i - 1]),
              "--milestones", "must be increasing epochs");
    RANGE(c->gamma > 0 && c->gamma <= 1, "--gamma", "must be in (0, 1]");
    /* the schedule and the monitor hold these as int */
    RANGE(c->warmup >= 0 && c->warmup <= INT_MAX, "--warmup", "must be in [0, %d]", INT_MAX);
    RANGE(c->epochs >= 1 && c->epochs <= INT_MAX, "--epochs", "must be in [1, %d]", INT_MAX);
    RANGE(c->flip >= 0 && c->flip <= 1, "--flip", "must be a probability");
    RANGE(c->jitter >= 0 && c->jitter <= 1, "--jitter", "must be a probability");
    RANGE(c->gray >= 0 && c->gray <= 1, "--gray", "must be a probability");
    RANGE(c->blur >= 0 && c->blur <= 1, "--blur", "must be a probability");
    RANGE(c->crop_scale > 0 && c->crop_scale <= 1, "--crop-scale", "must be in (0, 1]");
    RANGE(c->ckpt_every_steps >= 0, "--ckpt-every-steps", "must be >= 0");
    RANGE(c->monitor_k >= 1 && c->monitor_k <= INT_MAX, "--monitor-k", "must be in [1, %d]", INT_MAX);
    RANGE(c->monitor_sigma > 0 && isfinite(c->monitor_sigma), "--monitor-sigma", "must be > 0");
    RANGE(!strcmp(c->precision, "fp32") || !strcmp(c->precision, "bf16"), "--precision",
          "'%s' is not one of fp32, bf16", c->precision);
    return 0;
}

sv *train_critical_keys(void) {
    sv *a = sv_array();
    for (int i = 0; a && i < NKEYS; i++)
        if (keys[i].critical && sv_push(a, sv_str(keys[i].key))) {
            sv_free(a);
            return NULL;
        }
    return a;
}

static void value_str(char *buf, size_t len, const sv *v) {
    if (!v) snprintf(buf, len, "(absent)");
    else if (v->type == SV_STR) snprintf(buf, len, "%s", v->u.str.s);
    else if (v->type == SV_INT) snprintf(buf, len, "%lld", (long long)v->u.i);
    else if (v->type == SV_FLOAT) snprintf(buf, len, "%.9g", v->u.f);
    else if (v->type == SV_ARRAY) {
        size_t o = 0;
        buf[0] = 0;
        for (size_t i = 0; i < sv_len(v) && o + 24 < len; i++) {
            const sv *e = sv_at(v, i);
            if (e->type == SV_INT) o += snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)e->u.i);
            else o += snprintf(buf + o, len - o, "%s?", i ? "," : "");
        }
    } else snprintf(buf, len, "?");
}

int train_config_compare(const sv *stored, const sv *now, ssl_err *err) {
    train_config def;
    train_config_default(&def, "paper", 32, 32);  /* the later keys' defaults */
    for (int i = 0; i < NKEYS; i++) {
        if (!keys[i].critical) continue;
        const sv *a = sv_get(stored, keys[i].key), *b = sv_get(now, keys[i].key);
        sv *dv = !a && keys[i].later ? key_value(&def, &keys[i]) : NULL;
        if (dv) a = dv;
        int same = a && b && sv_equal(a, b);
        char flag[64], va[128], vb[128];
        value_str(va, sizeof va, a);
        sv_free(dv);
        if (same) continue;
        if (keys[i].flag) snprintf(flag, sizeof flag, "%s", keys[i].flag);
        else flag_name(flag, sizeof flag, keys[i].key);
        value_str(vb, sizeof vb, b);
        ssl_fail(err, SSL_EARG,
                 "%s: %s in the checkpoint, %s now; a resumed run must keep its critical settings",
                 flag, va, vb);
        return -1;
    }
    return 0;
}

int train_precision(const train_config *c) {
    return !strcmp(c->precision, "bf16") ? PREC_BF16 : PREC_FP32;
}

void train_npid_config(const train_config *c, npid_config *n) {
    memset(n, 0, sizeof *n);
    n->prec = train_precision(c);
    n->neg = !strcmp(c->negatives, "all") ? NEG_ALL : !strcmp(c->negatives, "k") ? NEG_K : NEG_NONE;
    n->k = c->k_negatives;
    n->tau = (float)c->tau;
    n->lambda = (float)c->lambda;
    n->alpha = (float)c->alpha;
    n->kl_keepgrad = c->kl_keepgrad != 0;
    n->kl_forward = !c->kl_reverse;
    n->kl_terms = !strcmp(c->kl_terms, "l1") ? KL_TERMS_L1
                : !strcmp(c->kl_terms, "l2") ? KL_TERMS_L2 : KL_TERMS_BOTH;
    n->m = (float)c->bank_momentum;
    n->write = !strcmp(c->bank_write, "grad") ? BANK_WRITE_GRAD : BANK_WRITE_NPID;
    n->bank_lr = (float)c->bank_lr;
}

void train_aug_config(const train_config *c, int h, int w, aug_config *a) {
    aug_config_default(a, c->recipe, h, w);
    a->flip_p = (float)c->flip;
    a->jitter_p = (float)c->jitter;
    a->gray_p = (float)c->gray;
    a->scale_min = (float)c->crop_scale;
    a->brightness = (float)c->brightness;
    a->contrast = (float)c->contrast;
    a->saturation = (float)c->saturation;
    a->hue = (float)c->hue;
    a->blur_p = (float)c->blur;
}

void train_sched(const train_config *c, lr_sched *s) {
    memset(s, 0, sizeof *s);
    s->kind = !strcmp(c->schedule, "cosine") ? SCHED_COSINE
            : !strcmp(c->schedule, "step") ? SCHED_STEP : SCHED_CONSTANT;
    s->lr = c->lr;
    s->epochs = (int)c->epochs;
    s->warmup = (int)c->warmup;
    s->nmilestones = (int)c->nmilestones;
    for (int i = 0; i < c->nmilestones && i < 8; i++) s->milestones[i] = (int)c->milestones[i];
    s->gamma = c->gamma;
}

static uint32_t labels_crc(const ssl_dataset *d) {
    return sslt_crc32(0, d->labels, (size_t)d->n * sizeof(int32_t));
}

/* An unlabelled dataset is known by its pixels instead. */
static uint32_t images_crc(const ssl_dataset *d) {
    return sslt_crc32(0, d->images, (size_t)d->n * d->c * d->h * d->w);
}

sv *train_data_sv(const ssl_dataset *d) {
    sv *m = sv_map();
    if (!m) return NULL;
    int bad = sv_set(m, "n", sv_int(d->n)) || sv_set(m, "c", sv_int(d->c)) ||
              sv_set(m, "h", sv_int(d->h)) || sv_set(m, "w", sv_int(d->w)) ||
              sv_set(m, "mean", sv_float_array(d->mean, (size_t)d->c)) ||
              sv_set(m, "std", sv_float_array(d->std, (size_t)d->c)) ||
              sv_set(m, "nclasses", sv_int(d->nclasses)) ||
              sv_set(m, "source", sv_str(sv_get_str(d->meta, "source", "")));
    if (!bad && d->labelled) bad = sv_set(m, "labels_crc", sv_int(labels_crc(d)));
    else if (!bad)
        bad = sv_set(m, "labelled", sv_bool(0)) || sv_set(m, "images_crc", sv_int(images_crc(d)));
    if (bad) {
        sv_free(m);
        return NULL;
    }
    return m;
}

int train_data_check(const sv *dc, const ssl_dataset *d, ssl_err *err) {
    int64_t n = sv_get_int(dc, "n", -1), c = sv_get_int(dc, "c", -1);
    int64_t h = sv_get_int(dc, "h", -1), w = sv_get_int(dc, "w", -1);
    if (n != d->n || c != d->c || h != d->h || w != d->w) {
        ssl_fail(err, SSL_EDATA,
                 "%lld images of %dx%dx%d, but the checkpoint's bank was built from "
                 "%lld images of %lldx%lldx%lld",
                 (long long)d->n, d->c, d->h, d->w, (long long)n, (long long)c, (long long)h,
                 (long long)w);
        return -1;
    }
    int stored_labelled = !!sv_get_bool(dc, "labelled", 1);
    if (stored_labelled != d->labelled)
        return ssl_fail(err, SSL_EDATA, "%s, but the checkpoint's bank was built from %s dataset",
                        d->labelled ? "has labels" : "has no labels",
                        stored_labelled ? "a labelled" : "an unlabelled");
    if (d->labelled && sv_get_int(dc, "labels_crc", -1) != (int64_t)labels_crc(d)) {
        ssl_fail(err, SSL_EDATA,
                 "labels differ from those of the checkpoint's bank (another dataset, or "
                 "another order of the same images)");
        return -1;
    }
    if (!d->labelled && sv_get_int(dc, "images_crc", -1) != (int64_t)images_crc(d))
        return ssl_fail(err, SSL_EDATA, "images differ from those of the checkpoint's bank "
                        "(another dataset, or another order of the same images)");
    return 0;
}

void train_data_norm(const sv *dc, const ssl_dataset *d, double *mean, double *std) {
    const sv *m = sv_get(dc, "mean"), *s = sv_get(dc, "std");
    for (int i = 0; i < d->c && i < SSL_MAX_CHANNELS; i++) {
        double a, b;
        mean[i] = (m && (size_t)i < sv_len(m) && !sv_number(sv_at(m, i), &a)) ? a : d->mean[i];
        std[i] = (s && (size_t)i < sv_len(s) && !sv_number(sv_at(s, i), &b)) ? b : d->std[i];
    }
}
