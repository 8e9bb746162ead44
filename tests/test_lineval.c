/* test_lineval.c: lib/eval/lineval. The loss and gradient against a plain
 * double-precision version and its finite differences; the whole training
 * loop against an independent plain implementation (double precision, the
 * documented init, order, cosine schedule and PyTorch SGD); 100% training
 * accuracy on a separable problem; determinism; tie rule; bad input; the
 * saved classifier stream read back. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/lineval.h"
#include "util/rng.h"
#include "stream/sslt.h"
#include "t.h"
#include "util/threads.h"

/* ---- plain reference, double precision ---- */

static double ref_loss(const double *w, const double *b, const float *x, const int32_t *y,
                       int B, int F, int C, double *dw, double *db) {
    double loss = 0, l[64], p[64];
    for (int i = 0; i < B; i++) {
        double mx = -INFINITY, se = 0;
        for (int c = 0; c < C; c++) {
            l[c] = b[c];
            for (int j = 0; j < F; j++) l[c] += w[c * F + j] * x[i * F + j];
            if (l[c] > mx) mx = l[c];
        }
        for (int c = 0; c < C; c++) se += exp(l[c] - mx);
        loss += mx + log(se) - l[y[i]];
        for (int c = 0; c < C; c++) {
            p[c] = exp(l[c] - mx) / se;
            double d = (p[c] - (c == y[i])) / B;
            if (dw) for (int j = 0; j < F; j++) dw[c * F + j] += d * x[i * F + j];
            if (db) db[c] += d;
        }
    }
    return loss / B;
}

/* The training loop of lineval.h written plainly (norm none). */
static void ref_train(const float *x, const int32_t *y, int64_t n, int F, int C, int epochs,
                      double lr0, int batch, double wd, double mom, uint64_t seed, double *w,
                      double *b) {
    int np = C * F + C;
    double *p = malloc(sizeof(double) * np), *v = calloc(np, sizeof(double));
    double *g = malloc(sizeof(double) * np);
    float *xb = malloc(sizeof(float) * batch * F);
    int32_t *yb = malloc(sizeof(int32_t) * batch);
    int64_t *perm = malloc(sizeof(int64_t) * n);
    rng r;
    rng_init(&r, seed ^ RNG_LINEVAL, 0, 0);
    for (int i = 0; i < np; i++) p[i] = i < C * F ? (float)(0.01 * rng_normal(&r)) : 0;
    for (int e = 0; e < epochs; e++) {
        double lr = lr0 * 0.5 * (1 + cos(M_PI * e / epochs));
        for (int64_t i = 0; i < n; i++) perm[i] = i;
        rng_init(&r, seed ^ RNG_LINEVAL, 1, (uint64_t)e);
        rng_shuffle_i64(&r, perm, n);
        for (int64_t b0 = 0; b0 < n; b0 += batch) {
            int bn = n - b0 < batch ? (int)(n - b0) : batch;
            for (int i = 0; i < bn; i++) {
                memcpy(xb + i * F, x + perm[b0 + i] * F, sizeof(float) * F);
                yb[i] = y[perm[b0 + i]];
            }
            memset(g, 0, sizeof(double) * np);
            ref_loss(p, p + C * F, xb, yb, bn, F, C, g, g + C * F);
            for (int i = 0; i < np; i++) {
                v[i] = mom * v[i] + g[i] + wd * p[i];
                p[i] -= lr * v[i];
            }
        }
    }
    memcpy(w, p, sizeof(double) * C * F);
    memcpy(b, p + C * F, sizeof(double) * C);
    free(p); free(v); free(g); free(xb); free(yb); free(perm);
}

/* ---- data: C well-separated clusters ---- */

static void clusters(float *x, int32_t *y, int64_t n, int F, int C, double spread, uint64_t seed) {
    rng r;
    rng_init(&r, seed, 11, 12);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (int32_t)(i % C);
        for (int j = 0; j < F; j++)
            x[i * F + j] = (float)((j % C == y[i] ? 2.0 : 0.0) + 0.5 + spread * rng_normal(&r));
    }
}

static void test_grad(void) {
    enum { B = 7, F = 6, C = 5 };
    float x[B * F], w[C * F], b[C], dw[C * F], db[C], logits[B * C];
    double wd_[C * F], bd[C], rdw[C * F] = { 0 }, rdb[C] = { 0 };
    int32_t y[B];
    rng r;
    rng_init(&r, 42, 0, 0);
    for (int i = 0; i < B * F; i++) x[i] = (float)rng_normal(&r);
    for (int i = 0; i < C * F; i++) { w[i] = (float)(0.5 * rng_normal(&r)); wd_[i] = w[i]; }
    for (int i = 0; i < C; i++) { b[i] = (float)(0.5 * rng_normal(&r)); bd[i] = b[i]; }
    for (int i = 0; i < B; i++) y[i] = (int32_t)rng_below(&r, C);
    memset(dw, 0, sizeof dw);
    memset(db, 0, sizeof db);
    int64_t ok = -1;
    double L = lineval_loss_grad(w, b, x, y, B, F, C, dw, db, logits, &ok);
    double RL = ref_loss(wd_, bd, x, y, B, F, C, rdw, rdb);
    T_NEAR(L, RL, 1e-6, 1e-6, "loss matches the double reference");
    float fdw[C * F], fdb[C];
    for (int i = 0; i < C * F; i++) {         /* central differences of the reference */
        double h = 1e-5, s = wd_[i];
        wd_[i] = s + h; double lp = ref_loss(wd_, bd, x, y, B, F, C, NULL, NULL);
        wd_[i] = s - h; double lm = ref_loss(wd_, bd, x, y, B, F, C, NULL, NULL);
        wd_[i] = s;
        fdw[i] = (float)((lp - lm) / (2 * h));
    }
    for (int i = 0; i < C; i++) {
        double h = 1e-5, s = bd[i];
        bd[i] = s + h; double lp = ref_loss(wd_, bd, x, y, B, F, C, NULL, NULL);
        bd[i] = s - h; double lm = ref_loss(wd_, bd, x, y, B, F, C, NULL, NULL);
        bd[i] = s;
        fdb[i] = (float)((lp - lm) / (2 * h));
    }
    T_ALLCLOSE(dw, fdw, C * F, 1e-5, 1e-4, "dL/dW matches finite differences");
    T_ALLCLOSE(db, fdb, C, 1e-5, 1e-4, "dL/db matches finite differences");
    int64_t want = 0;
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int c = 0; c < C; c++) {
            double lc = bd[c], lb = bd[best];
            for (int j = 0; j < F; j++) { lc += wd_[c * F + j] * x[i * F + j]; lb += wd_[best * F + j] * x[i * F + j]; }
            if (lc > lb) best = c;
        }
        want += best == y[i];
    }
    T_EQ(ok, want, "correct count matches the plain argmax");
    float dw2[C * F];
    memcpy(dw2, dw, sizeof dw);
    lineval_loss_grad(w, b, x, y, B, F, C, dw2, db, logits, NULL);
    for (int i = 0; i < C * F; i++) dw2[i] *= 0.5f;
    T_ALLCLOSE(dw2, dw, C * F, 1e-7, 1e-6, "the gradient accumulates (+=)");
}

static void test_train_vs_plain(void) {
    enum { N = 150, F = 5, C = 7 };
    float x[N * F];
    int32_t y[N];
    clusters(x, y, N, F, C, 1.0, 5);
    lineval_config cfg;
    lineval_config_default(&cfg);
    cfg.epochs = 6; cfg.lr = 0.3; cfg.batch = 32; cfg.wd = 1e-3; cfg.momentum = 0.9;
    cfg.norm = LINEVAL_NORM_NONE; cfg.seed = 9;
    lineval_model m;
    ssl_err err = {0};
    int rc = lineval_train(&cfg, x, y, N, F, C, &m, &err);
    T_EQ(rc, 0, "train (vs plain): returns 0");
    if (rc) { printf("  %s\n", err.msg); return; }
    double w[C * F], b[C];
    ref_train(x, y, N, F, C, 6, 0.3, 32, 1e-3, 0.9, 9, w, b);
    float wf[C * F], bf[C];
    for (int i = 0; i < C * F; i++) wf[i] = (float)w[i];
    for (int i = 0; i < C; i++) bf[i] = (float)b[i];
    T_ALLCLOSE(m.weight, wf, C * F, 1e-4, 1e-3, "trained weight matches the plain implementation");
    T_ALLCLOSE(m.bias, bf, C, 1e-4, 1e-3, "trained bias matches the plain implementation");
    lineval_model_destroy(&m);
}

static void count_epochs(void *ctx, int e, double lr, double loss, double acc) {
    int *k = ctx;
    if (e == *k && isfinite(loss) && lr > 0 && acc >= 0 && acc <= 1) (*k)++;
}

static void test_separable(void) {
    enum { N = 400, F = 12, C = 8 };
    float x[N * F];
    int32_t y[N];
    clusters(x, y, N, F, C, 0.15, 3);
    const lineval_norm norms[] = { LINEVAL_NORM_L2, LINEVAL_NORM_STANDARDIZE, LINEVAL_NORM_NONE };
    const double lrs[] = { LINEVAL_DEFAULT_LR, 0.1, 0.1 };
    for (int k = 0; k < 3; k++) {
        char name[128];
        lineval_config cfg;
        lineval_config_default(&cfg);
        cfg.epochs = 20; cfg.batch = 64; cfg.norm = norms[k]; cfg.lr = lrs[k];
        int epochs_seen = 0;
        cfg.on_epoch = count_epochs; cfg.ctx = &epochs_seen;
        lineval_model m;
        lineval_acc a;
        ssl_err err = {0};
        T_EQ(lineval_train(&cfg, x, y, N, F, C, &m, &err), 0, "separable: train returns 0");
        lineval_evaluate(&m, x, y, N, &a, &err);
        snprintf(name, sizeof name, "separable, %s: 100%% training top-1 (%g)",
                 lineval_norm_name(norms[k]), a.top1);
        T_EQ(a.correct1, N, name);
        snprintf(name, sizeof name, "separable, %s: on_epoch called for every epoch", lineval_norm_name(norms[k]));
        T_EQ(epochs_seen, 20, name);
        if (norms[k] == LINEVAL_NORM_STANDARDIZE) {
            double mu = 0;
            for (int i = 0; i < N; i++) mu += x[i * F + 3];
            T_NEAR(m.mean[3], mu / N, 1e-5, 1e-5, "standardize: mean is the training mean");
        }
        lineval_model_destroy(&m);
    }
}

static void test_determinism(void) {
    enum { N = 300, F = 16, C = 6 };
    float x[N * F];
    int32_t y[N];
    clusters(x, y, N, F, C, 2.0, 4);
    lineval_config cfg;
    lineval_config_default(&cfg);
    cfg.epochs = 5; cfg.batch = 50; cfg.seed = 17;
    lineval_model a, b, c;
    lineval_train(&cfg, x, y, N, F, C, &a, NULL);
    lineval_train(&cfg, x, y, N, F, C, &b, NULL);
    size_t bytes = sizeof(float) * (C * F + C);
    T_OK(!memcmp(a.params, b.params, bytes), "determinism: same seed, same bits");
    cfg.seed = 18;
    lineval_train(&cfg, x, y, N, F, C, &c, NULL);
    T_OK(memcmp(a.params, c.params, bytes) != 0, "determinism: another seed, other bits");
    ssl_set_threads(2);
    lineval_model_destroy(&c);
    cfg.seed = 17;
    lineval_train(&cfg, x, y, N, F, C, &c, NULL);
    lineval_model d;
    lineval_train(&cfg, x, y, N, F, C, &d, NULL);
    T_OK(!memcmp(c.params, d.params, bytes), "determinism: 2 threads, same seed, same bits");
    ssl_set_threads(1);
    lineval_model_destroy(&a); lineval_model_destroy(&b);
    lineval_model_destroy(&c); lineval_model_destroy(&d);
}

static void test_ties_and_errors(void) {
    float x[6 * 2] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    int32_t y[6] = { 0, 1, 2, 0, 1, 1 };
    float p[3 * 2 + 3] = { 0 };
    lineval_model m = { 3, 2, p, p, p + 6, LINEVAL_NORM_NONE, NULL, NULL };
    lineval_acc a;
    ssl_err err = {0};
    T_EQ(lineval_evaluate(&m, x, y, 6, &a, &err), 0, "zero model: evaluates");
    T_EQ(a.correct1, 2, "zero model: equal logits go to class 0");
    T_OK(isnan(a.top5), "3 classes: no top-5");
    T_NEAR(a.loss, log(3.0), 1e-6, 0, "zero model: loss is log C");
    int32_t yb[6] = { 0, 1, 3, 0, 1, 1 };
    T_EQ(lineval_evaluate(&m, x, yb, 6, &a, &err), -1, "evaluate: label out of range fails");
    lineval_config cfg;
    lineval_config_default(&cfg);
    lineval_model t;
    T_EQ(lineval_train(&cfg, x, yb, 6, 2, 3, &t, &err), -1, "train: label out of range fails");
    T_OK(strstr(err.msg, "row 2") != NULL, "train: the message names the row");
    T_EQ(lineval_train(&cfg, x, y, 0, 2, 3, &t, &err), -1, "train: empty set fails");
    cfg.lr = 0;
    T_EQ(lineval_train(&cfg, x, y, 6, 2, 3, &t, &err), -1, "train: lr 0 fails");
    lineval_config_default(&cfg);
    x[5] = INFINITY;
    T_EQ(lineval_train(&cfg, x, y, 6, 2, 3, &t, &err), -1, "train: non-finite feature fails");
    x[5] = 6;
    cfg.lr = 1e38; cfg.norm = LINEVAL_NORM_NONE; cfg.epochs = 3;
    T_EQ(lineval_train(&cfg, x, y, 6, 2, 3, &t, &err), -1, "train: diverging loss fails");
    T_OK(strstr(err.msg, "not finite") != NULL, "train: divergence is named");
    T_EQ(lineval_norm_parse("standardize"), LINEVAL_NORM_STANDARDIZE, "norm names parse");
    T_EQ(lineval_norm_parse("l3"), -1, "unknown norm name is refused");
}

static void test_save(void) {
    enum { N = 60, F = 4, C = 3 };
    float x[N * F];
    int32_t y[N];
    clusters(x, y, N, F, C, 0.3, 6);
    lineval_config cfg;
    lineval_config_default(&cfg);
    cfg.epochs = 3; cfg.norm = LINEVAL_NORM_STANDARDIZE; cfg.lr = 0.1;
    lineval_model m;
    lineval_train(&cfg, x, y, N, F, C, &m, NULL);
    char path[256];
    ssl_err err = {0}, rerr = {0};
    const char *tmp = getenv("SSL_TEST_TMP");
    snprintf(path, sizeof path, "%s/test_lineval.%d.sslt", tmp ? tmp : "/tmp", (int)getpid());
    const char *cls[] = { "a", "b", "c" };
    int rc = lineval_save(&m, path, cls, NULL, NULL, &err);
    T_EQ(rc, 0, "save: returns 0");
    if (rc) { printf("  %s\n", err.msg); lineval_model_destroy(&m); return; }
    sslt_reader *r = sslt_reader_open(path, &rerr);
    const sslt_header *h = NULL;
    int ok = r && sslt_reader_next(r, &h) == 1;
    T_OK(ok, "save: the stream reads back");
    if (ok) {
        T_OK(!strcmp(h->kind, "classifier"), "save: kind is classifier");
        T_OK(!strcmp(sv_get_str(h->meta, "normalize", ""), "standardize"), "save: meta normalize");
        int wi = sslt_find(h, "weight"), si = sslt_find(h, "std");
        T_OK(wi >= 0 && si >= 0 && h->tensors[wi].shape[0] == C && h->tensors[wi].shape[1] == F,
             "save: weight [C, F] and std present");
        void *data[8] = { 0 };
        if (h->ntensors <= 8 && sslt_reader_read_all(r, data, NULL) == 0 && wi >= 0 && si >= 0) {
            T_OK(!memcmp(data[wi], m.weight, sizeof(float) * C * F), "save: weight bits read back");
            T_OK(!memcmp(data[si], m.std, sizeof(float) * F), "save: std bits read back");
        } else {
            t_report(0, "save: tensors read back", "%s", sslt_reader_error(r)->msg);
        }
        for (int i = 0; i < 8; i++) free(data[i]);
    }
    sslt_reader_close(r);
    unlink(path);
    lineval_model_destroy(&m);
}

/* ---- fixture mode for tests/cli/lineval.sh ---- */

static int write_stream(const char *path, const char *kind, const float *x, const int32_t *y,
                        int64_t n, int dim, const char *const *classes, int C) {
    ssl_err err = {0};
    sslt_tensor t[2] = { { (char *)"features", SSLT_F32, 2, { n, dim } },
                         { (char *)"labels", SSLT_I32, 1, { n } } };
    const void *data[2] = { x, y };
    sv *meta = sv_map();
    if (classes) sv_set(meta, "classes", sv_str_array(classes, (size_t)C));
    sslt_writer *w = sslt_writer_open(path, 0, &err);
    if (!w || sslt_write_section(w, kind, meta, 2, t, data) || sslt_writer_close(w, &err)) {
        fprintf(stderr, "test_lineval: %s: %s\n", path, w ? sslt_writer_error(w)->msg : err.msg);
        sv_free(meta);
        return -1;
    }
    sv_free(meta);
    return 0;
}

static double ref_top1(const double *w, const double *b, const float *x, const int32_t *y,
                       int64_t n, int F, int C) {
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        double lb = -INFINITY;
        for (int c = 0; c < C; c++) {
            double l = b[c];
            for (int j = 0; j < F; j++) l += w[c * F + j] * x[i * F + j];
            if (l > lb) { lb = l; best = c; }
        }
        ok += best == y[i];
    }
    return (double)ok / n;
}

/* Writes DIR/{train,test}.sslt, bad variants and DIR/expected: lines
 * "NORM LR top1 train_top1" from the plain double-precision training
 * (ref_train) with epochs 8, batch 32, wd 1e-3, momentum 0.9, seed 5. */
static int gen(const char *dir) {
    enum { NTR = 300, NTE = 200, F = 6, C = 7 };
    static float tr[NTR * F], te[NTE * F], trn[NTR * F], ten[NTE * F];
    static int32_t ytr[NTR], yte[NTE];
    const char *names[C] = { "a", "b", "c", "d", "e", "f", "g" };
    const char *other[C] = { "a", "b", "c", "d", "e", "f", "h" };
    char path[4096];
    clusters(tr, ytr, NTR, F, C, 0.9, 21);
    clusters(te, yte, NTE, F, C, 0.9, 22);
#define P(name) (snprintf(path, sizeof path, "%s/%s", dir, name), path)
    if (write_stream(P("train.sslt"), "features", tr, ytr, NTR, F, names, C) ||
        write_stream(P("test.sslt"), "features", te, yte, NTE, F, names, C) ||
        write_stream(P("test_dim.sslt"), "features", te, yte, NTE, F - 1, names, C) ||
        write_stream(P("test_classes.sslt"), "features", te, yte, NTE, F, other, C) ||
        write_stream(P("checkpoint.sslt"), "checkpoint", te, yte, NTE, F, names, C) ||
        write_stream(P("empty.sslt"), "features", te, yte, 0, F, names, C))
        return 1;
    memcpy(ten, te, sizeof te);
    ten[7 * F + 2] = INFINITY;
    if (write_stream(P("test_inf.sslt"), "features", ten, yte, NTE, F, names, C)) return 1;
    FILE *f = fopen(P("expected"), "w");
#undef P
    if (!f) return 1;
    /* l2: the rows normalised in double, rounded to float, as the tool's input */
    memcpy(trn, tr, sizeof tr);
    memcpy(ten, te, sizeof te);
    for (int k = 0; k < 2; k++) {
        float *x = k ? ten : trn;
        int64_t n = k ? NTE : NTR;
        for (int64_t i = 0; i < n; i++) {
            double ss = 0;
            for (int j = 0; j < F; j++) ss += (double)x[i * F + j] * x[i * F + j];
            for (int j = 0; j < F; j++) x[i * F + j] = (float)(x[i * F + j] / sqrt(ss));
        }
    }
    double w[C * F], b[C];
    ref_train(tr, ytr, NTR, F, C, 8, 0.3, 32, 1e-3, 0.9, 5, w, b);
    fprintf(f, "none 0.3 %.10g %.10g\n", ref_top1(w, b, te, yte, NTE, F, C),
            ref_top1(w, b, tr, ytr, NTR, F, C));
    ref_train(trn, ytr, NTR, F, C, 8, 3.0, 32, 1e-3, 0.9, 5, w, b);
    fprintf(f, "l2 3 %.10g %.10g\n", ref_top1(w, b, ten, yte, NTE, F, C),
            ref_top1(w, b, trn, ytr, NTR, F, C));
    return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--gen")) return gen(argv[2]);
    test_grad();
    test_train_vs_plain();
    test_separable();
    test_determinism();
    test_ties_and_errors();
    test_save();
    return t_done();
}
