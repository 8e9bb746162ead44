/* test_prep_layout.c: ssl-prep's image folders in any layout
 * (lib/data/prep_images.c, prep.c): which trees give labels and which an
 * unlabelled set, with the notices that say so; --labels none and folders
 * on every kind of input; files that are not images, hidden files; bad
 * images stopped or skipped (--on-error); sizes: 1x1, a PNG header
 * claiming 20000x20000, and the resize filter on a known image; subsets of
 * unlabelled data. The inputs are written here (prep_fixture.h). */
#include <unistd.h>

#include "t.h"
#include "prep_fixture.h"
#include "data/prep.h"
#include "stream/sslt.h"
#include "util/threads.h"

/* What the loader said through prep_opts.notice and .warning. */
typedef struct { int notices, warnings; char last_notice[SSL_ERRLEN], all[4096]; } said;

static void on_notice(void *ctx, const char *msg) {
    said *s = ctx;
    s->notices++;
    snprintf(s->last_notice, sizeof s->last_notice, "%s", msg);
    strncat(s->all, msg, sizeof s->all - strlen(s->all) - 2);
    strcat(s->all, "\n");
}

static void on_warning(void *ctx, const char *msg) {
    said *s = ctx;
    s->warnings++;
    strncat(s->all, msg, sizeof s->all - strlen(s->all) - 2);
    strcat(s->all, "\n");
}

static prep_opts opts(said *s, const char *labels) {
    memset(s, 0, sizeof *s);
    prep_opts o = {0};
    o.labels = labels;
    o.notice = on_notice;
    o.warning = on_warning;
    o.notice_ctx = s;
    return o;
}

static int load(prep_data *d, const char *rel, const prep_opts *o, ssl_err *err) {
    const char *p = tpath(rel);
    return prep_load(d, &p, 1, o, err);
}

static membuf rgb4, grey4, jpg4;

static void make_images(void) {
    uint8_t rgb[48], grey[16];
    for (int i = 0; i < 48; i++) rgb[i] = (uint8_t)(i * 5);
    for (int i = 0; i < 16; i++) grey[i] = (uint8_t)(i * 16);
    rgb4 = png_encode(rgb, 4, 4, PNG_COLOR_TYPE_RGB, NULL, 0);
    grey4 = png_encode(grey, 4, 4, PNG_COLOR_TYPE_GRAY, NULL, 0);
    jpg4 = jpeg_encode(grey, 4, 4, 1);
}

static void put(const char *rel, const membuf *m) { write_file(tpath(rel), m->p, m->n); }

/* Which trees are labelled, and the notices. */
static void test_layouts(void) {
    said s;
    ssl_err err = {0};
    prep_data d;
    prep_opts o;
    /* Flat: images and a text file in one folder. */
    put("flat/a.png", &rgb4);
    put("flat/b.jpg", &jpg4);
    write_file(tpath("flat/notes.txt"), "hello", 5);
    o = opts(&s, NULL);
    int rc = load(&d, "flat", &o, &err);
    T_OK(rc == 0 && d.n == 2 && !d.labels && d.nclasses == 0 && !d.classes && d.c == 3 &&
         !strcmp(d.format, "image-folder"), "flat folder: two images, no labels");
    T_OK(s.notices == 2 && strstr(s.all, "notice: ") &&
         strstr(s.all, "flat: 1 file not named .png, .jpg or .jpeg skipped (e.g. notes.txt)") &&
         strstr(s.all, "flat: no class subfolders: the stream will have no labels") && s.warnings == 0,
         "flat folder: a notice for the text file, one for the missing labels");
    if (!rc) prep_data_destroy(&d);
    o = opts(&s, "folders");
    rc = load(&d, "flat", &o, &err);
    T_OK(rc == -1 && err.code == SSL_EDATA && strstr(err.msg, "flat: a.png: image is not in a class subfolder"),
         "flat folder, --labels folders: refused, naming the first image");
    o = opts(&s, "none");
    rc = load(&d, "flat", &o, &err);
    T_OK(rc == 0 && d.n == 2 && !d.labels && s.notices == 1, "flat folder, --labels none: no labels notice");
    if (!rc) prep_data_destroy(&d);

    /* Mixed: class folders and one image beside them, deeper folders too. */
    put("mixed/cat/a.png", &rgb4);
    put("mixed/dog/x/y/c.png", &grey4);
    put("mixed/top.png", &rgb4);
    o = opts(&s, NULL);
    rc = load(&d, "mixed", &o, &err);
    T_OK(rc == 0 && d.n == 3 && !d.labels && !d.classes, "mixed tree: unlabelled by default");
    T_OK(s.notices == 1 && strstr(s.last_notice, "mixed: top.png is not in a class subfolder (1 of 3 "
         "images are not): the stream will have no labels"), "mixed tree: the notice names the image");
    if (!rc) prep_data_destroy(&d);
    o = opts(&s, "folders");
    rc = load(&d, "mixed", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "mixed: top.png: image is not in a class subfolder"),
         "mixed tree, --labels folders: refused");
    unlink(tpath("mixed/top.png"));
    o = opts(&s, NULL);
    rc = load(&d, "mixed", &o, &err);
    T_OK(rc == 0 && d.n == 2 && d.labels && d.nclasses == 2 && !strcmp(d.classes[1], "dog") &&
         d.labels[0] == 0 && d.labels[1] == 1 && s.notices == 0,
         "every image in a class folder (at any depth): labelled, silently");
    if (!rc) prep_data_destroy(&d);
    o = opts(&s, "none");
    rc = load(&d, "mixed", &o, &err);
    T_OK(rc == 0 && d.n == 2 && !d.labels && d.nclasses == 0 && s.notices == 0,
         "class folders, --labels none: unlabelled");
    if (!rc) prep_data_destroy(&d);

    /* Archives: the root is the longest common directory. */
    member mv[8];
    mv[0] = (member){"pics/x.png", rgb4.p, rgb4.n};
    mv[1] = (member){"pics/y.png", grey4.p, grey4.n};
    write_archive(tpath("one.tar.gz"), "tar.gz", mv, 2);
    o = opts(&s, NULL);
    rc = load(&d, "one.tar.gz", &o, &err);
    T_OK(rc == 0 && d.n == 2 && !d.labels && s.notices == 1 &&
         strstr(s.last_notice, "no class subfolders"), "archive of one folder: unlabelled by default");
    if (!rc) prep_data_destroy(&d);
    o = opts(&s, "folders");
    rc = load(&d, "one.tar.gz", &o, &err);
    T_OK(rc == 0 && d.n == 2 && d.nclasses == 1 && !strcmp(d.classes[0], "pics") && d.labels[1] == 0,
         "archive of one folder, --labels folders: that folder is the one class");
    if (!rc) prep_data_destroy(&d);
    /* "./" names, hidden folders, __MACOSX, a file that is not an image. */
    int k = 0;
    mv[k++] = (member){"./cat/a.png", rgb4.p, rgb4.n};
    mv[k++] = (member){"./dog/b.png", grey4.p, grey4.n};
    mv[k++] = (member){"./.git/c.png", grey4.p, grey4.n};
    mv[k++] = (member){"./dog/.d.png", grey4.p, grey4.n};
    mv[k++] = (member){"__MACOSX/cat/._a.png", "junk", 4};
    mv[k++] = (member){"./cat/readme.md", "# hi", 4};
    write_archive(tpath("dots.zip"), "zip", mv, k);
    o = opts(&s, NULL);
    rc = load(&d, "dots.zip", &o, &err);
    T_OK(rc == 0 && d.n == 2 && d.nclasses == 2 && !strcmp(d.classes[0], "cat") && s.notices == 1 &&
         strstr(s.last_notice, "1 file not named .png, .jpg or .jpeg skipped (e.g. ./cat/readme.md)"),
         "zip with ./ names: hidden files and __MACOSX skipped silently, the text file counted");
    if (!rc) prep_data_destroy(&d);
    /* Nothing but other files. */
    write_file(tpath("noimg/a/data.csv"), "1,2\n", 4);
    write_file(tpath("noimg/b.txt"), "x", 1);
    o = opts(&s, NULL);
    rc = load(&d, "noimg", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "noimg: no PNG or JPEG images found (2 other files, e.g. a/data.csv)"),
         "only other files: refused, counting them");
    mkdirs(tpath("emptydir"));
    rc = load(&d, "emptydir", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "emptydir: no PNG or JPEG images found") && !strstr(err.msg, "other"),
         "empty folder refused");
}

/* --labels none and folders on IDX and CIFAR. */
static void test_labels_other_inputs(void) {
    said s;
    ssl_err err = {0};
    prep_data d;
    uint8_t idx_i[16 + 3 * 4] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
    uint8_t idx_l[8 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 0};
    write_file(tpath("idx/train-images-idx3-ubyte"), idx_i, sizeof idx_i);
    write_file(tpath("idx/train-labels-idx1-ubyte"), idx_l, sizeof idx_l);
    prep_opts o = opts(&s, "none");
    int rc = load(&d, "idx", &o, &err);
    T_OK(rc == 0 && d.n == 3 && !d.labels && !d.classes && d.nclasses == 0, "IDX, --labels none: labels dropped");
    if (!rc) prep_data_destroy(&d);
    o = opts(&s, "folders");
    rc = load(&d, "idx", &o, &err);
    T_OK(rc == -1 && err.code == SSL_EARG && strstr(err.msg, "--labels folders: ") &&
         strstr(err.msg, "idx is a directory of IDX files"), "IDX, --labels folders: the flag's mistake");
    const char *pair[2] = {tpath("idx/train-images-idx3-ubyte"), tpath("idx/train-labels-idx1-ubyte")};
    rc = prep_load(&d, pair, 2, &o, &err);
    T_OK(rc == -1 && err.code == SSL_EARG && strstr(err.msg, "is a pair of IDX files"),
         "IDX pair, --labels folders refused");
}

/* --on-error stop and skip; empty, truncated, garbage and absurd images. */
static void test_bad_images(void) {
    said s;
    ssl_err err = {0};
    prep_data d;
    put("bad/cat/a.png", &rgb4);
    write_file(tpath("bad/cat/z.png"), rgb4.p, rgb4.n / 2);          /* truncated */
    put("bad/dog/c.png", &grey4);
    write_file(tpath("bad/dog/empty.png"), "", 0);                   /* zero bytes */
    write_file(tpath("bad/dog/f.jpg"), jpg4.p, jpg4.n - 20);          /* truncated JPEG */
    write_file(tpath("bad/dog/g.jpeg"), "GIF89a not really", 17);     /* not PNG/JPEG inside */
    prep_opts o = opts(&s, NULL);
    int rc = load(&d, "bad", &o, &err);
    T_OK(rc == -1 && err.code == SSL_EDATA && strstr(err.msg, "bad/cat/z.png: corrupt PNG"),
         "--on-error stop (default): the first bad image in path order fails the load");
    o.on_error = PREP_ON_ERROR_SKIP;
    rc = load(&d, "bad", &o, &err);
    T_OK(rc == 0 && d.n == 2 && d.nclasses == 2 && d.labels[0] == 0 && d.labels[1] == 1,
         "--on-error skip: the two good images kept, with their labels");
    T_OK(s.warnings == 5 && strstr(s.all, "warning: ") && strstr(s.all, "bad/cat/z.png: corrupt PNG") &&
         strstr(s.all, "bad/dog/empty.png: empty file (skipped)") &&
         strstr(s.all, "bad/dog/f.jpg: corrupt JPEG") &&
         strstr(s.all, "bad/dog/g.jpeg: not a PNG or JPEG file (skipped)") &&
         strstr(s.all, "bad: 4 of 6 images skipped (could not be read)"),
         "--on-error skip: a warning naming each, and the count");
    if (!rc) prep_data_destroy(&d);
    write_file(tpath("allbad/x.png"), "nope", 4);
    rc = load(&d, "allbad", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "allbad: none of the 1 images could be read"),
         "--on-error skip with nothing readable: refused");
    /* A PNG header claiming 20000 x 20000 (with a valid IHDR CRC). */
    uint8_t *h = malloc(grey4.n);
    memcpy(h, grey4.p, grey4.n);
    const uint8_t dim[8] = {0, 0, 0x4e, 0x20, 0, 0, 0x4e, 0x20};     /* 20000, 20000 */
    memcpy(h + 16, dim, 8);
    uint32_t crc = sslt_crc32(0, h + 12, 17);
    h[29] = (uint8_t)(crc >> 24), h[30] = (uint8_t)(crc >> 16), h[31] = (uint8_t)(crc >> 8), h[32] = (uint8_t)crc;
    write_file(tpath("huge/x/h.png"), h, grey4.n);
    put("huge/x/ok.png", &grey4);
    free(h);
    o = opts(&s, NULL);
    rc = load(&d, "huge", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "huge/x/h.png: PNG header claims 20000x20000 pixels, more than "
         "the 16384 per side allowed"), "PNG header of 20000x20000 refused, naming the file");
    o.height = o.width = 4;
    rc = load(&d, "huge", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "20000x20000"), "... with --size too");
}

/* Sizes: 1x1 images, the bilinear filter on a known image, grey and colour. */
static void test_sizes(void) {
    said s;
    ssl_err err = {0};
    prep_data d;
    uint8_t dot = 77;
    membuf one = png_encode(&dot, 1, 1, PNG_COLOR_TYPE_GRAY, NULL, 0);
    write_file(tpath("dots/a.png"), one.p, one.n);
    put("dots/b.png", &grey4);
    prep_opts o = opts(&s, NULL);
    int rc = load(&d, "dots", &o, &err);
    T_OK(rc == -1 && strstr(err.msg, "dots: b.png: image is 4x4 but a.png is 1x1 (use --size)"),
         "1x1 beside 4x4 without --size: refused, naming both");
    o.height = o.width = 3;
    rc = load(&d, "dots", &o, &err);
    int ok = rc == 0 && d.n == 2 && d.c == 1 && d.h == 3 && d.w == 3;
    for (int i = 0; ok && i < 9; i++) ok = d.images[i] == 77;
    T_OK(ok, "1x1 image with --size 3: nine pixels of its value");
    if (!rc) prep_data_destroy(&d);
    free(one.p);
    /* 2x2 grey [[0, 100], [100, 200]] to 4x4: bilinear, centres aligned
     * (x_src = (x + 0.5) / 2 - 0.5, clamped): weights 1, 3/4 1/4, 1/4 3/4, 1. */
    uint8_t two[4] = {0, 100, 100, 200};
    membuf m = png_encode(two, 2, 2, PNG_COLOR_TYPE_GRAY, NULL, 0);
    write_file(tpath("up/x.png"), m.p, m.n);
    free(m.p);
    o = opts(&s, NULL);
    o.height = o.width = 4;
    rc = load(&d, "up", &o, &err);
    static const uint8_t want[16] = {0, 25, 75, 100, 25, 50, 100, 125, 75, 100, 150, 175, 100, 125, 175, 200};
    T_OK(rc == 0 && d.c == 1 && d.h == 4 && !memcmp(d.images, want, 16),
         "2x2 -> 4x4 through the loader: bilinear with aligned centres, exact");
    if (!rc) prep_data_destroy(&d);
    /* ... and back down by area averaging: 4x4 of block-constant values -> 2x2 means. */
    uint8_t four[16] = {10, 20, 200, 200, 30, 40, 200, 200, 0, 0, 90, 90, 0, 100, 90, 90};
    m = png_encode(four, 4, 4, PNG_COLOR_TYPE_GRAY, NULL, 0);
    write_file(tpath("down/x.png"), m.p, m.n);
    free(m.p);
    o.height = o.width = 2;
    rc = load(&d, "down", &o, &err);
    T_OK(rc == 0 && d.images[0] == 25 && d.images[1] == 200 && d.images[2] == 25 && d.images[3] == 90,
         "4x4 -> 2x2 through the loader: block means");
    if (!rc) prep_data_destroy(&d);
    /* Grey and colour mixed: 3 channels, grey replicated; --channels 1 converts. */
    put("mix/a.png", &rgb4);
    put("mix/b.png", &grey4);
    o = opts(&s, NULL);
    rc = load(&d, "mix", &o, &err);
    T_OK(rc == 0 && d.c == 3 && !memcmp(d.images + 48, d.images + 48 + 16, 16) && d.images[48 + 5] == 80,
         "grey and colour: 3 channels, the grey image in each");
    if (!rc) prep_data_destroy(&d);
    o.channels = 1;
    rc = load(&d, "mix", &o, &err);
    T_OK(rc == 0 && d.c == 1 && d.images[16 + 5] == 80, "--channels 1: colour made grey");
    if (!rc) prep_data_destroy(&d);
}

/* Unlabelled data in the generic steps: a subset of all, no --classes. */
static void test_unlabelled_steps(void) {
    prep_data d = {0};
    d.n = 10; d.c = 1; d.h = d.w = 1;
    d.images = malloc(10);
    for (int i = 0; i < 10; i++) d.images[i] = (uint8_t)(i * 3);
    ssl_err err = {0};
    int64_t *idx, n;
    int rc = prep_subset(&d, 4, 0, 1, &idx, &n, &err);
    int ok = rc == 0 && n == 4 && d.n == 4 && !d.labels;
    for (int i = 0; ok && i < 4; i++) ok = d.images[i] == idx[i] * 3 && (i == 0 || idx[i] > idx[i - 1]);
    T_OK(ok, "unlabelled --subset 4: four of all, in source order");
    if (!rc) free(idx);
    rc = prep_subset(&d, 5, 0, 1, &idx, &n, &err);
    T_OK(rc == -1 && strstr(err.msg, "--subset 5: the unlabelled data has only 4 images"),
         "unlabelled --subset larger than the data refused");
    rc = prep_set_classes(&d, "a,b", &err);
    T_OK(rc == -1 && strstr(err.msg, "--classes: the data has no labels"), "--classes without labels refused");
    T_EQ(prep_check_labels(&d, "x", &err), 0, "no labels: nothing to check");
    prep_data_destroy(&d);
}

int main(void) {
    const char *base = getenv("SSL_TEST_TMP");
    snprintf(tmpdir, sizeof tmpdir, "%s/prep_layout.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) { perror(tmpdir); return 2; }
    ssl_set_threads(2);
    make_images();
    test_layouts();
    test_labels_other_inputs();
    test_bad_images();
    test_sizes();
    test_unlabelled_steps();
    free(rgb4.p); free(grey4.p); free(jpg4.p);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return t_done();
}
