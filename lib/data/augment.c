/* augment.c: one random view per image (ssl-method(7), AUGMENTATION) and
 * CutMix (CUTMIX). A view is drawn as parameters (aug_sample: crop box, jitter
 * order and factors, grayscale, flip, blur sigma) from the image's own
 * stream rng_init(seed ^ RNG_AUGMENT, epoch, index), then applied by
 * aug_apply with the pixel ops of pixel_ops.c, which follow torchvision
 * 0.14's tensor functional. The order is torchvision's pipeline:
 * RandomResizedCrop, ColorJitter (random order of the four ops), grayscale,
 * flip, blur, normalise; the flip is folded into the resize (it commutes
 * with every later op), and the view ends up NHWC.
 *
 * Scratch: each thread keeps one buffer (thread-local, grown when needed,
 * never freed: the pool's threads live as long as the process), so the
 * batch path allocates nothing per image. Should that allocation fail, the
 * view is filled with NaN, which the training loop's finiteness check
 * reports; the functions have no error return. */
#include "data/augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/pixel_ops.h"
#include "util/threads.h"

int aug_config_default(aug_config *a, const char *recipe, int h, int w) {
    if (!a || !recipe) return -1;
    memset(a, 0, sizeof *a);
    a->out_h = h; a->out_w = w;
    a->crop = 1;
    a->scale_min = 0.2f; a->scale_max = 1.0f;
    a->ratio_min = 3.0f / 4.0f; a->ratio_max = 4.0f / 3.0f;
    a->blur_sigma_min = 0.1f; a->blur_sigma_max = 2.0f;
    a->blur_p = (h >= 64 && w >= 64) ? 0.5f : 0.0f;
    a->gray_p = 0.2f;
    if (!strcmp(recipe, "paper")) {
        a->flip_p = 0.5f;
        a->jitter_p = 0.8f;
        a->brightness = a->contrast = a->saturation = 0.4f;
        a->hue = 0.1f;
    } else if (!strcmp(recipe, "npid")) {
        a->flip_p = 0.0f;
        a->jitter_p = 1.0f;
        a->brightness = a->contrast = a->saturation = a->hue = 0.4f;
    } else if (!strcmp(recipe, "none")) {
        a->crop = 0;
        a->gray_p = 0.0f;
        a->blur_p = 0.0f;
    } else {
        return -1;
    }
    return 0;
}

int aug_config_check(const aug_config *a, ssl_err *err) {
    const char *why = NULL;
    if (a->out_h <= 0 || a->out_w <= 0) why = "output size must be positive";
    else if (!(a->scale_min > 0 && a->scale_min <= a->scale_max && a->scale_max <= 1))
        why = "crop scale must satisfy 0 < min <= max <= 1";
    else if (!(a->ratio_min > 0 && a->ratio_min <= a->ratio_max && isfinite(a->ratio_max)))
        why = "crop ratio must satisfy 0 < min <= max";
    else if (!(a->jitter_p >= 0 && a->jitter_p <= 1 && a->gray_p >= 0 && a->gray_p <= 1 &&
               a->flip_p >= 0 && a->flip_p <= 1 && a->blur_p >= 0 && a->blur_p <= 1))
        why = "probabilities must lie in [0, 1]";
    else if (!(a->brightness >= 0 && a->contrast >= 0 && a->saturation >= 0 &&
               isfinite(a->brightness) && isfinite(a->contrast) && isfinite(a->saturation)))
        why = "brightness, contrast and saturation must be finite and >= 0";
    else if (!(a->hue >= 0 && a->hue <= 0.5f)) why = "hue must lie in [0, 0.5]";
    else if (!(a->blur_sigma_min > 0 && a->blur_sigma_min <= a->blur_sigma_max &&
               isfinite(a->blur_sigma_max)))
        why = "blur sigma must satisfy 0 < min <= max";
    if (why) ssl_fail(err, SSL_EARG, "%s", why);
    return why ? -1 : 0;
}

/* torch.empty(1).uniform_(lo, hi) */
static double uniform(rng *r, double lo, double hi) { return lo + (hi - lo) * rng_uniform_d(r); }

int aug_crop_params(rng *r, int h, int w, float smin, float smax, float rmin,
                    float rmax, int *top, int *left, int *crop_h, int *crop_w) {
    double area = (double)h * w;
    double lr0 = log((double)rmin), lr1 = log((double)rmax);
    for (int t = 0; t < 10; t++) {
        double target = area * uniform(r, smin, smax);
        double ratio = exp(uniform(r, lr0, lr1));
        double cw = nearbyint(sqrt(target * ratio));   /* Python round: half to even */
        double ch = nearbyint(sqrt(target / ratio));
        if (cw > 0 && cw <= w && ch > 0 && ch <= h) {
            *crop_h = (int)ch; *crop_w = (int)cw;
            *top = (int)rng_below(r, (uint64_t)(h - *crop_h + 1));
            *left = (int)rng_below(r, (uint64_t)(w - *crop_w + 1));
            return 1;
        }
    }
    /* Fallback to a central crop, the ratio clamped to [rmin, rmax]. */
    double in_ratio = (double)w / (double)h;
    int cw = w, ch = h;
    if (in_ratio < fmin(rmin, rmax)) {
        ch = (int)nearbyint(cw / (double)fmin(rmin, rmax));
    } else if (in_ratio > fmax(rmin, rmax)) {
        cw = (int)nearbyint(ch * (double)fmax(rmin, rmax));
    }
    *crop_h = ch; *crop_w = cw;
    *top = (h - ch) / 2;
    *left = (w - cw) / 2;
    return 0;
}

void aug_sample(const aug_config *a, int c, int h, int w, rng *r, aug_params *p) {
    memset(p, 0, sizeof *p);
    if (a->crop) {
        aug_crop_params(r, h, w, a->scale_min, a->scale_max, a->ratio_min, a->ratio_max,
                        &p->top, &p->left, &p->crop_h, &p->crop_w);
    } else {
        p->crop_h = h; p->crop_w = w;
    }
    /* ColorJitter, as RandomApply(p): a random order of the four ops and a
     * factor for each; an op whose strength is 0 is off (torchvision's
     * None), as are saturation and hue on other than 3 channels. */
    if (rng_uniform_d(r) < a->jitter_p) {
        int32_t perm[4] = {0, 1, 2, 3};
        rng_shuffle_i32(r, perm, 4);
        const float s[3] = {a->brightness, a->contrast, a->saturation};
        for (int k = 0; k < 3; k++)
            p->factor[k] = (float)uniform(r, fmax(0.0, 1.0 - s[k]), 1.0 + s[k]);
        p->factor[3] = (float)uniform(r, -a->hue, a->hue);
        int on[4] = {a->brightness > 0, a->contrast > 0, a->saturation > 0 && c == 3,
                     a->hue > 0 && c == 3};
        for (int k = 0; k < 4; k++)
            if (on[perm[k]]) p->order[p->njitter++] = perm[k];
    }
    p->gray = rng_uniform_d(r) < a->gray_p && c == 3;
    p->flip = rng_uniform_d(r) < a->flip_p;
    if (rng_uniform_d(r) < a->blur_p) {
        p->blur_sigma = (float)uniform(r, a->blur_sigma_min, a->blur_sigma_max);
        p->blur_kh = aug_blur_kernel(a->out_h);
        p->blur_kw = aug_blur_kernel(a->out_w);
    }
}

size_t aug_scratch_floats(int c, int out_h, int out_w) {
    /* view [c, oh, ow], blur rows [oh, ow], resize indices 2 (oh + ow) */
    return (size_t)(c + 1) * out_h * out_w + 2 * ((size_t)out_h + out_w) + 16;
}

void aug_apply(const aug_params *p, const uint8_t *src, int c, int h, int w,
               int out_h, int out_w, const double *mean, const double *std,
               float *scratch, float *dst) {
    size_t hw = (size_t)out_h * out_w;
    float *x = scratch, *tmp = scratch + (size_t)c * hw;
    int *idx = (int *)(tmp + hw);
    aug_resized_crop(src, c, h, w, p->top, p->left, p->crop_h, p->crop_w, out_h, out_w,
                     p->flip, idx, x);
    for (int k = 0; k < p->njitter; k++) {
        float f = p->factor[p->order[k]];
        switch (p->order[k]) {
        case 0: aug_brightness(x, c, (int)hw, f); break;
        case 1: aug_contrast(x, c, (int)hw, f); break;
        case 2: aug_saturation(x, c, (int)hw, f); break;
        default: aug_hue(x, c, (int)hw, f); break;
        }
    }
    if (p->gray) aug_grayscale(x, c, (int)hw);
    if (p->blur_kh > 1 || p->blur_kw > 1)
        aug_gaussian_blur(x, c, out_h, out_w, p->blur_kh, p->blur_kw, p->blur_sigma, tmp);
    /* Normalize as torchvision: (x - mean) / std in float, then HWC. */
    for (int ci = 0; ci < c; ci++) {
        float m = mean ? (float)mean[ci] : 0.0f, s = std ? (float)std[ci] : 1.0f;
        const float *plane = x + (size_t)ci * hw;
        for (size_t i = 0; i < hw; i++) dst[i * c + ci] = (plane[i] - m) / s;
    }
}

/* The calling thread's scratch of at least n floats, or NULL. */
static float *thread_scratch(size_t n) {
    static __thread float *buf;
    static __thread size_t cap;
    if (n > cap) {
        free(buf);
        buf = malloc(n * sizeof *buf);
        cap = buf ? n : 0;
    }
    return buf;
}

static void fill_nan(float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = NAN;
}

void augment_image(const aug_config *a, const uint8_t *src, int c, int h, int w,
                   const double *mean, const double *std, uint64_t seed,
                   uint64_t epoch, uint64_t index, float *dst) {
    rng r;
    aug_params p;
    if (c <= 0 || h <= 0 || w <= 0 || a->out_h <= 0 || a->out_w <= 0) {
        if (c > 0 && a->out_h > 0 && a->out_w > 0) fill_nan(dst, (size_t)a->out_h * a->out_w * c);
        return;
    }
    rng_init(&r, seed ^ RNG_AUGMENT, epoch, index);
    aug_sample(a, c, h, w, &r, &p);
    float *scratch = thread_scratch(aug_scratch_floats(c, a->out_h, a->out_w));
    if (!scratch) { fill_nan(dst, (size_t)a->out_h * a->out_w * c); return; }
    aug_apply(&p, src, c, h, w, a->out_h, a->out_w, mean, std, scratch, dst);
}

typedef struct {
    const aug_config *a;
    const uint8_t *images;
    const int64_t *idx;
    int c, h, w;
    const double *mean, *std;
    uint64_t seed, epoch;
    float *dst;
} batch_job;

static void batch_range(void *ctx, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const batch_job *j = ctx;
    size_t in = (size_t)j->c * j->h * j->w;
    size_t out = (size_t)j->a->out_h * j->a->out_w * j->c;
    for (int64_t b = begin; b < end; b++)
        augment_image(j->a, j->images + (size_t)j->idx[b] * in, j->c, j->h, j->w, j->mean,
                      j->std, j->seed, j->epoch, (uint64_t)j->idx[b], j->dst + (size_t)b * out);
}

void augment_batch(const aug_config *a, const uint8_t *images, const int64_t *idx,
                   int B, int c, int h, int w, const double *mean, const double *std,
                   uint64_t seed, uint64_t epoch, float *dst) {
    batch_job j = {a, images, idx, c, h, w, mean, std, seed, epoch, dst};
    ssl_parallel_for(B, 4, batch_range, &j);
}

typedef struct {
    const uint8_t *src;
    int c, h, w;
    const double *mean, *std;
    float *dst;
} pre_job;

static void pre_range(void *ctx, int64_t begin, int64_t end, int tid) {
    (void)tid;
    const pre_job *j = ctx;
    size_t hw = (size_t)j->h * j->w, n = hw * j->c;
    for (int64_t b = begin; b < end; b++) {
        const uint8_t *s = j->src + (size_t)b * n;
        float *d = j->dst + (size_t)b * n;
        for (int ci = 0; ci < j->c; ci++) {
            float m = j->mean ? (float)j->mean[ci] : 0.0f;
            float sd = j->std ? (float)j->std[ci] : 1.0f;
            const uint8_t *plane = s + (size_t)ci * hw;
            for (size_t i = 0; i < hw; i++)
                d[i * j->c + ci] = ((float)plane[i] / 255.0f - m) / sd;
        }
    }
}

void preprocess_batch(const uint8_t *src, int B, int c, int h, int w,
                      const double *mean, const double *std, float *dst) {
    pre_job j = {src, c, h, w, mean, std, dst};
    ssl_parallel_for(B, 16, pre_range, &j);
}

/* ---- random variates ---- */

double aug_gamma(rng *r, double a) {
    if (a < 1.0) {
        /* Gamma(a) = Gamma(a + 1) * U^(1/a), U in (0, 1]. */
        double u = 1.0 - rng_uniform_d(r);
        return aug_gamma(r, a + 1.0) * pow(u, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, cc = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = rng_normal(r), v = 1.0 + cc * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = 1.0 - rng_uniform_d(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double aug_beta(rng *r, double a, double b) {
    if (a == 0.5 && b == 0.5) {
        double s = sin(M_PI * rng_uniform_d(r) / 2.0);
        return s * s;
    }
    double x = aug_gamma(r, a), y = aug_gamma(r, b);
    if (!(x + y > 0)) return a / (a + b);   /* both underflowed (tiny a, b) */
    return x / (x + y);
}

/* ---- CutMix ---- */

/* Box rows of image k: [k][y][x1 .. x2) is one contiguous run of floats. */
#define CUTMIX_CHUNK 1024

float cutmix_draw(int B, int h, int w, float alpha, rng *r, int32_t *perm, int box[4]) {
    for (int b = 0; b < B; b++) perm[b] = b;
    box[0] = box[1] = box[2] = box[3] = 0;
    if (B <= 0 || h <= 0 || w <= 0 || !(alpha > 0)) return 1.0f;
    double lam = aug_beta(r, alpha, alpha);
    if (lam < 1.0 - lam) lam = 1.0 - lam;
    rng_shuffle_i32(r, perm, B);
    /* The box of Yun et al.'s reference code: sides int(W sqrt(1 - lam)),
     * centre uniform over the image, clipped. */
    double cut = sqrt(1.0 - lam);
    int cut_w = (int)(w * cut), cut_h = (int)(h * cut);
    int cx = (int)rng_below(r, (uint64_t)w), cy = (int)rng_below(r, (uint64_t)h);
    int x1 = cx - cut_w / 2, x2 = cx + cut_w / 2, y1 = cy - cut_h / 2, y2 = cy + cut_h / 2;
    x1 = x1 < 0 ? 0 : x1; y1 = y1 < 0 ? 0 : y1;
    x2 = x2 > w ? w : x2; y2 = y2 > h ? h : y2;
    box[0] = y1; box[1] = x1; box[2] = y2; box[3] = x2;
    return (float)(1.0 - (double)(x2 - x1) * (y2 - y1) / ((double)w * h));
}

void cutmix_paste(float *dst, const float *src, int h, int w, int c, const int box[4]) {
    int y1 = box[0], x1 = box[1], y2 = box[2], x2 = box[3];
    if (!(x2 > x1 && y2 > y1)) return;
    size_t run = (size_t)(x2 - x1) * c;
    for (int y = y1; y < y2; y++) {
        size_t off = ((size_t)y * w + x1) * c;
        memcpy(dst + off, src + off, run * sizeof *dst);
    }
}

float cutmix_batch_box(float *x, int B, int h, int w, int c, float alpha, rng *r,
                       int32_t *perm, int box[4]) {
    float lamf = cutmix_draw(B, h, w, alpha, r, perm, box);
    int y1 = box[0], x1 = box[1], y2 = box[2], x2 = box[3];
    if (x2 > x1 && y2 > y1) {
        /* In place, cycle by cycle of perm: image k takes the box of
         * perm[k]; the first image's box is saved before it is overwritten
         * and goes to the last of the cycle. Visited entries are marked by
         * -perm-1 and restored at the end. */
        size_t img = (size_t)h * w * c, run = (size_t)(x2 - x1) * c;
        float save[CUTMIX_CHUNK];
        for (int b0 = 0; b0 < B; b0++) {
            if (perm[b0] < 0 || perm[b0] == b0) continue;
            for (int y = y1; y < y2; y++) {
                size_t off0 = ((size_t)y * w + x1) * c;
                for (size_t o = 0; o < run; o += CUTMIX_CHUNK) {
                    size_t n = run - o < CUTMIX_CHUNK ? run - o : CUTMIX_CHUNK;
                    size_t off = off0 + o;
                    memcpy(save, x + (size_t)b0 * img + off, n * sizeof *save);
                    int k = b0;
                    while (perm[k] != b0) {
                        memcpy(x + (size_t)k * img + off, x + (size_t)perm[k] * img + off,
                               n * sizeof *x);
                        k = perm[k];
                    }
                    memcpy(x + (size_t)k * img + off, save, n * sizeof *save);
                }
            }
            int k = b0;
            do { int nx = perm[k]; perm[k] = -nx - 1; k = nx; } while (k != b0);
        }
        for (int b = 0; b < B; b++)
            if (perm[b] < 0) perm[b] = -perm[b] - 1;
    }
    return lamf;
}

float cutmix_batch(float *x, int B, int h, int w, int c, float alpha, rng *r, int32_t *perm) {
    int box[4];
    return cutmix_batch_box(x, B, h, w, c, alpha, r, perm, box);
}
