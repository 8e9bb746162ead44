/* test_ckpt.c: checkpoint save/load (lib/run/ckpt.h).
 *
 * Round trip of every tensor, momentum buffer, the bank and its labels,
 * epoch/step/seed and the configuration, bit for bit; loading without the
 * bank and momentum; identical bytes for identical state; and the errors:
 * a stream of another kind, a tensor whose shape disagrees with the
 * configured network (named, with both shapes), an unexpected tensor, a
 * missing file, a truncated file, an unwritable path; MobileNets: the
 * round trip, and tensors of another architecture or width than the
 * configuration says; reading the network alone (the bank and momentum
 * skipped without decompression, the head too for the backbone's
 * features); a bank of 12.8 MB, read with huge pages on and off. */
#include "t.h"
#include "train_fixture.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "run/ckpt.h"
#include "ssl/npid.h"
#include "util/mem.h"
#include "util/threads.h"

static char tmpdir[512];

static const char *tmp(const char *name) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static void make_ckpt(ssl_ckpt *c, const char *head, int dim) {
    ssl_err err = {0};
    memset(c, 0, sizeof *c);
    net_config nc = tf_net_config(1, 28, 28, 0.125f, head, 32, dim);
    c->net = net_new(&nc, 2, &err);
    net_init(c->net, 5);
    rng r;
    rng_init(&r, 1, 2, 3);
    for (int i = 0; i < net_ntensors(c->net); i++) {
        net_tensor *t = net_tensor_at(c->net, i);
        for (int64_t k = 0; k < t->numel; k++) {
            if (t->is_buffer) t->data[k] = rng_uniform(&r);
            if (t->mom) t->mom[k] = (float)rng_normal(&r);
        }
    }
    c->n = 7;
    c->d = net_out_dim(c->net);
    c->bank = malloc(sizeof(float) * c->n * c->d);
    c->bank_labels = malloc(sizeof(int32_t) * c->n);
    npid_bank_random(c->bank, c->n, c->d, 3);
    for (int i = 0; i < c->n; i++) c->bank_labels[i] = i % 3;
    c->config = sv_map();
    sv_set(c->config, "net", net_config_to_sv(&nc));
    sv_set(c->config, "note", sv_str("test"));
    c->epoch = 3, c->step = 17, c->seed = 99;
}

static int same_tensors(ssl_ckpt *a, ssl_ckpt *b, int mom) {
    if (net_ntensors(a->net) != net_ntensors(b->net)) return 0;
    for (int i = 0; i < net_ntensors(a->net); i++) {
        net_tensor *x = net_tensor_at(a->net, i), *y = net_tensor_at(b->net, i);
        if (strcmp(x->name, y->name) || memcmp(x->data, y->data, x->numel * sizeof(float)))
            return 0;
        if (mom && x->mom && memcmp(x->mom, y->mom, x->numel * sizeof(float))) return 0;
    }
    return 1;
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) ? -1 : (long)st.st_size;
}

static int same_file(const char *a, const char *b) {
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int same = f && g, x, y;
    while (same && (x = fgetc(f)) != EOF) same = (y = fgetc(g)) == x;
    if (same) same = fgetc(g) == EOF;
    if (f) fclose(f);
    if (g) fclose(g);
    return same;
}

static void roundtrip(void) {
    ssl_ckpt a, b;
    ssl_err err = {0};
    make_ckpt(&a, "mlp3", 16);
    T_EQ(ckpt_save(&a, tmp("a.ckpt"), "test", &err), 0, "save");
    T_EQ(ckpt_load(&b, tmp("a.ckpt"), 4, CKPT_LOAD_ALL, &err), 0, "load");
    T_OK(same_tensors(&a, &b, 1), "round trip: every tensor and momentum buffer, bit for bit");
    T_OK(b.bank && !memcmp(a.bank, b.bank, sizeof(float) * a.n * a.d), "round trip: bank");
    T_OK(b.bank_labels && !memcmp(a.bank_labels, b.bank_labels, sizeof(int32_t) * a.n),
         "round trip: bank labels");
    T_OK(b.n == 7 && b.d == 16 && b.epoch == 3 && b.step == 17 && b.seed == 99,
         "round trip: n, d, epoch, step, seed");
    T_OK(sv_equal(a.config, b.config), "round trip: configuration");
    ckpt_destroy(&b);
    T_EQ(ckpt_load(&b, tmp("a.ckpt"), 4, 0, &err), 0, "load without bank and momentum");
    net_tensor *t = net_find(b.net, "head.6.weight");
    int zero = 1;
    for (int64_t k = 0; t && k < t->numel; k++) zero &= t->mom[k] == 0;
    T_OK(same_tensors(&a, &b, 0) && !b.bank && !b.bank_labels && zero && b.n == 7,
         "weights only: bank skipped, momentum left zero");
    ckpt_destroy(&b);
    T_EQ(ckpt_save(&a, tmp("a2.ckpt"), "test", &err), 0, "save again");
    T_OK(same_file(tmp("a.ckpt"), tmp("a2.ckpt")), "the same state gives the same bytes");
    ckpt_destroy(&b);
    ckpt_destroy(&a);
}

/* A bank of 12.8 MB: read into a block that grows past 4 MiB, where
 * ssl_grow_huge copies it into a new block advised for huge pages (and,
 * with them off, realloc as before); the same bits either way. */
static void big_bank(void) {
    for (int huge = 1; huge >= 0; huge--) {
        ssl_ckpt a, b;
        ssl_err err = {0};
        ssl_set_huge_pages(huge);
        make_ckpt(&a, "mlp3", 16);
        a.n = 200000;
        float *bank = realloc(a.bank, sizeof(float) * a.n * a.d);
        int32_t *lab = realloc(a.bank_labels, sizeof(int32_t) * a.n);
        if (!bank || !lab) { T_OK(0, "big bank: out of memory"); return; }
        a.bank = bank, a.bank_labels = lab;
        npid_bank_random(a.bank, a.n, a.d, 4);
        for (int64_t i = 0; i < a.n; i++) a.bank_labels[i] = (int32_t)(i % 10);
        char name[64];
        snprintf(name, sizeof name, "big bank, huge pages %s", huge ? "on" : "off");
        T_EQ(ckpt_save(&a, tmp("big.ckpt"), "test", &err), 0, name);
        int ok = ckpt_load(&b, tmp("big.ckpt"), 2, CKPT_LOAD_ALL, &err) == 0;
        T_OK(ok && b.n == a.n && b.bank && !memcmp(a.bank, b.bank, sizeof(float) * a.n * a.d) &&
             !memcmp(a.bank_labels, b.bank_labels, sizeof(int32_t) * a.n), name);
        if (ok) ckpt_destroy(&b);
        ckpt_destroy(&a);
    }
    ssl_set_huge_pages(1);
}

static void errors(void) {
    ssl_ckpt a, b;
    ssl_err err = {0};
    ssl_dataset d;
    tf_make_dataset(&d, 4, 1, 28, 28, 2, 1);
    tf_write_dataset(&d, tmp("d.sslt"));
    tf_free_dataset(&d);
    T_OK(ckpt_load(&b, tmp("d.sslt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
         strstr(err.msg, "not a checkpoint") && strstr(err.msg, "dataset"),
         "a dataset stream is not a checkpoint");
    printf("# %s\n", err.msg);

    /* Tensors of a dim-16 head under a configuration that says dim 32. */
    make_ckpt(&a, "mlp3", 16);
    net_config nc32 = *net_get_config(a.net);
    nc32.dim = 32;
    sv_set(a.config, "net", net_config_to_sv(&nc32));
    ckpt_save(&a, tmp("shape.ckpt"), "test", &err);
    T_OK(ckpt_load(&b, tmp("shape.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
         strstr(err.msg, "head.6.weight") && strstr(err.msg, "[16,32]") && strstr(err.msg, "[32,32]"),
         "shape mismatch names the tensor and both shapes");
    printf("# %s\n", err.msg);

    /* A configuration without a head: the head tensors are unexpected. */
    net_config none = *net_get_config(a.net);
    snprintf(none.head, sizeof none.head, "none");
    sv_set(a.config, "net", net_config_to_sv(&none));
    ckpt_save(&a, tmp("extra.ckpt"), "test", &err);
    T_OK(ckpt_load(&b, tmp("extra.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
         strstr(err.msg, "unexpected tensor") && strstr(err.msg, "head."),
         "an unexpected tensor is an error");
    printf("# %s\n", err.msg);

    /* A linear head configured: head.weight is missing. */
    net_config lin = *net_get_config(a.net);
    snprintf(lin.head, sizeof lin.head, "linear");
    sv_set(a.config, "net", net_config_to_sv(&lin));
    ckpt_save(&a, tmp("missing.ckpt"), "test", &err);
    T_OK(ckpt_load(&b, tmp("missing.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
         strstr(err.msg, "head.weight") && strstr(err.msg, "missing"),
         "a missing tensor is named");
    ckpt_destroy(&a);

    T_OK(ckpt_load(&b, tmp("nosuch.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 && strstr(err.msg, "nosuch.ckpt"),
         "a missing file is named");

    /* Truncated copies of a good checkpoint. */
    make_ckpt(&a, "linear", 8);
    ckpt_save(&a, tmp("good.ckpt"), "test", &err);
    long sz = file_size(tmp("good.ckpt"));
    FILE *f = fopen(tmp("good.ckpt"), "rb");
    char *buf = malloc((size_t)sz);
    size_t got = fread(buf, 1, (size_t)sz, f);
    fclose(f);
    int all_fail = got == (size_t)sz;
    long cuts[] = {1, 10, sz / 3, sz / 2, sz - 40, sz - 1};
    for (int i = 0; i < 6; i++) {
        FILE *g = fopen(tmp("cut.ckpt"), "wb");
        fwrite(buf, 1, (size_t)cuts[i], g);
        fclose(g);
        if (ckpt_load(&b, tmp("cut.ckpt"), 2, CKPT_LOAD_ALL, &err) == 0) {
            all_fail = 0;
            ckpt_destroy(&b);
        }
    }
    T_OK(all_fail, "truncated checkpoints are refused");
    free(buf);

    T_OK(ckpt_save(&a, tmp("no/such/dir/x.ckpt"), "test", &err) < 0, "unwritable path fails");
    T_OK(file_size(tmp("no/such/dir/x.ckpt")) < 0, "nothing written under the real name");
    ckpt_destroy(&a);
}

/* A MobileNet checkpoint round trip, and the refusals: mobilenetv3s
 * tensors under a mobilenetv2 configuration (a missing tensor named),
 * mobilenetv2 tensors of width 0.5 under width 1 (a shape named), a ResNet
 * under a MobileNet's name. */
static void mobile(void) {
    ssl_err err = {0};
    ssl_ckpt a, b;
    for (int k = 0; k < 2; k++) {
        const char *arch = k ? "mobilenetv3s" : "mobilenetv2";
        char nm[128];
        make_ckpt(&a, "linear", 8);
        net_free(a.net);
        net_config nc = tf_net_config(1, 28, 28, 0.5f, "linear", 0, 8);
        snprintf(nc.arch, sizeof nc.arch, "%s", arch);
        a.net = net_new(&nc, 2, &err);
        net_init(a.net, 9);
        sv_set(a.config, "net", net_config_to_sv(&nc));
        T_EQ(ckpt_save(&a, tmp("m.ckpt"), "test", &err), 0, "mobilenet: save");
        T_EQ(ckpt_load(&b, tmp("m.ckpt"), 4, CKPT_LOAD_ALL, &err), 0, "mobilenet: load");
        snprintf(nm, sizeof nm, "%s: round trip, every tensor bit for bit", arch);
        T_OK(b.net && same_tensors(&a, &b, 1), nm);
        ckpt_destroy(&b);
        if (k == 1) {
            net_config v2 = nc;
            snprintf(v2.arch, sizeof v2.arch, "mobilenetv2");
            sv_set(a.config, "net", net_config_to_sv(&v2));
            ckpt_save(&a, tmp("m2.ckpt"), "test", &err);
            T_OK(ckpt_load(&b, tmp("m2.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
                 strstr(err.msg, "backbone.features.0.0.weight") && strstr(err.msg, "[8,1,3,3]") &&
                 strstr(err.msg, "[16,1,3,3]"),
                 "mobilenetv3s tensors under a mobilenetv2 configuration: refused, the tensor named");
            printf("# %s\n", err.msg);
        } else {
            net_config w1 = nc;
            w1.width = 1;
            sv_set(a.config, "net", net_config_to_sv(&w1));
            ckpt_save(&a, tmp("m2.ckpt"), "test", &err);
            T_OK(ckpt_load(&b, tmp("m2.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
                 strstr(err.msg, "backbone.features.0.0.weight") && strstr(err.msg, "[16,1,3,3]") &&
                 strstr(err.msg, "[32,1,3,3]"),
                 "mobilenetv2 width 0.5 under width 1: refused, the shapes named");
            printf("# %s\n", err.msg);
        }
        ckpt_destroy(&a);
    }
    make_ckpt(&a, "linear", 8);
    net_config r = *net_get_config(a.net);
    snprintf(r.arch, sizeof r.arch, "mobilenetv2");
    sv_set(a.config, "net", net_config_to_sv(&r));
    ckpt_save(&a, tmp("m3.ckpt"), "test", &err);
    T_OK(ckpt_load(&b, tmp("m3.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 && strstr(err.msg, "tensor '"),
         "a resnet18 under a mobilenetv2 configuration: refused");
    printf("# %s\n", err.msg);
    ckpt_destroy(&a);
}

/* The offset of a byte inside the third block of the first frame of path
 * whose content exceeds min_content bytes (a chunk of the bank), or -1. */
static long inside_third_block(const unsigned char *b, size_t n, unsigned long long min_content) {
    size_t off = 0;
    while (off < n) {
        size_t fs = ZSTD_findFrameCompressedSize(b + off, n - off);
        if (ZSTD_isError(fs)) return -1;
        if (ZSTD_getFrameContentSize(b + off, n - off) > min_content) {
            const unsigned char *p = b + off;
            static const size_t did[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
            unsigned fhd = p[4], single = fhd >> 5 & 1;
            size_t h = 4 + 1 + !single + did[fhd & 3] + (fcs[fhd >> 6] ? fcs[fhd >> 6] : single);
            for (int blk = 0; blk < 2; blk++) {   /* over the first two blocks */
                uint32_t bh = p[h] | (uint32_t)p[h + 1] << 8 | (uint32_t)p[h + 2] << 16;
                if (bh & 1) return -1;
                h += 3 + ((bh >> 1 & 3) == 1 ? 1 : bh >> 3);
            }
            return h + 3 + 100 < fs ? (long)(off + h + 3 + 100) : -1;
        }
        off += fs;
    }
    return -1;
}

/* Readers of the network alone (ssl-extract, ssl-export): the bank and the
 * momentum are skipped without decompression, so damage inside the bank's
 * data does not stop them and does stop a full load; with CKPT_SKIP_HEAD
 * the head is not read either (zero), and the backbone's features alone
 * (net_forward_features) are net_forward's, bit for bit. */
static void network_alone(void) {
    ssl_ckpt a, b;
    ssl_err err = {0};
    make_ckpt(&a, "mlp3", 16);
    free(a.bank);
    free(a.bank_labels);
    a.n = 20000;                  /* 1.28 MB: one chunk of about 10 zstd blocks */
    a.bank = malloc(sizeof(float) * a.n * a.d);
    a.bank_labels = malloc(sizeof(int32_t) * a.n);
    npid_bank_random(a.bank, a.n, a.d, 4);
    for (int i = 0; i < a.n; i++) a.bank_labels[i] = i % 3;
    T_EQ(ckpt_save(&a, tmp("n.ckpt"), "test", &err), 0, "a checkpoint with a 1.28 MB bank");
    T_EQ(ckpt_load(&b, tmp("n.ckpt"), 2, CKPT_SKIP_HEAD, &err), 0, "load without the head");
    int bb_same = 1, head_zero = 1;
    for (int i = 0; i < net_ntensors(a.net); i++) {
        net_tensor *x = net_tensor_at(a.net, i), *y = net_tensor_at(b.net, i);
        if (strncmp(x->name, "head.", 5)) bb_same &= !memcmp(x->data, y->data, x->numel * sizeof(float));
        else for (int64_t k = 0; k < y->numel; k++) head_zero &= y->data[k] == 0;
    }
    T_OK(bb_same && head_zero && !b.bank, "without the head: the backbone bit for bit, the head zero");
    float x[2 * 28 * 28], feat[2 * 64];
    rng r;
    rng_init(&r, 7, 1, 1);
    for (int i = 0; i < 2 * 28 * 28; i++) x[i] = (float)rng_normal(&r);
    int F = net_feature_dim(a.net);
    net_forward(a.net, x, 2, 0);
    memcpy(feat, net_features(a.net), sizeof(float) * 2 * F);
    T_OK(F <= 64 && net_forward_features(b.net, x, 2) == 0 &&
         !memcmp(feat, net_features(b.net), sizeof(float) * 2 * F),
         "net_forward_features: the features of net_forward, bit for bit, without the head");
    T_EQ(net_forward_features(b.net, x, 3), -1, "net_forward_features: a batch over max_batch refused");
    ckpt_destroy(&b);

    size_t n;
    unsigned char *buf = NULL;
    FILE *f = fopen(tmp("n.ckpt"), "rb");
    long sz = file_size(tmp("n.ckpt")), at = -1;
    if (f && sz > 0 && (buf = malloc((size_t)sz)) && (n = fread(buf, 1, (size_t)sz, f)) == (size_t)sz)
        at = inside_third_block(buf, n, 1000000);
    if (f) fclose(f);
    T_OK(at > 0, "a byte inside the bank's data");
    if (at > 0) {
        buf[at] ^= 0x40;
        FILE *g = fopen(tmp("n.ckpt"), "wb");
        fwrite(buf, 1, (size_t)sz, g);
        fclose(g);
        T_EQ(ckpt_load(&b, tmp("n.ckpt"), 2, 0, &err), 0,
             "damage inside the bank: the network alone loads (the bank is not read)");
        T_OK(same_tensors(&a, &b, 0), "... bit for bit");
        ckpt_destroy(&b);
        T_OK(ckpt_load(&b, tmp("n.ckpt"), 2, CKPT_LOAD_BANK, &err) < 0 && strstr(err.msg, "n.ckpt: record"),
             "damage inside the bank: loading the bank fails");
        printf("# %s\n", err.msg);
        /* Truncated inside the bank: an error either way. */
        g = fopen(tmp("n.ckpt"), "wb");
        fwrite(buf, 1, (size_t)at, g);
        fclose(g);
        T_OK(ckpt_load(&b, tmp("n.ckpt"), 2, 0, &err) < 0 && strstr(err.msg, "truncated"),
             "truncated inside the bank: the network alone is refused too");
    }
    free(buf);
    ckpt_destroy(&a);
}


/* A bf16 bank (ssl-init-bank --bank-dtype bf16): saved as a bf16 tensor
 * (the checkpoint smaller by the bank's half), loaded back word for word
 * into bank16 with bank_bf16 set; skipped with the bank; and a bank of
 * another dtype (i32, retagged from a saved checkpoint) refused with the
 * tensor and both dtypes named. */
static void bank_bf16(void) {
    ssl_ckpt a, b;
    ssl_err err = {0};
    make_ckpt(&a, "mlp3", 16);
    a.n = 600;                    /* a bank big enough to see in the size */
    free(a.bank);
    free(a.bank_labels);
    a.bank = malloc(sizeof(float) * a.n * a.d);
    a.bank_labels = calloc((size_t)a.n, sizeof(int32_t));
    npid_bank_random(a.bank, a.n, a.d, 5);
    T_EQ(ckpt_save(&a, tmp("b32.ckpt"), "test", &err), 0, "bf16 bank: the f32 checkpoint");
    a.bank16 = malloc(npid_bank_bytes(1, a.n, a.d));
    npid_bank_random_bf16(a.bank16, a.n, a.d, 5);
    free(a.bank);
    a.bank = NULL;
    a.bank_bf16 = 1;
    T_EQ(ckpt_save(&a, tmp("b16.ckpt"), "test", &err), 0, "bf16 bank: save");
    long s32 = file_size(tmp("b32.ckpt")), s16 = file_size(tmp("b16.ckpt"));
    long half = (long)npid_bank_bytes(1, a.n, a.d);
    char name[128];
    snprintf(name, sizeof name, "bf16 bank: the checkpoint %ld bytes smaller (%ld -> %ld)",
             s32 - s16, s32, s16);
    T_OK(s32 - s16 > half - 4096 && s32 - s16 < half + 4096, name);
    T_EQ(ckpt_load(&b, tmp("b16.ckpt"), 4, CKPT_LOAD_ALL, &err), 0, "bf16 bank: load");
    T_OK(b.bank_bf16 && !b.bank && b.bank16 && b.n == 600 &&
         !memcmp(a.bank16, b.bank16, npid_bank_bytes(1, a.n, a.d)) && same_tensors(&a, &b, 1),
         "bf16 bank: round trip, word for word, the network too");
    ckpt_destroy(&b);
    T_EQ(ckpt_load(&b, tmp("b16.ckpt"), 4, 0, &err), 0, "bf16 bank: load the network alone");
    T_OK(b.bank_bf16 && !b.bank16 && !b.bank && same_tensors(&a, &b, 0), "bf16 bank: skipped");
    ckpt_destroy(&b);

    /* b32.ckpt with its bank retagged i32 (the same 4 bytes an element) */
    ssl_err e2 = {0};
    sslt_reader *r = sslt_reader_open(tmp("b32.ckpt"), &e2);
    const sslt_header *h = NULL;
    int ok = r && sslt_reader_next(r, &h) == 1;
    void **data = ok ? calloc((size_t)h->ntensors, sizeof *data) : NULL;
    ok = ok && data && sslt_reader_read_all(r, data, NULL) == 0;
    if (ok) {
        sslt_tensor *ts = malloc(sizeof *ts * (size_t)h->ntensors);
        memcpy(ts, h->tensors, sizeof *ts * (size_t)h->ntensors);
        ts[sslt_find(h, "bank")].dtype = SSLT_I32;
        sslt_writer *w = sslt_writer_open(tmp("bi32.ckpt"), 1, &e2);
        ok = w && !sslt_write_section(w, h->kind, h->meta, h->ntensors, ts,
                                      (const void *const *)data) &&
             !sslt_writer_close(w, &e2);
        for (int i = 0; i < h->ntensors; i++) free(data[i]);
        free(ts);
    }
    free(data);
    sslt_reader_close(r);
    T_OK(ok && ckpt_load(&b, tmp("bi32.ckpt"), 2, CKPT_LOAD_ALL, &err) < 0 &&
         strstr(err.msg, "'bank' is i32, expected f32"), "a bank of another dtype is refused");
    printf("# %s\n", err.msg);
    ckpt_destroy(&a);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/ckpt.XXXXXX", getenv("SSL_TEST_TMP") ? getenv("SSL_TEST_TMP") : "/tmp");
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 1;
    ssl_set_threads(1);
    roundtrip();
    big_bank();
    bank_bf16();
    errors();
    mobile();
    network_alone();
    const char *names[] = {"a.ckpt", "a2.ckpt", "d.sslt", "shape.ckpt", "extra.ckpt",
                           "missing.ckpt", "good.ckpt", "cut.ckpt", "m.ckpt", "m2.ckpt", "m3.ckpt",
                           "n.ckpt", "big.ckpt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(tmp(names[i]));
    rmdir(tmpdir);
    return t_done();
}
