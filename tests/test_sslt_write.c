/* test_sslt_write.c: sslt_write_section's parallel compression
 * (lib/stream/sslt_write.c) and the CRC-32 combination it relies on.
 *
 * sslt_crc32_combine(crc(a), crc(b), len(b)) = crc(ab) for lengths from 0
 * up; a section of three tensors (interleaved chunks, a zero-row and a
 * zero-width tensor) written with 1, 2 and 3 threads gives the same bytes,
 * which are also those of the one-record-at-a-time path (sslt_writer_rows)
 * for a single tensor, and reads back bit for bit. */
#define _GNU_SOURCE /* memfd_create */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stream/sslt.h"
#include "t.h"
#include "util/threads.h"

static void test_combine(void) {
    static unsigned char b[5000];
    for (size_t i = 0; i < sizeof b; i++) b[i] = (unsigned char)(i * 131 + (i >> 7));
    size_t cuts[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 64, 100, 1000, 4095, 4999, 5000};
    int bad = 0;
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        size_t k = cuts[i];
        uint32_t whole = sslt_crc32(0, b, sizeof b);
        uint32_t c = sslt_crc32_combine(sslt_crc32(0, b, k), sslt_crc32(0, b + k, sizeof b - k),
                                        sizeof b - k);
        if (c != whole) bad++, fprintf(stderr, "cut %zu: %08x != %08x\n", k, c, whole);
    }
    T_EQ(bad, 0, "crc32_combine: crc(a) and crc(b) give crc(ab) at every cut");
    T_EQ(sslt_crc32_combine(0, 0, 0), 0, "crc32_combine of two empty inputs");
    uint32_t ab = sslt_crc32(0, "123456789", 9);
    T_EQ(ab, 0xCBF43926u, "crc32 check value of '123456789'");
    T_EQ(sslt_crc32_combine(sslt_crc32(0, "1234", 4), sslt_crc32(0, "56789", 5), 5), 0xCBF43926u,
         "crc32_combine of '1234' and '56789'");
}

/* The stream written to a memfd: its bytes in *n (malloc'ed), or NULL. */
static unsigned char *write_mem(int threads, int serial, size_t *n) {
    static float a[300 * 7];
    static int32_t c[300];
    static double e[1];
    static unsigned char z[1];
    sslt_tensor t[4] = {{"a", SSLT_F32, 2, {300, 7}}, {"c", SSLT_I32, 1, {300}},
                        {"empty", SSLT_F64, 1, {0}}, {"zero_width", SSLT_U8, 2, {5, 0}}};
    for (int i = 0; i < 300 * 7; i++) a[i] = (float)i / 7 - 50;
    for (int i = 0; i < 300; i++) c[i] = i * i - 1000;
    const void *data[4] = {a, c, e, z};
    ssl_err err;
    int fd = memfd_create("w", 0);
    if (fd < 0) return NULL;
    ssl_set_threads(threads);
    sslt_writer *w = sslt_writer_open_fd(fd, "w", 3, &err);
    unsigned char *b = NULL;
    int rc = !w;
    if (w) {
        sslt_writer_set_chunk_bytes(w, 1000);   /* many records */
        if (serial)
            rc = sslt_writer_begin(w, "x", NULL, 1, t) || sslt_writer_rows(w, 0, a, 300) ||
                 sslt_writer_end(w);
        else
            rc = sslt_write_section(w, "x", NULL, 4, t, data);
        rc |= sslt_writer_close(w, &err);
    }
    off_t len = lseek(fd, 0, SEEK_END);
    if (!rc && len > 0 && (b = malloc((size_t)len)) && pread(fd, b, (size_t)len, 0) == len) *n = (size_t)len;
    else free(b), b = NULL;
    close(fd);
    return b;
}

/* The single-tensor section of write_mem(serial) through sslt_write_section. */
static unsigned char *write_one(int threads, size_t *n) {
    static float a[300 * 7];
    for (int i = 0; i < 300 * 7; i++) a[i] = (float)i / 7 - 50;
    sslt_tensor t = {"a", SSLT_F32, 2, {300, 7}};
    const void *data[1] = {a};
    ssl_err err;
    int fd = memfd_create("w", 0);
    ssl_set_threads(threads);
    sslt_writer *w = fd >= 0 ? sslt_writer_open_fd(fd, "w", 3, &err) : NULL;
    unsigned char *b = NULL;
    if (w) {
        sslt_writer_set_chunk_bytes(w, 1000);
        int rc = sslt_write_section(w, "x", NULL, 1, &t, data);
        rc |= sslt_writer_close(w, &err);
        off_t len = lseek(fd, 0, SEEK_END);
        if (!rc && len > 0 && (b = malloc((size_t)len)) && pread(fd, b, (size_t)len, 0) == len)
            *n = (size_t)len;
        else free(b), b = NULL;
    }
    if (fd >= 0) close(fd);
    return b;
}

int main(void) {
    test_combine();
    size_t n1 = 0, n2 = 0, n3 = 0;
    unsigned char *b1 = write_mem(1, 0, &n1), *b2 = write_mem(2, 0, &n2), *b3 = write_mem(3, 0, &n3);
    T_OK(b1 && b2 && b3 && n1 == n2 && n1 == n3 && !memcmp(b1, b2, n1) && !memcmp(b1, b3, n1),
         "sslt_write_section: the same bytes with 1, 2 and 3 threads");
    size_t ns = 0, np = 0;
    unsigned char *s = write_mem(1, 1, &ns), *p = write_one(2, &np);
    T_OK(s && p && ns == np && !memcmp(s, p, ns),
         "sslt_write_section with 2 threads: the bytes of sslt_writer_rows, record by record");
    /* Read back: every tensor bit for bit, CRC-32s verified. */
    int fd = memfd_create("r", 0), ok = 0;
    if (b2 && fd >= 0 && write(fd, b2, n2) == (ssize_t)n2 && !lseek(fd, 0, SEEK_SET)) {
        ssl_err err;
        sslt_reader *r = sslt_reader_open_fd(fd, "r", &err);
        const sslt_header *h;
        void *d[4];
        if (r && sslt_reader_next(r, &h) == 1 && h->ntensors == 4 && !sslt_reader_read_all(r, d, NULL)) {
            ok = sslt_reader_expect_end(r, "x") == 0;
            for (int i = 0; i < 300 * 7 && ok; i++) ok = ((float *)d[0])[i] == (float)i / 7 - 50;
            for (int i = 0; i < 300 && ok; i++) ok = ((int32_t *)d[1])[i] == i * i - 1000;
            for (int i = 0; i < 4; i++) free(d[i]);
        }
        sslt_reader_close(r);
    }
    if (fd >= 0) close(fd);
    T_OK(ok, "written with 2 threads: reads back bit for bit, checksums verified");
    free(b1), free(b2), free(b3), free(s), free(p);
    return t_done();
}
