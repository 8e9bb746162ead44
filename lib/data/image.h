/* image.h: PNG / JPEG decoding from memory, channel conversion, resizing.
 *
 * Images here are planar u8: [c][h][w], c = 1 (grey) or 3 (R, G, B).
 * Decoding converts whatever the file holds (grey, grey+alpha, RGB, RGBA,
 * palette, 1-16 bits) to 1 or 3 channels: alpha is dropped, 16-bit samples
 * keep their high byte, palettes are expanded to RGB.
 *
 * Resizing is separable, one axis at a time, in float: an axis that
 * shrinks uses area averaging (each output pixel is the mean of the input
 * area it covers, with fractional weights at the edges: exact block means
 * for integer factors), an axis that grows uses bilinear interpolation with
 * pixel centres aligned (x_src = (x + 0.5) * in / out - 0.5, clamped at the
 * borders, as PyTorch's align_corners=False). Results are rounded to
 * nearest and clamped to [0, 255]. */
#ifndef SSL_IMAGE_H
#define SSL_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

enum { IMAGE_UNKNOWN = 0, IMAGE_PNG = 1, IMAGE_JPEG = 2 };

typedef struct {
    int c, h, w;
    uint8_t *px;                  /* [c][h][w], owned (malloc) */
} image;

/* Kind of an encoded buffer from its magic bytes. */
int image_sniff(const void *buf, size_t n);

/* Decode a PNG or JPEG held in buf[0..n) into im (im->px malloc'ed).
 * want_c: 0 keeps 1 channel for grey sources and 3 otherwise; 1 or 3
 * converts. Refuses sides above max_side. Returns 0, or -1 with err
 * (errlen bytes) describing the problem ("corrupt PNG: ...", "not a PNG or
 * JPEG file", "unsupported JPEG colour space"); im is then empty. */
int image_decode(image *im, const void *buf, size_t n, int want_c, int max_side,
                 ssl_err *err);
void image_free(image *im);       /* frees px, zeroes im; NULL is a no-op */

/* Resize one plane src [sh][sw] into dst [dh][dw] (see above). Returns 0,
 * -1 on out of memory. Sizes must be >= 1. */
int image_resize_plane(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw);
/* c planes in turn. */
int image_resize(const uint8_t *src, int c, int sh, int sw, uint8_t *dst, int dh, int dw);

/* Planar RGB [3][npix] to grey [npix]: (299 R + 587 G + 114 B + 500) / 1000. */
void image_rgb_to_grey(const uint8_t *rgb, uint8_t *grey, size_t npix);
/* Grey [npix] to planar RGB [3][npix] (copied into each plane). */
void image_grey_to_rgb(const uint8_t *grey, uint8_t *rgb, size_t npix);
#endif
