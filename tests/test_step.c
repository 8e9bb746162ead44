/* test_step.c: one full training step (network forward in training mode,
 * CE + SqrtKL loss, bank write, backward, SGD with momentum and weight
 * decay, BN running statistics) through trainer_step_on, against a
 * PyTorch reimplementation of ssl-method(7), THE TRAINING STEP
 * (tests/gen_step_fixture.py).
 *
 * Three cases in tests/fixtures/step/: "paper" (mlp3 head, grad write,
 * lambda 20, CutMix targets with a given perm and lam), "npid" (linear
 * head, npid write, lambda 0, no CutMix), both on a CIFAR ResNet-18, and
 * "mnv3s": the paper case on a MobileNetV3-small (width 0.1: expansions
 * from block 4 on, 21k parameters). All use negatives `all`, so
 * that no random draw has to be shared with Python, and feed the same
 * input batch to both sides (no augmentation in the fixture: that is
 * lib/data/augment's own test). Initial momentum and BN running statistics are
 * random so that the full update rules are exercised.
 *
 * Regenerate: bin/tests/test_step --gen-step-input tests/fixtures/step
 * then /usr/bin/python3 tests/gen_step_fixture.py tests/fixtures/step.
 * Tolerances, per tensor: |c - torch| <= 1e-5 * max|torch| + 1e-4 |torch|
 * for BN running statistics and the bank; 1e-4 * max|torch| + 1e-3 |torch|
 * for the momentum buffers (they hold the raw gradients) and for the
 * parameter updates (after - before = -lr * v). */
#include "t.h"
#include "nn/ops/ops.h"
#include "train_fixture.h"

#include "run/ckpt.h"
#include "util/threads.h"
#include "run/train.h"

#define B_ 6
#define N_ 10

enum { C_TAU, C_LAMBDA, C_ALPHA, C_M, C_BANKLR, C_LAM, C_LR, C_WD, C_MOM, C_GRAD, C_CUTMIX, C_N };

/* The architecture of a case: the ResNet-18 but for "mnv3s"
 * (MobileNetV3-small at width 0.1 with the paper's settings). Code in
 * the fixture's "net" record: 0 resnet18, 3 mobilenetv3s. */
static const char *arch_of(int code) { return code == 3 ? "mobilenetv3s" : "resnet18"; }

/* A BN parameter: its module has running statistics. */
static int is_bn_param(net *n, const char *name) {
    char mod[200];
    snprintf(mod, sizeof mod, "%s", name);
    char *dot = strrchr(mod, '.');
    if (!dot) return 0;
    snprintf(dot, sizeof mod - (size_t)(dot - mod), ".running_mean");
    return net_find(n, mod) != NULL;
}

static int gen_one(const char *dir, const char *which) {
    int mobile = !strcmp(which, "mnv3s"), paper = mobile || !strcmp(which, "paper");
    char path[1024];
    ssl_err err = {0};
    snprintf(path, sizeof path, "%s/%s_in.bin", dir, which);
    FILE *f = fopen(path, "wb");
    if (!f) return perror(path), 1;
    net_config nc = tf_net_config(1, 28, 28, mobile ? 0.1f : 0.03125f, paper ? "mlp3" : "linear",
                                  32, 16);
    snprintf(nc.arch, sizeof nc.arch, "%s", arch_of(mobile ? 3 : 0));
    net *n = net_new(&nc, B_, &err);
    if (!n) return fprintf(stderr, "%s\n", err.msg), 1;
    net_init(n, paper ? 5 : 6);
    rng r;
    rng_init(&r, 77, paper, 0);
    for (int i = 0; i < net_ntensors(n); i++) {
        net_tensor *t = net_tensor_at(n, i);
        int is_bn = is_bn_param(n, t->name);
        for (int64_t k = 0; k < t->numel; k++) {
            if (strstr(t->name, "running_mean")) t->data[k] = (float)(0.1 * rng_normal(&r));
            else if (strstr(t->name, "running_var")) t->data[k] = 0.5f + rng_uniform(&r);
            else if (is_bn && strstr(t->name, "weight")) t->data[k] = 1 + (float)(0.1 * rng_normal(&r));
            else if (is_bn && strstr(t->name, "bias")) t->data[k] = (float)(0.1 * rng_normal(&r));
            if (t->mom) t->mom[k] = (float)(0.01 * rng_normal(&r));
        }
    }
    float netv[8] = {nc.width, 1, 28, 28, 32, 16, paper ? 2 : 1, mobile ? 3 : 0};
    float cfg[C_N] = {paper ? 0.2f : 0.1f, paper ? 20 : 0, 0.5f, 0.5f, 1, 0.6875f,
                      0.1f, paper ? 1e-4f : 5e-4f, 0.9f, paper, paper};
    int64_t s7 = mobile ? 8 : 7, sc = C_N, sx[4] = {B_, 28, 28, 1}, sb = B_, sbank[2] = {N_, 16};
    float *x = malloc(sizeof(float) * B_ * 28 * 28), bank[N_ * 16];
    for (int i = 0; i < B_ * 28 * 28; i++) x[i] = (float)rng_normal(&r);
    for (int i = 0; i < N_ * 16; i++) bank[i] = (float)rng_normal(&r);
    l2norm_forward(bank, bank, N_, 16, L2_EPS);
    int64_t idx[B_] = {7, 2, 9, 0, 4, 5}, perm[B_] = {3, 0, 5, 1, 2, 4};
    tf_put(f, "net", 0, 1, &s7, netv);
    tf_put(f, "cfg", 0, 1, &sc, cfg);
    tf_put(f, "x", 0, 4, sx, x);
    tf_put(f, "idx", 1, 1, &sb, idx);
    if (paper) tf_put(f, "perm", 1, 1, &sb, perm);
    tf_put(f, "bank", 0, 2, sbank, bank);
    for (int i = 0; i < net_ntensors(n); i++) {
        net_tensor *t = net_tensor_at(n, i);
        char mname[200];
        tf_put(f, t->name, 0, t->ndim, t->shape, t->data);
        snprintf(mname, sizeof mname, "mom.%s", t->name);
        if (t->mom) tf_put(f, mname, 0, t->ndim, t->shape, t->mom);
    }
    free(x);
    net_free(n);
    return fclose(f) ? 1 : 0;
}

static double max_abs(const float *v, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fabs(v[i]) > m ? fabs(v[i]) : m;
    return m;
}

static void check_case(const char *which) {
    char pin[512], pout[512], name[256];
    ssl_err err = {0};
    snprintf(pin, sizeof pin, "tests/fixtures/step/%s_in.bin", which);
    snprintf(pout, sizeof pout, "tests/fixtures/step/%s_out.bin", which);
    tf_rec *in = NULL, *out = NULL;
    int nin = tf_read(t_path(pin), &in), nout = tf_read(t_path(pout), &out);
    snprintf(name, sizeof name, "step %s: fixture files readable", which);
    T_OK(nin > 0 && nout > 0, name);
    if (nin <= 0 || nout <= 0) return;
    const float *nv = tf_find(in, nin, "net")->data, *cfg = tf_find(in, nin, "cfg")->data;
    net_config nc = tf_net_config((int)nv[1], (int)nv[2], (int)nv[3], nv[0],
                                  nv[6] == 2 ? "mlp3" : "linear", (int)nv[4], (int)nv[5]);
    if (tf_find(in, nin, "net")->numel > 7)
        snprintf(nc.arch, sizeof nc.arch, "%s", arch_of((int)nv[7]));
    ssl_ckpt ck;
    memset(&ck, 0, sizeof ck);
    ck.net = net_new(&nc, B_, &err);
    int missing = 0;
    for (int i = 0; i < net_ntensors(ck.net); i++) {
        net_tensor *t = net_tensor_at(ck.net, i);
        char mname[200];
        tf_rec *r = tf_find(in, nin, t->name);
        if (!r || r->numel != t->numel) { missing++; continue; }
        memcpy(t->data, r->data, t->numel * sizeof(float));
        snprintf(mname, sizeof mname, "mom.%s", t->name);
        if (t->mom && (r = tf_find(in, nin, mname))) memcpy(t->mom, r->data, t->numel * sizeof(float));
    }
    snprintf(name, sizeof name, "step %s: every tensor in the fixture", which);
    T_EQ(missing, 0, name);
    ck.n = N_, ck.d = net_out_dim(ck.net);
    ck.bank = malloc(sizeof(float) * N_ * ck.d);
    memcpy(ck.bank, tf_find(in, nin, "bank")->data, sizeof(float) * N_ * ck.d);
    ck.bank_labels = calloc(N_, sizeof(int32_t));
    ssl_dataset d;
    memset(&d, 0, sizeof d);
    d.n = N_, d.c = 1, d.h = 28, d.w = 28, d.nclasses = 1;
    d.images = calloc(N_, 28 * 28);
    d.labels = calloc(N_, sizeof(int32_t));
    d.labelled = 1;
    d.mean[0] = 0, d.std[0] = 1;
    ck.config = sv_map();
    train_config tc;
    train_config_default(&tc, "paper", 28, 28);
    snprintf(tc.negatives, sizeof tc.negatives, "all");
    tc.tau = cfg[C_TAU], tc.lambda = cfg[C_LAMBDA], tc.alpha = cfg[C_ALPHA];
    tc.bank_momentum = cfg[C_M], tc.bank_lr = cfg[C_BANKLR];
    snprintf(tc.bank_write, sizeof tc.bank_write, "%s", cfg[C_GRAD] != 0 ? "grad" : "npid");
    tc.wd = cfg[C_WD], tc.momentum = cfg[C_MOM], tc.batch = B_;
    trainer *t = trainer_new(&ck, &d, &tc, 1, &err);
    snprintf(name, sizeof name, "step %s: trainer", which);
    T_OK(t != NULL, name);
    if (!t) return;
    int32_t perm[B_];
    tf_rec *pr = tf_find(in, nin, "perm");
    for (int b = 0; pr && b < B_; b++) perm[b] = (int32_t)((int64_t *)pr->data)[b];
    npid_stats ns;
    int rc = trainer_step_on(t, tf_find(in, nin, "x")->data, B_, tf_find(in, nin, "idx")->data,
                             pr ? perm : NULL, pr ? cfg[C_LAM] : 1, cfg[C_LR], &ns, &err);
    snprintf(name, sizeof name, "step %s: step runs", which);
    T_EQ(rc, 0, name);
    const float *want;
    snprintf(name, sizeof name, "step %s: loss", which);
    T_NEAR(ns.loss, *(float *)tf_find(out, nout, "loss")->data, 1e-5, 1e-4, name);
    snprintf(name, sizeof name, "step %s: CE part", which);
    T_NEAR(ns.ce, *(float *)tf_find(out, nout, "ce")->data, 1e-5, 1e-4, name);
    if (cfg[C_LAMBDA] > 0) {      /* with lambda 0 the library need not compute it */
        snprintf(name, sizeof name, "step %s: SqrtKL part", which);
        T_NEAR(ns.kl, *(float *)tf_find(out, nout, "kl")->data, 1e-6, 1e-3, name);
    }
    want = tf_find(out, nout, "bank")->data;
    snprintf(name, sizeof name, "step %s: bank after the write", which);
    T_ALLCLOSE(ck.bank, want, (size_t)N_ * ck.d, 1e-5, 1e-4, name);
    double worst_p = 0, worst_m = 0;
    char wp[200] = "", wm[200] = "";
    for (int i = 0; i < net_ntensors(ck.net); i++) {
        net_tensor *x = net_tensor_at(ck.net, i);
        tf_rec *r = tf_find(out, nout, x->name);
        if (!r) { worst_p = INFINITY; snprintf(wp, sizeof wp, "%s missing", x->name); continue; }
        double m, e;
        if (x->is_buffer) {
            m = max_abs(r->data, r->numel);
            e = t_max_err(x->data, r->data, (size_t)x->numel, 1e-5 * m + 1e-12, 1e-4, NULL);
        } else {
            /* Parameters: compare the updates (after - before), whose size
             * is lr * v, not the weights themselves. */
            const float *p0 = tf_find(in, nin, x->name)->data;
            float *dc = malloc(x->numel * sizeof *dc), *dt = malloc(x->numel * sizeof *dt);
            for (int64_t k = 0; k < x->numel; k++)
                dc[k] = x->data[k] - p0[k], dt[k] = ((float *)r->data)[k] - p0[k];
            m = max_abs(dt, x->numel);
            e = t_max_err(dc, dt, (size_t)x->numel, 1e-4 * m + 1e-12, 1e-3, NULL);
            free(dc), free(dt);
        }
        if (!(e <= worst_p)) worst_p = e, snprintf(wp, sizeof wp, "%s", x->name);
        if (!x->mom) continue;
        char mname[200];
        snprintf(mname, sizeof mname, "mom.%s", x->name);
        if (!(r = tf_find(out, nout, mname))) continue;
        m = max_abs(r->data, r->numel);
        e = t_max_err(x->mom, r->data, (size_t)x->numel, 1e-4 * m + 1e-12, 1e-3, NULL);
        if (!(e <= worst_m)) worst_m = e, snprintf(wm, sizeof wm, "%s", x->name);
    }
    printf("# step %s: worst parameter-update/BN-statistics error %.3g x tolerance (%s), "
           "momentum %.3g x tolerance (%s)\n", which, worst_p, wp, worst_m, wm);
    snprintf(name, sizeof name, "step %s: parameter updates and BN running statistics", which);
    t_report(worst_p <= 1, name, "%s: %.3g x tolerance", wp, worst_p);
    snprintf(name, sizeof name, "step %s: momentum buffers after SGD", which);
    t_report(worst_m <= 1, name, "%s: %.3g x tolerance", wm, worst_m);
    trainer_free(t);
    ckpt_destroy(&ck);
    free(d.images), free(d.labels);
    tf_free(in, nin), tf_free(out, nout);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--gen-step-input"))
        return gen_one(argv[2], "paper") || gen_one(argv[2], "npid") || gen_one(argv[2], "mnv3s");
    ssl_set_threads(2);
    check_case("paper");
    check_case("npid");
    check_case("mnv3s");
    return t_done();
}
