/* lineval.c: linear evaluation on frozen features (see lineval.h):
 * normalisation, the softmax cross-entropy forward/backward of one batch
 * (two sgemm), the SGD training loop, accuracy, and saving the classifier
 * as a tensor stream. */
#include "eval/lineval.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "util/rng.h"
#include "nn/lr_sched.h"
#include "stream/sslt.h"


#define EVAL_BLOCK 1024

static const char *const norm_names[] = { "none", "l2", "standardize", NULL };

const char *lineval_norm_name(lineval_norm n) {
    return n >= LINEVAL_NORM_NONE && n <= LINEVAL_NORM_STANDARDIZE ? norm_names[n] : "?";
}

int lineval_norm_parse(const char *s) {
    for (int i = 0; norm_names[i]; i++)
        if (!strcmp(s, norm_names[i])) return i;
    return -1;
}

void lineval_config_default(lineval_config *c) {
    memset(c, 0, sizeof *c);
    c->epochs = 100;
    c->lr = LINEVAL_DEFAULT_LR;
    c->batch = 256;
    c->wd = 0;
    c->momentum = 0.9;
    c->norm = LINEVAL_NORM_L2;
}

void lineval_model_destroy(lineval_model *m) {
    if (!m) return;
    free(m->params);
    free(m->mean);
    free(m->std);
    memset(m, 0, sizeof *m);
}

void lineval_apply_norm(const lineval_model *m, float *x, int64_t n) {
    int F = m->dim;
    if (m->norm == LINEVAL_NORM_L2) {
        l2norm_forward(x, x, n, F, L2_EPS);
    } else if (m->norm == LINEVAL_NORM_STANDARDIZE) {
        for (int64_t i = 0; i < n; i++) {
            float *r = x + i * F;
            for (int j = 0; j < F; j++) r[j] = (r[j] - m->mean[j]) / m->std[j];
        }
    }
}

/* Rank of class y among the C logits l: higher first, ties to the lower class. */
static int rank_of(const float *l, int C, int y) {
    int r = 0;
    for (int c = 0; c < C; c++)
        if (l[c] > l[y] || (l[c] == l[y] && c < y)) r++;
    return r;
}

double lineval_loss_grad(const float *w, const float *b, const float *x, const int32_t *y,
                         int B, int F, int C, float *dw, float *db, float *logits,
                         int64_t *correct) {
    sgemm_par(0, 1, B, C, F, 1.0f, x, F, w, F, 0.0f,
                logits, C);
    double loss = 0;
    int64_t ok = 0;
    for (int i = 0; i < B; i++) {
        float *l = logits + (int64_t)i * C;
        for (int c = 0; c < C; c++) l[c] += b[c];
        if (rank_of(l, C, y[i]) == 0) ok++;
        double mx = l[0];
        for (int c = 1; c < C; c++) if (l[c] > mx) mx = l[c];
        double se = 0;
        for (int c = 0; c < C; c++) se += exp(l[c] - mx);
        double lse = mx + log(se);
        loss += lse - l[y[i]];
        for (int c = 0; c < C; c++) {
            double p = exp(l[c] - lse);
            l[c] = (float)((p - (c == y[i])) / B);      /* now dL/dlogit */
        }
    }
    sgemm_par(1, 0, C, F, B, 1.0f, logits, C, x, F, 1.0f,
                dw, F);
    for (int i = 0; i < B; i++)
        for (int c = 0; c < C; c++) db[c] += logits[(int64_t)i * C + c];
    if (correct) *correct = ok;
    return loss / B;
}

/* Mean and population std per feature of x [n, F] (in double). */
static int fit_standardize(lineval_model *m, const float *x, int64_t n) {
    int F = m->dim;
    double *s = calloc((size_t)F * 2, sizeof *s);
    m->mean = malloc((size_t)F * sizeof *m->mean);
    m->std = malloc((size_t)F * sizeof *m->std);
    if (!s || !m->mean || !m->std) { free(s); return -1; }
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < F; j++) s[j] += x[i * F + j];
    for (int j = 0; j < F; j++) s[j] /= (double)n;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < F; j++) {
            double d = x[i * F + j] - s[j];
            s[F + j] += d * d;
        }
    for (int j = 0; j < F; j++) {
        double sd = sqrt(s[F + j] / (double)n);
        m->mean[j] = (float)s[j];
        m->std[j] = sd < 1e-8 ? 1.0f : (float)sd;
    }
    free(s);
    return 0;
}

int lineval_train(const lineval_config *cfg, const float *x, const int32_t *y, int64_t n,
                  int dim, int nclasses, lineval_model *m, ssl_err *err) {
    memset(m, 0, sizeof *m);
    if (n < 1) return ssl_fail(err, SSL_EARG, "the training set is empty");
    if (dim < 1 || nclasses < 1) return ssl_fail(err, SSL_EARG, "bad sizes: dim %d, %d classes", dim, nclasses);
    if (cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0) || !isfinite(cfg->lr) ||
        !(cfg->wd >= 0) || !(cfg->momentum >= 0) || !(cfg->momentum < 1) ||
        cfg->norm < LINEVAL_NORM_NONE || cfg->norm > LINEVAL_NORM_STANDARDIZE)
        return ssl_fail(err, SSL_EARG, "bad hyper-parameters (epochs, batch, lr, wd, momentum or normalisation)");
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= nclasses)
            return ssl_fail(err, SSL_EARG, "training label %d (row %lld) is outside [0, %d)", (int)y[i],
                        (long long)i, nclasses);
    for (int64_t i = 0; i < n * dim; i++)
        if (!isfinite(x[i]))
            return ssl_fail(err, SSL_ENUM, "training row %lld holds a value that is not finite",
                        (long long)(i / dim));

    int C = nclasses, F = dim, B = cfg->batch;
    if (B > n) B = (int)n;
    size_t np = (size_t)C * F + C;
    float *xn = malloc((size_t)n * F * sizeof *xn);
    float *v = calloc(np, sizeof *v), *g = malloc(np * sizeof *g);
    float *xb = malloc((size_t)B * F * sizeof *xb), *logits = malloc((size_t)B * C * sizeof *logits);
    int32_t *yb = malloc((size_t)B * sizeof *yb);
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int rc = -1;
    m->nclasses = C;
    m->dim = F;
    m->norm = cfg->norm;
    m->params = calloc(np, sizeof *m->params);
    if (!xn || !v || !g || !xb || !logits || !yb || !perm || !m->params) goto oom;
    m->weight = m->params;
    m->bias = m->params + (size_t)C * F;
    memcpy(xn, x, (size_t)n * F * sizeof *xn);
    if (cfg->norm == LINEVAL_NORM_STANDARDIZE && fit_standardize(m, xn, n)) goto oom;
    lineval_apply_norm(m, xn, n);

    rng r;
    rng_init(&r, cfg->seed ^ RNG_LINEVAL, 0, 0);
    for (size_t i = 0; i < (size_t)C * F; i++) m->weight[i] = (float)(0.01 * rng_normal(&r));

    lr_sched s = { .kind = SCHED_COSINE, .lr = cfg->lr, .epochs = cfg->epochs };
    float mom = (float)cfg->momentum, wd = (float)cfg->wd;
    for (int e = 0; e < cfg->epochs; e++) {
        float lr = (float)lr_sched_rate(&s, e, 0, 0);
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        rng_init(&r, cfg->seed ^ RNG_LINEVAL, 1, (uint64_t)e);
        rng_shuffle_i64(&r, perm, n);
        double sum = 0;
        int64_t hits = 0;
        for (int64_t b0 = 0; b0 < n; b0 += B) {
            int bn = n - b0 < B ? (int)(n - b0) : B;
            for (int i = 0; i < bn; i++) {
                memcpy(xb + (size_t)i * F, xn + perm[b0 + i] * F, (size_t)F * sizeof *xb);
                yb[i] = y[perm[b0 + i]];
            }
            memset(g, 0, np * sizeof *g);
            int64_t ok;
            double loss = lineval_loss_grad(m->weight, m->bias, xb, yb, bn, F, C, g,
                                            g + (size_t)C * F, logits, &ok);
            if (!isfinite(loss)) {
                ssl_fail(err, SSL_ENUM, "the loss is not finite in epoch %d (learning rate %g too large?)",
                     e, cfg->lr);
                goto out;
            }
            sum += loss * bn;
            hits += ok;
            for (size_t i = 0; i < np; i++) {
                float gi = g[i] + wd * m->params[i];
                v[i] = mom * v[i] + gi;
                m->params[i] -= lr * v[i];
            }
        }
        if (cfg->on_epoch) cfg->on_epoch(cfg->ctx, e, lr, sum / n, (double)hits / n);
    }
    rc = 0;
    goto out;
oom:
    ssl_fail(err, SSL_ENOMEM, "out of memory");
out:
    free(xn); free(v); free(g); free(xb); free(logits); free(yb); free(perm);
    if (rc) lineval_model_destroy(m);
    return rc;
}

int lineval_evaluate(const lineval_model *m, const float *x, const int32_t *y, int64_t n,
                     lineval_acc *acc, ssl_err *err) {
    int C = m->nclasses, F = m->dim;
    memset(acc, 0, sizeof *acc);
    for (int64_t i = 0; i < n; i++)
        if (y[i] < 0 || y[i] >= C)
            return ssl_fail(err, SSL_EARG, "label %d (row %lld) is outside [0, %d)", (int)y[i],
                        (long long)i, C);
    int64_t blk = n < EVAL_BLOCK ? n : EVAL_BLOCK;
    if (blk < 1) blk = 1;
    float *xb = malloc((size_t)blk * F * sizeof *xb), *l = malloc((size_t)blk * C * sizeof *l);
    if (!xb || !l) {
        free(xb); free(l);
        return ssl_fail(err, SSL_ENOMEM, "out of memory");
    }
    double loss = 0;
    for (int64_t b0 = 0; b0 < n; b0 += blk) {
        int bn = n - b0 < blk ? (int)(n - b0) : (int)blk;
        memcpy(xb, x + b0 * F, (size_t)bn * F * sizeof *xb);
        lineval_apply_norm(m, xb, bn);
        sgemm_par(0, 1, bn, C, F, 1.0f, xb, F, m->weight, F,
                    0.0f, l, C);
        for (int i = 0; i < bn; i++) {
            float *li = l + (int64_t)i * C;
            int yi = y[b0 + i];
            for (int c = 0; c < C; c++) li[c] += m->bias[c];
            int r = rank_of(li, C, yi);
            if (r == 0) acc->correct1++;
            if (r < 5) acc->correct5++;
            double mx = li[0], se = 0;
            for (int c = 1; c < C; c++) if (li[c] > mx) mx = li[c];
            for (int c = 0; c < C; c++) se += exp(li[c] - mx);
            loss += mx + log(se) - li[yi];
        }
    }
    free(xb);
    free(l);
    acc->n = n;
    acc->top1 = n ? (double)acc->correct1 / n : NAN;
    acc->top5 = n && C > 5 ? (double)acc->correct5 / n : NAN;
    acc->loss = n ? loss / n : NAN;
    return 0;
}

int lineval_save(const lineval_model *m, const char *path, const char *const *classes,
                 const sv *recipe, const sv *extra, ssl_err *err) {
    ssl_err e;
    int C = m->nclasses, F = m->dim, nt = 2;
    sslt_tensor t[4] = {
        { (char *)"weight", SSLT_F32, 2, { C, F } },
        { (char *)"bias", SSLT_F32, 1, { C } },
        { (char *)"mean", SSLT_F32, 1, { F } },
        { (char *)"std", SSLT_F32, 1, { F } },
    };
    const void *data[4] = { m->weight, m->bias, m->mean, m->std };
    if (m->norm == LINEVAL_NORM_STANDARDIZE) nt = 4;
    sv *meta = sv_map();
    int bad = !meta;
    bad = bad || sv_set(meta, "normalize", sv_str(lineval_norm_name(m->norm)));
    bad = bad || sv_set(meta, "nclasses", sv_int(C));
    bad = bad || sv_set(meta, "dim", sv_int(F));
    if (classes) bad = bad || sv_set(meta, "classes", sv_str_array(classes, (size_t)C));
    if (recipe) bad = bad || sv_set(meta, "recipe", sv_copy(recipe));
    for (size_t i = 0; extra && i < sv_len(extra) && !bad; i++)
        bad = sv_set(meta, sv_key(extra, i), sv_copy(sv_at(extra, i)));
    if (bad) {
        sv_free(meta);
        return ssl_fail(err, SSL_ENOMEM, "out of memory");
    }
    sslt_writer *w = sslt_writer_open(path, 0, &e);
    if (!w) {
        sv_free(meta);
        return ssl_forward(err, &e);
    }
    if (sslt_write_section(w, "classifier", meta, nt, t, data)) {
        ssl_forward(err, sslt_writer_error(w));
        sslt_writer_abort(w);
        sv_free(meta);
        return -1;
    }
    sv_free(meta);
    if (sslt_writer_close(w, &e)) {
        return ssl_forward(err, &e);
    }
    return 0;
}
