/* image.c: PNG (libpng) and JPEG (libjpeg-turbo) decoding from memory into
 * planar u8 images, grey/RGB conversion and separable resizing (area
 * averaging when shrinking, bilinear when growing). See image.h. Image
 * sizes declared by a header are checked against max_side and against the
 * encoded bytes present (decompression bombs) before pixels are allocated;
 * libjpeg's own working memory is capped at JPEG_MAX_MEMORY. */
#include "data/image.h"

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

int image_sniff(const void *buf, size_t n) {
    const unsigned char *b = buf;
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return IMAGE_PNG;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return IMAGE_JPEG;
    return IMAGE_UNKNOWN;
}

void image_free(image *im) {
    if (!im) return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

/* Interleaved rows [h][w][c] (c = 1 or 3) into planar im, converting to want_c. */
static int planarise(image *im, const uint8_t *rows, int h, int w, int c, int want_c) {
    int oc = want_c ? want_c : c;
    size_t np = (size_t)h * w;
    im->px = malloc(np * oc);
    if (!im->px) return -1;
    im->c = oc; im->h = h; im->w = w;
    if (c == 1) {
        memcpy(im->px, rows, np);
        if (oc == 3) { memcpy(im->px + np, rows, np); memcpy(im->px + 2 * np, rows, np); }
        return 0;
    }
    if (oc == 3) {
        for (size_t i = 0; i < np; i++) {
            im->px[i] = rows[3 * i];
            im->px[np + i] = rows[3 * i + 1];
            im->px[2 * np + i] = rows[3 * i + 2];
        }
    } else {
        for (size_t i = 0; i < np; i++) {
            unsigned v = 299u * rows[3 * i] + 587u * rows[3 * i + 1] + 114u * rows[3 * i + 2];
            im->px[i] = (uint8_t)((v + 500) / 1000);
        }
    }
    return 0;
}

/* Decompression bombs: 1 if raw bytes of pixels cannot come from n encoded
 * bytes at a compression ratio of at most `ratio` (deflate cannot exceed
 * 1032:1); the first DECODE_FREE_BYTES are always allowed, so ordinary
 * images never meet the check. */
#define DECODE_FREE_BYTES ((uint64_t)16 << 20)
static int implausible(size_t n, uint64_t raw, uint64_t ratio) {
    return raw > DECODE_FREE_BYTES && raw - DECODE_FREE_BYTES > ratio * (uint64_t)n;
}
/* libjpeg's working memory (coefficient buffers of progressive images). */
#define JPEG_MAX_MEMORY (256L << 20)

/* ---- PNG ---- */
typedef struct {
    const uint8_t *p;
    size_t n, off;
    ssl_err *err;
    jmp_buf jb;
} png_src;

static void png_read_mem(png_structp png, png_bytep out, png_size_t len) {
    png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->off) png_error(png, "truncated data");
    memcpy(out, s->p + s->off, len);
    s->off += len;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    png_src *s = png_get_error_ptr(png);
    ssl_fail(s->err, SSL_EDATA, "corrupt PNG: %s", msg);
    longjmp(s->jb, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int decode_png(image *im, const uint8_t *buf, size_t n, int want_c, int max_side,
                      ssl_err *err) {
    png_src s;
    s.p = buf; s.n = n; s.off = 0; s.err = err;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *volatile rows = NULL;
    png_bytep *volatile rowp = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return -1;
    }
    if (setjmp(s.jb)) {
        free(rows); free(rowp);
        png_destroy_read_struct(&png, &info, NULL);
        image_free(im);
        return -1;
    }
    png_set_read_fn(png, &s, png_read_mem);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (w < 1 || h < 1) png_error(png, "empty image");
    if (w > (png_uint_32)max_side || h > (png_uint_32)max_side) {
        ssl_fail(err, SSL_EDATA, "PNG header claims %lux%lu pixels, more than the %d per side "
                 "allowed", (unsigned long)w, (unsigned long)h, max_side);
        longjmp(s.jb, 1);
    }
    if (implausible(n, (uint64_t)h * (png_get_rowbytes(png, info) + 1), 1032))
        png_error(png, "image size implausible for the data (decompression bomb?)");
    int ct = png_get_color_type(png, info);
    png_set_expand(png);              /* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int c = png_get_channels(png, info);
    if ((c != 1 && c != 3) || png_get_rowbytes(png, info) != (size_t)w * c)
        png_error(png, "unexpected pixel layout");
    (void)ct;
    rows = malloc((size_t)w * h * c);
    rowp = malloc(sizeof(png_bytep) * h);
    if (!rows || !rowp) png_error(png, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) rowp[y] = rows + (size_t)y * w * c;
    png_read_image(png, rowp);
    png_read_end(png, NULL);
    int rc = planarise(im, rows, (int)h, (int)w, c, want_c);
    free(rows); free(rowp);
    png_destroy_read_struct(&png, &info, NULL);
    if (rc) ssl_fail(err, SSL_ENOMEM, "out of memory");
    return rc;
}

/* ---- JPEG ---- */
typedef struct {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    int eof;                      /* premature end of data seen */
} jpeg_err;

static void jpeg_on_error(j_common_ptr cinfo) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    longjmp(e->jb, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
    jpeg_err *e = (jpeg_err *)cinfo->err;
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) e->eof = 1;
}

static int decode_jpeg(image *im, const uint8_t *buf, size_t n, int want_c, int max_side,
                       ssl_err *err) {
    struct jpeg_decompress_struct cinfo;
    jpeg_err je;
    uint8_t *volatile rows = NULL;
    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = jpeg_on_error;
    je.mgr.emit_message = jpeg_on_message;
    je.eof = 0;
    if (setjmp(je.jb)) {
        char msg[JMSG_LENGTH_MAX];
        (*cinfo.err->format_message)((j_common_ptr)&cinfo, msg);
        ssl_fail(err, SSL_EDATA, "corrupt JPEG: %s", msg);
        free(rows);
        jpeg_destroy_decompress(&cinfo);
        image_free(im);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = JPEG_MAX_MEMORY;
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.image_width < 1 || cinfo.image_height < 1) {
        ssl_fail(err, SSL_EDATA, "corrupt JPEG: empty image");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (cinfo.image_width > (unsigned)max_side || cinfo.image_height > (unsigned)max_side) {
        ssl_fail(err, SSL_EDATA, "JPEG header claims %ux%u pixels, more than the %d per side "
                 "allowed", cinfo.image_width, cinfo.image_height, max_side);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (implausible(n, (uint64_t)cinfo.image_width * cinfo.image_height * cinfo.num_components,
                    1024)) {
        ssl_fail(err, SSL_EDATA, "corrupt JPEG: image size %ux%u implausible for %zu bytes of data "
                 "(decompression bomb?)", cinfo.image_width, cinfo.image_height, n);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
        cinfo.out_color_space = JCS_GRAYSCALE;
    } else if (cinfo.jpeg_color_space == JCS_YCbCr || cinfo.jpeg_color_space == JCS_RGB) {
        cinfo.out_color_space = JCS_RGB;
    } else {
        ssl_fail(err, SSL_EDATA, "unsupported JPEG colour space (CMYK or YCCK)");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, c = cinfo.output_components;
    rows = malloc((size_t)w * h * c);
    if (!rows) {
        jpeg_destroy_decompress(&cinfo);
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW r = rows + (size_t)cinfo.output_scanline * w * c;
        jpeg_read_scanlines(&cinfo, &r, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (je.eof) {
        free(rows);
        ssl_fail(err, SSL_EDATA, "corrupt JPEG: premature end of data");
        return -1;
    }
    int rc = planarise(im, rows, h, w, c, want_c);
    free(rows);
    if (rc) ssl_fail(err, SSL_ENOMEM, "out of memory");
    return rc;
}

int image_decode(image *im, const void *buf, size_t n, int want_c, int max_side,
                 ssl_err *err) {
    memset(im, 0, sizeof *im);
    if (want_c != 0 && want_c != 1 && want_c != 3) {
        ssl_fail(err, SSL_EDATA, "bad channel count %d", want_c);
        return -1;
    }
    if (n == 0) {
        ssl_fail(err, SSL_EDATA, "empty file");
        return -1;
    }
    switch (image_sniff(buf, n)) {
    case IMAGE_PNG: return decode_png(im, buf, n, want_c, max_side, err);
    case IMAGE_JPEG: return decode_jpeg(im, buf, n, want_c, max_side, err);
    default:
        ssl_fail(err, SSL_EDATA, "not a PNG or JPEG file");
        return -1;
    }
}

/* ---- conversion ---- */
void image_rgb_to_grey(const uint8_t *rgb, uint8_t *grey, size_t npix) {
    const uint8_t *r = rgb, *g = rgb + npix, *b = rgb + 2 * npix;
    for (size_t i = 0; i < npix; i++)
        grey[i] = (uint8_t)((299u * r[i] + 587u * g[i] + 114u * b[i] + 500) / 1000);
}

void image_grey_to_rgb(const uint8_t *grey, uint8_t *rgb, size_t npix) {
    for (int k = 0; k < 3; k++) memmove(rgb + k * npix, grey, npix);
}

/* ---- resizing ---- */
/* Weights of one axis: output i reads inputs start[i] .. start[i]+cnt[i]-1
 * with weights wt[i*maxc + k]. */
typedef struct { int *start, *cnt; float *wt; int maxc; } axis_w;

static void axis_free(axis_w *a) { free(a->start); free(a->cnt); free(a->wt); }

static int axis_init(axis_w *a, int in, int out) {
    a->maxc = out < in ? (int)ceil((double)in / out) + 1 : 2;
    a->start = malloc(sizeof(int) * out);
    a->cnt = malloc(sizeof(int) * out);
    a->wt = calloc((size_t)out * a->maxc, sizeof(float));
    if (!a->start || !a->cnt || !a->wt) { axis_free(a); return -1; }
    for (int i = 0; i < out; i++) {
        float *wt = a->wt + (size_t)i * a->maxc;
        if (out < in) {               /* area: [i*s, (i+1)*s) */
            double s = (double)in / out, lo = i * s, hi = (i + 1) * s;
            int j0 = (int)floor(lo), j1 = (int)ceil(hi);
            if (j1 > in) j1 = in;
            a->start[i] = j0;
            a->cnt[i] = j1 - j0;
            for (int j = j0; j < j1; j++) {
                double ov = fmin(hi, j + 1.0) - fmax(lo, (double)j);
                wt[j - j0] = (float)(ov > 0 ? ov / s : 0);
            }
        } else if (out > in) {        /* bilinear, centres aligned */
            double x = (i + 0.5) * in / out - 0.5;
            if (x < 0) x = 0;
            if (x > in - 1) x = in - 1;
            int j0 = (int)floor(x);
            double f = x - j0;
            a->start[i] = j0;
            if (j0 + 1 < in) { a->cnt[i] = 2; wt[0] = (float)(1 - f); wt[1] = (float)f; }
            else { a->cnt[i] = 1; wt[0] = 1; }
        } else {
            a->start[i] = i; a->cnt[i] = 1; wt[0] = 1;
        }
    }
    return 0;
}

int image_resize_plane(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw) {
    if (sh == dh && sw == dw) { memcpy(dst, src, (size_t)sh * sw); return 0; }
    axis_w ax, ay;
    if (axis_init(&ax, sw, dw)) return -1;
    if (axis_init(&ay, sh, dh)) { axis_free(&ax); return -1; }
    float *tmp = malloc(sizeof(float) * (size_t)sh * dw);
    if (!tmp) { axis_free(&ax); axis_free(&ay); return -1; }
    for (int y = 0; y < sh; y++) {                   /* horizontal pass */
        const uint8_t *row = src + (size_t)y * sw;
        for (int x = 0; x < dw; x++) {
            const float *wt = ax.wt + (size_t)x * ax.maxc;
            float acc = 0;
            for (int k = 0; k < ax.cnt[x]; k++) acc += wt[k] * row[ax.start[x] + k];
            tmp[(size_t)y * dw + x] = acc;
        }
    }
    for (int y = 0; y < dh; y++) {                   /* vertical pass */
        const float *wt = ay.wt + (size_t)y * ay.maxc;
        for (int x = 0; x < dw; x++) {
            float acc = 0;
            for (int k = 0; k < ay.cnt[y]; k++) acc += wt[k] * tmp[(size_t)(ay.start[y] + k) * dw + x];
            long v = lrintf(acc);
            dst[(size_t)y * dw + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    free(tmp);
    axis_free(&ax); axis_free(&ay);
    return 0;
}

int image_resize(const uint8_t *src, int c, int sh, int sw, uint8_t *dst, int dh, int dw) {
    for (int k = 0; k < c; k++)
        if (image_resize_plane(src + (size_t)k * sh * sw, sh, sw, dst + (size_t)k * dh * dw, dh, dw))
            return -1;
    return 0;
}
