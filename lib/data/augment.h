/* augment.h: one random view per image (ssl-method(7), AUGMENTATION) and
 * CutMix (CUTMIX), in C, from uint8 dataset images to normalised float NHWC.
 *
 * Random numbers are a function of (seed, epoch, dataset index): the same
 * image in the same epoch gets the same view whatever the batch, order or
 * thread count. */
#ifndef SSL_AUGMENT_H
#define SSL_AUGMENT_H
#include <stdint.h>

#include "util/rng.h"

typedef struct {
    int out_h, out_w;             /* output size (RandomResizedCrop target) */
    int crop;                     /* 1: RandomResizedCrop; 0: resize only */
    float scale_min, scale_max;   /* area scale, 0.2 .. 1 */
    float ratio_min, ratio_max;   /* aspect ratio, 3/4 .. 4/3 (log-uniform) */
    float jitter_p;               /* ColorJitter probability (0.8; npid 1) */
    float brightness, contrast, saturation, hue;  /* 0.4 0.4 0.4 0.1 (npid hue 0.4) */
    float gray_p;                 /* RandomGrayscale probability 0.2 */
    float flip_p;                 /* horizontal flip probability (paper 0.5, npid 0) */
    float blur_p;                 /* GaussianBlur probability (0, or 0.5 for large images) */
    float blur_sigma_min, blur_sigma_max;  /* 0.1 .. 2 */
} aug_config;

/* Defaults of a recipe ("paper" or "npid") for images of h x w; "none"
 * gives the evaluation transform (no randomness). Large images (>= 64
 * pixels a side) get GaussianBlur p = 0.5. */
int aug_config_default(aug_config *a, const char *recipe, int h, int w);

/* One view: src u8 [c, h, w] -> dst f32 [out_h, out_w, c], scaled to
 * [0,1] and normalised with mean/std per channel. */
void augment_image(const aug_config *a, const uint8_t *src, int c, int h, int w,
                   const double *mean, const double *std, uint64_t seed,
                   uint64_t epoch, uint64_t index, float *dst);

/* B views of images[idx[b]] (dataset of [n, c, h, w] u8) into dst
 * [B, out_h, out_w, c], in parallel over images. */
void augment_batch(const aug_config *a, const uint8_t *images, const int64_t *idx,
                   int B, int c, int h, int w, const double *mean, const double *std,
                   uint64_t seed, uint64_t epoch, float *dst);

/* Evaluation: B images u8 [B, c, h, w] -> f32 [B, h, w, c], normalised. */
void preprocess_batch(const uint8_t *src, int B, int c, int h, int w,
                      const double *mean, const double *std, float *dst);

/* CutMix on x [B, h, w, c] in place (ssl-method(7), CUTMIX): draws lam from
 * Beta(alpha, alpha), lam = max(lam, 1-lam), a permutation and a box from r;
 * fills perm [B] and returns lam recomputed from the box area. */
float cutmix_batch(float *x, int B, int h, int w, int c, float alpha, rng *r, int32_t *perm);
#endif
