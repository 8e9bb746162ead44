/* prep_fixture.h: what the ssl-prep tests (test_prep.c, test_prep_layout.c)
 * use to write their inputs: paths in the test's folder, files under new folders, PNG and JPEG encoded
 * in memory (libpng, libjpeg), and archives (libarchive). Failures exit 2. */
#ifndef SSL_PREP_FIXTURE_H
#define SSL_PREP_FIXTURE_H
#include <archive.h>
#include <archive_entry.h>
#include <jpeglib.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The test's folder (each test fills it in main) and paths in it; a path
 * lives until eight more have been asked for. */
static char tmpdir[4096] __attribute__((unused));

__attribute__((unused)) static const char *tpath(const char *rel) {
    static char buf[8][4500];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, sizeof buf[0], "%s/%s", tmpdir, rel);
    return b;
}

static void __attribute__((unused)) mkdirs(const char *path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') { *s = 0; mkdir(p, 0755); *s = '/'; }
    mkdir(p, 0755);
}

static void __attribute__((unused)) mkparent(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *s = strrchr(dir, '/');
    if (s) { *s = 0; mkdirs(dir); }
}

static void __attribute__((unused)) write_file(const char *path, const void *data, size_t n) {
    mkparent(path);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f)) { perror(path); exit(2); }
}

/* ---- encoders ---- */
typedef struct { uint8_t *p; size_t n, cap; } membuf;
static void __attribute__((unused)) mb_write(png_structp png, png_bytep d, png_size_t n) {
    membuf *m = png_get_io_ptr(png);
    if (m->n + n > m->cap) { m->cap = (m->n + n) * 2; m->p = realloc(m->p, m->cap); }
    memcpy(m->p + m->n, d, n);
    m->n += n;
}
static void __attribute__((unused)) mb_flush(png_structp png) { (void)png; }

/* PNG of h x w from interleaved pixels; color_type PNG_COLOR_TYPE_*;
 * for a palette image, px holds indices and pal (n entries) the colours. */
static membuf __attribute__((unused)) png_encode(const uint8_t *px, int h, int w, int ctype, const png_color *pal, int npal) {
    membuf m = {0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) { fprintf(stderr, "png_encode failed\n"); exit(2); }
    png_set_write_fn(png, &m, mb_write, mb_flush);
    png_set_IHDR(png, info, w, h, 8, ctype, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    int c = ctype == PNG_COLOR_TYPE_RGB ? 3 : ctype == PNG_COLOR_TYPE_RGBA ? 4 : ctype == PNG_COLOR_TYPE_GA ? 2 : 1;
    for (int y = 0; y < h; y++) png_write_row(png, (png_bytep)px + (size_t)y * w * c);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return m;
}

static membuf __attribute__((unused)) jpeg_encode(const uint8_t *px, int h, int w, int c) {
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long outn = 0;
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, &outn);
    ci.image_width = w; ci.image_height = h; ci.input_components = c;
    ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = (JSAMPROW)px + (size_t)ci.next_scanline * w * c;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    membuf m = { out, outn, outn };
    return m;
}

/* Write an archive: fmt "zip", "tar.gz" or "gz" (one raw gzip'ed file). */
typedef struct { const char *name; const void *data; size_t n; } member;
static void __attribute__((unused)) write_archive(const char *path, const char *fmt, const member *mv, int n) {
    struct archive *a = archive_write_new();
    mkparent(path);
    if (!strcmp(fmt, "zip")) archive_write_set_format_zip(a);
    else if (!strcmp(fmt, "gz")) { archive_write_set_format_raw(a); archive_write_add_filter_gzip(a); }
    else { archive_write_set_format_pax_restricted(a); archive_write_add_filter_gzip(a); }
    if (archive_write_open_filename(a, path) != ARCHIVE_OK) { fprintf(stderr, "%s\n", archive_error_string(a)); exit(2); }
    for (int i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, mv[i].name);
        archive_entry_set_size(e, (la_int64_t)mv[i].n);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, mv[i].data, mv[i].n);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

#endif
