/* test_run.c: the decisions of lib/run/run.c, called as the tools call
 * them: defaults and clips reported through the notice callback, which
 * failures are the flags' (SSL_EARG) and which the data's, the resume
 * checks, and that the library's checkpoint equals one made in two runs
 * (init + train) whatever the path. */
#include <unistd.h>

#include "run/run.h"
#include "util/threads.h"
#include "t.h"
#include "train_fixture.h"

typedef struct { int n, lr; char first[SSL_ERRLEN], last[SSL_ERRLEN]; } notes;

static void on_notice(void *ctx, const char *msg) {
    notes *nt = ctx;
    nt->lr += strstr(msg, "--lr") != NULL;
    if (!nt->n++) snprintf(nt->first, sizeof nt->first, "%s", msg);
    snprintf(nt->last, sizeof nt->last, "%s", msg);
}

static int saves_n;
static int64_t saves_step[16];

static void on_save(void *ctx, const char *path, int64_t step) {
    (void)ctx, (void)path;
    if (saves_n < 16) saves_step[saves_n] = step;
    saves_n++;
}

static int same_file(const char *a, const char *b) {
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int same = f && g, x;
    while (same && (x = fgetc(f)) != EOF) same = fgetc(g) == x;
    if (same) same = fgetc(g) == EOF;
    if (f) fclose(f);
    if (g) fclose(g);
    return same;
}

static char tmpdir[256];

/* A path in the test's folder; each call gets its own string, which lives
 * until the process ends. */
static const char *tmp(const char *name) {
    static char pool[64][512];
    static int used;
    if (used == 64) abort();   /* the test asks for fewer */
    snprintf(pool[used], sizeof pool[used], "%s/%s", tmpdir, name);
    return pool[used++];
}

int main(void) {
    const char *t = getenv("SSL_TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s", t ? t : "/tmp");
    snprintf(tmpdir + strlen(tmpdir), sizeof tmpdir - strlen(tmpdir), "/test_run.%d", (int)getpid());
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmpdir);
    if (system(cmd)) return 1;
    ssl_set_threads(2);
    ssl_dataset d;
    tf_make_dataset(&d, 24, 1, 28, 28, 4, 7);
    if (tf_write_dataset(&d, tmp("d.sslt"))) return 1;

    /* ---- init ---- */
    notes nt = {0};
    run_report rep = {.ctx = &nt, .notice = on_notice};
    run_init_opts o;
    run_init_opts_default(&o);
    o.width = 0.0625;
    o.hidden = 32;
    o.dim = 16;
    o.seed = 3;
    ssl_ckpt ck;
    ssl_err err = {0};
    double secs;
    T_EQ(run_init_bank(&o, &d, "d.sslt", &rep, &ck, &secs, &err), 0, "init: paper recipe");
    T_EQ(nt.n, 1, "init: one notice");
    T_OK(strstr(nt.last, "--batch 512 clipped to the 24 images of d.sslt") != NULL,
         "init: the recipe's batch 512 is clipped to N, and the notice says so");
    T_EQ(sv_get_int(sv_get(ck.config, "init"), "batch", 0), 24, "init: the clipped batch is recorded");
    T_OK(!strcmp(sv_get_str(sv_get(ck.config, "init"), "bank", ""), "forward") &&
         !strcmp(net_get_config(ck.net)->head, "mlp3"), "init: paper's forward bank and mlp3 head");
    T_EQ(ckpt_save(&ck, tmp("init.ckpt"), "test", &err), 0, "init: saved");
    ckpt_destroy(&ck);

    o.recipe = "npid";
    o.batch = 8;
    nt.n = 0;
    T_EQ(run_init_bank(&o, &d, "d.sslt", &rep, &ck, &secs, &err), 0, "init: npid recipe");
    T_OK(nt.n == 0 && !strcmp(sv_get_str(sv_get(ck.config, "init"), "bank", ""), "random") &&
         !strcmp(net_get_config(ck.net)->head, "linear") && ck.d == 16,
         "init: npid's random bank and linear head, no notice for a batch that fits");
    ckpt_destroy(&ck);
    o.recipe = "simclr";
    T_EQ(run_init_bank(&o, &d, "d.sslt", &rep, &ck, &secs, &err), -1, "init: unknown recipe refused");
    T_OK(err.code == SSL_EARG && strstr(err.msg, "simclr"), "init: ... as the flags' mistake, named");
    o.recipe = "paper";
    o.width = 100;
    T_EQ(run_init_bank(&o, &d, "d.sslt", &rep, &ck, &secs, &err), -1, "init: absurd width refused");
    T_OK(err.code == SSL_EARG && strstr(err.msg, "invalid network: width"), "init: ... with the reason");

    /* ---- train ---- */
    sv *flags = sv_map();
    sv_set(flags, "epochs", sv_int(1));
    sv_set(flags, "k_negatives", sv_int(1000));
    sv_set(flags, "batch", sv_int(8));
    run_train_opts to = {.ckpt = tmp("init.ckpt"), .data = tmp("d.sslt"), .out = tmp("a.ckpt"),
                         .flags = flags, .threads = 2, .max_steps = -1, .winograd = 1,
                         .created_by = "test", .report = rep};
    train_status st;
    nt.n = 0;
    T_EQ(run_train(&to, &st, &err), 0, "train: one epoch");
    T_OK(nt.n == 2 && strstr(nt.first, "--k-negatives 1000 clipped to 16 (N - batch)"),
         "train: k clipped to N - batch, with a notice");
    T_OK(strstr(nt.last, "--lr 0.015625: the paper recipe's 1 at batch 512, scaled linearly to "
                "batch 8"), "train: the recipe's lr scaled to the batch, with a notice");
    T_EQ(st.step, 3, "train: floor(24 / 8) steps");
    ssl_ckpt a;
    T_EQ(ckpt_load(&a, tmp("a.ckpt"), 8, CKPT_LOAD_ALL, &err), 0, "train: the checkpoint loads");
    T_EQ(sv_get_int(sv_get(a.config, "train"), "k_negatives", 0), 16, "train: the clipped k is recorded");
    T_OK(sv_get_float(sv_get(a.config, "train"), "lr", 0) == 1.0 * 8 / 512,
         "train: the scaled lr is recorded");
    T_EQ(a.seed, 3, "train: the seed of the starting checkpoint");
    ckpt_destroy(&a);

    /* resume with another seed, another critical setting, another dataset */
    sv_set(flags, "epochs", sv_int(2));
    to.ckpt = tmp("a.ckpt");
    to.out = tmp("b.ckpt");
    to.has_seed = 1, to.seed = 4;
    T_EQ(run_train(&to, &st, &err), -1, "resume: another seed refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "--seed: 3 in the checkpoint, 4 now"),
         "resume: ... as a conflict with the checkpoint, naming both seeds");
    to.has_seed = 0;
    sv_set(flags, "tau", sv_float(0.5));
    T_EQ(run_train(&to, &st, &err), -1, "resume: another tau refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "--tau"), "resume: ... naming --tau");
    sv_set(flags, "tau", sv_float(-1));
    T_EQ(run_train(&to, &st, &err), -1, "train: a negative tau refused");
    T_OK(err.code == SSL_EARG && strstr(err.msg, "--tau"), "train: ... as the flags' mistake");
    sv *f2 = sv_map();
    sv_set(f2, "epochs", sv_int(2));
    sv_set(f2, "batch", sv_int(8));
    to.flags = f2;
    ssl_dataset e;
    tf_make_dataset(&e, 24, 1, 28, 28, 3, 8);   /* other labels */
    tf_write_dataset(&e, tmp("e.sslt"));
    to.data = tmp("e.sslt");
    T_EQ(run_train(&to, &st, &err), -1, "resume: another dataset refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "e.sslt: "), "resume: ... naming the dataset");
    to.data = tmp("d.sslt");
    T_EQ(access(tmp("b.ckpt"), F_OK), -1, "resume: refused runs write no checkpoint");
    nt.n = 0;
    T_EQ(run_train(&to, &st, &err), 0, "resume: the second epoch");
    T_EQ(st.step, 6, "resume: steps continue");
    T_OK(nt.n == 1 && strstr(nt.last, "--epochs 2 on a run planned for 1 (now at epoch 1): the "
                             "cosine schedule is recomputed for 2 epochs, so epoch 2 runs at lr "
                             "0.0078125"), "resume: a changed cosine schedule gets a notice "
         "(and the stored lr no scaling)");

    /* nothing to do; --epochs 0 */
    nt.n = 0;
    to.ckpt = tmp("b.ckpt");
    to.out = tmp("b2.ckpt");
    T_EQ(run_train(&to, &st, &err), 0, "nothing to do: done");
    T_OK(nt.n == 1 && strstr(nt.last, "nothing to do: ") && strstr(nt.last, "b.ckpt is at epoch 2 "
         "(step 6) and --epochs is 2; nothing written") && access(tmp("b2.ckpt"), F_OK) == -1,
         "nothing to do: a notice, and nothing written");
    sv_set(f2, "epochs", sv_int(0));
    T_EQ(run_train(&to, &st, &err), -1, "--epochs 0 refused");
    T_OK(err.code == SSL_EARG && strstr(err.msg, "--epochs: must be in [1, "),
         "--epochs 0: ... as the flags' mistake");

    /* an explicit lr is taken as given; --keep-every */
    sv_set(f2, "epochs", sv_int(3));
    sv_set(f2, "lr", sv_float(0.25));
    to.ckpt = tmp("init.ckpt");
    to.out = tmp("k.ckpt");
    to.keep_every = 2;
    nt.lr = 0;
    T_EQ(run_train(&to, &st, &err), 0, "--keep-every 2: three epochs");
    T_OK(nt.lr == 0, "an explicit lr: no notice about it");
    T_OK(access(tmp("k.ckpt"), F_OK) == 0 && access(tmp("k.e0002.ckpt"), F_OK) == 0 &&
         access(tmp("k.e0001.ckpt"), F_OK) == -1 && access(tmp("k.e0003.ckpt"), F_OK) == -1,
         "--keep-every 2: the checkpoint of epoch 2 kept, no other");
    T_EQ(ckpt_load(&a, tmp("k.e0002.ckpt"), 8, CKPT_LOAD_ALL, &err), 0, "--keep-every: the kept copy loads");
    T_OK(a.epoch == 2 && a.step == 6 && sv_get_float(sv_get(a.config, "train"), "lr", 0) == 0.25,
         "--keep-every: the kept copy is at epoch 2, the lr as given");
    ckpt_destroy(&a);
    to.keep_every = 0;

    /* --ckpt-every-epochs 2 on those three epochs: written after epoch 2
     * and the last only, and the same bits as a run that wrote every
     * epoch; with --keep-every 1 every epoch is written again. */
    saves_n = 0;
    to.on_save = on_save;
    to.out = tmp("e2.ckpt");
    to.ckpt_every_epochs = 2;
    T_EQ(run_train(&to, &st, &err), 0, "--ckpt-every-epochs 2: three epochs");
    T_OK(saves_n == 2 && saves_step[0] == 6 && saves_step[1] == 9,
         "--ckpt-every-epochs 2: written at step 6 (epoch 2) and 9 (the last) only");
    T_OK(same_file(tmp("e2.ckpt"), tmp("k.ckpt")),
         "--ckpt-every-epochs 2: the same bytes as writing every epoch");
    saves_n = 0;
    to.keep_every = 1;
    to.out = tmp("e3.ckpt");
    T_EQ(run_train(&to, &st, &err), 0, "--ckpt-every-epochs 2 --keep-every 1");
    T_OK(saves_n == 6 && access(tmp("e3.e0001.ckpt"), F_OK) == 0,
         "--keep-every 1 wins: every epoch written and kept");
    saves_n = 0;
    to.keep_every = 0;
    to.out = tmp("e4.ckpt");
    to.max_steps = 4;
    T_EQ(run_train(&to, &st, &err), 1, "--ckpt-every-epochs 2 --max-steps 4: stopped early");
    T_OK(saves_n == 1 && saves_step[0] == 4, "--ckpt-every-epochs 2: a stop is written (step 4) "
         "and epoch 1 is not");
    to.max_steps = -1;
    to.ckpt_every_epochs = 0;
    to.on_save = NULL;
    char kp[64];
    T_OK(!run_keep_path(kp, sizeof kp, "run.ckpt", 5) && !strcmp(kp, "run.e0005.ckpt"),
         "keep path: before the extension");
    T_OK(!run_keep_path(kp, sizeof kp, "a.b/run", 12345) && !strcmp(kp, "a.b/run.e12345"),
         "keep path: appended without an extension, 5 digits past 9999");
    T_OK(!run_keep_path(kp, sizeof kp, "d/.ckpt", 1) && !strcmp(kp, "d/.ckpt.e0001"),
         "keep path: a dot file has no extension");
    T_EQ(run_keep_path(kp, 8, "run.ckpt", 5), -1, "keep path: too long for the buffer");

    /* ---- extract ---- */
    run_extract_opts eo = {.ckpt = tmp("b.ckpt"), .data = tmp("d.sslt"), .out = tmp("f.sslt"),
                           .batch = 5, .winograd = 1};
    run_extract_result er;
    T_EQ(run_extract(&eo, &er, &err), 0, "extract: backbone features");
    ssl_features f;
    T_EQ(features_load(&f, tmp("f.sslt"), &err), 0, "extract: the features load");
    T_OK(f.n == 24 && er.n == 24 && f.dim == er.dim && f.dim > 0 &&
         !memcmp(f.labels, d.labels, 24 * sizeof(int32_t)), "extract: every row, labels in order");
    features_destroy(&f);
    ssl_dataset big;
    tf_make_dataset(&big, 6, 1, 32, 32, 2, 1);
    tf_write_dataset(&big, tmp("big.sslt"));
    eo.data = tmp("big.sslt");
    eo.out = tmp("g.sslt");
    T_EQ(run_extract(&eo, &er, &err), -1, "extract: images of another size refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "expects 1x28x28") &&
         access(tmp("g.sslt"), F_OK) == -1, "extract: ... saying so, no output file");

    /* ---- an unlabelled dataset (no labels tensor) ---- */
    T_EQ(dataset_write(tmp("u.sslt"), 0, d.meta, d.n, d.c, d.h, d.w, d.images, NULL, &err), 0,
         "unlabelled: written");
    ssl_dataset u;
    T_EQ(dataset_load(&u, tmp("u.sslt"), &err), 0, "unlabelled: loads");
    o.recipe = "npid", o.width = 0.0625, o.batch = 8;
    T_EQ(run_init_bank(&o, &u, "u.sslt", &rep, &ck, &secs, &err), 0, "unlabelled: init");
    T_OK(ck.unlabelled && !ck.bank_labels &&
         !sv_get_bool(sv_get(ck.config, "data"), "labelled", 1) &&
         sv_get(sv_get(ck.config, "data"), "images_crc") &&
         !sv_get(sv_get(ck.config, "data"), "labels_crc"),
         "unlabelled: no bank labels; config.data says labelled false, with the images' CRC");
    T_EQ(ckpt_save(&ck, tmp("u0.ckpt"), "test", &err), 0, "unlabelled: saved");
    ckpt_destroy(&ck);
    T_EQ(ckpt_load(&a, tmp("u0.ckpt"), 8, CKPT_LOAD_ALL, &err), 0, "unlabelled: the checkpoint loads");
    T_OK(a.unlabelled && !a.bank_labels && a.bank && a.n == 24, "unlabelled: ... with a bank, no labels");
    ckpt_destroy(&a);
    sv_set(f2, "epochs", sv_int(1));
    run_train_opts uo = {.ckpt = tmp("u0.ckpt"), .data = tmp("u.sslt"), .out = tmp("u1.ckpt"),
                         .flags = f2, .threads = 2, .max_steps = -1, .winograd = 1,
                         .created_by = "test", .report = rep};
    T_EQ(run_train(&uo, &st, &err), 0, "unlabelled: one epoch of training");
    T_EQ(st.step, 3, "unlabelled: floor(24 / 8) steps");
    uo.out = tmp("u2.ckpt");
    uo.monitor = tmp("d.sslt");
    T_EQ(run_train(&uo, &st, &err), -1, "unlabelled: --monitor refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "--monitor: ") && strstr(err.msg, "u.sslt has no labels") &&
         strstr(err.msg, "training set"), "unlabelled: ... naming the training set");
    uo.monitor = NULL;
    uo.ckpt = tmp("a.ckpt");
    T_EQ(run_train(&uo, &st, &err), -1, "unlabelled: a labelled run's checkpoint refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "u.sslt: has no labels, but the checkpoint's "
         "bank was built from a labelled dataset"), "unlabelled: ... saying so");
    uo.ckpt = tmp("u1.ckpt");
    uo.data = tmp("d.sslt");
    T_EQ(run_train(&uo, &st, &err), -1, "unlabelled: its checkpoint refuses a labelled dataset");
    T_OK(strstr(err.msg, "d.sslt: has labels, but the checkpoint's bank was built from an "
         "unlabelled dataset") != NULL, "unlabelled: ... saying so");
    T_EQ(dataset_write(tmp("u3.sslt"), 0, e.meta, e.n, e.c, e.h, e.w, e.images, NULL, &err), 0,
         "unlabelled: other images written");
    uo.data = tmp("u3.sslt");
    T_EQ(run_train(&uo, &st, &err), -1, "unlabelled: other images of the same shape refused");
    T_OK(strstr(err.msg, "images differ from those of the checkpoint's bank") != NULL,
         "unlabelled: ... by the images' CRC");
    uo.ckpt = tmp("a.ckpt");
    uo.data = tmp("d.sslt");
    uo.monitor = tmp("u.sslt");
    T_EQ(run_train(&uo, &st, &err), -1, "labelled: an unlabelled --monitor set refused");
    T_OK(err.code == SSL_EDATA && strstr(err.msg, "--monitor: ") && strstr(err.msg, "u.sslt has no labels") &&
         strstr(err.msg, "test set"), "labelled: ... naming the test set");
    eo.ckpt = tmp("u1.ckpt"), eo.data = tmp("u.sslt"), eo.out = tmp("uf.sslt");
    T_EQ(run_extract(&eo, &er, &err), 0, "unlabelled: extract");
    T_EQ(features_load(&f, tmp("uf.sslt"), &err), 0, "unlabelled: the features load");
    T_OK(f.n == 24 && !f.labelled && !f.labels && !f.classes, "unlabelled: features without labels");
    features_destroy(&f);
    dataset_destroy(&u);

    sv_free(flags);
    sv_free(f2);
    tf_free_dataset(&d);
    tf_free_dataset(&e);
    tf_free_dataset(&big);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) return 1;
    return t_done();
}
