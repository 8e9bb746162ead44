/* test_prep.c: the dataset loaders of ssl-prep (lib/data/prep*.c,
 * lib/data/image.c) on tiny inputs this test writes itself: IDX files (plain and
 * gzip), CIFAR-10/100 tarballs with the exact record layout, PNG and JPEG
 * image folders (directory, zip, tar.gz, Tiny-ImageNet layout), resizing on
 * known cases, subsets and statistics. Layouts, unlabelled trees and bad
 * images: test_prep_layout.c.
 *
 * Helper modes used by tests/cli/prep*.sh:
 *   test_prep --mkfolder DIR     write a small class-per-folder PNG/JPEG tree
 *   test_prep --mkdot FILE       write a 1x1 grey PNG (value 77)
 *   test_prep --mkcifar FILE     write a CIFAR-10 tarball (2 records per batch)
 *   test_prep --count STREAM     read a dataset stream, print
 *                                "n=N shape=CxHxW classes=K counts=a,b,..."
 *                                ("classes=none counts=-" without labels) */
#include <archive.h>
#include <archive_entry.h>
#include <jpeglib.h>
#include <png.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "prep_fixture.h"
#include "data/image.h"
#include "data/prep.h"
#include "stream/sslt.h"
#include "util/threads.h"

/* ---- IDX ---- */
static size_t idx_bytes(uint8_t *out, int ndim, const uint32_t *dims, const uint8_t *data, size_t n) {
    out[0] = out[1] = 0; out[2] = 8; out[3] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        out[4 + 4 * i] = dims[i] >> 24; out[5 + 4 * i] = dims[i] >> 16;
        out[6 + 4 * i] = dims[i] >> 8; out[7 + 4 * i] = (uint8_t)dims[i];
    }
    memcpy(out + 4 + 4 * ndim, data, n);
    return 4 + 4 * ndim + n;
}

static void test_idx(void) {
    uint8_t px[3 * 2 * 3], lab[3] = {0, 9, 4}, buf[256];
    for (int i = 0; i < 18; i++) px[i] = (uint8_t)(i * 13);
    uint32_t di[3] = {3, 2, 3}, dl[1] = {3};
    size_t ni = idx_bytes(buf, 3, di, px, sizeof px);
    write_file(tpath("fashion/train-images-idx3-ubyte"), buf, ni);
    member m = { "x", buf, ni };
    write_archive(tpath("mnist/t10k-images-idx3-ubyte.gz"), "gz", &m, 1);
    size_t nl = idx_bytes(buf, 1, dl, lab, 3);
    write_file(tpath("fashion/train-labels-idx1-ubyte"), buf, nl);
    m.n = nl;
    write_archive(tpath("mnist/t10k-labels-idx1-ubyte.gz"), "gz", &m, 1);

    prep_data d;
    ssl_err err = {0};
    int rc = prep_idx_load(&d, tpath("fashion/train-images-idx3-ubyte"), tpath("fashion/train-labels-idx1-ubyte"), &err);
    T_EQ(rc, 0, "idx plain loads");
    if (!rc) {
        T_OK(d.n == 3 && d.c == 1 && d.h == 2 && d.w == 3, "idx plain shape 3x1x2x3");
        T_OK(!memcmp(d.images, px, sizeof px), "idx plain pixels");
        T_OK(d.labels[0] == 0 && d.labels[1] == 9 && d.labels[2] == 4, "idx plain labels");
        T_OK(d.nclasses == 10 && !strcmp(d.classes[0], "T-shirt/top") && !strcmp(d.classes[9], "Ankle boot"),
             "idx fashion class names");
        T_OK(!strcmp(d.format, "fashion-mnist"), "idx fashion format");
        prep_data_destroy(&d);
    }
    /* Directory + split test, gzip'ed, MNIST names. */
    const char *p = tpath("mnist");
    prep_opts o = {0};
    o.split = "test";
    rc = prep_load(&d, &p, 1, &o, &err);
    T_EQ(rc, 0, "idx gz directory split test loads");
    if (!rc) {
        T_OK(d.n == 3 && !memcmp(d.images, px, sizeof px) && d.labels[1] == 9, "idx gz pixels and labels");
        T_OK(!strcmp(d.classes[0], "0") && !strcmp(d.classes[9], "9"), "idx mnist digit names");
        prep_data_destroy(&d);
    }
    o.split = "train";
    rc = prep_load(&d, &p, 1, &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "train"), "idx directory without the train files refused");
    /* Two files in reverse order (labels first). */
    const char *two[2] = { tpath("mnist/t10k-labels-idx1-ubyte.gz"), tpath("mnist/t10k-images-idx3-ubyte.gz") };
    rc = prep_load(&d, two, 2, NULL, &err);
    T_OK(rc == 0 && d.n == 3 && d.labels[2] == 4, "idx files in either order");
    prep_data_destroy(&d);

    /* Bad inputs. */
    ni = idx_bytes(buf, 3, di, px, sizeof px - 1);
    write_file(tpath("bad/trunc-images-idx3-ubyte"), buf, ni);
    rc = prep_idx_load(&d, tpath("bad/trunc-images-idx3-ubyte"), tpath("fashion/train-labels-idx1-ubyte"), &err);
    T_OK(rc == -1 && strstr(err.msg, "truncated") && strstr(err.msg, "trunc-images"), "idx truncated plain refused");
    m.data = buf; m.n = ni;
    write_archive(tpath("bad/truncz-images-idx3-ubyte.gz"), "gz", &m, 1);
    rc = prep_idx_load(&d, tpath("bad/truncz-images-idx3-ubyte.gz"), tpath("fashion/train-labels-idx1-ubyte"), &err);
    T_OK(rc == -1 && strstr(err.msg, "truncated"), "idx truncated gz payload refused");
    uint32_t absurd[3] = {0xFFFFFFFFu, 28, 28};
    ni = idx_bytes(buf, 3, absurd, px, sizeof px);
    m.n = ni;
    write_archive(tpath("bad/absurd-images-idx3-ubyte.gz"), "gz", &m, 1);
    rc = prep_idx_load(&d, tpath("bad/absurd-images-idx3-ubyte.gz"), tpath("fashion/train-labels-idx1-ubyte"), &err);
    T_OK(rc == -1 && strstr(err.msg, "limit"), "idx absurd count refused before allocating");
    uint32_t dl2[1] = {2};
    nl = idx_bytes(buf, 1, dl2, lab, 2);
    write_file(tpath("bad/two-labels-idx1-ubyte"), buf, nl);
    rc = prep_idx_load(&d, tpath("fashion/train-images-idx3-ubyte"), tpath("bad/two-labels-idx1-ubyte"), &err);
    T_OK(rc == -1 && strstr(err.msg, "2 labels for the 3 images"), "idx count mismatch refused");
    T_OK(d.images == NULL && d.n == 0, "failed load leaves the data empty");
}

/* ---- CIFAR ---- */
static uint8_t cifar_px(int rec, int c, int y, int x) { return (uint8_t)(rec * 31 + c * 85 + y * 7 + x); }

/* A CIFAR-10 tarball: batches 1-5 and the test batch with 2 records each
 * (record i has label i % 10), members in reverse order; short_batch > 0
 * cuts data_batch_<short_batch>.bin by 5 bytes. */
static void build_cifar10(const char *path, int short_batch) {
    enum { R10 = 3073 };
    uint8_t *batch[6];
    member mv[8];
    char names[6][64];
    for (int b = 0; b < 6; b++) {            /* batch 5 is the test batch */
        batch[b] = malloc(2 * R10);
        for (int r = 0; r < 2; r++) {
            int rec = b * 2 + r;
            uint8_t *p = batch[b] + r * R10;
            p[0] = (uint8_t)(rec % 10);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y++)
                    for (int x = 0; x < 32; x++) p[1 + c * 1024 + y * 32 + x] = cifar_px(rec, c, y, x);
        }
    }
    const char *meta = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    int k = 0;
    mv[k++] = (member){ "cifar-10-batches-bin/batches.meta.txt", meta, strlen(meta) };
    for (int b = 4; b >= 0; b--) {           /* reverse order: the loader sorts */
        snprintf(names[b], sizeof names[b], "cifar-10-batches-bin/data_batch_%d.bin", b + 1);
        mv[k++] = (member){ names[b], batch[b], 2 * R10 - (b + 1 == short_batch ? 5 : 0) };
    }
    mv[k++] = (member){ "cifar-10-batches-bin/test_batch.bin", batch[5], 2 * R10 };
    write_archive(path, "tar.gz", mv, k);
    for (int b = 0; b < 6; b++) free(batch[b]);
}

static void test_cifar(void) {
    enum { R100 = 3074 };
    build_cifar10(tpath("cifar-10-binary.tar.gz"), 0);
    prep_data d;
    ssl_err err = {0};
    const char *p = tpath("cifar-10-binary.tar.gz");
    int rc = prep_load(&d, &p, 1, NULL, &err);
    T_EQ(rc, 0, "cifar-10 train loads");
    if (!rc) {
        T_OK(d.n == 10 && d.c == 3 && d.h == 32 && d.w == 32, "cifar-10 train 10x3x32x32");
        int okl = 1, okp = 1;
        for (int i = 0; i < 10; i++) {
            okl &= d.labels[i] == i % 10;
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < 32; y += 5)
                    for (int x = 0; x < 32; x += 3)
                        okp &= d.images[((size_t)i * 3 + c) * 1024 + y * 32 + x] == cifar_px(i, c, y, x);
        }
        T_OK(okl, "cifar-10 labels in batch order");
        T_OK(okp, "cifar-10 pixel planes R, G, B in place");
        T_OK(d.nclasses == 10 && !strcmp(d.classes[0], "airplane") && !strcmp(d.classes[9], "truck"),
             "cifar-10 class names from batches.meta.txt");
        prep_data_destroy(&d);
    }
    prep_opts o = {0};
    o.split = "test";
    rc = prep_load(&d, &p, 1, &o, &err);
    T_OK(rc == 0 && d.n == 2 && d.labels[0] == 0 && d.images[0] == cifar_px(10, 0, 0, 0), "cifar-10 test split");
    prep_data_destroy(&d);
    /* Truncated record. */
    build_cifar10(tpath("cifar-bad.tar.gz"), 3);
    p = tpath("cifar-bad.tar.gz");
    rc = prep_load(&d, &p, 1, NULL, &err);
    T_OK(rc == -1 && strstr(err.msg, "truncated record") && strstr(err.msg, "data_batch_"), "cifar truncated record refused");

    /* CIFAR-100: coarse byte, fine byte. */
    uint8_t *tr = malloc(3 * R100);
    for (int r = 0; r < 3; r++) {
        tr[r * R100] = (uint8_t)(r + 17);         /* coarse */
        tr[r * R100 + 1] = (uint8_t)(r * 33);     /* fine */
        for (int j = 0; j < 3072; j++) tr[r * R100 + 2 + j] = (uint8_t)(j + r);
    }
    char fine[1024] = "", coarse[512] = "";
    for (int i = 0; i < 100; i++) snprintf(fine + strlen(fine), sizeof fine - strlen(fine), "f%d\n", i);
    for (int i = 0; i < 20; i++) snprintf(coarse + strlen(coarse), sizeof coarse - strlen(coarse), "c%d\r\n", i);
    member m100[4] = {
        { "cifar-100-binary/coarse_label_names.txt", coarse, strlen(coarse) },
        { "cifar-100-binary/fine_label_names.txt", fine, strlen(fine) },
        { "cifar-100-binary/train.bin", tr, 3 * R100 },
        { "cifar-100-binary/test.bin", tr, R100 },
    };
    write_archive(tpath("cifar-100-binary.tar.gz"), "tar.gz", m100, 4);
    p = tpath("cifar-100-binary.tar.gz");
    rc = prep_load(&d, &p, 1, NULL, &err);
    T_EQ(rc, 0, "cifar-100 train loads");
    if (!rc) {
        T_OK(d.n == 3 && d.labels[0] == 0 && d.labels[1] == 33 && d.labels[2] == 66, "cifar-100 fine labels");
        T_OK(d.nclasses == 100 && !strcmp(d.classes[33], "f33"), "cifar-100 fine names");
        T_OK(d.images[3072 * 2 + 5] == 7 && d.images[1024] == (uint8_t)1024, "cifar-100 pixels after 2 label bytes");
        prep_data_destroy(&d);
    }
    o.split = NULL; o.labels = "coarse";
    rc = prep_load(&d, &p, 1, &o, &err);
    T_OK(rc == 0 && d.labels[2] == 19 && d.nclasses == 20 && !strcmp(d.classes[19], "c19"), "cifar-100 coarse labels and names");
    prep_data_destroy(&d);
    free(tr);
}

/* ---- image folders ---- */
static membuf pngs[4], jpg;
static uint8_t rgb_px[4 * 4 * 3], grey_px[16];

static void make_images(void) {
    for (int i = 0; i < 48; i++) rgb_px[i] = (uint8_t)(i * 5);
    for (int i = 0; i < 16; i++) grey_px[i] = (uint8_t)(i * 16);
    pngs[0] = png_encode(rgb_px, 4, 4, PNG_COLOR_TYPE_RGB, NULL, 0);
    pngs[1] = png_encode(grey_px, 4, 4, PNG_COLOR_TYPE_GRAY, NULL, 0);
    uint8_t rgba[64];
    for (int i = 0; i < 16; i++) { memcpy(rgba + 4 * i, rgb_px + 3 * i, 3); rgba[4 * i + 3] = 255; }
    pngs[2] = png_encode(rgba, 4, 4, PNG_COLOR_TYPE_RGBA, NULL, 0);
    png_color pal[2] = { {10, 20, 30}, {200, 100, 50} };
    uint8_t idx[16];
    for (int i = 0; i < 16; i++) idx[i] = (uint8_t)(i & 1);
    pngs[3] = png_encode(idx, 4, 4, PNG_COLOR_TYPE_PALETTE, pal, 2);
    uint8_t flat[16];
    memset(flat, 128, sizeof flat);
    jpg = jpeg_encode(flat, 4, 4, 1);
}

/* cat/{a.png (RGB), b.jpg (grey 128)}, dog/{c.png (grey), d.png (palette), e.png (RGBA)}, under prefix. */
static int folder_members(member *mv, const char *prefix, char names[][256]) {
    const char *rel[5] = { "cat/a.png", "cat/b.jpg", "dog/c.png", "dog/d.png", "dog/e.png" };
    const membuf *data[5] = { &pngs[0], &jpg, &pngs[1], &pngs[3], &pngs[2] };
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], 256, "%s%s", prefix, rel[i]);
        mv[i] = (member){ names[i], data[i]->p, data[i]->n };
    }
    return 5;
}

static void check_folder(const prep_data *d, const char *what) {
    char name[256];
    snprintf(name, sizeof name, "%s: 5 images 3x4x4, classes cat, dog", what);
    T_OK(d->n == 5 && d->c == 3 && d->h == 4 && d->w == 4 && d->nclasses == 2 &&
         !strcmp(d->classes[0], "cat") && !strcmp(d->classes[1], "dog"), name);
    if (d->n != 5 || d->c != 3) return;
    int ok = d->labels[0] == 0 && d->labels[1] == 0 && d->labels[2] == 1 && d->labels[4] == 1;
    snprintf(name, sizeof name, "%s: labels from folders, sorted by path", what);
    T_OK(ok, name);
    ok = 1;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 16; i++) {
            ok &= d->images[c * 16 + i] == rgb_px[3 * i + c];              /* a.png, RGB */
            ok &= d->images[4 * 48 + c * 16 + i] == rgb_px[3 * i + c];     /* e.png, alpha dropped */
            ok &= d->images[2 * 48 + c * 16 + i] == grey_px[i];            /* c.png, grey replicated */
            ok &= abs(d->images[48 + c * 16 + i] - 128) <= 1;              /* b.jpg */
        }
    ok &= d->images[3 * 48 + 0] == 10 && d->images[3 * 48 + 16] == 20 && d->images[3 * 48 + 32 + 1] == 50;
    snprintf(name, sizeof name, "%s: pixels (RGB, grey, RGBA, palette, JPEG)", what);
    T_OK(ok, name);
}

static void test_folders(void) {
    member mv[16];
    char names[16][256];
    ssl_err err = {0};
    prep_data d, dz;
    make_images();
    int n = folder_members(mv, "", names);
    for (int i = 0; i < n; i++) {
        char rel[300];
        snprintf(rel, sizeof rel, "folder/%s", mv[i].name);
        write_file(tpath(rel), mv[i].data, mv[i].n);
    }
    const char *p = tpath("folder");
    ssl_set_threads(2);
    int rc = prep_load(&d, &p, 1, NULL, &err);
    T_EQ(rc, 0, "image folder (directory) loads");
    if (!rc) check_folder(&d, "directory");
    n = folder_members(mv, "root/", names);
    write_archive(tpath("folder.zip"), "zip", mv, n);
    p = tpath("folder.zip");
    rc = prep_load(&dz, &p, 1, NULL, &err);
    T_EQ(rc, 0, "image folder (zip, top directory) loads");
    if (!rc) check_folder(&dz, "zip");
    /* tar.gz in reverse member order, without a top directory. */
    n = folder_members(mv, "", names);
    member rev[5];
    for (int i = 0; i < 5; i++) rev[i] = mv[4 - i];
    write_archive(tpath("folder.tar.gz"), "tar.gz", rev, 5);
    p = tpath("folder.tar.gz");
    prep_data dt;
    rc = prep_load(&dt, &p, 1, NULL, &err);
    T_OK(rc == 0 && d.n == dt.n && !memcmp(d.images, dt.images, 5 * 48) && !memcmp(d.labels, dt.labels, 20),
         "tar.gz in any member order gives the same data as the directory");
    prep_data_destroy(&dt); prep_data_destroy(&dz);
    /* --channels 1 and --size. */
    prep_opts o = {0};
    o.channels = 1; o.height = 2; o.width = 2;
    p = tpath("folder");
    rc = prep_load(&dt, &p, 1, &o, &err);
    T_OK(rc == 0 && dt.c == 1 && dt.h == 2 && dt.w == 2 && dt.n == 5, "--channels 1 --size 2 gives 1x2x2");
    if (!rc) {   /* c.png grey: 2x2 block means of i*16 */
        int want0 = (0 + 16 + 64 + 80) / 4;
        T_EQ(dt.images[2 * 4 + 0], want0, "grey image block mean after area resize");
    }
    prep_data_destroy(&dt);
    prep_data_destroy(&d);
    /* All grey: one channel by default. */
    write_file(tpath("greyfolder/x/a.png"), pngs[1].p, pngs[1].n);
    write_file(tpath("greyfolder/y/b.jpg"), jpg.p, jpg.n);
    write_file(tpath("greyfolder/y/notes.txt"), "hello", 5);
    p = tpath("greyfolder");
    rc = prep_load(&d, &p, 1, NULL, &err);
    T_OK(rc == 0 && d.c == 1 && d.n == 2, "all-grey folder gives 1 channel, text files ignored");
    prep_data_destroy(&d);
    /* Bad: corrupt image, differing sizes, empty. */
    write_file(tpath("corrupt/x/a.png"), pngs[1].p, pngs[1].n / 2);
    p = tpath("corrupt");
    rc = prep_load(&d, &p, 1, NULL, &err);
    T_OK(rc == -1 && strstr(err.msg, "x/a.png") && strstr(err.msg, "PNG"), "truncated PNG refused, named");
    uint8_t big[36] = {0};
    membuf b6 = png_encode(big, 6, 6, PNG_COLOR_TYPE_GRAY, NULL, 0);
    write_file(tpath("sizes/x/a.png"), pngs[1].p, pngs[1].n);
    write_file(tpath("sizes/y/b.png"), b6.p, b6.n);
    p = tpath("sizes");
    rc = prep_load(&d, &p, 1, NULL, &err);
    T_OK(rc == -1 && strstr(err.msg, "--size"), "differing sizes without --size refused");
    o.channels = 0; o.height = o.width = 5;
    rc = prep_load(&d, &p, 1, &o, &err);
    T_OK(rc == 0 && d.h == 5 && d.w == 5, "differing sizes with --size 5");
    prep_data_destroy(&d);
    free(b6.p);
    mkdirs(tpath("empty/a"));
    p = tpath("empty");
    rc = prep_load(&d, &p, 1, NULL, &err);
    T_OK(rc == -1 && strstr(err.msg, "no PNG or JPEG"), "empty folder refused");
}

static void test_tiny(void) {
    member mv[16];
    ssl_err err = {0};
    const char *wn = "n02\nn01\n";
    const char *ann = "val_0.JPEG\tn02\t0\t0\t10\t10\nval_1.JPEG\tn01\t1\t1\t5\t5\n";
    int k = 0;
    mv[k++] = (member){ "tiny-imagenet-200/wnids.txt", wn, strlen(wn) };
    mv[k++] = (member){ "tiny-imagenet-200/words.txt", "n01\tone\nn02\ttwo\n", 16 };
    mv[k++] = (member){ "tiny-imagenet-200/train/n01/n01_boxes.txt", "x", 1 };
    mv[k++] = (member){ "tiny-imagenet-200/train/n01/images/n01_0.JPEG", jpg.p, jpg.n };
    mv[k++] = (member){ "tiny-imagenet-200/train/n02/images/n02_0.JPEG", pngs[1].p, pngs[1].n };
    mv[k++] = (member){ "tiny-imagenet-200/train/n02/images/n02_1.JPEG", jpg.p, jpg.n };
    mv[k++] = (member){ "tiny-imagenet-200/val/images/val_0.JPEG", jpg.p, jpg.n };
    mv[k++] = (member){ "tiny-imagenet-200/val/images/val_1.JPEG", pngs[1].p, pngs[1].n };
    mv[k++] = (member){ "tiny-imagenet-200/val/val_annotations.txt", ann, strlen(ann) };
    mv[k++] = (member){ "tiny-imagenet-200/test/images/test_0.JPEG", jpg.p, jpg.n };
    write_archive(tpath("tiny-imagenet-200.zip"), "zip", mv, k);
    const char *p = tpath("tiny-imagenet-200.zip");
    prep_data d;
    int rc = prep_load(&d, &p, 1, NULL, &err);
    T_OK(rc == 0 && d.n == 3 && d.nclasses == 2 && !strcmp(d.classes[0], "n01") &&
         d.labels[0] == 0 && d.labels[1] == 1 && d.labels[2] == 1 && !strcmp(d.format, "tiny-imagenet"),
         "tiny-imagenet train: classes = sorted wnids, label = directory above images/");
    prep_data_destroy(&d);
    prep_opts o = {0};
    o.split = "val";
    rc = prep_load(&d, &p, 1, &o, &err);
    T_OK(rc == 0 && d.n == 2 && d.labels[0] == 1 && d.labels[1] == 0,
         "tiny-imagenet val: labels from val_annotations.txt");
    prep_data_destroy(&d);
    o.split = "test";
    rc = prep_load(&d, &p, 1, &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "train and val"), "tiny-imagenet test split refused");
}

/* ---- resize, subset, stats ---- */
static void test_resize(void) {
    uint8_t src[16], dst[16];
    for (int i = 0; i < 16; i++) src[i] = (uint8_t)(i * 10);
    image_resize_plane(src, 4, 4, dst, 2, 2);
    T_OK(dst[0] == 25 && dst[1] == 45 && dst[2] == 105 && dst[3] == 125, "area 4x4 -> 2x2 block means");
    uint8_t two[2] = {0, 100}, four[4];
    image_resize_plane(two, 1, 2, four, 1, 4);
    T_OK(four[0] == 0 && four[1] == 25 && four[2] == 75 && four[3] == 100, "bilinear 2 -> 4 (centres aligned)");
    uint8_t three[3] = {0, 90, 180}, out2[2];
    image_resize_plane(three, 1, 3, out2, 1, 2);
    T_OK(out2[0] == 30 && out2[1] == 150, "area 3 -> 2 with fractional weights");
    uint8_t col[3] = {0, 90, 180}, colo[2];
    image_resize_plane(col, 3, 1, colo, 2, 1);
    T_OK(colo[0] == 30 && colo[1] == 150, "area along the vertical axis");
}

static void test_subset_stats(void) {
    prep_data d = {0};
    d.n = 30; d.c = 1; d.h = 1; d.w = 2; d.nclasses = 3;
    d.images = malloc(60); d.labels = malloc(30 * 4);
    d.classes = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++) d.classes[i] = strdup(i == 0 ? "a" : i == 1 ? "b" : "c");
    for (int i = 0; i < 30; i++) { d.labels[i] = (i * 7) % 3; d.images[2 * i] = (uint8_t)i; d.images[2 * i + 1] = 0; }
    prep_data e = d;                                  /* a copy for a second run */
    e.images = malloc(60); memcpy(e.images, d.images, 60);
    e.labels = malloc(120); memcpy(e.labels, d.labels, 120);
    e.classes = calloc(3, sizeof(char *));
    for (int i = 0; i < 3; i++) e.classes[i] = strdup(d.classes[i]);
    int64_t *idx, *idx2, n, n2;
    ssl_err err = {0};
    int rc = prep_subset(&d, 4, 0, 7, &idx, &n, &err);
    T_OK(rc == 0 && n == 12 && d.n == 12, "subset 4 per class keeps 12");
    int ok = 1;
    for (int i = 0; i < 12; i++) {
        ok &= d.labels[i] == i / 4;                                   /* class order */
        ok &= d.images[2 * i] == idx[i];                              /* row = source row */
        if (i % 4) ok &= idx[i] > idx[i - 1];                         /* index order */
        ok &= (idx[i] * 7) % 3 == d.labels[i];
    }
    T_OK(ok, "subset rows: class order, then source index order, labels match");
    rc = prep_subset(&e, 4, 0, 7, &idx2, &n2, &err);
    T_OK(rc == 0 && n2 == 12 && !memcmp(idx, idx2, 12 * sizeof(int64_t)), "subset deterministic for a seed");
    free(idx2);
    prep_data_destroy(&e);
    /* A different seed picks differently (all 10 classes of 10 images). */
    prep_data f = {0};
    f.n = 100; f.c = 1; f.h = f.w = 1; f.nclasses = 10;
    f.images = malloc(100); f.labels = malloc(400); f.classes = calloc(10, sizeof(char *));
    for (int i = 0; i < 10; i++) f.classes[i] = strdup("k");
    for (int i = 0; i < 100; i++) { f.images[i] = (uint8_t)i; f.labels[i] = i % 10; }
    prep_data g = f;
    g.images = malloc(100); memcpy(g.images, f.images, 100);
    g.labels = malloc(400); memcpy(g.labels, f.labels, 400);
    g.classes = calloc(10, sizeof(char *));
    for (int i = 0; i < 10; i++) g.classes[i] = strdup("k");
    prep_subset(&f, 0, 0.25, 1, &idx2, &n2, &err);
    T_EQ(n2, 30, "subset fraction 0.25 of 10 per class rounds to 3 per class");
    int64_t *idx3, n3;
    prep_subset(&g, 0, 0.25, 2, &idx3, &n3, &err);
    T_OK(n3 == 30 && memcmp(idx2, idx3, 30 * sizeof(int64_t)), "another seed chooses other images");
    free(idx2); free(idx3);
    prep_data_destroy(&f); prep_data_destroy(&g);
    rc = prep_subset(&d, 5, 0, 7, &idx2, &n2, &err);
    T_OK(rc == -1 && strstr(err.msg, "only 4"), "subset larger than a class refused");
    free(idx);
    /* Stats: pixels 0 and 255 in equal numbers -> mean 0.5, std 0.5. */
    for (int i = 0; i < 24; i++) d.images[i] = i % 2 ? 255 : 0;
    double mean, std;
    prep_stats(&d, &mean, &std);
    T_NEAR(mean, 0.5, 1e-12, 0, "stats mean");
    T_NEAR(std, 0.5, 1e-12, 0, "stats population std");
    int64_t per, fr_n; double frac;
    T_OK(prep_subset_parse("100", &per, &frac) == 0 && per == 100 && frac == 0, "subset parse count");
    T_OK(prep_subset_parse("0.1", &fr_n, &frac) == 0 && fr_n == 0 && frac == 0.1, "subset parse fraction");
    T_OK(prep_subset_parse("0", &per, &frac) == -1 && prep_subset_parse("1.5", &per, &frac) == -1 &&
         prep_subset_parse("x", &per, &frac) == -1, "subset parse rejects 0, 1.5, x");
    prep_data_destroy(&d);
}

/* ---- helper modes ---- */
static int count_mode(const char *path) {
    ssl_err err = {0};
    sslt_reader *r = sslt_reader_open(path, &err);
    const sslt_header *h;
    if (!r) { fprintf(stderr, "%s\n", err.msg); return 1; }
    if (sslt_reader_next(r, &h) != 1 || strcmp(h->kind, "dataset")) {
        fprintf(stderr, "%s: not a dataset stream: %s\n", path, sslt_reader_error(r)->msg);
        return 1;
    }
    int ii = sslt_find(h, "images"), li = sslt_find(h, "labels");
    const sv *cl = sv_get(h->meta, "classes");
    int nc = (int)sv_len(cl);
    if (ii < 0 || (li >= 0 && nc < 1) || (li < 0 && cl)) {
        fprintf(stderr, "%s: bad dataset header\n", path);
        return 1;
    }
    const sslt_tensor *t = &h->tensors[ii];
    printf("n=%lld shape=%lldx%lldx%lld ", (long long)t->shape[0], (long long)t->shape[1],
           (long long)t->shape[2], (long long)t->shape[3]);
    if (li < 0) printf("classes=none counts=-");      /* unlabelled */
    else printf("classes=%d counts=", nc);
    int64_t *counts = calloc((size_t)nc, sizeof(int64_t)), bad = 0;
    int ti, got;
    int64_t row, nrows;
    const void *data;
    while ((got = sslt_reader_chunk(r, &ti, &row, &nrows, &data)) == 1)
        if (ti == li)
            for (int64_t i = 0; i < nrows; i++) {
                int32_t l;
                memcpy(&l, (const char *)data + 4 * i, 4);
                if (l < 0 || l >= nc) bad++; else counts[l]++;
            }
    for (int i = 0; i < nc; i++) printf("%s%lld", i ? "," : "", (long long)counts[i]);
    double mean = -1;
    sv_number(sv_at(sv_get(h->meta, "mean"), 0), &mean);
    printf(" mean=%.5f bad=%lld\n", mean, (long long)bad);
    free(counts);
    int rc = got == 0 ? 0 : 1;
    if (rc) fprintf(stderr, "%s\n", sslt_reader_error(r)->msg);
    sslt_reader_close(r);
    return rc;
}

/* test_prep --mkpngs DIR N SIZE: N RGB PNGs of SIZE x SIZE pixels in each
 * of DIR/discs/ and DIR/stripes/, the "own images" of README's tutorial
 * (tests/cli/tutorial.sh): a disc or horizontal bars of random place,
 * size and colour on a noisy background; the same files on every run. */
static int mkpngs_mode(const char *dir, int n, int size) {
    uint64_t x = 88172645463325252ull;
    uint8_t *px = malloc((size_t)size * size * 3);
    char path[4096];
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < n; i++) {
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
            int cy = (int)(NEXT() % (uint64_t)size), cx = (int)(NEXT() % (uint64_t)size);
            int r = size / 6 + (int)(NEXT() % (uint64_t)(size / 4 + 1)), period = 4 + (int)(NEXT() % 5);
            uint8_t col[3] = {(uint8_t)(96 + NEXT() % 160), (uint8_t)(96 + NEXT() % 160),
                              (uint8_t)(96 + NEXT() % 160)};
            for (int y = 0; y < size; y++)
                for (int xx = 0; xx < size; xx++) {
                    int on = k == 0 ? (y - cy) * (y - cy) + (xx - cx) * (xx - cx) <= r * r
                                    : ((y + cy) / (period / 2)) % 2 == 0;
                    for (int c = 0; c < 3; c++)
                        px[((size_t)y * size + xx) * 3 + c] = on ? col[c] : (uint8_t)(NEXT() % 64);
                }
#undef NEXT
            membuf m = png_encode(px, size, size, PNG_COLOR_TYPE_RGB, NULL, 0);
            snprintf(path, sizeof path, "%s/%s/%03d.png", dir, k ? "stripes" : "discs", i);
            write_file(path, m.p, m.n);
            free(m.p);
        }
    free(px);
    return 0;
}

int main(int argc, char **argv) {
    const char *base = getenv("SSL_TEST_TMP");
    if (argc == 5 && !strcmp(argv[1], "--mkpngs"))
        return mkpngs_mode(argv[2], atoi(argv[3]), atoi(argv[4]));
    snprintf(tmpdir, sizeof tmpdir, "%s/prep.XXXXXX", base ? base : "/tmp");
    if (argc == 3 && !strcmp(argv[1], "--count")) return count_mode(argv[2]);
    if (!mkdtemp(tmpdir)) { perror(tmpdir); return 2; }
    if (argc == 3 && !strcmp(argv[1], "--mkfolder")) {
        member mv[8];
        char names[8][256], full[4096];
        make_images();
        int n = folder_members(mv, "", names);
        for (int i = 0; i < n; i++) {
            snprintf(full, sizeof full, "%s/%s", argv[2], mv[i].name);
            write_file(full, mv[i].data, mv[i].n);
        }
        rmdir(tmpdir);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--mkdot")) {       /* a 1x1 grey PNG */
        uint8_t v = 77;
        membuf m = png_encode(&v, 1, 1, PNG_COLOR_TYPE_GRAY, NULL, 0);
        write_file(argv[2], m.p, m.n);
        free(m.p);
        rmdir(tmpdir);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "--mkcifar")) {
        build_cifar10(argv[2], 0);
        rmdir(tmpdir);
        return 0;
    }
    test_idx();
    test_cifar();
    test_folders();
    test_tiny();
    test_resize();
    test_subset_stats();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
