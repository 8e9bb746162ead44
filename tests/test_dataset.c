/* test_dataset.c: dataset and feature streams (lib/stream/dataset.c): whole loads,
 * streaming in bounded batches whatever the chunk interleaving, dataset
 * streams read as features, and the checks (kind, names, dtypes, shapes,
 * label range, mean/std, damaged streams, a second section). */
#include <unistd.h>

#include "stream/dataset.h"
#include "t.h"

#define N 37
#define C 3
#define H 4
#define W 5
static char dir[4096];
static uint8_t img[N * C * H * W];
static int32_t lab[N];

static const char *tmp(const char *name) {
    static char buf[4][4200];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static sv *meta_with(int nclasses, int nmean) {
    const char *cls[] = {"a", "b", "c", "d", "e", "f", "g"};
    double mean[] = {0.1, 0.2, 0.3, 0.4}, std[] = {0.5, 0.25, 0.125, 1};
    sv *m = sv_map();
    if (nclasses) sv_set(m, "classes", sv_str_array(cls, nclasses));
    if (nmean) {
        sv_set(m, "mean", sv_float_array(mean, nmean));
        sv_set(m, "std", sv_float_array(std, nmean));
    }
    sv_set(m, "split", sv_str("train"));
    return m;
}

/* mode 0: write_section (interleaved); 1: all images, then all labels;
 * 2: labels first, images in odd batches. chunk: writer chunk bytes. */
static int write_ds(const char *path, const char *kind, int mode, size_t chunk, const sv *meta) {
    ssl_err err = {0};
    sslt_tensor t[2] = {{"labels", SSLT_I32, 1, {N}}, {"images", SSLT_U8, 4, {N, C, H, W}}};
    sslt_writer *w = sslt_writer_open(path, 0, &err);
    if (!w) return -1;
    sslt_writer_set_chunk_bytes(w, chunk);
    int rc;
    if (mode == 0) {
        const void *d[2] = {lab, img};
        rc = sslt_write_section(w, kind, meta, 2, t, d);
    } else {
        rc = sslt_writer_begin(w, kind, meta, 2, t);
        if (mode == 1) {
            rc |= sslt_writer_rows(w, 1, img, N);
            rc |= sslt_writer_rows(w, 0, lab, N);
        } else {
            rc |= sslt_writer_rows(w, 0, lab, N);
            for (int r = 0; r < N; r += 7)
                rc |= sslt_writer_rows(w, 1, img + r * C * H * W, r + 7 <= N ? 7 : N - r);
        }
        rc |= sslt_writer_end(w);
    }
    if (rc) { sslt_writer_abort(w); return -1; }
    return sslt_writer_close(w, &err);
}

static void test_load(void) {
    ssl_err err = {0};
    sv *meta = meta_with(7, 3);
    for (int mode = 0; mode < 3; mode++) {
        char name[64];
        snprintf(name, sizeof name, "load (writer mode %d)", mode);
        write_ds(tmp("d.sslt"), "dataset", mode, 100, meta);
        ssl_dataset d;
        int rc = dataset_load(&d, tmp("d.sslt"), &err);
        t_report(rc == 0 && d.labelled && d.n == N && d.c == C && d.h == H && d.w == W && d.nclasses == 7 &&
                 !memcmp(d.images, img, sizeof img) && !memcmp(d.labels, lab, sizeof lab) &&
                 !strcmp(d.classes[6], "g") && d.mean[2] == 0.3 && d.std[1] == 0.25 &&
                 !strcmp(sv_get_str(d.meta, "split", ""), "train"),
                 name, "%s", rc ? err.msg : "values differ");
        dataset_destroy(&d);

        /* Stream it in odd batch sizes. */
        ssl_dstream *s = dstream_open(tmp("d.sslt"), &err);
        uint8_t got[N * C * H * W];
        int32_t gl[N];
        int64_t total = 0, k;
        while (s && (k = dstream_next(s, got + total * C * H * W, gl + total, 5)) > 0) total += k;
        snprintf(name, sizeof name, "dstream (writer mode %d)", mode);
        t_report(s && k == 0 && total == N && !memcmp(got, img, sizeof img) &&
                 !memcmp(gl, lab, sizeof lab) && dstream_info(s)->nclasses == 7 &&
                 dstream_info(s)->images == NULL, name, "%s", s ? dstream_error(s)->msg : err.msg);
        dstream_close(s);
    }
    sv_free(meta);

    /* No classes, no mean/std: nclasses from the labels, mean 0, std 1. */
    meta = meta_with(0, 0);
    write_ds(tmp("d.sslt"), "dataset", 0, 0, meta);
    ssl_dataset d;
    T_EQ(dataset_load(&d, tmp("d.sslt"), &err), 0, "load without classes");
    T_OK(d.nclasses == 5 && d.classes == NULL && d.mean[0] == 0 && d.std[2] == 1,
         "defaults without classes and mean/std");
    dataset_destroy(&d);

    ssl_features f;
    T_EQ(features_load(&f, tmp("d.sslt"), &err), 0, "dataset as features");
    int ok = f.n == N && f.dim == C * H * W && !strcmp(f.kind, "dataset") && f.nclasses == 5;
    for (int i = 0; ok && i < N * C * H * W; i++) ok = f.x[i] == img[i] / 255.0f;
    T_OK(ok && !memcmp(f.labels, lab, sizeof lab), "dataset as features: values in [0,1]");
    features_destroy(&f);
    sv_free(meta);

    /* A features stream. */
    float x[N * 6];
    for (int i = 0; i < N * 6; i++) x[i] = i * 0.25f - 3;
    sslt_tensor t[2] = {{"features", SSLT_F32, 2, {N, 6}}, {"labels", SSLT_I32, 1, {N}}};
    const void *dd[2] = {x, lab};
    meta = meta_with(5, 0);
    sslt_writer *w = sslt_writer_open(tmp("f.sslt"), 0, &err);
    sslt_write_section(w, "features", meta, 2, t, dd);
    sslt_writer_close(w, &err);
    T_EQ(features_load(&f, tmp("f.sslt"), &err), 0, "features load");
    T_OK(f.n == N && f.dim == 6 && !memcmp(f.x, x, sizeof x) && f.nclasses == 5 &&
         !strcmp(f.classes[4], "e") && !strcmp(f.kind, "features"), "features values");
    features_destroy(&f);
    t_report(dataset_load(&d, tmp("f.sslt"), &err) == -1 && strstr(err.msg, "not a dataset"),
             "features are not a dataset", "%s", err.msg);
    sv_free(meta);
}

/* An unlabelled dataset: no labels tensor. Every reader gives labelled 0,
 * no labels and no classes (a stray meta.classes is ignored); dstream
 * leaves the labels buffer alone; the writers write no labels tensor. */
static void test_unlabelled(void) {
    ssl_err err = {0};
    sv *meta = meta_with(7, 3);                      /* classes present, to be ignored */
    T_EQ(dataset_write(tmp("u.sslt"), 0, meta, N, C, H, W, img, NULL, &err), 0,
         "unlabelled: dataset_write with no labels");
    sslt_reader *r = sslt_reader_open(tmp("u.sslt"), &err);
    const sslt_header *h;
    T_OK(r && sslt_reader_next(r, &h) == 1 && h->ntensors == 1 && sslt_find(h, "labels") < 0,
         "unlabelled: the stream has one tensor, no 'labels'");
    sslt_reader_close(r);
    ssl_dataset d;
    int rc = dataset_load(&d, tmp("u.sslt"), &err);
    t_report(rc == 0 && !d.labelled && !d.labels && d.nclasses == 0 && !d.classes && d.n == N &&
             !memcmp(d.images, img, sizeof img) && d.mean[2] == 0.3,
             "unlabelled: dataset_load", "%s", rc ? err.msg : "fields differ");
    if (!rc) dataset_destroy(&d);
    ssl_dstream *s = dstream_open(tmp("u.sslt"), &err);
    uint8_t got[N * C * H * W];
    int32_t gl[N];
    for (int i = 0; i < N; i++) gl[i] = 1234;
    int64_t total = 0, k = 0;
    while (s && (k = dstream_next(s, got + total * C * H * W, total % 2 ? NULL : gl + total, 3)) > 0)
        total += k;
    int untouched = 1;
    for (int i = 0; i < N; i++) untouched &= gl[i] == 1234;
    t_report(s && k == 0 && total == N && !memcmp(got, img, sizeof img) && untouched &&
             !dstream_info(s)->labelled, "unlabelled: dstream, labels untouched (or NULL)", "%s",
             s ? dstream_error(s)->msg : err.msg);
    dstream_close(s);
    ssl_features f;
    rc = features_load(&f, tmp("u.sslt"), &err);
    T_OK(rc == 0 && !f.labelled && !f.labels && f.nclasses == 0 && f.n == N,
         "unlabelled: dataset as features");
    if (!rc) features_destroy(&f);
    /* A features stream without labels, written block by block. */
    float x[N * 3];
    for (int i = 0; i < N * 3; i++) x[i] = (float)i;
    features_writer *fw = features_writer_open(tmp("uf.sslt"), NULL, N, 3, 0, &err);
    rc = !fw || features_writer_rows(fw, x, NULL, 4, &err) ||
         features_writer_rows(fw, x + 12, NULL, N - 4, &err) || features_writer_close(fw, &err);
    T_EQ(rc, 0, "unlabelled: features writer with no labels");
    rc = features_load(&f, tmp("uf.sslt"), &err);
    T_OK(rc == 0 && !f.labelled && !f.labels && f.n == N && f.dim == 3 && !memcmp(f.x, x, sizeof x),
         "unlabelled: features stream reads back");
    if (!rc) features_destroy(&f);
    sv_free(meta);
}

static void expect_fail(const char *name, const char *path, const char *want) {
    ssl_err err = {0};
    ssl_dataset d;
    int rc = dataset_load(&d, path, &err);
    t_report(rc == -1 && strstr(err.msg, want) && strstr(err.msg, path), name, "'%s'", err.msg);
}

static void test_errors(void) {
    ssl_err err = {0};
    sv *meta = meta_with(4, 3);   /* labels reach 4: out of range */
    write_ds(tmp("e.sslt"), "dataset", 0, 0, meta);
    expect_fail("label out of range", tmp("e.sslt"), "out of range");
    ssl_dstream *s = dstream_open(tmp("e.sslt"), &err);
    uint8_t got[N * C * H * W];
    int32_t gl[N];
    int64_t k = 0;
    while (s && (k = dstream_next(s, got, gl, N)) > 0) {}
    T_OK(s && k == -1 && strstr(dstream_error(s)->msg, "out of range"), "dstream: label out of range");
    dstream_close(s);
    sv_free(meta);
    meta = meta_with(7, 2);
    write_ds(tmp("e.sslt"), "dataset", 0, 0, meta);
    expect_fail("mean of the wrong length", tmp("e.sslt"), "meta.mean");
    sv_free(meta);
    meta = meta_with(7, 3);
    sv_set(meta, "classes", sv_int(3));
    write_ds(tmp("e.sslt"), "dataset", 0, 0, meta);
    expect_fail("classes not a list", tmp("e.sslt"), "meta.classes");
    sv_free(meta);
    write_ds(tmp("e.sslt"), "checkpoint", 0, 0, NULL);
    expect_fail("wrong kind", tmp("e.sslt"), "a 'checkpoint' stream");
    sslt_tensor t = {"images", SSLT_U8, 4, {N, C, H, W}};
    sslt_writer *w;
    sslt_tensor tl[2] = {t, {"labels", SSLT_F32, 1, {N}}};
    float fl[N] = {0};
    const void *dl[2] = {img, fl};
    w = sslt_writer_open(tmp("e.sslt"), 0, &err);
    sslt_write_section(w, "dataset", NULL, 2, tl, dl);
    sslt_writer_close(w, &err);
    expect_fail("labels of floats", tmp("e.sslt"), "labels must be i32 [N]");
    t.dtype = SSLT_F32;
    w = sslt_writer_open(tmp("e.sslt"), 0, &err);
    sslt_tensor t2[2] = {t, {"labels", SSLT_I32, 1, {N}}};
    float *fi = calloc(N * C * H * W, sizeof(float));
    const void *d2[2] = {fi, lab};
    sslt_write_section(w, "dataset", NULL, 2, t2, d2);
    sslt_writer_close(w, &err);
    free(fi);
    expect_fail("images of the wrong dtype", tmp("e.sslt"), "images must be u8");
    expect_fail("missing file", tmp("nothing.sslt"), "No such file");

    /* Truncated: dataset_load fails, dstream fails after delivering rows. */
    meta = meta_with(7, 3);
    write_ds(tmp("t.sslt"), "dataset", 0, 200, meta);
    sv_free(meta);
    FILE *f = fopen(tmp("t.sslt"), "rb");
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    f = fopen(tmp("t.sslt"), "wb");
    fwrite(buf, 1, n * 2 / 3, f);
    fclose(f);
    expect_fail("truncated dataset", tmp("t.sslt"), "truncated");
    s = dstream_open(tmp("t.sslt"), &err);
    int64_t total = 0;
    while (s && (k = dstream_next(s, got, gl, 4)) > 0) total += k;
    T_OK(s && k == -1 && total > 0 && total < N && strstr(dstream_error(s)->msg, "truncated"),
         "dstream: truncation is an error");
    dstream_close(s);
}

/* Two sections (two streams concatenated): every reader refuses the
 * second, naming the record where it starts; dstream after delivering
 * the first section's rows. */
static void test_two_sections(void) {
    ssl_err err = {0};
    sv *meta = meta_with(7, 3);
    write_ds(tmp("one.sslt"), "dataset", 0, 0, meta);
    sv_free(meta);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s'", tmp("one.sslt"), tmp("one.sslt"),
             tmp("two.sslt"));
    if (system(cmd)) { t_report(0, "two sections: made", "cat failed"); return; }
    ssl_dataset d;
    T_EQ(dataset_load(&d, tmp("one.sslt"), &err), 0, "two sections: one section loads");
    dataset_destroy(&d);
    expect_fail("two sections: dataset_load refuses the second", tmp("two.sslt"),
                "record 5: a second section (kind 'dataset'): a dataset stream is one section");
    ssl_features f;
    int rc = features_load(&f, tmp("two.sslt"), &err);
    T_OK(rc == -1 && strstr(err.msg, "record 5: a second section"), "two sections: features_load refuses");
    ssl_dstream *s = dstream_open(tmp("two.sslt"), &err);
    uint8_t got[N * C * H * W];
    int32_t gl[N];
    int64_t k, total = 0;
    while (s && (k = dstream_next(s, got, gl, 8)) > 0) total += k;
    T_OK(s && k == -1 && total == N && strstr(dstream_error(s)->msg, "record 5: a second section"),
         "two sections: dstream delivers the first section's rows, then refuses the second");
    dstream_close(s);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/ds.XXXXXX", getenv("SSL_TEST_TMP") ? getenv("SSL_TEST_TMP") : "/tmp");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    for (int i = 0; i < N * C * H * W; i++) img[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < N; i++) lab[i] = i % 5;
    test_load();
    test_unlabelled();
    test_errors();
    test_two_sections();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    return t_done();
}
