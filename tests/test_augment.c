/* test_augment.c: augmentation and CutMix (lib/data/augment.c, lib/data/pixel_ops.c).
 *
 * 1. Each pixel op against torchvision 0.14's tensor functional, from the
 *    committed fixture tests/fixtures/augment/cases.txt (made by
 *    tests/gen_augment_fixtures.py): resized crop, brightness, contrast,
 *    saturation, hue, grayscale, flip, Gaussian blur, and whole fixed-
 *    parameter pipelines ending in Normalize and HWC layout. Tolerance
 *    1e-5 absolute on [0, 1] values, hue included (its sector boundaries
 *    are continuous, so float rounding stays at the ulp level); 5e-5 after
 *    normalisation (std ~0.2 scales errors by 5). Measured worst errors:
 *    7e-7 (resized crop), 2e-7 (blur), 1e-7 (hue), 3e-6 (pipelines). A
 *    wrong constant (0.299 for torchvision's 0.2989) fails by 10x.
 * 2. RandomResizedCrop sampling: bounds, statistics against torchvision's
 *    get_params from the fixture, the central fallback on tiny images.
 * 3. Determinism in (seed, epoch, index) and across thread counts.
 * 4. CutMix: lam range and box area, pixel provenance, permutation;
 *    Beta and Gamma sample moments. */
#include <stdint.h>

#include "data/augment.h"
#include "data/pixel_ops.h"
#include "util/rng.h"
#include "t.h"
#include "util/threads.h"

#define MAXIMG 8
static struct { char name[32]; int c, h, w; uint8_t *px; } imgs[MAXIMG];
static int nimgs;
static const double MEAN[3] = {0.4914, 0.4822, 0.4465}, STD[3] = {0.2023, 0.1994, 0.2010};

static int find_img(const char *name) {
    for (int i = 0; i < nimgs; i++)
        if (!strcmp(imgs[i].name, name)) return i;
    return -1;
}

static float *to_float(int k) {
    size_t n = (size_t)imgs[k].c * imgs[k].h * imgs[k].w;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)imgs[k].px[i] / 255.0f;
    return x;
}

/* Run one fixture case; returns 0 on a malformed line. */
static int run_case(FILE *f, int *ncases) {
    char op[32], name[32], label[128];
    double prm[20];
    int np = 0, n;
    if (fscanf(f, "%31s %31s", op, name) != 2) return 0;
    int k = find_img(name);
    if (k < 0) return 0;
    int want = !strcmp(op, "crop") ? 6 : !strcmp(op, "blur") ? 3
             : !strcmp(op, "pipeline") ? 18 : (!strcmp(op, "gray") || !strcmp(op, "flip")) ? 0 : 1;
    for (np = 0; np < want; np++)
        if (fscanf(f, "%lf", &prm[np]) != 1) return 0;
    if (fscanf(f, "%d", &n) != 1 || n <= 0) return 0;
    float *ref = malloc((size_t)n * sizeof *ref), *got = calloc((size_t)n + 64, sizeof *got);
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%f", &ref[i]) != 1) { free(ref); free(got); return 0; }
    int c = imgs[k].c, h = imgs[k].h, w = imgs[k].w, hw = h * w;
    double atol = 1e-5;
    snprintf(label, sizeof label, "torchvision %s %s", op, name);
    for (int i = 0; i < np; i++) {
        size_t l = strlen(label);
        snprintf(label + l, sizeof label - l, " %g", prm[i]);
    }
    if (!strcmp(op, "crop")) {
        int oh = (int)prm[4], ow = (int)prm[5], idx[2 * (64 + 64)];
        aug_resized_crop(imgs[k].px, c, h, w, (int)prm[0], (int)prm[1], (int)prm[2],
                         (int)prm[3], oh, ow, 0, idx, got);
    } else if (!strcmp(op, "pipeline")) {
        aug_params p = {0};
        int oh = (int)prm[4], ow = (int)prm[5];
        p.top = (int)prm[0]; p.left = (int)prm[1]; p.crop_h = (int)prm[2]; p.crop_w = (int)prm[3];
        p.flip = (int)prm[6];
        p.njitter = 4;
        for (int i = 0; i < 4; i++) { p.order[i] = (int)prm[7 + i]; p.factor[i] = (float)prm[11 + i]; }
        p.gray = (int)prm[15];
        p.blur_kh = p.blur_kw = (int)prm[16];
        p.blur_sigma = (float)prm[17];
        float *scratch = malloc(aug_scratch_floats(c, oh, ow) * sizeof *scratch);
        aug_apply(&p, imgs[k].px, c, h, w, oh, ow, MEAN, STD, scratch, got);
        free(scratch);
        atol = 5e-5;
    } else {
        float *x = to_float(k), *tmp = malloc((size_t)hw * sizeof *tmp);
        if (!strcmp(op, "brightness")) aug_brightness(x, c, hw, (float)prm[0]);
        else if (!strcmp(op, "contrast")) aug_contrast(x, c, hw, (float)prm[0]);
        else if (!strcmp(op, "saturation")) aug_saturation(x, c, hw, (float)prm[0]);
        else if (!strcmp(op, "hue")) aug_hue(x, c, hw, (float)prm[0]);
        else if (!strcmp(op, "gray")) aug_grayscale(x, c, hw);
        else if (!strcmp(op, "flip")) aug_hflip(x, c, h, w);
        else if (!strcmp(op, "blur"))
            aug_gaussian_blur(x, c, h, w, (int)prm[1], (int)prm[0], (float)prm[2], tmp);
        else { free(x); free(tmp); free(ref); free(got); return 0; }
        memcpy(got, x, (size_t)n * sizeof *got);
        free(x); free(tmp);
    }
    T_ALLCLOSE(got, ref, (size_t)n, atol, 0.0, label);
    free(ref); free(got);
    (*ncases)++;
    return 1;
}

static void crop_stats(int h, int w, int n, double ma, double sa, double ml, double sl, double pf) {
    rng r;
    double s1 = 0, s2 = 0, l1 = 0, l2 = 0, full = 0, amin = 1, amax = 0, rmin = 9, rmax = 0;
    int inside = 1, fallbacks = 0, top0 = 0, topmax = 0;
    char label[96];
    rng_init(&r, 99, (uint64_t)h, (uint64_t)w);
    for (int i = 0; i < n; i++) {
        int t, l, ch, cw;
        fallbacks += !aug_crop_params(&r, h, w, 0.2f, 1.0f, 0.75f, 4.0f / 3.0f, &t, &l, &ch, &cw);
        inside &= t >= 0 && l >= 0 && ch > 0 && cw > 0 && t + ch <= h && l + cw <= w;
        double a = (double)ch * cw / ((double)h * w), lr = log((double)cw / ch);
        s1 += a; s2 += a * a; l1 += lr; l2 += lr * lr; full += ch == h && cw == w;
        amin = fmin(amin, a); amax = fmax(amax, a);
        rmin = fmin(rmin, (double)cw / ch); rmax = fmax(rmax, (double)cw / ch);
        top0 += t == 0; topmax += t == h - ch && ch < h;
    }
    double mean_a = s1 / n, sd_a = sqrt(s2 / n - mean_a * mean_a);
    double mean_l = l1 / n, sd_l = sqrt(l2 / n - mean_l * mean_l);
    snprintf(label, sizeof label, "crop params %dx%d", h, w);
#define L(s) (snprintf(label, sizeof label, "crop params %dx%d: %s", h, w, s), label)
    T_OK(inside, L("box inside the image"));
    T_OK(fallbacks * 1000 < n, L("fallback rare"));
    /* Rounding of w and h lets a box stray slightly past the nominal bounds. */
    double slack = 1.5 / (h < w ? h : w);
    T_OK(amin >= 0.2 - 2 * slack && amin < 0.25 && amax <= 1.0 && amax > (h == w ? 0.9 : 0.75), L("area range"));
    T_OK(rmin >= 0.75 - 2 * slack && rmin < 0.8 && rmax <= 4.0 / 3 + 2 * slack && rmax > 1.25,
         L("ratio range"));
    T_OK(top0 > 0 && topmax > 0, L("top reaches both ends"));
    T_NEAR(mean_a, ma, 0.01, 0, L("mean area vs torchvision"));
    T_NEAR(sd_a, sa, 0.01, 0, L("sd area vs torchvision"));
    T_NEAR(mean_l, ml, 0.008, 0, L("mean log ratio vs torchvision"));
    T_NEAR(sd_l, sl, 0.008, 0, L("sd log ratio vs torchvision"));
    T_NEAR(full / n, pf, 0.0025, 0, L("full-image fraction vs torchvision"));
#undef L
}

static void fixtures(void) {
    FILE *f = fopen(t_path("tests/fixtures/augment/cases.txt"), "r");
    T_OK(f != NULL, "fixture opens");
    if (!f) return;
    char tok[32], line[512];
    int ncases = 0, nfb = 0, nstats = 0, bad = 0;
    while (fscanf(f, "%31s", tok) == 1) {
        if (tok[0] == '#') { if (!fgets(line, sizeof line, f)) break; continue; }
        if (!strcmp(tok, "image") && nimgs < MAXIMG) {
            int i = nimgs++;
            if (fscanf(f, "%31s %d %d %d", imgs[i].name, &imgs[i].c, &imgs[i].h, &imgs[i].w) != 4) { bad = 1; break; }
            size_t n = (size_t)imgs[i].c * imgs[i].h * imgs[i].w;
            imgs[i].px = malloc(n);
            for (size_t j = 0; j < n; j++) {
                unsigned v;
                if (fscanf(f, "%u", &v) != 1) { bad = 1; break; }
                imgs[i].px[j] = (uint8_t)v;
            }
        } else if (!strcmp(tok, "case")) {
            if (!run_case(f, &ncases)) { bad = 1; break; }
        } else if (!strcmp(tok, "cropfb")) {
            int h, w, t, l, ch, cw, gt, gl, gch, gcw;
            if (fscanf(f, "%d %d %d %d %d %d", &h, &w, &t, &l, &ch, &cw) != 6) { bad = 1; break; }
            rng r;
            rng_init(&r, 5, (uint64_t)h, (uint64_t)w);
            int acc = aug_crop_params(&r, h, w, 0.2f, 1.0f, 0.75f, 4.0f / 3.0f, &gt, &gl, &gch, &gcw);
            snprintf(line, sizeof line, "crop fallback %dx%d = torchvision (%d %d %d %d)", h, w, t, l, ch, cw);
            T_OK(!acc && gt == t && gl == l && gch == ch && gcw == cw, line);
            nfb++;
        } else if (!strcmp(tok, "cropstats")) {
            int h, w, n;
            double v[5];
            if (fscanf(f, "%d %d %d %lf %lf %lf %lf %lf", &h, &w, &n, &v[0], &v[1], &v[2], &v[3], &v[4]) != 8) { bad = 1; break; }
            crop_stats(h, w, n, v[0], v[1], v[2], v[3], v[4]);
            nstats++;
        } else { bad = 1; break; }
    }
    fclose(f);
    T_OK(!bad, "fixture parses");
    T_OK(ncases >= 50 && nfb == 4 && nstats == 3, "fixture holds every case");
}

static void ops_extra(void) {
    /* Flip folded into the resize = resize then flip. */
    int k = find_img("rgb");
    if (k < 0) return;
    int c = imgs[k].c, h = imgs[k].h, w = imgs[k].w, idx[64];
    float a[3 * 9 * 7], b[3 * 9 * 7];
    aug_resized_crop(imgs[k].px, c, h, w, 1, 2, 8, 7, 9, 7, 0, idx, a);
    aug_hflip(a, c, 9, 7);
    aug_resized_crop(imgs[k].px, c, h, w, 1, 2, 8, 7, 9, 7, 1, idx, b);
    T_OK(!memcmp(a, b, sizeof a), "flipped resize = resize then flip");
    T_EQ(aug_blur_kernel(64), 7, "blur kernel 64 px");
    T_EQ(aug_blur_kernel(224), 23, "blur kernel 224 px");
    T_EQ(aug_blur_kernel(32), 3, "blur kernel 32 px");
    T_EQ(aug_blur_kernel(1), 1, "blur kernel 1 px");
}

static void config(void) {
    aug_config a;
    ssl_err err = {0};
    T_EQ(aug_config_default(&a, "bogus", 32, 32), -1, "unknown recipe");
    T_EQ(aug_config_default(&a, "paper", 32, 32), 0, "paper recipe");
    T_OK(a.flip_p == 0.5f && a.jitter_p == 0.8f && a.hue == 0.1f && a.gray_p == 0.2f &&
         a.blur_p == 0 && a.crop && a.out_h == 32 && a.scale_min == 0.2f, "paper values");
    T_EQ(aug_config_check(&a, &err), 0, "paper config valid");
    T_EQ(aug_config_default(&a, "npid", 64, 64), 0, "npid recipe");
    T_OK(a.flip_p == 0 && a.jitter_p == 1 && a.hue == 0.4f && a.blur_p == 0.5f, "npid values, blur at 64 px");
    T_EQ(aug_config_default(&a, "none", 28, 28), 0, "none recipe");
    T_OK(!a.crop && a.jitter_p == 0 && a.gray_p == 0 && a.flip_p == 0 && a.blur_p == 0, "none values");
    aug_config_default(&a, "paper", 32, 32);
    a.hue = 0.6f;
    T_EQ(aug_config_check(&a, &err), -1, "hue > 0.5 rejected");
}

static void sampling(void) {
    aug_config a;
    aug_params p;
    rng r;
    int n = 20000, jit = 0, gray = 0, flip = 0, okperm = 1, okfac = 1, blur = 0, okblur = 1;
    aug_config_default(&a, "paper", 64, 64);
    for (int i = 0; i < n; i++) {
        rng_init(&r, 3, 0, (uint64_t)i);
        aug_sample(&a, 3, 64, 64, &r, &p);
        if (p.njitter) {
            jit++;
            int seen = 0;
            for (int k = 0; k < p.njitter; k++) seen |= 1 << p.order[k];
            okperm &= p.njitter == 4 && seen == 15;
            for (int k = 0; k < 3; k++) okfac &= p.factor[k] >= 0.6f && p.factor[k] <= 1.4f;
            okfac &= fabsf(p.factor[3]) <= 0.1f;
        }
        gray += p.gray; flip += p.flip;
        if (p.blur_kh) {
            blur++;
            okblur &= p.blur_kh == 7 && p.blur_kw == 7 && p.blur_sigma >= 0.1f && p.blur_sigma <= 2.0f;
        }
    }
    T_NEAR((double)jit / n, 0.8, 0.015, 0, "jitter probability 0.8");
    T_NEAR((double)gray / n, 0.2, 0.015, 0, "grayscale probability 0.2");
    T_NEAR((double)flip / n, 0.5, 0.015, 0, "flip probability 0.5");
    T_NEAR((double)blur / n, 0.5, 0.015, 0, "blur probability 0.5 at 64 px");
    T_OK(okperm, "jitter order is a permutation of the 4 ops");
    T_OK(okfac, "jitter factors within their ranges");
    T_OK(okblur, "blur kernel 7 and sigma in [0.1, 2]");
    aug_config_default(&a, "npid", 28, 28);
    int ok1 = 1;
    for (int i = 0; i < 2000; i++) {
        rng_init(&r, 3, 1, (uint64_t)i);
        aug_sample(&a, 1, 28, 28, &r, &p);
        ok1 &= p.njitter == 2 && !p.gray && !p.flip && !p.blur_kh;   /* sat/hue/gray off */
    }
    T_OK(ok1, "npid on 1 channel: brightness and contrast only, no flip/gray/blur");
}

static void determinism(void) {
    enum { N = 40, C = 3, H = 64, W = 64 };
    uint8_t *data = malloc((size_t)N * C * H * W);
    rng r;
    rng_init(&r, 1, 2, 3);
    for (size_t i = 0; i < (size_t)N * C * H * W; i++) data[i] = (uint8_t)rng_below(&r, 256);
    aug_config a;
    aug_config_default(&a, "paper", H, W);
    size_t v = (size_t)H * W * C;
    float *x = malloc(v * sizeof *x), *y = malloc(v * sizeof *y);
    augment_image(&a, data, C, H, W, MEAN, STD, 11, 2, 5, x);
    augment_image(&a, data, C, H, W, MEAN, STD, 11, 2, 5, y);
    T_OK(!memcmp(x, y, v * sizeof *x), "same (seed, epoch, index): same bits");
    augment_image(&a, data, C, H, W, MEAN, STD, 11, 2, 6, y);
    T_OK(memcmp(x, y, v * sizeof *x), "different index: different view");
    augment_image(&a, data, C, H, W, MEAN, STD, 11, 3, 5, y);
    T_OK(memcmp(x, y, v * sizeof *x), "different epoch: different view");
    int finite = 1;
    for (size_t i = 0; i < v; i++) finite &= isfinite(x[i]) && x[i] >= (0 - 0.4914) / 0.2023 - 1e-4 && x[i] <= (1 - 0.4465) / 0.1994 + 1e-4;
    T_OK(finite, "view finite and within the normalised range");

    int64_t idx[N];
    for (int b = 0; b < N; b++) idx[b] = (b * 7) % N;
    float *o1 = malloc(N * v * sizeof *o1), *o2 = malloc(N * v * sizeof *o2);
    ssl_set_threads(1);
    augment_batch(&a, data, idx, N, C, H, W, MEAN, STD, 11, 2, o1);
    ssl_set_threads(2);
    augment_batch(&a, data, idx, N, C, H, W, MEAN, STD, 11, 2, o2);
    T_OK(!memcmp(o1, o2, N * v * sizeof *o1), "augment_batch: 1 thread = 2 threads");
    augment_image(&a, data + (size_t)idx[9] * C * H * W, C, H, W, MEAN, STD, 11, 2, (uint64_t)idx[9], x);
    T_OK(!memcmp(x, o2 + 9 * v, v * sizeof *x), "augment_batch view = augment_image of idx[b]");

    /* "none" is the evaluation transform. */
    aug_config_default(&a, "none", H, W);
    augment_batch(&a, data, idx, N, C, H, W, MEAN, STD, 1, 0, o1);
    uint8_t *ordered = malloc((size_t)N * C * H * W);
    for (int b = 0; b < N; b++) memcpy(ordered + (size_t)b * C * H * W, data + (size_t)idx[b] * C * H * W, (size_t)C * H * W);
    preprocess_batch(ordered, N, C, H, W, MEAN, STD, o2);
    T_OK(!memcmp(o1, o2, N * v * sizeof *o1), "recipe none = preprocess_batch");
    T_NEAR(o2[1], ((float)ordered[H * W] / 255.0f - 0.4822f) / 0.1994f, 1e-6, 0, "preprocess: NHWC, normalised");
    ssl_set_threads(1);
    free(ordered); free(o1); free(o2); free(x); free(y); free(data);
}

static void resize_only(void) {
    /* crop = 0: the whole image resized (here 12x10 -> 7x9), then normalised. */
    int k = find_img("rgb");
    if (k < 0) return;
    aug_config a;
    aug_config_default(&a, "none", 7, 9);
    float got[7 * 9 * 3], planar[3 * 7 * 9];
    int idx[64];
    augment_image(&a, imgs[k].px, 3, 12, 10, MEAN, STD, 1, 2, 3, got);
    aug_resized_crop(imgs[k].px, 3, 12, 10, 0, 0, 12, 10, 7, 9, 0, idx, planar);
    int same = 1;
    for (int ci = 0; ci < 3; ci++)
        for (int i = 0; i < 63; i++)
            same &= got[i * 3 + ci] == (planar[ci * 63 + i] - (float)MEAN[ci]) / (float)STD[ci];
    T_OK(same, "crop 0: whole image resized to the output size");
}

static void cutmix_case(int B, int h, int w, int c, float alpha, int trials, const char *name) {
    size_t img = (size_t)h * w * c, n = img * B;
    float *orig = malloc(n * sizeof *orig), *x = malloc(n * sizeof *x);
    int32_t perm[64];
    int box[4], ok_lam = 1, ok_area = 1, ok_px = 1, ok_perm = 1, mixed = 0;
    char label[128];
    rng r;
    rng_init(&r, 77, 0, 0);
    for (size_t i = 0; i < n; i++) orig[i] = (float)rng_normal(&r);
    for (int t = 0; t < trials; t++) {
        memcpy(x, orig, n * sizeof *x);
        rng_init(&r, 5 ^ RNG_CUTMIX, (uint64_t)t, 0);
        float lam = cutmix_batch_box(x, B, h, w, c, alpha, &r, perm, box);
        ok_lam &= lam >= 0.5f && lam <= 1.0f;
        ok_area &= box[0] >= 0 && box[1] >= 0 && box[2] <= h && box[3] <= w &&
                   fabsf(lam - (1.0f - (float)((box[2] - box[0]) * (box[3] - box[1])) / (h * w))) < 1e-6f;
        int seen[64] = {0};
        for (int b = 0; b < B; b++) {
            if (perm[b] < 0 || perm[b] >= B || seen[perm[b]]++) ok_perm = 0;
        }
        if (!ok_perm) break;
        mixed += box[2] > box[0] && box[3] > box[1];
        for (int b = 0; b < B; b++)
            for (int y = 0; y < h; y++)
                for (int xx = 0; xx < w; xx++) {
                    int in = y >= box[0] && y < box[2] && xx >= box[1] && xx < box[3];
                    const float *want = orig + (size_t)(in ? perm[b] : b) * img + ((size_t)y * w + xx) * c;
                    ok_px &= !memcmp(x + (size_t)b * img + ((size_t)y * w + xx) * c, want, c * sizeof *x);
                }
    }
#define L(s) (snprintf(label, sizeof label, "cutmix %s: %s", name, s), label)
    T_OK(ok_lam, L("lam in [0.5, 1]"));
    T_OK(ok_area, L("lam = 1 - box area / image area, box inside"));
    T_OK(ok_perm, L("perm is a permutation"));
    T_OK(ok_px, L("box pixels from perm[b], the rest from b"));
    T_OK(mixed > trials / 2, L("most batches get a non-empty box"));
#undef L
    free(orig); free(x);
}

static void cutmix(void) {
    cutmix_case(7, 9, 11, 3, 0.5f, 200, "7x9x11x3 alpha 0.5");
    cutmix_case(5, 6, 40, 64, 1.0f, 30, "runs longer than a chunk, alpha 1");
    cutmix_case(1, 8, 8, 2, 0.5f, 10, "batch of 1");
    float x[2 * 4 * 4], y[2 * 4 * 4];
    int32_t perm[2];
    rng r;
    rng_init(&r, 1, 1, 1);
    for (int i = 0; i < 32; i++) x[i] = y[i] = (float)i;
    float lam = cutmix_batch(x, 2, 4, 4, 1, 0.0f, &r, perm);
    T_OK(lam == 1.0f && perm[0] == 0 && perm[1] == 1 && !memcmp(x, y, sizeof x), "cutmix alpha 0: no mixing");
}

static void beta_moments(double a, double b, int n, const char *name) {
    rng r;
    rng_init(&r, 13, (uint64_t)(a * 1000), (uint64_t)(b * 1000));
    double s1 = 0, s2 = 0, lo = 1, hi = 0;
    for (int i = 0; i < n; i++) {
        double v = aug_beta(&r, a, b);
        s1 += v; s2 += v * v; lo = fmin(lo, v); hi = fmax(hi, v);
    }
    double m = s1 / n, var = s2 / n - m * m;
    double em = a / (a + b), ev = a * b / ((a + b) * (a + b) * (a + b + 1));
    char label[96];
    snprintf(label, sizeof label, "%s mean %.4f", name, em);
    T_NEAR(m, em, 5 * sqrt(ev / n), 0, label);
    snprintf(label, sizeof label, "%s variance %.4f", name, ev);
    T_NEAR(var, ev, 0.02 * ev + 0.001, 0, label);
    snprintf(label, sizeof label, "%s in [0, 1]", name);
    T_OK(lo >= 0 && hi <= 1, label);
}

static void gamma_moments(double a, int n) {
    rng r;
    rng_init(&r, 17, (uint64_t)(a * 1000), 0);
    double s1 = 0, s2 = 0;
    int pos = 1;
    for (int i = 0; i < n; i++) {
        double v = aug_gamma(&r, a);
        s1 += v; s2 += v * v; pos &= v >= 0;
    }
    double m = s1 / n, var = s2 / n - m * m;
    char label[64];
    snprintf(label, sizeof label, "Gamma(%g) mean", a);
    T_NEAR(m, a, 5 * sqrt(a / n), 0, label);
    snprintf(label, sizeof label, "Gamma(%g) variance", a);
    T_NEAR(var, a, 0.03 * a, 0, label);
    snprintf(label, sizeof label, "Gamma(%g) >= 0", a);
    T_OK(pos, label);
}

int main(void) {
    fixtures();
    ops_extra();
    config();
    sampling();
    determinism();
    resize_only();
    cutmix();
    beta_moments(0.5, 0.5, 200000, "Beta(0.5,0.5) arcsine");
    beta_moments(2.0, 2.0, 100000, "Beta(2,2)");
    beta_moments(0.3, 0.7, 100000, "Beta(0.3,0.7)");
    beta_moments(0.5, 0.50001, 100000, "Beta(0.5,0.5) via Gamma");
    gamma_moments(0.4, 100000);
    gamma_moments(3.0, 100000);
    for (int i = 0; i < nimgs; i++) free(imgs[i].px);
    return t_done();
}
