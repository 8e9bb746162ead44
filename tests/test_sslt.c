/* test_sslt.c: tensor streams (lib/stream/sslt_*.c): CRC-32, round trips of every
 * dtype and shape, chunking and interleaving, concatenated sections, pipes,
 * atomic and failing writes, and damage: every truncation, every flipped
 * byte, hand-made bad records, absurd sizes, zstd frames asking for a
 * window over SSLT_WINDOW_LOG.
 *
 * With arguments it is also the fixture writer of the shell tests:
 *   test_sslt --write-sample FILE   a deterministic 2-section stream
 * (values are the formulas in sample_value(); tests/cli/python_reader.sh
 * checks them from Python). */
#define _GNU_SOURCE /* memfd_create */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "stream/sslt.h"
#include "t.h"

static char dir[4096];

static const char *tmp(const char *name) {
    static char buf[4][4096 + 64];
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    *n = 0;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc(len + 1);
    if (b) *n = fread(b, 1, len, f);
    fclose(f);
    return b;
}

static void spit(const char *path, const void *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(b, 1, n, f); fclose(f); }
}

/* ---- the sample stream ---- */

#define NT 8
static sslt_tensor sample_t[NT] = {
    {"u8", SSLT_U8, 3, {6, 2, 3}}, {"i32", SSLT_I32, 1, {6}},
    {"i64", SSLT_I64, 2, {3, 2}}, {"f32", SSLT_F32, 2, {5, 4}},
    {"f64", SSLT_F64, 1, {7}}, {"scalar", SSLT_F64, 0, {0}},
    {"empty", SSLT_F32, 2, {0, 4}}, {"zero_width", SSLT_U8, 2, {3, 0}},
};

/* Element i of a tensor of the sample, as a double (all exact). */
static double sample_value(int dtype, int64_t i) {
    switch (dtype) {
    case SSLT_U8: return (double)((i * 7) % 256);
    case SSLT_I32: return (double)(i * 3 - 5);
    case SSLT_I64: return (double)(-((int64_t)1 << 40) + i);
    case SSLT_F32: return i * 0.5 - 1;
    default: return i / 4.0 - 0.75;
    }
}

static void *sample_data(const sslt_tensor *t) {
    int64_t n = sslt_tensor_bytes(t) / (int64_t)sslt_dtype_size(t->dtype);
    unsigned char *p = malloc(sslt_tensor_bytes(t) + 1);
    for (int64_t i = 0; i < n; i++) {
        double v = sample_value(t->dtype, i);
        switch (t->dtype) {
        case SSLT_U8: p[i] = (unsigned char)v; break;
        case SSLT_I32: ((int32_t *)p)[i] = (int32_t)v; break;
        case SSLT_I64: ((int64_t *)p)[i] = (int64_t)v; break;
        case SSLT_F32: ((float *)p)[i] = (float)v; break;
        default: ((double *)p)[i] = v; break;
        }
    }
    return p;
}

static sv *sample_meta(void) {
    const char *cls[] = {"zero", "one", "two", "three", "four", "five",
                         "six", "seven", "eight", "nine", "ten", "eleven"};
    double mean[] = {0.25}, std[] = {0.5};
    sv *m = sv_map(), *sub = sv_map();
    sv_set(m, "classes", sv_str_array(cls, 12));
    sv_set(m, "mean", sv_float_array(mean, 1));
    sv_set(m, "std", sv_float_array(std, 1));
    sv_set(m, "source", sv_str("test_sslt \"sample\""));
    sv_set(sub, "seed", sv_int(1));
    sv_set(sub, "ok", sv_bool(1));
    sv_set(m, "subset", sub);
    return m;
}

/* Write the sample (section "dataset" with images/labels, then section
 * "test" with every dtype) in small chunks. 0 or -1 with err.msg. */
static int write_sample(sslt_writer *w, size_t chunk) {
    sslt_tensor ds[2] = {{"images", SSLT_U8, 4, {6, 1, 4, 4}}, {"labels", SSLT_I32, 1, {6}}};
    void *dd[2] = {sample_data(&ds[0]), sample_data(&ds[1])};
    void *d[NT];
    for (int i = 0; i < NT; i++) d[i] = sample_data(&sample_t[i]);
    for (int i = 0; i < 6; i++) ((int32_t *)dd[1])[i] = i % 3;
    sv *meta = sample_meta();
    sslt_writer_set_chunk_bytes(w, chunk);
    int rc = sslt_write_section(w, "dataset", meta, 2, ds, (const void *const *)dd);
    if (!rc) rc = sslt_write_section(w, "test", NULL, NT, sample_t, (const void *const *)d);
    for (int i = 0; i < NT; i++) free(d[i]);
    free(dd[0]);
    free(dd[1]);
    sv_free(meta);
    return rc;
}

static int write_sample_file(const char *path, size_t chunk) {
    ssl_err err = {0};
    sslt_writer *w = sslt_writer_open(path, 0, &err);
    if (!w) return -1;
    if (write_sample(w, chunk)) { sslt_writer_abort(w); return -1; }
    return sslt_writer_close(w, &err);
}

/* Digest of everything a reader delivers: kinds, meta, tensor headers, data. */
static uint32_t digest;

static void digest_header(const sslt_header *h) {
    char *js = NULL;
    size_t jn = 0;
    FILE *f = open_memstream(&js, &jn);
    sv_write_json(h->meta, f, -1);
    fclose(f);
    digest = sslt_crc32(digest, h->kind, strlen(h->kind) + 1);
    digest = sslt_crc32(digest, js, jn);
    free(js);
    for (int i = 0; i < h->ntensors; i++) {
        const sslt_tensor *t = &h->tensors[i];
        digest = sslt_crc32(digest, t->name, strlen(t->name) + 1);
        digest = sslt_crc32(digest, &t->dtype, sizeof t->dtype);
        digest = sslt_crc32(digest, t->shape, sizeof(int64_t) * t->ndim);
    }
}

/* Read a whole stream from fd; check the second section against the sample
 * when `check`. Returns sections read (>= 0), -1 on a read error (message
 * in &err), -2 when data differ. Sets `digest`. */
static int read_stream_fd(int fd, int check, ssl_err *err) {
    sslt_reader *r = sslt_reader_open_fd(fd, "mem", err);
    const sslt_header *h;
    int sections = 0, k, bad = 0;
    digest = 0;
    ssl_err_clear(err);
    while ((k = sslt_reader_next(r, &h)) > 0) {
        void *data[NT + 1] = {0};
        if (h->ntensors > NT + 1) { bad = 1; break; }
        digest_header(h);
        if (sslt_reader_read_all(r, data, NULL)) { k = -1; break; }
        for (int i = 0; i < h->ntensors; i++)
            digest = sslt_crc32(digest, data[i], sslt_tensor_bytes(&h->tensors[i]));
        if (check && sections == 1) {
            for (int i = 0; i < NT && i < h->ntensors; i++) {
                void *want = sample_data(&sample_t[i]);
                if (memcmp(want, data[i], sslt_tensor_bytes(&sample_t[i]))) bad = 1;
                free(want);
            }
        }
        for (int i = 0; i < h->ntensors; i++) free(data[i]);
        sections++;
    }
    if (k < 0) ssl_forward(err, sslt_reader_error(r));
    sslt_reader_close(r);
    if (bad) { ssl_fail(err, SSL_EDATA, "data differs"); return -2; }
    return k < 0 ? -1 : sections;
}

static int read_mem(const void *b, size_t n, int check, ssl_err *err) {
    /* Through a memfd: the reader wants an fd. */
    int fd = memfd_create("mem", 0);
    if (fd < 0 || write(fd, b, n) != (ssize_t)n || lseek(fd, 0, SEEK_SET)) {
        ssl_fail(err, SSL_EIO, "memfd: %s", strerror(errno));
        return -3;
    }
    int rc = read_stream_fd(fd, check, err);
    close(fd);
    return rc;
}

/* ---- tests ---- */

static uint32_t crc_bitwise(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

static void test_crc(void) {
    T_EQ(sslt_crc32(0, "123456789", 9), 0xCBF43926u, "crc32 check value");
    T_EQ(sslt_crc32(0, "", 0), 0, "crc32 of nothing");
    unsigned char buf[1000];
    for (int i = 0; i < 1000; i++) buf[i] = (unsigned char)(i * 131 + 7);
    int ok = 1;
    for (int off = 0; off < 9; off++)
        for (int n = 0; n < 300; n++)   /* 64 and up: PCLMULQDQ where the CPU has it */
            if (sslt_crc32(0, buf + off, n) != crc_bitwise(buf + off, n)) ok = 0;
    T_OK(ok, "crc32 (slicing-by-8, carry-less multiply) matches bitwise at all alignments, lengths 0-299");
    T_EQ(sslt_crc32(sslt_crc32(0, buf, 333), buf + 333, 667), crc_bitwise(buf, 1000),
         "crc32 chains");
}

static void test_dtypes(void) {
    int ok = 1;
    for (int t = SSLT_U8; t <= SSLT_BF16; t++)
        if (sslt_dtype_parse(sslt_dtype_name(t)) != t) ok = 0;
    T_OK(ok, "dtype names parse back");
    T_EQ(sslt_dtype_size(SSLT_BF16), 2, "bf16 is two bytes");
    T_EQ(sslt_dtype_parse("bf16"), SSLT_BF16, "bf16 parses");
    T_EQ(sslt_dtype_parse("f16"), -1, "unknown dtype");
    T_EQ(sslt_dtype_size(SSLT_I64), 8, "dtype size");
    T_EQ(sslt_tensor_rows(&sample_t[5]), 1, "scalar has one row");
    T_EQ(sslt_tensor_bytes(&sample_t[5]), 8, "scalar bytes");
    T_EQ(sslt_tensor_row_bytes(&sample_t[0]), 6, "row bytes");
}

static void test_roundtrip(void) {
    ssl_err err = {0};
    const char *p = tmp("sample.sslt");
    T_EQ(write_sample_file(p, 16), 0, "write sample (16-byte chunks)");
    int fd = open(p, O_RDONLY);
    sslt_reader *r = sslt_reader_open_fd(fd, "sample", &err);
    const sslt_header *h;
    T_EQ(sslt_reader_next(r, &h), 1, "first section");
    sv *meta = sample_meta();
    T_OK(!strcmp(h->kind, "dataset") && sv_equal(h->meta, meta), "kind and meta round trip");
    sv_free(meta);
    /* Chunks interleave: labels come before the last image chunk. */
    int ti, order[64], n = 0;
    int64_t row, nrows;
    const void *data;
    while (n < 64 && sslt_reader_chunk(r, &ti, &row, &nrows, &data) == 1) order[n++] = ti;
    int alt = n == 12;
    for (int i = 0; alt && i < n; i++) alt = order[i] == i % 2;
    T_OK(alt, "images/labels chunks interleave");
    T_EQ(sslt_reader_chunk(r, &ti, &row, &nrows, &data), 0, "after the end record: 0");
    T_EQ(sslt_reader_next(r, &h), 1, "second section");
    int same = h->ntensors == NT;
    for (int i = 0; same && i < NT; i++)
        same = !strcmp(h->tensors[i].name, sample_t[i].name) &&
               h->tensors[i].dtype == sample_t[i].dtype && h->tensors[i].ndim == sample_t[i].ndim &&
               !memcmp(h->tensors[i].shape, sample_t[i].shape, sizeof(int64_t) * sample_t[i].ndim);
    T_OK(same, "tensor names, dtypes, shapes round trip");
    T_EQ(sslt_find(h, "f64"), 4, "sslt_find");
    T_EQ(sslt_find(h, "nope"), -1, "sslt_find absent");
    T_OK(sv_len(h->meta) == 0 && h->meta->type == SV_MAP, "NULL meta is an empty map");
    void *d[NT];
    int only[NT] = {1, 1, 1, 1, 1, 1, 1, 0};
    T_EQ(sslt_reader_read_all(r, d, only), 0, "read_all");
    int ok = 1;
    for (int i = 0; i < NT - 1; i++) {
        void *want = sample_data(&sample_t[i]);
        if (memcmp(want, d[i], sslt_tensor_bytes(&sample_t[i]))) ok = 0;
        free(want);
        free(d[i]);
    }
    T_OK(ok && d[NT - 1] == NULL, "every dtype, scalar, 0-row tensor round trip");
    T_EQ(sslt_reader_next(r, &h), 0, "clean end");
    int64_t recs, cb, ub;
    sslt_reader_stats(r, &recs, &cb, &ub);
    T_OK(recs > 20 && cb > 0 && ub > 0, "stats count records and bytes");
    sslt_reader_close(r);
    close(fd);

    /* Sections can be skipped unread (their chunks are still verified). */
    fd = open(p, O_RDONLY);
    r = sslt_reader_open_fd(fd, "sample", &err);
    int k1 = sslt_reader_next(r, &h), k2 = sslt_reader_next(r, &h), k3 = sslt_reader_next(r, &h);
    T_OK(k1 == 1 && k2 == 1 && k3 == 0, "skipping sections");
    sslt_reader_close(r);
    close(fd);

    /* cat a b is a stream. */
    size_t n1, n2;
    unsigned char *a = slurp(p, &n1);
    T_EQ(write_sample_file(tmp("big.sslt"), 0), 0, "write sample (default chunks)");
    unsigned char *b = slurp(tmp("big.sslt"), &n2);
    T_OK(n2 < n1, "default chunks make fewer records");
    unsigned char *c = malloc(n1 + n2);
    memcpy(c, a, n1);
    memcpy(c + n1, b, n2);
    T_EQ(read_mem(c, n1 + n2, 1, &err), 4, "concatenation reads as 4 sections");
    free(a);
    free(b);
    free(c);
}

/* A 3 MB tensor through a pipe, written by a child with sslt_writer_open_fd. */
static void test_pipe(void) {
    int fds[2];
    if (pipe(fds)) { T_OK(0, "pipe"); return; }
    sslt_tensor t = {"x", SSLT_F32, 2, {1000, 750}};
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        ssl_err err = {0};
        float *x = malloc(sizeof(float) * 750000);
        for (int i = 0; i < 750000; i++) x[i] = (float)i;
        sslt_writer *w = sslt_writer_open_fd(fds[1], "pipe", 1, &err);
        sslt_writer_set_chunk_bytes(w, 100000);
        const void *d[1] = {x};
        int rc = sslt_write_section(w, "t", NULL, 1, &t, d) || sslt_writer_close(w, &err);
        _exit(rc ? 1 : 0);
    }
    close(fds[1]);
    ssl_err err = {0};
    sslt_reader *r = sslt_reader_open_fd(fds[0], "pipe", &err);
    const sslt_header *h;
    void *d[1] = {0};
    int ok = sslt_reader_next(r, &h) == 1 && sslt_reader_read_all(r, d, NULL) == 0 &&
             sslt_reader_next(r, &h) == 0;
    for (int i = 0; ok && i < 750000; i++) if (((float *)d[0])[i] != (float)i) ok = 0;
    t_report(ok, "3 MB through a pipe", "%s", sslt_reader_error(r)->msg);
    free(d[0]);
    sslt_reader_close(r);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pipe writer exits 0");
}

static int count_tmp_files(void) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d))) if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_writer_errors(void) {
    ssl_err err = {0};
    sslt_tensor t = {"x", SSLT_U8, 1, {100000}};
    static unsigned char zeros[100000];
    const void *d[1] = {zeros};

    sslt_writer *w = sslt_writer_open("/dev/full", 0, &err);
    int rc = w ? sslt_write_section(w, "t", NULL, 1, &t, d) : -1;
    rc |= sslt_writer_close(w, &err);
    t_report(rc && strstr(err.msg, "/dev/full") && strstr(err.msg, "No space left"),
             "/dev/full: error names the file", "%s", err.msg);

    w = sslt_writer_open("/dev/null", 0, &err);
    rc = sslt_write_section(w, "t", NULL, 1, &t, d) || sslt_writer_close(w, &err);
    T_EQ(rc, 0, "/dev/null is written directly");

    /* A closed pipe: EPIPE with SIGPIPE ignored (tools leave it default). */
    int fds[2];
    if (pipe(fds) == 0) {
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        close(fds[0]);
        w = sslt_writer_open_fd(fds[1], "pipe", 0, &err);
        rc = sslt_write_section(w, "t", NULL, 1, &t, d);
        t_report(rc && strstr(sslt_writer_error(w)->msg, "Broken pipe"), "EPIPE says Broken pipe",
                 "%s", sslt_writer_error(w)->msg);
        sslt_writer_abort(w);
        close(fds[1]);
        signal(SIGPIPE, old);
    }

    /* Atomic replace: the old file stays until close; abort leaves nothing. */
    const char *p = tmp("atomic.sslt");
    spit(p, "old", 3);
    w = sslt_writer_open(p, 0, &err);
    sslt_write_section(w, "t", NULL, 1, &t, d);
    size_t n;
    unsigned char *b = slurp(p, &n);
    T_OK(n == 3 && count_tmp_files() == 1, "old file kept while writing, temp beside it");
    free(b);
    sslt_writer_abort(w);
    b = slurp(p, &n);
    T_OK(n == 3 && count_tmp_files() == 0, "abort removes the temp file");
    free(b);
    w = sslt_writer_open(p, 0, &err);
    sslt_write_section(w, "t", NULL, 1, &t, d);
    T_EQ(sslt_writer_close(w, &err), 0, "close renames");
    b = slurp(p, &n);
    T_OK(read_mem(b, n, 0, &err) == 1 && count_tmp_files() == 0, "renamed file reads back");
    free(b);
    struct stat st;
    T_OK(stat(p, &st) == 0 && (st.st_mode & 0600) == 0600, "renamed file has normal permissions");

    /* Misuse is an error, not a crash. */
    w = sslt_writer_open(tmp("misuse.sslt"), 0, &err);
    sslt_writer_begin(w, "t", NULL, 1, &t);
    T_EQ(sslt_writer_rows(w, 0, zeros, 100001), -1, "too many rows refused");
    sslt_writer_abort(w);
    w = sslt_writer_open(tmp("misuse.sslt"), 0, &err);
    sslt_writer_begin(w, "t", NULL, 1, &t);
    sslt_writer_rows(w, 0, zeros, 10);
    T_EQ(sslt_writer_end(w), -1, "incomplete tensor refused at end");
    sslt_writer_abort(w);
    w = sslt_writer_open(tmp("misuse.sslt"), 0, &err);
    sslt_writer_begin(w, "t", NULL, 1, &t);
    t_report(sslt_writer_close(w, &err) == -1 && access(tmp("misuse.sslt"), F_OK) != 0,
             "close inside a section fails, leaves no file", "%s", err.msg);
    sslt_tensor huge = {"h", SSLT_F32, 2, {(int64_t)1 << 50, 4}};
    w = sslt_writer_open(tmp("misuse.sslt"), 0, &err);
    T_EQ(sslt_writer_begin(w, "t", NULL, 1, &huge), -1, "writer refuses absurd shapes");
    sslt_writer_abort(w);
    T_OK(sslt_writer_open(tmp("no/such/dir/x.sslt"), 0, &err) == NULL && strstr(err.msg, "No such file"),
         "open in a missing directory fails");
    T_OK(sslt_writer_open(tmp("x.sslt"), 99, &err) == NULL, "bad level refused");
}

static void test_truncation(void) {
    ssl_err err = {0};
    size_t n1, n;
    T_EQ(write_sample_file(tmp("s1.sslt"), 64), 0, "small sample");
    unsigned char *b = slurp(tmp("s1.sslt"), &n);
    /* Where the first section ends (the only truncation that reads cleanly). */
    sslt_reader *r = sslt_reader_open(tmp("s1.sslt"), &err);
    const sslt_header *h;
    sslt_reader_next(r, &h);
    sslt_reader_read_all(r, (void *[2]){0}, (int[2]){0, 0});
    int64_t cb;
    sslt_reader_stats(r, NULL, &cb, NULL);
    n1 = (size_t)cb;
    sslt_reader_close(r);
    int bad = 0, prefix_ok = 0;
    for (size_t len = 0; len < n; len++) {
        int k = read_mem(b, len, 0, &err);
        if (k >= 0 && !(len == n1 && k == 1)) { bad++; fprintf(stderr, "len %zu: %d sections\n", len, k); }
        if (k == 1) prefix_ok++;
        if (k < 0 && len > 0 && !strstr(err.msg, "record")) { bad++; fprintf(stderr, "len %zu: %s\n", len, err.msg); }
        if (k < 0 && len > 0 && !strstr(err.msg, "truncated")) { bad++; fprintf(stderr, "len %zu: %s\n", len, err.msg); }
    }
    t_report(bad == 0 && prefix_ok == 1, "every truncation is an error (but the section boundary)",
             "%d bad of %zu", bad, n);
    T_EQ(read_mem(b, 0, 0, &err), -1, "empty input is an error");
    T_OK(strstr(err.msg, "empty stream") != NULL, "empty stream message");

    /* Every flipped byte: an error, or identical content (zstd ignores a
     * few bits, e.g. in table descriptions; its checksum then matches). */
    read_mem(b, n, 1, &err);
    uint32_t good = digest;
    int same = 0;
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        b[i] ^= 0x5a;
        int k = read_mem(b, n, 1, &err);
        if (k >= 0 && digest == good) same++;
        else if (k != -1) { bad++; fprintf(stderr, "flip at %zu: %d %s\n", i, k, err.msg); }
        b[i] ^= 0x5a;
    }
    t_report(bad == 0 && same < 10, "every flipped byte is detected or harmless",
             "%d of %zu undetected, %d harmless", bad, n, same);

    unsigned char *g = malloc(n + 3);
    memcpy(g, b, n);
    memcpy(g + n, "xyz", 3);
    T_OK(read_mem(g, n + 3, 0, &err) == -1 && strstr(err.msg, "trailing garbage"), "trailing garbage");
    T_OK(read_mem("hello world\n", 12, 0, &err) == -1 && strstr(err.msg, "not a tensor stream"),
         "garbage: not a tensor stream");
    free(g);
    free(b);
}

/* ---- hand-made records ---- */

static msgpack_sbuffer sb;
static msgpack_packer pk;
static unsigned char raw[1 << 16];
static size_t rawn;

static void ps(const char *s) { msgpack_pack_str(&pk, strlen(s)); msgpack_pack_str_body(&pk, s, strlen(s)); }
static void rec_begin(int nfields, const char *type) {
    sb.size = 0;
    msgpack_pack_map(&pk, nfields + 3);
    ps("magic"); ps("sslt"); ps("version"); msgpack_pack_int(&pk, 1); ps("type"); ps(type);
}
static void rec_emit(void) { rawn += ZSTD_compress(raw + rawn, sizeof raw - rawn, sb.data, sb.size, 1); }
static void hdr(int64_t rows) {   /* one tensor "x" u8 [rows, 2] */
    rec_begin(3, "header");
    ps("kind"); ps("t"); ps("meta"); msgpack_pack_map(&pk, 0);
    ps("tensors"); msgpack_pack_array(&pk, 1); msgpack_pack_map(&pk, 3);
    ps("name"); ps("x"); ps("dtype"); ps("u8"); ps("shape");
    msgpack_pack_array(&pk, 2); msgpack_pack_int64(&pk, rows); msgpack_pack_int(&pk, 2);
    rec_emit();
}
static void chunk(int ti, int64_t row, int64_t rows, size_t bytes) {
    static const char data[64] = "abcdefghijklmnopqrstuvwxyz";
    rec_begin(4, "chunk");
    ps("tensor"); msgpack_pack_int(&pk, ti); ps("row"); msgpack_pack_int64(&pk, row);
    ps("rows"); msgpack_pack_int64(&pk, rows); ps("data"); msgpack_pack_bin(&pk, bytes);
    msgpack_pack_bin_body(&pk, data, bytes);
    rec_emit();
}
static void end(int64_t rows, uint32_t crc, int chunks) {
    rec_begin(3, "end");
    ps("rows"); msgpack_pack_array(&pk, 1); msgpack_pack_int64(&pk, rows);
    ps("crc32"); msgpack_pack_array(&pk, 1); msgpack_pack_uint32(&pk, crc);
    ps("chunks"); msgpack_pack_int(&pk, chunks);
    rec_emit();
}

/* Expect the hand-made stream to fail with `want` in the message. */
static void expect(const char *name, const char *want) {
    ssl_err err = {0};
    int k = read_mem(raw, rawn, 0, &err);
    t_report(k == -1 && strstr(err.msg, want) && strstr(err.msg, "mem: record"), name, "%d '%s'", k, err.msg);
    rawn = 0;
}

/* ---- the zstd window cap (SSLT_WINDOW_LOG) ---- */

/* The window a zstd frame at p asks for (RFC 8878 3.1.1.1.2). */
static unsigned long long frame_window(const unsigned char *p, size_t n) {
    if (p[4] & 0x20) return ZSTD_getFrameContentSize(p, n);
    unsigned long long base = 1ull << (10 + (p[5] >> 3));
    return base + base / 8 * (p[5] & 7);
}

/* A stream of one tensor, one row of `row` bytes (so one record holds it
 * whole), written at `level` into *n bytes. */
static unsigned char *one_row_stream(int level, size_t row, size_t *n) {
    const char *p = tmp("window.sslt");
    ssl_err err = {0};
    sslt_tensor t = {"big", SSLT_U8, 2, {1, (int64_t)row}};
    unsigned char *d = malloc(row);
    for (size_t i = 0; i < row; i++) d[i] = (unsigned char)(i % 251 * 7 + i / 4096);
    const void *data[1] = {d};
    sslt_writer *w = sslt_writer_open(p, level, &err);
    int rc = !w || sslt_write_section(w, "x", NULL, 1, &t, data);
    if (w && rc) sslt_writer_abort(w);
    else if (w) rc = sslt_writer_close(w, &err);
    free(d);
    return rc ? NULL : slurp(p, n);
}

static void test_window(void) {
    ssl_err err = {0};
    const unsigned long long cap = 1ull << SSLT_WINDOW_LOG;
    /* Every level the writer takes keeps within the cap, and reads back;
     * a 9 MiB record makes levels 17-22 use their largest window. */
    int levels[] = {-5, 1, 3, 19, 22};
    for (int li = 0; li < 5; li++) {
        size_t n, off = 0;
        unsigned char *b = one_row_stream(levels[li], 9u << 20, &n);
        unsigned long long widest = 0;
        while (b && off < n) {
            size_t fs = ZSTD_findFrameCompressedSize(b + off, n - off);
            if (ZSTD_isError(fs)) break;
            unsigned long long wn = frame_window(b + off, n - off);
            if (wn > widest) widest = wn;
            off += fs;
        }
        char name[96];
        snprintf(name, sizeof name, "level %d: windows within %llu MiB, stream reads",
                 levels[li], cap >> 20);
        int rc = b ? read_mem(b, n, 0, &err) : -9;
        t_report(b && off == n && widest <= cap && rc == 1 && (levels[li] < 17 || widest == cap),
                 name, "widest window %llu, read %d: %s", widest, rc, err.msg);
        free(b);
    }

    /* The same 9 MiB record recompressed with a larger window (zstd's own
     * limit is 128 MiB): a single-segment frame whose window is its
     * content size. Refused before decompression, naming file and record. */
    size_t n;
    unsigned char *b = one_row_stream(3, 9u << 20, &n);
    size_t f1 = b ? ZSTD_findFrameCompressedSize(b, n) : 0;
    size_t f2 = b ? ZSTD_findFrameCompressedSize(b + f1, n - f1) : 0;
    unsigned long long csize = b ? ZSTD_getFrameContentSize(b + f1, n - f1) : 0;
    unsigned char *content = b ? malloc(csize) : NULL, *big = NULL;
    size_t zn = 0;
    if (content && ZSTD_decompress(content, csize, b + f1, f2) == csize) {
        ZSTD_CCtx *c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 3);
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 24);
        ZSTD_CCtx_setParameter(c, ZSTD_c_enableLongDistanceMatching, 1);
        size_t bound = ZSTD_compressBound(csize);
        big = malloc(f1 + bound + (n - f1 - f2));
        zn = ZSTD_compress2(c, big + f1, bound, content, csize);
        ZSTD_freeCCtx(c);
        if (ZSTD_isError(zn)) zn = 0;
        else {
            memcpy(big, b, f1);
            memcpy(big + f1 + zn, b + f1 + f2, n - f1 - f2);
            zn += n - f2;
        }
    }
    char want[160];
    snprintf(want, sizeof want, "mem: record 2: zstd frame needs a window of %.1f MiB, "
             "more than the %llu MiB this format uses",
             (double)((csize * 10 + 1048575) / 1048576) / 10, cap >> 20);
    int rc = zn ? read_mem(big, zn, 0, &err) : -9;
    t_report(zn && (big[f1 + 4] & 0x20) && rc == -1 && !strcmp(err.msg, want),
             "single-segment frame of a 9 MiB window refused", "read %d: '%s', want '%s'", rc, err.msg, want);
    free(big);
    free(content);

    /* A frame that is not single-segment: the header record, its window
     * descriptor asking for 16 MiB, one raw block. A valid frame (zstd
     * decodes it), refused by the reader. */
    f1 = b ? ZSTD_findFrameCompressedSize(b, n) : 0;
    csize = b ? ZSTD_getFrameContentSize(b, n) : 0;
    unsigned char *hand = b ? malloc(14 + 3 + csize + n) : NULL, *back = malloc(csize + 1);
    if (hand && back && csize < (1u << 16) && ZSTD_decompress(hand + 17, csize, b, f1) == csize) {
        memcpy(hand, "\x28\xb5\x2f\xfd", 4);
        hand[4] = 0xC0;                       /* 8-byte content size, a window descriptor */
        hand[5] = 14 << 3;                    /* 2^(10+14): 16 MiB */
        for (int i = 0; i < 8; i++) hand[6 + i] = (unsigned char)(csize >> (8 * i));
        uint32_t bh = (uint32_t)csize << 3 | 1;   /* raw block, last */
        hand[14] = bh & 255; hand[15] = bh >> 8 & 255; hand[16] = bh >> 16 & 255;
        size_t hn = 17 + csize;
        ZSTD_DCtx *dz = ZSTD_createDCtx();
        size_t dk = ZSTD_decompressDCtx(dz, back, csize + 1, hand, hn);
        ZSTD_freeDCtx(dz);
        memcpy(hand + hn, b + f1, n - f1);
        rc = read_mem(hand, hn + n - f1, 0, &err);
        T_OK(dk == csize && frame_window(hand, hn) == 16u << 20, "hand-made 16 MiB-window frame is valid zstd");
        t_report(rc == -1 && !strcmp(err.msg, "mem: record 1: zstd frame needs a window of 16.0 MiB, "
                                           "more than the 8 MiB this format uses"),
                 "frame with a 16 MiB window descriptor refused", "read %d: '%s'", rc, err.msg);
    } else {
        T_OK(0, "hand-made 16 MiB-window frame");
    }
    free(hand);
    free(back);
    free(b);
}

static void test_bad_records(void) {
    ssl_err err = {0};
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint32_t crc = sslt_crc32(0, "abab", 4);
    hdr(2); chunk(0, 0, 1, 2); chunk(0, 1, 1, 2); end(2, crc, 2);
    t_report(read_mem(raw, rawn, 0, &err) == 1, "hand-made stream reads", "%s", err.msg);
    crc = sslt_crc32(0, "abcd", 4);
    rawn = 0;
    hdr(2); chunk(0, 0, 2, 4); end(2, crc ^ 1, 1); expect("CRC mismatch", "CRC-32 mismatch");
    hdr(2); chunk(0, 0, 2, 4); end(2, crc, 2); expect("chunk count mismatch", "chunks recorded");
    hdr(2); chunk(0, 0, 1, 2); end(2, crc, 1); expect("incomplete tensor", "incomplete");
    hdr(2); chunk(0, 0, 2, 4); end(3, crc, 1); expect("row count mismatch", "rows recorded");
    hdr(2); chunk(0, 0, 2, 5); expect("data length mismatch", "data bytes");
    hdr(2); chunk(0, 1, 1, 2); expect("rows out of order", "expected 0");
    hdr(2); chunk(0, 0, 3, 6); expect("rows beyond the shape", "the tensor has 2");
    hdr(2); chunk(1, 0, 1, 2); expect("unknown tensor", "unknown tensor 1");
    hdr(2); chunk(0, 0, 2, 4); expect("missing end record", "truncated");
    hdr(2); hdr(2); expect("header inside a section", "header inside a section");
    chunk(0, 0, 2, 4); expect("chunk before any header", "section header was expected");
    hdr((int64_t)1 << 50); expect("2^50 rows refused", "exceeds");
    hdr(2); rec_begin(3, "chunk"); ps("tensor"); ps("zero"); ps("row"); msgpack_pack_int(&pk, 0);
    ps("rows"); msgpack_pack_int(&pk, 1); rec_emit();
    expect("wrong field type", "field 'tensor' is not a non-negative integer");
    hdr(2); rec_begin(0, "chunk"); rec_emit(); expect("missing field", "missing field 'tensor'");
    sb.size = 0; msgpack_pack_map(&pk, 3); ps("magic"); ps("sslu"); ps("version");
    msgpack_pack_int(&pk, 1); ps("type"); ps("header"); rec_emit(); expect("wrong magic", "bad magic");
    sb.size = 0; msgpack_pack_map(&pk, 3); ps("magic"); ps("sslt"); ps("version");
    msgpack_pack_int(&pk, 2); ps("type"); ps("header"); rec_emit(); expect("wrong version", "version 2");
    sb.size = 0; msgpack_pack_array(&pk, 0); rec_emit(); expect("record not a map", "not a map");
    sb.size = 0; msgpack_pack_array(&pk, 0); msgpack_pack_nil(&pk); rec_emit();
    expect("extra bytes in a record", "extra bytes");
    /* An array claiming 2^32-1 items in a 6-byte record. */
    sb.size = 0; msgpack_pack_array(&pk, 0xffffffffu); rec_emit();
    expect("absurd msgpack count refused", "not a valid msgpack");
    /* A frame without content size. */
    {
        ZSTD_CCtx *c = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 0);
        hdr(2); rawn = 0;
        ZSTD_outBuffer out = {raw, sizeof raw, 0};
        ZSTD_inBuffer in = {sb.data, sb.size, 0};
        ZSTD_compressStream2(c, &out, &in, ZSTD_e_end);
        rawn = out.pos;
        ZSTD_freeCCtx(c);
        expect("frame without content size", "without a content size");
    }
    /* A frame header declaring 2^40 bytes of content, and nothing more. */
    {
        unsigned char f[13] = {0x28, 0xb5, 0x2f, 0xfd, 0xe0, 0, 0, 0, 0, 0, 1, 0, 0};
        memcpy(raw, f, 13);
        rawn = 13;
        expect("2^40-byte frame refused before allocation", "record too large");
    }
    msgpack_sbuffer_destroy(&sb);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--write-sample")) {
        if (write_sample_file(argv[2], 64)) { fprintf(stderr, "test_sslt: cannot write %s\n", argv[2]); return 1; }
        return 0;
    }
    snprintf(dir, sizeof dir, "%s/sslt.XXXXXX", getenv("SSL_TEST_TMP") ? getenv("SSL_TEST_TMP") : "/tmp");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    test_crc();
    test_dtypes();
    test_roundtrip();
    test_pipe();
    test_writer_errors();
    test_truncation();
    test_bad_records();
    test_window();
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) {}
    return t_done();
}
