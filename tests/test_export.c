/* test_export.c: the safetensors writer and checking reader
 * (lib/stream/safetensors.h) and ssl-export's library call (run_export).
 *
 * Round trip of names, dtypes, shapes, metadata and bytes; the header
 * padded to 8 bytes; headers that lie (absurd length, not JSON, unknown
 * dtype, offsets that do not match the shape, overlap, gap, truncated or
 * trailing data, metadata that is not strings) refused with their
 * message; and run_export on a checkpoint: exactly the backbone's tensors
 * (and the head's with head = 1) with the checkpoint's bytes, one
 * num_batches_tracked per BN holding the step, and the metadata a reader
 * needs (architecture, normalisation). */
#include "t.h"
#include "train_fixture.h"

#include <sys/stat.h>
#include <unistd.h>

#include "run/run.h"
#include "stream/safetensors.h"
#include "util/threads.h"

static char tmpdir[512];

static const char *tmp(const char *name) {
    static char buf[4][1024];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, name);
    return b;
}

static void put(const char *path, const void *a, size_t n, const void *b, size_t m) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    fwrite(a, 1, n, f);
    if (m) fwrite(b, 1, m, f);
    fclose(f);
}

/* A file of the header text json (its length in front) and ndata zero bytes. */
static void put_st(const char *path, const char *json, size_t ndata) {
    size_t n = strlen(json);
    unsigned char buf[8 + 4096] = {0};
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, json, n);
    char *zero = calloc(ndata + 1, 1);
    put(path, buf, 8 + n, zero, ndata);
    free(zero);
}

static void roundtrip(void) {
    float a[6] = {1, -2, 3.5f, 0, 1e-30f, -0.0f};
    int64_t b = -5;
    uint8_t c[3] = {7, 8, 9};
    st_tensor t[4] = {{.name = "x.weight", .dtype = "F32", .ndim = 2, .shape = {2, 3}},
                      {.name = "x.count", .dtype = "I64", .ndim = 0},
                      {.name = "bytes", .dtype = "U8", .ndim = 1, .shape = {3}},
                      {.name = "empty", .dtype = "F64", .ndim = 2, .shape = {0, 4}}};
    const void *data[4] = {a, &b, c, NULL};
    sv *meta = sv_map();
    sv_set(meta, "arch", sv_str("resnet18"));
    sv_set(meta, "q\"uote", sv_str("a\nb"));
    ssl_err err = {0};
    T_EQ(st_write(tmp("a.safetensors"), meta, 4, t, data, &err), 0, "write");
    st_header h;
    void *d = NULL;
    int rc = st_read(tmp("a.safetensors"), &h, &d, &err);
    T_EQ(rc, 0, "read back");
    if (rc) { printf("  %s\n", err.msg); sv_free(meta); return; }
    T_EQ(h.ntensors, 4, "four tensors");
    T_EQ(h.data_len, 24 + 8 + 3, "data bytes");
    T_EQ((8 + h.header_len) % 8, 0, "header padded: the data starts at a multiple of 8");
    int same = 1;
    for (int i = 0; i < 4; i++) {
        same &= !strcmp(h.tensors[i].name, t[i].name) && !strcmp(h.tensors[i].dtype, t[i].dtype) &&
                h.tensors[i].ndim == t[i].ndim;
        for (int k = 0; k < t[i].ndim; k++) same &= h.tensors[i].shape[k] == t[i].shape[k];
    }
    T_OK(same, "names, dtypes and shapes in order");
    T_OK(h.tensors[0].begin == 0 && h.tensors[1].begin == 24 && h.tensors[2].begin == 32 &&
         h.tensors[3].begin == 35 && h.tensors[3].end == 35, "offsets in order");
    T_OK(!memcmp(d, a, 24) && !memcmp((char *)d + 24, &b, 8) && !memcmp((char *)d + 32, c, 3),
         "bytes");
    T_OK(sv_equal(h.meta, meta), "metadata, quotes and newlines included");
    st_header_destroy(&h);
    free(d);
    T_EQ(st_read(tmp("a.safetensors"), &h, NULL, &err), 0, "read without keeping the data");
    st_header_destroy(&h);
    /* The writer refuses what the format cannot say. */
    st_tensor dup[2] = {t[0], t[0]};
    const void *dd[2] = {a, a};
    T_OK(st_write(tmp("dup.safetensors"), NULL, 2, dup, dd, &err) == -1 && strstr(err.msg, "repeated"),
         "write refuses a repeated name");
    struct stat st;
    T_OK(stat(tmp("dup.safetensors"), &st) != 0, "nothing left after a refused write");
    sv_set(meta, "n", sv_int(1));
    T_OK(st_write(tmp("m.safetensors"), meta, 1, t, data, &err) == -1 && strstr(err.msg, "map of strings"),
         "write refuses metadata that is not strings");
    sv_free(meta);
}

static void liars(void) {
    static const struct { const char *json; size_t ndata; const char *msg; } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
         "tensors 'a' and 'b' overlap (data_offsets [0, 8] and [4, 12])"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
         "tensor 'b': data_offsets begin at 12, but the data before it ends at 8 (a gap)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
         "tensor 'a': data_offsets begin at 4, but the data before it ends at 0 (a gap)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20,
         "tensor 'a': data_offsets [0, 20] hold 20 bytes, F32 [2, 3] needs 24"},
        {"{\"a\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "F64 [2] needs 16"},
        {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F33'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
         "shape is not a list of non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
         "data_offsets is not [begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8,
         "data_offsets is not [begin, end]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8,
         "shape is not a list of non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1073741824,1073741824,16],\"data_offsets\":[0,8]}}", 8,
         "shape too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "not a map with dtype, shape and data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
         "truncated (the tensors need 8 bytes of data, 4 follow)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9,
         "trailing bytes after the 8 bytes of data the tensors cover"},
        {"{\"__metadata__\":{\"n\":1}}", 0, "__metadata__ is not a map of strings"},
        {"{\"a\":1,}", 0, "the header is not JSON: byte 7: expected a string key"},
        {"[1,2]", 0, "the header is not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"a\":{}}", 8,
         "duplicate key"},
    };
    ssl_err err = {0};
    st_header h;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        put_st(tmp("bad.safetensors"), bad[i].json, bad[i].ndata);
        char name[128];
        snprintf(name, sizeof name, "refused: %s", bad[i].msg);
        int rc = st_read(tmp("bad.safetensors"), &h, NULL, &err);
        t_report(rc == -1 && strstr(err.msg, bad[i].msg) && strstr(err.msg, "bad.safetensors: "), name,
                 "%s", rc ? err.msg : "accepted");
        if (!rc) st_header_destroy(&h);
    }
    /* Lengths: absurd, past the end of the file, and files too short. */
    unsigned char len8[8] = {0x00, 0xe1, 0xf5, 0x05, 0, 0, 0, 0};   /* 100000000 */
    put(tmp("len.safetensors"), len8, 8, "{}", 2);
    T_OK(st_read(tmp("len.safetensors"), &h, NULL, &err) == -1 &&
         strstr(err.msg, "header length 100000000 exceeds the file's 10 bytes"), "header past the end");
    len8[0] = 0x01;
    put(tmp("len.safetensors"), len8, 8, "{}", 2);
    T_OK(st_read(tmp("len.safetensors"), &h, NULL, &err) == -1 &&
         strstr(err.msg, "header length 100000001 is absurd"), "absurd header length");
    unsigned char huge[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    put(tmp("len.safetensors"), huge, 8, NULL, 0);
    T_OK(st_read(tmp("len.safetensors"), &h, NULL, &err) == -1 && strstr(err.msg, "is absurd"),
         "header length 2^64 - 1");
    put(tmp("len.safetensors"), "{}", 2, NULL, 0);
    T_OK(st_read(tmp("len.safetensors"), &h, NULL, &err) == -1 && strstr(err.msg, "no 8-byte header length"),
         "shorter than 8 bytes");
    put(tmp("len.safetensors"), "", 0, NULL, 0);
    T_OK(st_read(tmp("len.safetensors"), &h, NULL, &err) == -1 && strstr(err.msg, "empty file"), "empty");
    T_OK(st_read(tmp("missing.safetensors"), &h, NULL, &err) == -1 && err.code == SSL_EIO &&
         strstr(err.msg, "missing.safetensors: No such file"), "missing file");
    put_st(tmp("ok.safetensors"), "{\"z\":{\"dtype\":\"BOOL\",\"shape\":[],\"data_offsets\":[0,1]},"
                                  "\"e\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]}}   ", 1);
    T_OK(st_read(tmp("ok.safetensors"), &h, NULL, &err) == 0 && h.ntensors == 2 && h.data_len == 1,
         "accepted: a scalar, an empty tensor at the same offset, trailing spaces");
    st_header_destroy(&h);
}

static void make_ckpt(ssl_ckpt *c, const char *head, int dim) {
    ssl_err err = {0};
    memset(c, 0, sizeof *c);
    net_config nc = tf_net_config(3, 32, 32, 0.125f, head, 32, dim);
    c->net = net_new(&nc, 2, &err);
    net_init(c->net, 5);
    rng r;
    rng_init(&r, 1, 2, 3);
    for (int i = 0; i < net_ntensors(c->net); i++) {
        net_tensor *t = net_tensor_at(c->net, i);
        if (t->is_buffer)
            for (int64_t k = 0; k < t->numel; k++) t->data[k] = rng_uniform(&r);
    }
    c->n = 3;
    c->d = net_out_dim(c->net);
    c->bank = calloc((size_t)c->n * c->d, sizeof(float));
    c->bank_labels = calloc((size_t)c->n, sizeof(int32_t));
    c->config = sv_map();
    sv_set(c->config, "net", net_config_to_sv(&nc));
    sv *data = sv_map();
    double mean[3] = {0.25, 0.5, 0.125}, std[3] = {0.5, 0.25, 1.0 / 3};
    sv_set(data, "mean", sv_float_array(mean, 3));
    sv_set(data, "std", sv_float_array(std, 3));
    sv_set(c->config, "data", data);
    c->epoch = 2, c->step = 41, c->seed = 7;
}

/* Check one export of c against the checkpoint's tensors. */
static void check_export(ssl_ckpt *c, int head, const char *what) {
    char name[160];
    ssl_err err = {0};
    run_export_opts o = {.ckpt = tmp("c.ckpt"), .out = tmp("e.safetensors"), .head = head,
                         .created_by = "test_export"};
    run_export_result res;
    snprintf(name, sizeof name, "%s: run_export", what);
    int rc = run_export(&o, &res, &err);
    t_report(rc == 0, name, "%s", err.msg);
    if (rc) return;
    st_header h;
    void *d = NULL;
    snprintf(name, sizeof name, "%s: the file reads back", what);
    rc = st_read(tmp("e.safetensors"), &h, &d, &err);
    t_report(rc == 0, name, "%s", err.msg);
    if (rc) return;
    int want = 0, nbn = 0, bad = 0, k = 0;
    for (int i = 0; i < net_ntensors(c->net); i++) {
        net_tensor *t = net_tensor_at(c->net, i);
        int in = !strncmp(t->name, "backbone.", 9) || (head && !strncmp(t->name, "head.", 5));
        if (!in) continue;
        want++;
        /* In the network's order; each running_var followed by its counter. */
        const st_tensor *s = k < h.ntensors ? &h.tensors[k++] : NULL;
        if (!s || strcmp(s->name, t->name) || strcmp(s->dtype, "F32") || s->ndim != t->ndim ||
            memcmp(s->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) ||
            memcmp((char *)d + s->begin, t->data, (size_t)t->numel * 4)) {
            if (!bad) printf("  first difference at %s\n", t->name);
            bad++;
        }
        size_t len = strlen(t->name);
        if (len > 12 && !strcmp(t->name + len - 12, ".running_var")) {
            nbn++;
            s = k < h.ntensors ? &h.tensors[k++] : NULL;
            int64_t v;
            if (s) memcpy(&v, (char *)d + s->begin, 8);
            if (!s || strncmp(s->name, t->name, len - 12) || strcmp(s->name + len - 12, ".num_batches_tracked") ||
                strcmp(s->dtype, "I64") || s->ndim != 0 || v != c->step) {
                if (!bad) printf("  bad counter after %s\n", t->name);
                bad++;
            }
        }
    }
    snprintf(name, sizeof name, "%s: every tensor, in order, with the checkpoint's bytes", what);
    t_report(!bad && h.ntensors == want + nbn && res.ntensors == h.ntensors, name,
             "%d bad, %d tensors, want %d + %d", bad, h.ntensors, want, nbn);
    snprintf(name, sizeof name, "%s: no head tensors unless asked", what);
    int heads = 0;
    for (int i = 0; i < h.ntensors; i++) heads += !strncmp(h.tensors[i].name, "head.", 5);
    t_report(head ? heads > 0 : heads == 0, name, "%d head tensors", heads);
    const net_config *nc = net_get_config(c->net);
    snprintf(name, sizeof name, "%s: metadata", what);
    const sv *m = h.meta;
    t_report(!strcmp(sv_get_str(m, "arch", ""), "resnet18") && !strcmp(sv_get_str(m, "stem", ""), "cifar") &&
             !strcmp(sv_get_str(m, "width", ""), "0.125") && !strcmp(sv_get_str(m, "in_channels", ""), "3") &&
             !strcmp(sv_get_str(m, "in_height", ""), "32") && !strcmp(sv_get_str(m, "features", ""), "64") &&
             !strcmp(sv_get_str(m, "mean", ""), "[0.25,0.5,0.125]") &&
             !strcmp(sv_get_str(m, "std", ""), "[0.5,0.25,0.3333333333333333]") &&
             !strcmp(sv_get_str(m, "step", ""), "41") && !strcmp(sv_get_str(m, "format", ""), "pt") &&
             !strcmp(sv_get_str(m, "head", ""), head ? nc->head : "none"),
             name, "%s %s %s", sv_get_str(m, "width", "?"), sv_get_str(m, "mean", "?"), sv_get_str(m, "std", "?"));
    if (head && !strcmp(nc->head, "mlp3")) {
        snprintf(name, sizeof name, "%s: metadata dim and hidden", what);
        T_OK(!strcmp(sv_get_str(m, "dim", ""), "16") && !strcmp(sv_get_str(m, "hidden", ""), "32"), name);
    }
    st_header_destroy(&h);
    free(d);
}

static void export_tests(void) {
    ssl_ckpt c;
    ssl_err err = {0};
    make_ckpt(&c, "mlp3", 16);
    T_EQ(ckpt_save(&c, tmp("c.ckpt"), "test", &err), 0, "save a checkpoint");
    check_export(&c, 0, "mlp3, backbone");
    check_export(&c, 1, "mlp3, --head");
    ckpt_destroy(&c);
    make_ckpt(&c, "linear", 16);
    ckpt_save(&c, tmp("c.ckpt"), "test", &err);
    check_export(&c, 1, "linear, --head");
    ckpt_destroy(&c);
    /* Not a checkpoint: refused, nothing written. */
    unlink(tmp("e.safetensors"));
    run_export_opts o = {.ckpt = tmp("a.safetensors"), .out = tmp("e.safetensors")};
    run_export_result res;
    T_OK(run_export(&o, &res, &err) == -1 && err.code == SSL_EDATA && strstr(err.msg, "a.safetensors"),
         "a safetensors file is not a checkpoint");
    struct stat st;
    T_OK(stat(tmp("e.safetensors"), &st) != 0, "nothing written on failure");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/export.XXXXXX", getenv("SSL_TEST_TMP") ? getenv("SSL_TEST_TMP") : "/tmp");
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 1;
    ssl_set_threads(1);
    roundtrip();
    liars();
    export_tests();
    const char *names[] = {"a.safetensors", "dup.safetensors", "m.safetensors", "bad.safetensors",
                           "len.safetensors", "ok.safetensors", "c.ckpt", "e.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(tmp(names[i]));
    rmdir(tmpdir);
    return t_done();
}
