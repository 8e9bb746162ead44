/* test_train.c: the training library (lib/run/train.h).
 *
 *  - configuration: recipe defaults, value-map round trip, critical keys;
 *  - the forward-initialised bank equals the L2-normalised features that
 *    the same network gives for the same augmented batches (shuffled order,
 *    padded last batch), and every row is filled;
 *  - resume equivalence, bit for bit: 2 epochs in one run equal 1 epoch +
 *    save/load + 1 epoch, and a stop in the middle of an epoch;
 *  - a NaN stops a step with an error and leaves the bank unchanged;
 *  - learning: one batch of 32 synthetic images, both recipes (crop and
 *    flip only, no CutMix): the loss falls and the instance accuracy rises.
 * Helper modes (not run by the suite): --write-dataset FILE N SIZE C
 * writes a synthetic dataset stream for the shell tests;
 * --write-mismatched-ckpt DATA FILE a checkpoint whose configuration names
 * another architecture than its tensors; --compare-features A B TOL exits
 * 0 when the features streams A and B have the same shape and
 * max |a - b| <= TOL max |b| (tests/cli/precision.sh); --ckpt-diff A B the
 * largest differences between two checkpoints' banks and tensors. The step
 * fixture against PyTorch is tests/test_step.c. */
#include "t.h"
#include "train_fixture.h"

#include <unistd.h>

#include "run/ckpt.h"
#include "util/threads.h"
#include "run/train.h"

/* The SqrtKL variant keys: defaults, checks, the npid mapping, and
 * checkpoints written before the keys existed (absent = default). */
static void kl_config_tests(void) {
    train_config c;
    ssl_err err = {0};
    npid_config n;
    train_config_default(&c, "paper", 32, 32);
    T_OK(c.kl_keepgrad == 0 && c.kl_reverse == 1 && !strcmp(c.kl_terms, "both"),
         "config: SqrtKL variant defaults (no keepgrad, reverse, both terms)");
    train_npid_config(&c, &n);
    T_OK(!n.kl_keepgrad && !n.kl_forward && n.kl_terms == KL_TERMS_BOTH, "config: default npid variant");
    sv *now = train_config_to_sv(&c), *old = sv_map();
    for (size_t i = 0; i < sv_len(now); i++)
        if (strncmp(sv_key(now, i), "kl_", 3)) sv_set(old, sv_key(now, i), sv_copy(sv_at(now, i)));
    T_OK(!sv_get(old, "kl_keepgrad"), "config: a map without the SqrtKL keys (older checkpoint)");
    T_EQ(train_config_compare(old, now, &err), 0, "config: absent SqrtKL keys compare as the defaults");
    train_config o;
    train_config_default(&o, "paper", 32, 32);
    T_OK(train_config_apply(&o, old, &err) == 0 && o.kl_reverse == 1 && !strcmp(o.kl_terms, "both"),
         "config: an older map applies, defaults kept");
    c.kl_keepgrad = 1;
    sv_free(now);
    now = train_config_to_sv(&c);
    T_OK(train_config_compare(old, now, &err) < 0 && strstr(err.msg, "--kl-keepgrad: 0 in the checkpoint, 1 now"),
         "config: keepgrad against an older checkpoint is refused, naming --kl-keepgrad");
    c.kl_keepgrad = 0, c.kl_reverse = 0;
    sv_free(now);
    now = train_config_to_sv(&c);
    T_OK(train_config_compare(old, now, &err) < 0 && strstr(err.msg, "--kl-forward"),
         "config: a changed direction is refused, naming --kl-forward");
    train_npid_config(&c, &n);
    T_OK(n.kl_forward == 1, "config: kl_reverse 0 is the forward direction");
    c.kl_reverse = 1;
    snprintf(c.kl_terms, sizeof c.kl_terms, "l1");
    T_OK(train_config_check(&c, &err) < 0 && strstr(err.msg, "--kl-terms") &&
         strstr(err.msg, "--kl-keepgrad"), "config: l1 without keepgrad refused, naming the flags");
    c.kl_keepgrad = 1;
    T_EQ(train_config_check(&c, &err), 0, "config: l1 with keepgrad accepted");
    train_npid_config(&c, &n);
    T_OK(n.kl_keepgrad == 1 && n.kl_terms == KL_TERMS_L1, "config: l1 with keepgrad mapped");
    c.kl_reverse = 0;
    T_OK(train_config_check(&c, &err) < 0 && strstr(err.msg, "--kl-terms"),
         "config: l1 in the forward direction refused");
    snprintf(c.kl_terms, sizeof c.kl_terms, "l3");
    T_OK(train_config_check(&c, &err) < 0 && strstr(err.msg, "'l3'"), "config: unknown kl_terms refused");
    sv_free(now), sv_free(old);
}

static int config_tests(void) {
    train_config p, n, q;
    ssl_err err = {0};
    T_EQ(train_config_default(&p, "paper", 32, 32), 0, "config: paper defaults");
    T_EQ(train_config_default(&n, "npid", 32, 32), 0, "config: npid defaults");
    T_OK(train_config_default(&q, "simclr", 32, 32) < 0, "config: unknown recipe refused");
    T_OK(!strcmp(p.negatives, "k") && p.k_negatives == 10000 && p.tau == 0.2 &&
         !strcmp(p.bank_write, "grad") && p.lambda == 20 && p.cutmix == 0.5 && p.batch == 512 &&
         p.lr == 1.0 && p.wd == 1e-4 && !strcmp(p.schedule, "cosine") && p.flip == 0.5,
         "config: paper recipe matches ssl-method(7) RECIPES");
    T_OK(!strcmp(n.negatives, "all") && n.tau == 0.1 && !strcmp(n.bank_write, "npid") &&
         n.lambda == 0 && n.cutmix == 0 && n.batch == 128 && n.lr == 0.03 && n.wd == 5e-4 &&
         !strcmp(n.schedule, "step") && n.nmilestones == 2 && n.milestones[1] == 160 && n.flip == 0,
         "config: npid recipe matches ssl-method(7) RECIPES");
    T_EQ(train_config_check(&p, &err), 0, "config: paper passes checks");
    sv *m = train_config_to_sv(&p);
    train_config r;
    train_config_default(&r, "npid", 32, 32);
    T_EQ(train_config_apply(&r, m, &err), 0, "config: apply a full map");
    sv *m2 = train_config_to_sv(&r);
    T_OK(sv_equal(m, m2), "config: to_sv/apply round trip");
    T_EQ(train_config_compare(m, m2, &err), 0, "config: equal maps compare equal");
    sv *ov = sv_map();
    sv_set(ov, "epochs", sv_int(7));
    train_config_apply(&r, ov, &err);
    sv_free(m2);
    m2 = train_config_to_sv(&r);
    T_EQ(train_config_compare(m, m2, &err), 0, "config: epochs is not critical");
    sv_set(ov, "tau", sv_float(0.1));
    train_config_apply(&r, ov, &err);
    sv_free(m2);
    m2 = train_config_to_sv(&r);
    T_OK(train_config_compare(m, m2, &err) < 0 && strstr(err.msg, "--tau"),
         "config: a changed tau is refused, naming --tau");
    sv_free(ov);
    ov = sv_map();
    sv_set(ov, "bank_momentum", sv_float(0.8));
    train_config_apply(&r, ov, &err);
    T_NEAR(r.bank_lr, 0.25, 1e-12, 0, "config: bank_lr follows bank_momentum");
    sv_set(ov, "no_such_key", sv_int(1));
    T_OK(train_config_apply(&r, ov, &err) < 0 && strstr(err.msg, "no_such_key"),
         "config: unknown key refused");
    r.tau = -1;
    T_OK(train_config_check(&r, &err) < 0 && strstr(err.msg, "--tau"), "config: bad tau named");
    sv_free(ov), sv_free(m), sv_free(m2);
    kl_config_tests();
    return 0;
}

static void bank_forward_tests(void) {
    ssl_dataset d;
    tf_make_dataset(&d, 10, 1, 28, 28, 3, 5);
    net_config nc = tf_net_config(1, 28, 28, 0.125f, "mlp3", 32, 16);
    ssl_err err = {0};
    net *a = net_new(&nc, 4, &err), *b = net_new(&nc, 4, &err);
    net_init(a, 11);
    net_init(b, 11);
    train_config tc;
    train_config_default(&tc, "paper", 28, 28);
    aug_config aug;
    train_aug_config(&tc, 28, 28, &aug);
    int dim = net_out_dim(a);
    float *bank = calloc((size_t)d.n * dim, sizeof *bank);
    T_EQ(train_bank_forward(a, &d, &aug, d.mean, d.std, 4, 3, bank, 0, NULL, NULL, &err), 0, "bank: forward pass");
    /* Recompute by hand: same order, same padding, same augmentation. */
    int64_t order[10], idx[4];
    train_order(order, 10, 3, TRAIN_INIT_EPOCH);
    int sorted = 1;
    for (int i = 1; i < 10; i++) sorted &= order[i] > order[i - 1];
    T_OK(!sorted, "bank: the pass order is shuffled");
    float *x = malloc(sizeof(float) * 4 * 28 * 28);
    float *want = calloc((size_t)d.n * dim, sizeof *want);
    for (int s = 0; s < 10; s += 4) {
        int cnt = 10 - s < 4 ? 10 - s : 4;
        for (int j = 0; j < 4; j++) idx[j] = j < cnt ? order[s + j] : order[j - cnt];
        augment_batch(&aug, d.images, idx, 4, 1, 28, 28, d.mean, d.std, 3, TRAIN_INIT_EPOCH, x);
        net_forward(b, x, 4, 1);
        const float *o = net_output(b);
        for (int j = 0; j < cnt; j++) {
            double s2 = 0;
            for (int k = 0; k < dim; k++) s2 += (double)o[j * dim + k] * o[j * dim + k];
            for (int k = 0; k < dim; k++)
                want[idx[j] * dim + k] = (float)(o[j * dim + k] / sqrt(s2));
        }
    }
    T_ALLCLOSE(bank, want, (size_t)d.n * dim, 1e-6, 1e-5, "bank: rows = normalised features of the same augmented batches");
    int unit = 1;
    for (int i = 0; i < d.n; i++) {
        double s2 = 0;
        for (int k = 0; k < dim; k++) s2 += (double)bank[i * dim + k] * bank[i * dim + k];
        unit &= fabs(s2 - 1) < 1e-4;
    }
    T_OK(unit, "bank: every row filled and unit length (last batch padded)");
    net_tensor *ra = net_find(a, "backbone.bn1.running_mean"), *rb = net_find(b, "backbone.bn1.running_mean");
    T_OK(ra && rb && !memcmp(ra->data, rb->data, ra->numel * sizeof(float)),
         "bank: the pass updates BN running statistics as the same forwards do");
    int moved = 0;
    for (int k = 0; ra && k < ra->numel; k++) moved |= ra->data[k] != 0;
    T_OK(moved, "bank: BN running mean moved from its initial zero");
    free(x), free(want), free(bank);
    net_free(a), net_free(b);
    tf_free_dataset(&d);
}

/* A small training setup: checkpoint with a forward bank, dataset d. */
static void setup_net(ssl_ckpt *ck, const ssl_dataset *d, const train_config *tc, uint64_t seed,
                      int hidden, int dim) {
    ssl_err err = {0};
    memset(ck, 0, sizeof *ck);
    net_config nc = tf_net_config(1, 28, 28, 0.125f, "mlp3", hidden, dim);
    ck->net = net_new(&nc, (int)tc->batch, &err);
    net_init(ck->net, seed);
    ck->n = d->n, ck->d = net_out_dim(ck->net), ck->seed = seed;
    ck->bank = calloc((size_t)d->n * ck->d, sizeof(float));
    ck->bank_labels = malloc((size_t)d->n * sizeof(int32_t));
    memcpy(ck->bank_labels, d->labels, (size_t)d->n * sizeof(int32_t));
    ck->config = sv_map();
    sv_set(ck->config, "net", net_config_to_sv(&nc));
    sv_set(ck->config, "data", train_data_sv(d));
    aug_config aug;
    train_aug_config(tc, 28, 28, &aug);
    train_bank_forward(ck->net, d, &aug, d->mean, d->std, (int)tc->batch, seed, ck->bank, 0, NULL, NULL, &err);
}

static void setup(ssl_ckpt *ck, const ssl_dataset *d, const train_config *tc, uint64_t seed) {
    setup_net(ck, d, tc, seed, 32, 16);
}

static int same_state(ssl_ckpt *a, ssl_ckpt *b) {
    int same = a->step == b->step && !memcmp(a->bank, b->bank, (size_t)a->n * a->d * sizeof(float));
    for (int i = 0; i < net_ntensors(a->net); i++) {
        net_tensor *x = net_tensor_at(a->net, i), *y = net_tensor_at(b->net, i);
        same &= !memcmp(x->data, y->data, x->numel * sizeof(float));
        if (!x->is_buffer) same &= !memcmp(x->mom, y->mom, x->numel * sizeof(float));
    }
    return same;
}

static int run_to(ssl_ckpt *ck, const ssl_dataset *d, train_config tc, int64_t epochs,
                  int64_t max_steps) {
    ssl_err err = {0};
    tc.epochs = epochs;
    trainer *t = trainer_new(ck, d, &tc, ck->seed, &err);
    if (!t) return printf("trainer_new: %s\n", err.msg), -1;
    train_hooks h = {.max_steps = max_steps};
    train_status st;
    int rc = train_run(t, &h, &st, &err);
    if (rc < 0) printf("train_run: %s\n", err.msg);
    trainer_free(t);
    return rc;
}

static void resume_tests(void) {
    ssl_dataset d;
    tf_make_dataset(&d, 12, 1, 28, 28, 3, 6);
    train_config tc;
    train_config_default(&tc, "paper", 28, 28);
    tc.batch = 4, tc.k_negatives = 5, tc.lr = 0.1;
    ssl_ckpt a, b, c, b2;
    setup(&a, &d, &tc, 21), setup(&b, &d, &tc, 21), setup(&c, &d, &tc, 21);
    T_OK(same_state(&a, &b), "resume: identical starting checkpoints");
    T_EQ(run_to(&a, &d, tc, 2, -1), 0, "resume: 2 epochs in one run");
    T_EQ(a.step, 6, "resume: 2 epochs of floor(12/4) steps");
    T_EQ(run_to(&b, &d, tc, 1, -1), 0, "resume: first epoch");
    char path[256];
    ssl_err err = {0};
    snprintf(path, sizeof path, "%s/resume.ckpt", getenv("SSL_TEST_TMP") ? getenv("SSL_TEST_TMP") : "/tmp");
    T_EQ(ckpt_save(&b, path, "test", &err), 0, "resume: save after epoch 1");
    T_EQ(ckpt_load(&b2, path, 4, CKPT_LOAD_ALL, &err), 0, "resume: load");
    T_EQ(b2.step, 3, "resume: loaded step");
    T_EQ(b2.epoch, 1, "resume: loaded epoch");
    T_EQ(run_to(&b2, &d, tc, 2, -1), 0, "resume: continue to epoch 2");
    T_OK(same_state(&a, &b2), "resume: 2 epochs == 1 epoch + save/load + 1 epoch, bit for bit");
    T_OK(!same_state(&b, &b2), "resume: the second epoch changed the state");
    /* A stop in the middle of epoch 0 (data order position). */
    T_EQ(run_to(&c, &d, tc, 2, 2), 1, "resume: stop after 2 steps");
    ssl_ckpt c2;
    ckpt_save(&c, path, "test", &err);
    T_EQ(ckpt_load(&c2, path, 4, CKPT_LOAD_ALL, &err), 0, "resume: load mid-epoch");
    T_EQ(run_to(&c2, &d, tc, 2, -1), 0, "resume: continue from mid-epoch");
    T_OK(same_state(&a, &c2), "resume: mid-epoch stop + resume equals the straight run");
    unlink(path);
    ckpt_destroy(&a), ckpt_destroy(&b), ckpt_destroy(&b2), ckpt_destroy(&c), ckpt_destroy(&c2);
    tf_free_dataset(&d);
}

static void nan_tests(void) {
    ssl_dataset d;
    tf_make_dataset(&d, 8, 1, 28, 28, 2, 7);
    train_config tc;
    train_config_default(&tc, "paper", 28, 28);
    tc.batch = 4, tc.k_negatives = 4;
    ssl_ckpt ck;
    setup(&ck, &d, &tc, 3);
    ssl_err err = {0};
    trainer *t = trainer_new(&ck, &d, &tc, 3, &err);
    size_t bs = (size_t)d.n * ck.d * sizeof(float);
    float *before = malloc(bs);
    memcpy(before, ck.bank, bs);
    float *x = calloc(4 * 28 * 28, sizeof *x);
    for (int i = 0; i < 4 * 28 * 28; i++) x[i] = (float)((i * 37) % 11) / 11;
    int64_t idx[4] = {0, 1, 2, 3};
    npid_stats ns;
    /* A NaN weight in the last head layer makes the loss NaN. */
    net_tensor *hw = net_find(ck.net, "head.6.weight");
    float keep = hw->data[3];
    hw->data[3] = NAN;
    T_OK(trainer_step_on(t, x, 4, idx, NULL, 1, 0.1, &ns, &err) < 0 && strstr(err.msg, "loss is not finite"),
         "nan: a NaN loss stops the step with 'loss is not finite'");
    T_OK(!memcmp(before, ck.bank, bs), "nan: the bank is left unchanged");
    hw->data[3] = keep;
    /* A NaN in the input stops the step too (at the loss or the gradient). */
    x[5] = NAN;
    T_OK(trainer_step_on(t, x, 4, idx, NULL, 1, 0.1, &ns, &err) < 0 && strstr(err.msg, "not finite"),
         "nan: a NaN input stops the step");
    trainer_free(t);
    free(x), free(before);
    ckpt_destroy(&ck);
    tf_free_dataset(&d);
}

/* Learning on one batch (REFERENCE.md section 3, synthetic images here;
 * the Fashion-MNIST version runs from the shell in tests/cli/train_learn.sh). */
static void learning_tests(const char *recipe) {
    ssl_dataset d;
    tf_make_dataset(&d, 32, 1, 28, 28, 8, 9);
    train_config tc;
    train_config_default(&tc, recipe, 28, 28);
    tc.batch = 32;
    if (!strcmp(tc.negatives, "k")) snprintf(tc.negatives, sizeof tc.negatives, "0");
    tc.epochs = 30;
    /* Crop and flip only, as in REFERENCE.md sections 2-3 (the colour
     * jitter of the recipes makes one batch of grey images far harder). */
    tc.jitter = 0, tc.gray = 0;
    tc.lr = !strcmp(recipe, "paper") ? 0.1 : 0.03;
    snprintf(tc.schedule, sizeof tc.schedule, "constant");
    ssl_ckpt ck;
    /* CutMix off here: it overwrites the random rectangles that tell
     * these synthetic images apart (with CutMix the paper recipe learns
     * on Fashion-MNIST: tests/cli/train_learn.sh). */
    tc.cutmix = 0;
    setup_net(&ck, &d, &tc, 4, 128, 128);
    if (!strcmp(recipe, "npid")) npid_bank_random(ck.bank, d.n, ck.d, 4);
    char name[96];
    ssl_err err = {0};
    trainer *t = trainer_new(&ck, &d, &tc, 4, &err);
    train_status st;
    memset(&st, 0, sizeof st);
    double l0 = 0, a0 = 0, l1 = 0, a1 = 0;
    int ok = 1;
    for (int s = 0; s < 30 && ok; s++) {
        ok = !trainer_step(t, &st, &err);
        if (s < 3) l0 += st.ce / 3, a0 += st.inst_acc / 3;
        if (s >= 27) l1 += st.ce / 3, a1 += st.inst_acc / 3;
    }
    printf("# %s: CE %.3f -> %.3f, instance accuracy %.3f -> %.3f over 30 steps\n", recipe, l0,
           l1, a0, a1);
    snprintf(name, sizeof name, "learn %s: 30 steps run", recipe);
    T_OK(ok, name);
    snprintf(name, sizeof name, "learn %s: CE falls by a fifth", recipe);
    T_OK(l1 < 0.8 * l0, name);
    snprintf(name, sizeof name, "learn %s: instance accuracy rises by 0.15", recipe);
    T_OK(a1 > a0 + 0.15, name);
    trainer_free(t);
    ckpt_destroy(&ck);
    tf_free_dataset(&d);
}

/* A checkpoint of a mobilenetv3s (width 0.25, linear head of 16) for
 * the dataset at dpath, whose configuration says mobilenetv2: for the
 * shell tests of its refusal. */
static int write_mismatched(const char *dpath, const char *path) {
    ssl_err err = {0};
    ssl_ckpt c;
    ssl_dataset d;
    memset(&c, 0, sizeof c);
    if (dataset_load(&d, dpath, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    net_config nc = tf_net_config(d.c, d.h, d.w, 0.25f, "linear", 0, 16);
    snprintf(nc.arch, sizeof nc.arch, "mobilenetv3s");
    if (!(c.net = net_new(&nc, 1, &err))) return fprintf(stderr, "%s\n", err.msg), 1;
    net_init(c.net, 1);
    c.n = d.n, c.d = 16;
    c.bank = calloc((size_t)c.n * c.d, sizeof(float));
    c.bank_labels = calloc((size_t)c.n, sizeof(int32_t));
    c.config = sv_map();
    snprintf(nc.arch, sizeof nc.arch, "mobilenetv2");
    sv_set(c.config, "net", net_config_to_sv(&nc));
    sv_set(c.config, "data", train_data_sv(&d));
    int rc = ckpt_save(&c, path, "test_train", &err);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    ckpt_destroy(&c);
    dataset_destroy(&d);
    return rc ? 1 : 0;
}

static int compare_features(char **argv) {
    ssl_features a, b;
    ssl_err err;
    if (features_load(&a, argv[2], &err) || features_load(&b, argv[3], &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double tol = atof(argv[4]), dmax = 0, bmax = 0;
    int same = a.n == b.n && a.dim == b.dim;
    for (int64_t i = 0; same && i < a.n * a.dim; i++) {
        double d = fabs((double)a.x[i] - b.x[i]);
        if (!(d <= dmax)) dmax = d;
        if (fabs(b.x[i]) > bmax) bmax = fabs(b.x[i]);
    }
    fprintf(stderr, "max |a - b| %.3g, max |b| %.3g, ratio %.3g (tolerance %g)\n", dmax, bmax,
            bmax > 0 ? dmax / bmax : dmax, tol);
    int ok = same && dmax <= tol * bmax;
    features_destroy(&a);
    features_destroy(&b);
    return ok ? 0 : 1;
}

/* --ckpt-diff A B: "bank X params Y", the largest absolute differences
 * between two checkpoints' banks and between their network tensors
 * (parameters and buffers) for tests/cli/mpi.sh; exit 1 when they cannot
 * be compared. */
static int ckpt_diff(const char *a, const char *b) {
    ssl_ckpt x, y;
    ssl_err err;
    if (ckpt_load(&x, a, 1, CKPT_LOAD_ALL, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    if (ckpt_load(&y, b, 1, CKPT_LOAD_ALL, &err)) { fprintf(stderr, "%s\n", err.msg); ckpt_destroy(&x); return 1; }
    int rc = 1;
    if (x.n == y.n && x.d == y.d && net_ntensors(x.net) == net_ntensors(y.net)) {
        double db = 0, dp = 0;
        for (int64_t i = 0; i < x.n * x.d; i++) db = fmax(db, fabs(x.bank[i] - y.bank[i]));
        rc = 0;
        for (int i = 0; i < net_ntensors(x.net); i++) {
            net_tensor *s = net_tensor_at(x.net, i), *t = net_tensor_at(y.net, i);
            if (s->numel != t->numel) rc = 1;
            for (int64_t k = 0; !rc && k < s->numel; k++) dp = fmax(dp, fabs(s->data[k] - t->data[k]));
        }
        printf("bank %.3g params %.3g\n", db, dp);
    }
    ckpt_destroy(&x);
    ckpt_destroy(&y);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--ckpt-diff")) return ckpt_diff(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "--write-mismatched-ckpt"))
        return write_mismatched(argv[2], argv[3]);
    if (argc == 6 && !strcmp(argv[1], "--write-dataset")) {
        ssl_dataset d;
        int size = atoi(argv[4]);
        tf_make_dataset(&d, atoll(argv[3]), atoi(argv[5]), size, size, 10, 1);
        int rc = tf_write_dataset(&d, argv[2]);
        tf_free_dataset(&d);
        return rc ? 1 : 0;
    }
    if (argc == 5 && !strcmp(argv[1], "--compare-features")) return compare_features(argv);
    ssl_set_threads(2);
    config_tests();
    bank_forward_tests();
    resume_tests();
    nan_tests();
    learning_tests("paper");
    learning_tests("npid");
    return t_done();
}
