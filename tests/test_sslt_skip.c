/* test_sslt_skip.c: reading a stream while skipping tensors
 * (sslt_reader_skip, lib/stream/sslt_read.c).
 *
 * A section of three tensors, the middle one large ("big", 1 MB in chunks
 * of several zstd blocks). Skipping it: the other two arrive bit for bit
 * and verified, big's chunks are not returned and its data is not
 * decompressed (the reader's decompressed-byte count), the whole stream is
 * consumed and its end record checked. The same on the older frame layout
 * (each record compressed in one shot: a first block of 128 KiB, not the
 * record's fields alone), where only first blocks are decompressed.
 * Damage: a flipped byte inside big's data is not seen when big is skipped
 * (by design) and is when it is read; a reserved block type in a skipped
 * frame is an error; over sampled flipped bytes the kept tensors never
 * come back different; every sampled truncation is an error. */
#define _GNU_SOURCE /* memfd_create */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "stream/sslt.h"
#include "t.h"

#define NA 50
#define NB 30
#define WB 8192                   /* floats per row of big: 32 KiB */

static sslt_tensor tens[3] = {
    {"a", SSLT_F32, 2, {NA, 10}}, {"big", SSLT_F32, 2, {NB, WB}}, {"c", SSLT_I32, 1, {NB}}};

/* The stream, written with chunks of 256 KiB (8 rows of big). */
static unsigned char *make_stream(size_t *n) {
    static float a[NA * 10], big[NB * WB];
    static int32_t c[NB];
    uint32_t x = 12345;
    for (int i = 0; i < NA * 10; i++) a[i] = (float)i * 0.25f - 3;
    /* Half random (stored as raw blocks), half compressible (compressed
     * blocks), so the skipping walks over both kinds. */
    for (int i = 0; i < NB * WB; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        big[i] = (i / WB) % 2 ? (float)(x >> 8) : (float)(i % 97);
    }
    for (int i = 0; i < NB; i++) c[i] = i * 7 - 3;
    char path[] = "/tmp/sslt_skip.XXXXXX";
    int fd = mkstemp(path);
    ssl_err err;
    sslt_writer *w = fd >= 0 ? sslt_writer_open_fd(fd, "skip", 3, &err) : NULL;
    const void *data[3] = {a, big, c};
    unsigned char *b = NULL;
    *n = 0;
    if (w) {
        sslt_writer_set_chunk_bytes(w, 256u << 10);
        int rc = sslt_write_section(w, "x", NULL, 3, tens, data);
        rc |= sslt_writer_close(w, &err);
        off_t len = lseek(fd, 0, SEEK_END);
        if (!rc && len > 0 && (b = malloc((size_t)len)) && pread(fd, b, (size_t)len, 0) == len)
            *n = (size_t)len;
    }
    if (fd >= 0) close(fd);
    unlink(path);
    return b;
}

/* The same records, each compressed in one shot (the older layout). */
static unsigned char *legacy(const unsigned char *b, size_t n, size_t *ln) {
    unsigned char *out = malloc(n + (1u << 20)), *content = malloc(1u << 20);
    size_t off = 0, o = 0;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    while (out && content && off < n) {
        size_t fs = ZSTD_findFrameCompressedSize(b + off, n - off);
        size_t cs = ZSTD_isError(fs) ? fs : ZSTD_decompress(content, 1u << 20, b + off, fs);
        size_t zs = ZSTD_isError(cs) ? cs : ZSTD_compress2(cc, out + o, n + (1u << 20) - o, content, cs);
        if (ZSTD_isError(zs)) break;
        off += fs;
        o += zs;
    }
    ZSTD_freeCCtx(cc);
    free(content);
    *ln = off == n ? o : 0;
    return out;
}

/* Read the stream from memory, skipping big when skip is set. Returns 0
 * with *digest (of what a and c delivered) and *ub (bytes decompressed),
 * or -1 with err. *returned_big: chunks of big handed out. */
static int read_mem(const unsigned char *b, size_t n, int skip, uint32_t *digest, int64_t *ub,
                    int *returned_big, ssl_err *err) {
    int fd = memfd_create("mem", 0);
    if (fd < 0 || write(fd, b, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET)) return -2;
    sslt_reader *r = sslt_reader_open_fd(fd, "mem", err);
    const sslt_header *h;
    int k = sslt_reader_next(r, &h), ti;
    int64_t row, rows, cb = 0;
    const void *data;
    *digest = 0;
    *returned_big = 0;
    if (k == 1 && skip && sslt_reader_skip(r, (const int[3]){0, 1, 0})) k = -1;
    if (k == 1) {
        while ((k = sslt_reader_chunk(r, &ti, &row, &rows, &data)) == 1) {
            if (ti == 1) { (*returned_big)++; continue; }
            *digest = sslt_crc32(*digest, &ti, sizeof ti);
            *digest = sslt_crc32(*digest, &row, sizeof row);
            *digest = sslt_crc32(*digest, data, (size_t)rows * sslt_tensor_row_bytes(&h->tensors[ti]));
        }
        if (k == 0) k = sslt_reader_expect_end(r, "x") ? -1 : 1;
    }
    sslt_reader_stats(r, NULL, &cb, ub);
    if (k != 1) ssl_forward(err, sslt_reader_error(r));
    else if (cb != (int64_t)n) k = ssl_fail(err, SSL_EDATA, "consumed %lld of %zu bytes", (long long)cb, n);
    sslt_reader_close(r);
    close(fd);
    return k == 1 ? 0 : -1;
}

/* The first frame of big (content over 200 KB) at or after *off: its
 * offset, size, and the offset of its second block's header. */
static int big_frame(const unsigned char *b, size_t n, size_t *off, size_t *fs, size_t *block2) {
    for (; *off < n; *off += *fs) {
        *fs = ZSTD_findFrameCompressedSize(b + *off, n - *off);
        if (ZSTD_isError(*fs)) return -1;
        if (ZSTD_getFrameContentSize(b + *off, n - *off) < 200000) continue;
        const unsigned char *p = b + *off;
        unsigned fhd = p[4];
        static const size_t did[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
        size_t f = fcs[fhd >> 6], h = 4 + 1 + !(fhd >> 5 & 1) + did[fhd & 3] + (f ? f : fhd >> 5 & 1);
        uint32_t bh = p[h] | (uint32_t)p[h + 1] << 8 | (uint32_t)p[h + 2] << 16;
        *block2 = *off + h + 3 + ((bh >> 1 & 3) == 1 ? 1 : bh >> 3);
        return 0;
    }
    return -1;
}

static void check_layout(const char *what, const unsigned char *b, size_t n, int64_t max_ub) {
    ssl_err err = {0};
    uint32_t d_all, d_skip;
    int64_t ub_all, ub_skip;
    int rb_all, rb_skip;
    char name[160];
    int k1 = read_mem(b, n, 0, &d_all, &ub_all, &rb_all, &err);
    snprintf(name, sizeof name, "%s: read in full", what);
    t_report(k1 == 0 && rb_all == 4 && ub_all > NB * WB * 4, name, "%d %d %lld %s", k1, rb_all,
             (long long)ub_all, err.msg);
    int k2 = read_mem(b, n, 1, &d_skip, &ub_skip, &rb_skip, &err);
    snprintf(name, sizeof name, "%s: big skipped, a and c the same, end verified, every byte consumed", what);
    t_report(k2 == 0 && rb_skip == 0 && d_skip == d_all, name, "%d %d %s", k2, rb_skip, err.msg);
    snprintf(name, sizeof name, "%s: big's data not decompressed", what);
    t_report(ub_skip <= max_ub, name, "%lld bytes decompressed, at most %lld expected",
             (long long)ub_skip, (long long)max_ub);
}

int main(void) {
    ssl_err err = {0};
    size_t n, ln;
    unsigned char *b = make_stream(&n);
    if (!b) { T_OK(0, "write the stream"); return t_done(); }
    unsigned char *l = legacy(b, n, &ln);
    T_OK(l && ln > 0, "the older layout: records recompressed in one shot");
    /* The fields of a, c and big's 4 chunks, the header and end: a few KB. */
    check_layout("current layout", b, n, 16 << 10);
    /* Older files: big's 4 chunks each decompress their first 128 KiB block. */
    if (ln) check_layout("older layout", l, ln, (4 << 17) + (16 << 10));

    /* Damage inside big's data: unseen when skipped, seen when read. */
    size_t off = 0, fs = 0, blk2 = 0;
    uint32_t d0, d;
    int64_t ub;
    int rb;
    read_mem(b, n, 1, &d0, &ub, &rb, &err);
    T_EQ(big_frame(b, n, &off, &fs, &blk2), 0, "find a frame of big");
    size_t at = blk2 + 3 + 1000;
    T_OK(at < off + fs, "a byte inside its second block");
    b[at] ^= 0x5a;
    T_OK(read_mem(b, n, 1, &d, &ub, &rb, &err) == 0 && d == d0,
         "damage inside skipped data: the kept tensors read (it is not checked)");
    T_OK(read_mem(b, n, 0, &d, &ub, &rb, &err) == -1 && strstr(err.msg, "mem: record"),
         "the same damage read in full: an error");
    b[at] ^= 0x5a;
    /* A reserved block type in a skipped frame: its structure is checked. */
    unsigned char save = b[blk2];
    b[blk2] |= 6;
    T_OK(read_mem(b, n, 1, &d, &ub, &rb, &err) == -1 && strstr(err.msg, "damaged zstd frame"),
         "reserved block type in a skipped frame: damaged");
    b[blk2] = save;

    /* Sampled flipped bytes: an error or the same a and c, never other data. */
    int wrong = 0, errors = 0, same = 0;
    for (size_t i = 0; i < n; i += 509) {
        b[i] ^= 0x21;
        int k = read_mem(b, n, 1, &d, &ub, &rb, &err);
        if (k == 0 && d != d0) wrong++, fprintf(stderr, "flip at %zu: other data\n", i);
        else if (k == 0) same++;
        else if (k == -1 && strstr(err.msg, "mem: ")) errors++;
        else wrong++, fprintf(stderr, "flip at %zu: %d %s\n", i, k, err.msg);
        b[i] ^= 0x21;
    }
    t_report(wrong == 0 && errors > 0, "flipped bytes with big skipped: detected, or the kept data intact",
             "%d wrong, %d errors, %d unseen", wrong, errors, same);

    /* Truncations: every sampled length is an error that says so. */
    int bad = 0;
    for (size_t len = 1; len < n; len += len < 64 ? 1 : 997) {
        int k = read_mem(b, len, 1, &d, &ub, &rb, &err);
        if (k != -1 || !strstr(err.msg, "truncated")) {
            bad++;
            fprintf(stderr, "length %zu: %d %s\n", len, k, err.msg);
        }
    }
    T_EQ(bad, 0, "truncations with big skipped: errors ('truncated')");

    /* Outside a section there is nothing to skip. */
    int fd = memfd_create("mem", 0);
    if (fd >= 0 && write(fd, b, n) == (ssize_t)n && !lseek(fd, 0, SEEK_SET)) {
        sslt_reader *r = sslt_reader_open_fd(fd, "mem", &err);
        T_OK(r && sslt_reader_skip(r, (const int[3]){0, 1, 0}) == -1 &&
             strstr(sslt_reader_error(r)->msg, "no section"), "skip outside a section: an error");
        sslt_reader_close(r);
    }
    if (fd >= 0) close(fd);
    free(l);
    free(b);
    return t_done();
}
