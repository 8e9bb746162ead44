/* pixel_ops.h: the single operations behind augment.h, exposed so that
 * tests compare each one with torchvision 0.14's tensor functional
 * (tests/gen_augment_fixtures.py), plus the random pieces (crop box, Beta
 * and Gamma variates) and CutMix with its box.
 *
 * Images here are float planar [c, h, w] in [0, 1] (u8 / 255), as
 * torchvision's tensor images. Ops work in place unless they say otherwise.
 * Channel semantics follow torchvision: saturation, hue and grayscale act
 * on 3-channel images only and are no-ops for any other channel count;
 * the grayscale weights are torchvision's (0.2989, 0.587, 0.114). */
#ifndef SSL_AUGMENT_OPS_H
#define SSL_AUGMENT_OPS_H
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#include "data/augment.h"
#include "util/rng.h"

/* The parameters of one view, as drawn by aug_sample. */
typedef struct {
    int top, left, crop_h, crop_w;  /* crop box in the source image */
    int flip;                       /* 1: horizontal flip */
    int njitter;                    /* number of jitter ops, 0..4 */
    int order[4];                   /* ops in order: 0 brightness, 1 contrast,
                                     * 2 saturation, 3 hue */
    float factor[4];                /* brightness, contrast, saturation
                                     * factors and the hue shift, by op */
    int gray;                       /* 1: grayscale */
    int blur_kh, blur_kw;           /* Gaussian kernel size (odd); 0: no blur */
    float blur_sigma;
} aug_params;

/* Check a configuration (sizes positive, 0 < scale_min <= scale_max <= 1,
 * 0 < ratio_min <= ratio_max, probabilities in [0, 1], jitter strengths
 * >= 0 with hue <= 0.5, 0 < sigma_min <= sigma_max). Returns 0, or -1 with
 * a message in err (may be NULL). */
int aug_config_check(const aug_config *a, ssl_err *err);

/* RandomResizedCrop.get_params: up to 10 tries of area scale U(smin, smax)
 * and log-uniform ratio in [rmin, rmax], w = round(sqrt(area*ratio)),
 * h = round(sqrt(area/ratio)) (round half to even, as Python), accepted if
 * 0 < w <= W and 0 < h <= H, then top/left uniform; else torchvision's
 * central fallback. Returns 1 when a try was accepted, 0 for the fallback. */
int aug_crop_params(rng *r, int h, int w, float smin, float smax, float rmin,
                    float rmax, int *top, int *left, int *crop_h, int *crop_w);

/* Draw the parameters of one view of a c x h x w image. */
void aug_sample(const aug_config *a, int c, int h, int w, rng *r, aug_params *p);

/* Floats of scratch that aug_apply needs. */
size_t aug_scratch_floats(int c, int out_h, int out_w);

/* Apply p to src u8 [c, h, w]: crop, bilinear resize to out_h x out_w, flip,
 * jitter ops, grayscale, blur, /255 and normalise into dst f32
 * [out_h, out_w, c]. mean/std: c values each; NULL means 0 / 1. scratch:
 * aug_scratch_floats(c, out_h, out_w) floats, owned by the caller. */
void aug_apply(const aug_params *p, const uint8_t *src, int c, int h, int w,
               int out_h, int out_w, const double *mean, const double *std,
               float *scratch, float *dst);

/* F.resized_crop(src/255, top, left, ch, cw, [oh, ow], bilinear,
 * antialias=False) (align_corners False, source index clamped at 0), then
 * flipped horizontally when flip. src u8 [c, h, w]; the box lies inside the
 * image. dst f32 [c, oh, ow]. idx: 2*(oh+ow) ints of scratch. */
void aug_resized_crop(const uint8_t *src, int c, int h, int w, int top, int left,
                      int ch, int cw, int oh, int ow, int flip, int *idx, float *dst);

/* x f32 [c, hw] in place; results clamped to [0, 1]. */
void aug_brightness(float *x, int c, int hw, float f);   /* f * x */
void aug_contrast(float *x, int c, int hw, float f);     /* blend with mean gray */
void aug_saturation(float *x, int c, int hw, float f);   /* blend with gray */
void aug_hue(float *x, int c, int hw, float shift);      /* HSV hue + shift mod 1 */
void aug_grayscale(float *x, int c, int hw);             /* gray replicated */
void aug_hflip(float *x, int c, int h, int w);

/* Kernel size for GaussianBlur along an image side of n pixels: int(0.1 n),
 * plus 1 if even, at least 3 (23 for 224, 7 for 64), and at most
 * 2 n - 1 so that reflect padding is defined (1 for n = 1: no blur). */
int aug_blur_kernel(int n);

/* F.gaussian_blur(x, [kw, kh], [sigma, sigma]) with reflect padding, done
 * separably. x f32 [c, h, w] in place; kw/2 < w and kh/2 < h; kw, kh odd,
 * at most 255. tmp: h*w floats. */
void aug_gaussian_blur(float *x, int c, int h, int w, int kh, int kw, float sigma,
                       float *tmp);

/* Gamma(a, 1) (Marsaglia-Tsang; a < 1 by the boost u^(1/a)); a > 0. */
double aug_gamma(rng *r, double a);
/* Beta(a, b): the arcsine law sin^2(pi u / 2) for a = b = 0.5, otherwise
 * X / (X + Y) of Gamma variates; a, b > 0. */
double aug_beta(rng *r, double a, double b);

/* cutmix_batch, also returning the box: box = {top, left, bottom, right}
 * (bottom/right exclusive; empty when alpha <= 0, which mixes nothing:
 * perm is the identity and lam 1). */
float cutmix_batch_box(float *x, int B, int h, int w, int c, float alpha, rng *r,
                       int32_t *perm, int box[4]);
/* The draws of cutmix_batch_box alone (the same draws from r): perm [B],
 * box, and lam as returned; no image is touched. A data-parallel replica
 * mixes its own rows with cutmix_paste. */
float cutmix_draw(int B, int h, int w, float alpha, rng *r, int32_t *perm, int box[4]);
/* The box of src [h, w, c] pasted into dst (one image; box empty: no-op). */
void cutmix_paste(float *dst, const float *src, int h, int w, int c, const int box[4]);
#endif
