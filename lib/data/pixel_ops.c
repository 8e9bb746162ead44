/* pixel_ops.c: the pixel operations of one augmented view (pixel_ops.h),
 * each written to give torchvision 0.14's tensor functional result on a
 * float image in [0, 1]: bilinear resized crop (align_corners False, no
 * antialias), brightness / contrast / saturation as _blend with clamping,
 * hue through _rgb2hsv / _hsv2rgb, grayscale, flip, and a separable
 * Gaussian blur with reflect padding. The arithmetic follows torchvision's
 * float32 formulas in the same order, so outputs agree to a few ulp (the
 * tests allow 1e-5). Images are planar f32 [c, h, w]. */
#include "data/pixel_ops.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

/* u8 / 255 in float, as torchvision's img.float() / 255. */
static float u8_to_unit[256];
static pthread_once_t u8_once = PTHREAD_ONCE_INIT;
static void u8_init(void) {
    for (int i = 0; i < 256; i++) u8_to_unit[i] = (float)i / 255.0f;
}

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

/* ---- resized crop ---- */

/* PyTorch's linear source indices (align_corners False): for each output
 * position o, src = scale * (o + 0.5) - 0.5 clamped at 0, i0 = floor(src),
 * i1 = i0 + (i0 < in - 1), weight of i1 = src - i0. */
static void linear_taps(int in, int out, int *i0, int *i1, float *w1) {
    float scale = (float)in / (float)out;
    for (int o = 0; o < out; o++) {
        float s = scale * ((float)o + 0.5f) - 0.5f;
        if (s < 0.0f) s = 0.0f;
        int i = (int)s;
        float l = s - (float)i;
        if (l < 0.0f) l = 0.0f;
        if (l > 1.0f) l = 1.0f;
        i0[o] = i;
        i1[o] = i + (i < in - 1 ? 1 : 0);
        w1[o] = l;
    }
}

void aug_resized_crop(const uint8_t *src, int c, int h, int w, int top, int left,
                      int ch, int cw, int oh, int ow, int flip, int *idx, float *dst) {
    (void)h;
    int *y0 = idx, *y1 = idx + oh, *x0 = idx + 2 * oh, *x1 = idx + 2 * oh + ow;
    float wy[oh > 0 ? oh : 1], wx[ow > 0 ? ow : 1];
    linear_taps(ch, oh, y0, y1, wy);
    linear_taps(cw, ow, x0, x1, wx);
    pthread_once(&u8_once, u8_init);
    const float *lut = u8_to_unit;
    for (int ci = 0; ci < c; ci++) {
        const uint8_t *plane = src + (size_t)ci * h * w + (size_t)top * w + left;
        float *out = dst + (size_t)ci * oh * ow;
        for (int y = 0; y < oh; y++) {
            const uint8_t *r0 = plane + (size_t)y0[y] * w, *r1 = plane + (size_t)y1[y] * w;
            float b = wy[y], a = 1.0f - b;
            float *o = out + (size_t)y * ow;
            for (int x = 0; x < ow; x++) {
                float bx = wx[x], ax = 1.0f - bx;
                /* u8 -> float / 255 first, as the reference does. */
                float p00 = lut[r0[x0[x]]], p01 = lut[r0[x1[x]]];
                float p10 = lut[r1[x0[x]]], p11 = lut[r1[x1[x]]];
                float v = a * (ax * p00 + bx * p01) + b * (ax * p10 + bx * p11);
                o[flip ? ow - 1 - x : x] = v;
            }
        }
    }
}

/* ---- colour ---- */

/* torchvision's rgb_to_grayscale weights (TensorFlow's). */
#define GR 0.2989f
#define GG 0.587f
#define GB 0.114f

void aug_brightness(float *x, int c, int hw, float f) {
    size_t n = (size_t)c * hw;
    for (size_t i = 0; i < n; i++) x[i] = clamp01(f * x[i]);
}

void aug_contrast(float *x, int c, int hw, float f) {
    double sum = 0;
    if (c == 3) {
        const float *r = x, *g = x + hw, *b = x + 2 * (size_t)hw;
        for (int i = 0; i < hw; i++) sum += GR * r[i] + GG * g[i] + GB * b[i];
        sum /= hw;
    } else {
        size_t n = (size_t)c * hw;
        for (size_t i = 0; i < n; i++) sum += x[i];
        sum /= (double)n;
    }
    /* _blend: ratio * img + (1 - ratio) * mean, each term in float. */
    float m = (float)(1.0 - (double)f) * (float)sum;
    size_t n = (size_t)c * hw;
    for (size_t i = 0; i < n; i++) x[i] = clamp01(f * x[i] + m);
}

void aug_saturation(float *x, int c, int hw, float f) {
    if (c != 3) return;
    float *r = x, *g = x + hw, *b = x + 2 * (size_t)hw;
    float fm = (float)(1.0 - (double)f);
    for (int i = 0; i < hw; i++) {
        float l = GR * r[i] + GG * g[i] + GB * b[i];
        float t = fm * l;
        r[i] = clamp01(f * r[i] + t);
        g[i] = clamp01(f * g[i] + t);
        b[i] = clamp01(f * b[i] + t);
    }
}

void aug_grayscale(float *x, int c, int hw) {
    if (c != 3) return;
    float *r = x, *g = x + hw, *b = x + 2 * (size_t)hw;
    for (int i = 0; i < hw; i++) {
        float l = GR * r[i] + GG * g[i] + GB * b[i];
        r[i] = g[i] = b[i] = l;
    }
}

/* _rgb2hsv, hue shift with torch.remainder(., 1), _hsv2rgb: one pixel,
 * with selects rather than a switch. The remainders are one
 * subtraction or addition, exact in the ranges where they are used (the
 * hue before the shift lies in [5/6, 11/6), after a shift in [-1, 1] in
 * [-1, 2)), so the result is bit-identical to fmodf's. */
static inline void hue_pixel(float *pr, float *pg, float *pb, float shift) {
    float r = *pr, g = *pg, b = *pb;
    float maxc = r > g ? r : g, minc = r < g ? r : g;
    maxc = maxc > b ? maxc : b;
    minc = minc < b ? minc : b;
    int eqc = maxc == minc;
    float cr = maxc - minc;
    float s = cr / (eqc ? 1.0f : maxc);
    float crd = eqc ? 1.0f : cr;
    float rc = (maxc - r) / crd, gc = (maxc - g) / crd, bc = (maxc - b) / crd;
    float hr = maxc == r ? bc - gc : 0.0f;
    float hg = (maxc == g && maxc != r) ? 2.0f + rc - bc : 0.0f;
    float hb = (maxc != g && maxc != r) ? 4.0f + gc - rc : 0.0f;
    float hh = (hr + hg + hb) / 6.0f + 1.0f;
    hh = hh >= 1.0f ? hh - 1.0f : hh;
    float v = maxc;
    hh = hh + shift;
    hh = hh >= 1.0f ? hh - 1.0f : (hh < 0.0f ? hh + 1.0f : hh);
    float fi = floorf(hh * 6.0f);
    float f = hh * 6.0f - fi;
    int i = (int)fi;
    i = i >= 6 ? i - 6 : i;
    float p = clamp01(v * (1.0f - s));
    float q = clamp01(v * (1.0f - s * f));
    float t = clamp01(v * (1.0f - s * (1.0f - f)));
    /* i: 0 (v,t,p) 1 (q,v,p) 2 (p,v,t) 3 (p,q,v) 4 (t,p,v) 5 (v,p,q) */
    *pr = (i == 0 || i == 5) ? v : i == 1 ? q : i == 4 ? t : p;
    *pg = (i == 1 || i == 2) ? v : i == 0 ? t : i == 3 ? q : p;
    *pb = (i == 3 || i == 4) ? v : i == 2 ? t : i == 5 ? q : p;
}

void aug_hue(float *x, int c, int hw, float shift) {
    if (c != 3) return;
    if (!(shift >= -1.0f && shift <= 1.0f)) {    /* beyond torchvision's [-0.5, 0.5] */
        shift = fmodf(shift, 1.0f);
        if (!isfinite(shift)) shift = 0.0f;
    }
    float *r = x, *g = x + hw, *b = x + 2 * (size_t)hw;
    for (int i = 0; i < hw; i++) hue_pixel(&r[i], &g[i], &b[i], shift);
}

void aug_hflip(float *x, int c, int h, int w) {
    for (size_t row = 0; row < (size_t)c * h; row++) {
        float *p = x + row * w;
        for (int i = 0, j = w - 1; i < j; i++, j--) { float t = p[i]; p[i] = p[j]; p[j] = t; }
    }
}

/* ---- blur ---- */

int aug_blur_kernel(int n) {
    int k = (int)(0.1 * n);
    if (k % 2 == 0) k++;
    if (k < 3) k = 3;
    if (k > 2 * n - 1) k = 2 * n - 1;
    if (k > 255) k = 255;
    return k < 1 ? 1 : k;
}

/* _get_gaussian_kernel1d: linspace(-(k-1)/2, (k-1)/2, k), exp(-x^2/2s^2),
 * normalised to sum 1. */
static void gauss1d(int k, float sigma, float *out) {
    float half = (float)(k - 1) * 0.5f, sum = 0;
    for (int i = 0; i < k; i++) {
        float x = ((float)i - half) / sigma;
        out[i] = expf(-0.5f * x * x);
        sum += out[i];
    }
    for (int i = 0; i < k; i++) out[i] /= sum;
}

static inline int reflect(int i, int n) {
    if (i < 0) return -i;
    if (i >= n) return 2 * (n - 1) - i;
    return i;
}

void aug_gaussian_blur(float *x, int c, int h, int w, int kh, int kw, float sigma,
                       float *tmp) {
    float ky[256], kx[256];
    if (kh > 255) kh = 255;
    if (kw > 255) kw = 255;
    gauss1d(kh, sigma, ky);
    gauss1d(kw, sigma, kx);
    int rh = kh / 2, rw = kw / 2;
    for (int ci = 0; ci < c; ci++) {
        float *p = x + (size_t)ci * h * w;
        /* horizontal into tmp */
        for (int y = 0; y < h; y++) {
            const float *row = p + (size_t)y * w;
            float *t = tmp + (size_t)y * w;
            for (int xx = 0; xx < w; xx++) {
                float s = 0;
                if (xx >= rw && xx + rw < w) {
                    const float *q = row + xx - rw;
                    for (int j = 0; j < kw; j++) s += kx[j] * q[j];
                } else {
                    for (int j = 0; j < kw; j++) s += kx[j] * row[reflect(xx + j - rw, w)];
                }
                t[xx] = s;
            }
        }
        /* vertical back into p */
        for (int y = 0; y < h; y++) {
            float *o = p + (size_t)y * w;
            for (int xx = 0; xx < w; xx++) o[xx] = 0;
            for (int j = 0; j < kh; j++) {
                const float *t = tmp + (size_t)reflect(y + j - rh, h) * w;
                float kj = ky[j];
                for (int xx = 0; xx < w; xx++) o[xx] += kj * t[xx];
            }
        }
    }
}
