/* sslt_write.c: the tensor stream writer (sslt.h, man ssl-tensor(5)).
 *
 * Each record is packed as one msgpack map and compressed into one zstd
 * frame (content size in the frame header, content checksum on, no worker
 * threads so that output is deterministic), then written with write(2).
 * Chunk records are not copied: the map's fields up to the bin header are
 * packed into a small buffer and the data is fed to the compressor straight
 * from the caller's memory. A regular file is written under a temporary
 * name and renamed into place after fsync at close (util/outfile.h); pipes
 * and devices are written directly. Errors are sticky: after
 * the first one every call fails with the same message, which names the
 * file ("out.sslt: No space left on device"). SIGPIPE is left alone: with
 * it ignored, a closed pipe gives "...: Broken pipe". */
#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "stream/sslt.h"
#include "stream/sslt_impl.h"
#include "util/outfile.h"

struct sslt_writer {
    ssl_outfile out;              /* fd, name for messages, temporary name */
    ZSTD_CCtx *cctx;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    unsigned char *zbuf;
    size_t zcap, chunk_bytes;
    int failed;
    int64_t records;
    /* the open section */
    int in_section, ntensors;
    sslt_tensor *tensors;
    int64_t *rows;
    uint32_t *crc;
    int64_t nchunks;
    ssl_err err;
};

static int wfail(sslt_writer *w, ssl_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wfail(sslt_writer *w, ssl_code code, const char *fmt, ...) {
    if (!w->failed) {
        va_list ap;
        va_start(ap, fmt);
        ssl_failv(&w->err, code, fmt, ap);
        va_end(ap);
        ssl_prefix(&w->err, "%s: ", w->out.name);
        w->failed = 1;
    }
    return -1;
}

static int write_all(sslt_writer *w, const void *buf, size_t n) {
    if (w->failed) return -1;
    if (outfile_write(&w->out, buf, n, &w->err)) w->failed = 1;
    return w->failed ? -1 : 0;
}

/* Compress sbuf's content followed by data[0..n) as one frame and write it. */
static int write_record(sslt_writer *w, const void *data, size_t n) {
    size_t total = w->sbuf.size + n;
    if (total > SSLT_MAX_RECORD_BYTES)
        return wfail(w, SSL_EARG, "record of %zu bytes exceeds the limit of %u", total,
                     SSLT_MAX_RECORD_BYTES);
    size_t bound = ZSTD_compressBound(total);
    if (bound > w->zcap) {
        unsigned char *z = realloc(w->zbuf, bound);
        if (!z) return wfail(w, SSL_ENOMEM, "out of memory");
        w->zbuf = z;
        w->zcap = bound;
    }
    ZSTD_CCtx_reset(w->cctx, ZSTD_reset_session_only);
    ZSTD_CCtx_setPledgedSrcSize(w->cctx, total);
    ZSTD_outBuffer out = {w->zbuf, w->zcap, 0};
    ZSTD_inBuffer in = {w->sbuf.data, w->sbuf.size, 0};
    size_t rc = 0;
    if (n) {
        /* The fields first, then the data straight from the caller. */
        while (in.pos < in.size) {
            rc = ZSTD_compressStream2(w->cctx, &out, &in, ZSTD_e_continue);
            if (ZSTD_isError(rc)) return wfail(w, SSL_EIO, "zstd: %s", ZSTD_getErrorName(rc));
        }
        in = (ZSTD_inBuffer){data, n, 0};
    }
    do {
        rc = ZSTD_compressStream2(w->cctx, &out, &in, ZSTD_e_end);
        if (ZSTD_isError(rc)) return wfail(w, SSL_EIO, "zstd: %s", ZSTD_getErrorName(rc));
    } while (rc);
    w->sbuf.size = 0;
    w->records++;
    return write_all(w, w->zbuf, out.pos);
}

static void pack_s(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The fields every record starts with; nfields counts the rest. */
static void pack_head(sslt_writer *w, const char *type, int nfields) {
    w->sbuf.size = 0;
    msgpack_pack_map(&w->pk, 3 + nfields);
    pack_s(&w->pk, "magic"); pack_s(&w->pk, SSLT_MAGIC);
    pack_s(&w->pk, "version"); msgpack_pack_int(&w->pk, SSLT_VERSION);
    pack_s(&w->pk, "type"); pack_s(&w->pk, type);
}

/* A writer on the open output o (taken over: aborted on failure). */
static sslt_writer *writer_new(ssl_outfile *o, int level, ssl_err *err) {
    if (level == 0) level = 3;
    if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
        ssl_fail(err, SSL_EARG, "%s: zstd level %d out of range [%d, %d]", o->name, level,
                 ZSTD_minCLevel(), ZSTD_maxCLevel());
        outfile_abort(o);
        return NULL;
    }
    sslt_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->cctx = ZSTD_createCCtx())) {
        free(w);
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", o->name);
        outfile_abort(o);
        return NULL;
    }
    w->out = *o;
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, 0);
    /* Levels 20-22 would use windows up to 128 MiB; keep every frame
     * within the window readers accept (sslt.h, SSLT_WINDOW_LOG). */
    if (level > 19) ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, SSLT_WINDOW_LOG);
    msgpack_sbuffer_init(&w->sbuf);
    msgpack_packer_init(&w->pk, &w->sbuf, msgpack_sbuffer_write);
    w->chunk_bytes = SSLT_CHUNK_BYTES;
    return w;
}

sslt_writer *sslt_writer_open_fd(int fd, const char *name, int level, ssl_err *err) {
    ssl_outfile o;
    if (outfile_open_fd(&o, fd, name ? name : "<stdout>", err)) return NULL;
    return writer_new(&o, level, err);
}

sslt_writer *sslt_writer_open(const char *path, int level, ssl_err *err) {
    ssl_outfile o;
    if (outfile_open(&o, path, err)) return NULL;
    return writer_new(&o, level, err);
}

void sslt_writer_set_chunk_bytes(sslt_writer *w, size_t bytes) {
    w->chunk_bytes = bytes ? bytes : SSLT_CHUNK_BYTES;
}

int64_t sslt_writer_records(const sslt_writer *w) { return w->records; }
const char *sslt_writer_name(const sslt_writer *w) { return w ? w->out.name : ""; }

const ssl_err *sslt_writer_error(const sslt_writer *w) {
    static const ssl_err none = {SSL_EARG, "no writer"};
    return w ? &w->err : &none;
}

static void section_free(sslt_writer *w) {
    for (int i = 0; i < w->ntensors; i++) free(w->tensors[i].name);
    free(w->tensors);
    free(w->rows);
    free(w->crc);
    w->tensors = NULL;
    w->rows = NULL;
    w->crc = NULL;
    w->ntensors = 0;
    w->in_section = 0;
}

int sslt_writer_begin(sslt_writer *w, const char *kind, const sv *meta, int ntensors,
                      const sslt_tensor *tensors) {
    if (w->failed) return -1;
    if (w->in_section) return wfail(w, SSL_EARG, "section begun before the previous one ended");
    if (!kind) kind = "";
    if (meta && meta->type != SV_MAP) return wfail(w, SSL_EARG, "metadata is not a map");
    if (ntensors < 0 || ntensors > SSLT_MAX_TENSORS)
        return wfail(w, SSL_EARG, "%d tensors (at most %d)", ntensors, SSLT_MAX_TENSORS);
    ssl_err why;
    for (int i = 0; i < ntensors; i++) {
        if (sslt_check_tensor(&tensors[i], &why)) return wfail(w, SSL_EARG, "%s", why.msg);
        if (sslt_tensor_row_bytes(&tensors[i]) > SSLT_MAX_RECORD_BYTES - 4096)
            return wfail(w, SSL_EARG, "tensor %s: a row of %zu bytes does not fit in a record",
                         tensors[i].name, sslt_tensor_row_bytes(&tensors[i]));
        for (int j = 0; j < i; j++)
            if (!strcmp(tensors[i].name, tensors[j].name))
                return wfail(w, SSL_EARG, "duplicate tensor name %s", tensors[i].name);
    }
    w->tensors = calloc(ntensors ? ntensors : 1, sizeof *w->tensors);
    w->rows = calloc(ntensors ? ntensors : 1, sizeof *w->rows);
    w->crc = calloc(ntensors ? ntensors : 1, sizeof *w->crc);
    w->in_section = 1;
    if (!w->tensors || !w->rows || !w->crc) { section_free(w); return wfail(w, SSL_ENOMEM, "out of memory"); }
    w->ntensors = ntensors;
    for (int i = 0; i < ntensors; i++) {
        w->tensors[i] = tensors[i];
        if (!(w->tensors[i].name = strdup(tensors[i].name))) {
            section_free(w);
            return wfail(w, SSL_ENOMEM, "out of memory");
        }
    }
    w->nchunks = 0;

    pack_head(w, "header", 3);
    pack_s(&w->pk, "kind"); pack_s(&w->pk, kind);
    pack_s(&w->pk, "meta");
    if (meta) sv_pack(meta, &w->pk);
    else msgpack_pack_map(&w->pk, 0);
    pack_s(&w->pk, "tensors");
    msgpack_pack_array(&w->pk, ntensors);
    for (int i = 0; i < ntensors; i++) {
        const sslt_tensor *t = &tensors[i];
        msgpack_pack_map(&w->pk, 3);
        pack_s(&w->pk, "name"); pack_s(&w->pk, t->name);
        pack_s(&w->pk, "dtype"); pack_s(&w->pk, sslt_dtype_name(t->dtype));
        pack_s(&w->pk, "shape");
        msgpack_pack_array(&w->pk, t->ndim);
        for (int d = 0; d < t->ndim; d++) msgpack_pack_int64(&w->pk, t->shape[d]);
    }
    return write_record(w, NULL, 0);
}

/* Rows per chunk record of tensor t. */
static int64_t chunk_rows(const sslt_writer *w, const sslt_tensor *t) {
    size_t rb = sslt_tensor_row_bytes(t);
    int64_t r = rb ? (int64_t)(w->chunk_bytes / rb) : INT64_MAX;
    return r < 1 ? 1 : r;
}

int sslt_writer_rows(sslt_writer *w, int ti, const void *data, int64_t nrows) {
    if (w->failed) return -1;
    if (!w->in_section) return wfail(w, SSL_EARG, "rows written outside a section");
    if (ti < 0 || ti >= w->ntensors) return wfail(w, SSL_EARG, "no tensor number %d", ti);
    const sslt_tensor *t = &w->tensors[ti];
    int64_t total = sslt_tensor_rows(t);
    if (nrows < 0 || nrows > total - w->rows[ti])
        return wfail(w, SSL_EARG, "tensor %s: %lld rows written after %lld, it has %lld", t->name,
                     (long long)nrows, (long long)w->rows[ti], (long long)total);
    size_t rb = sslt_tensor_row_bytes(t);
    int64_t per = chunk_rows(w, t);
    const unsigned char *p = data;
    while (nrows > 0) {
        int64_t n = nrows < per ? nrows : per;
        size_t bytes = (size_t)n * rb;
        pack_head(w, "chunk", 4);
        pack_s(&w->pk, "tensor"); msgpack_pack_int(&w->pk, ti);
        pack_s(&w->pk, "row"); msgpack_pack_int64(&w->pk, w->rows[ti]);
        pack_s(&w->pk, "rows"); msgpack_pack_int64(&w->pk, n);
        pack_s(&w->pk, "data"); msgpack_pack_bin(&w->pk, bytes);
        if (write_record(w, p, bytes)) return -1;
        w->crc[ti] = sslt_crc32(w->crc[ti], p, bytes);
        w->rows[ti] += n;
        w->nchunks++;
        p += bytes;
        nrows -= n;
    }
    return 0;
}

int sslt_writer_end(sslt_writer *w) {
    if (w->failed) return -1;
    if (!w->in_section) return wfail(w, SSL_EARG, "section ended before it began");
    for (int i = 0; i < w->ntensors; i++)
        if (w->rows[i] != sslt_tensor_rows(&w->tensors[i]))
            return wfail(w, SSL_EARG, "tensor %s: %lld of %lld rows written", w->tensors[i].name,
                         (long long)w->rows[i], (long long)sslt_tensor_rows(&w->tensors[i]));
    pack_head(w, "end", 3);
    pack_s(&w->pk, "rows");
    msgpack_pack_array(&w->pk, w->ntensors);
    for (int i = 0; i < w->ntensors; i++) msgpack_pack_int64(&w->pk, w->rows[i]);
    pack_s(&w->pk, "crc32");
    msgpack_pack_array(&w->pk, w->ntensors);
    for (int i = 0; i < w->ntensors; i++) msgpack_pack_uint32(&w->pk, w->crc[i]);
    pack_s(&w->pk, "chunks"); msgpack_pack_int64(&w->pk, w->nchunks);
    int rc = write_record(w, NULL, 0);
    section_free(w);
    return rc;
}

int sslt_write_section(sslt_writer *w, const char *kind, const sv *meta, int ntensors,
                       const sslt_tensor *tensors, const void *const *data) {
    if (sslt_writer_begin(w, kind, meta, ntensors, tensors)) return -1;
    /* Interleave by rows: tensors advance together in steps of the smallest
     * chunk among the unfinished ones, so a reader streaming images and
     * labels side by side holds about one chunk of each. */
    for (;;) {
        int64_t lo = INT64_MAX, step = INT64_MAX;
        for (int i = 0; i < ntensors; i++) {
            const sslt_tensor *t = &w->tensors[i];
            if (w->rows[i] >= sslt_tensor_rows(t)) continue;
            if (w->rows[i] < lo) lo = w->rows[i];
            int64_t c = chunk_rows(w, t);
            if (c < step) step = c;
        }
        if (lo == INT64_MAX) break;
        int64_t hi = lo > INT64_MAX - step ? INT64_MAX : lo + step;
        for (int i = 0; i < ntensors; i++) {
            const sslt_tensor *t = &w->tensors[i];
            int64_t stop = sslt_tensor_rows(t) < hi ? sslt_tensor_rows(t) : hi;
            if (w->rows[i] >= stop) continue;
            const unsigned char *p = data[i];
            if (sslt_writer_rows(w, i, p + (size_t)w->rows[i] * sslt_tensor_row_bytes(t),
                                 stop - w->rows[i]))
                return -1;
        }
    }
    return sslt_writer_end(w);
}

/* Free everything; close the output and remove its temporary file when
 * they are still open (after a failure or an abort). */
static void writer_free(sslt_writer *w) {
    section_free(w);
    outfile_abort(&w->out);
    free(w->zbuf);
    msgpack_sbuffer_destroy(&w->sbuf);
    ZSTD_freeCCtx(w->cctx);
    free(w);
}

int sslt_writer_close(sslt_writer *w, ssl_err *err) {
    if (!w) {
        return ssl_fail(err, SSL_EARG, "no writer");
    }
    if (!w->failed && w->in_section) wfail(w, SSL_EARG, "closed inside a section (no end record)");
    if (!w->failed && outfile_commit(&w->out, &w->err)) w->failed = 1;
    int rc = w->failed ? -1 : 0;
    if (err) {
        if (rc) *err = w->err;
        else ssl_err_clear(err);
    }
    writer_free(w);
    return rc;
}

void sslt_writer_abort(sslt_writer *w) {
    if (!w) return;
    writer_free(w);
}
