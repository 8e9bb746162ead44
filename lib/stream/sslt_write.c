/* sslt_write.c: the tensor stream writer (sslt.h, man ssl-tensor(5)).
 *
 * Each record is packed as one msgpack map and compressed into one zstd
 * frame (content size in the frame header, content checksum on, no worker
 * threads so that output is deterministic), then written with write(2).
 * Chunk records are not copied: the map's fields up to the bin header are
 * packed into a small buffer and the data is fed to the compressor straight
 * from the caller's memory; the fields are flushed as the frame's first
 * block, so a reader can tell which tensor a chunk holds without
 * decompressing its data (sslt_reader_skip). A regular file is written under a temporary
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
#include "util/threads.h"

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
    int level;
    /* sslt_write_section's workers: one compressor and field buffer each */
    ZSTD_CCtx *pcctx[SSL_MAX_THREADS];
    msgpack_sbuffer psb[SSL_MAX_THREADS];
    int npar;
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

/* The frame parameters of every record: level, content size, checksum,
 * no worker threads (the output is the same on every machine), and a
 * window within SSLT_WINDOW_LOG (levels 20-22 would use up to 128 MiB). */
static void cctx_setup(ZSTD_CCtx *c, int level) {
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_nbWorkers, 0);
    if (level > 19) ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, SSLT_WINDOW_LOG);
}

/* Compress head[0..hn) followed by data[0..n) as one frame into *z (grown
 * to fit): 0 with *zn its size, or -1 with *zerr a zstd error code (0: out
 * of memory). With data, the fields end the first block, so that a reader
 * that skips this tensor decompresses them alone (sslt_read.c). */
static int compress_frame(ZSTD_CCtx *c, const void *head, size_t hn, const void *data, size_t n,
                          unsigned char **z, size_t *zcap, size_t *zn, size_t *zerr) {
    size_t bound = ZSTD_compressBound(hn + n), rc = 0;
    *zerr = 0;
    if (bound > *zcap) {
        unsigned char *q = realloc(*z, bound);
        if (!q) return -1;
        *z = q;
        *zcap = bound;
    }
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_setPledgedSrcSize(c, hn + n);
    ZSTD_outBuffer out = {*z, *zcap, 0};
    ZSTD_inBuffer in = {head, hn, 0};
    if (n) {
        while (in.pos < in.size)
            if (ZSTD_isError(rc = ZSTD_compressStream2(c, &out, &in, ZSTD_e_continue))) goto zfail;
        do
            if (ZSTD_isError(rc = ZSTD_compressStream2(c, &out, &in, ZSTD_e_flush))) goto zfail;
        while (rc);
        in = (ZSTD_inBuffer){data, n, 0};
    }
    do
        if (ZSTD_isError(rc = ZSTD_compressStream2(c, &out, &in, ZSTD_e_end))) goto zfail;
    while (rc);
    *zn = out.pos;
    return 0;
zfail:
    *zerr = rc;
    return -1;
}

/* Compress sbuf's content followed by data[0..n) as one frame and write it. */
static int write_record(sslt_writer *w, const void *data, size_t n) {
    size_t total = w->sbuf.size + n, zn, zerr;
    if (total > SSLT_MAX_RECORD_BYTES)
        return wfail(w, SSL_EARG, "record of %zu bytes exceeds the limit of %u", total,
                     SSLT_MAX_RECORD_BYTES);
    if (compress_frame(w->cctx, w->sbuf.data, w->sbuf.size, data, n, &w->zbuf, &w->zcap, &zn, &zerr))
        return zerr ? wfail(w, SSL_EIO, "zstd: %s", ZSTD_getErrorName(zerr))
                    : wfail(w, SSL_ENOMEM, "out of memory");
    w->sbuf.size = 0;
    w->records++;
    return write_all(w, w->zbuf, zn);
}

static void pack_s(msgpack_packer *pk, const char *s) {
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* The fields every record starts with; nfields counts the rest. */
static void pack_fields(msgpack_packer *pk, const char *type, int nfields) {
    msgpack_pack_map(pk, 3 + nfields);
    pack_s(pk, "magic"); pack_s(pk, SSLT_MAGIC);
    pack_s(pk, "version"); msgpack_pack_int(pk, SSLT_VERSION);
    pack_s(pk, "type"); pack_s(pk, type);
}

static void pack_head(sslt_writer *w, const char *type, int nfields) {
    w->sbuf.size = 0;
    pack_fields(&w->pk, type, nfields);
}

/* A chunk record's fields, up to its data's bin header. */
static void pack_chunk(msgpack_packer *pk, int ti, int64_t row, int64_t n, size_t bytes) {
    pack_fields(pk, "chunk", 4);
    pack_s(pk, "tensor"); msgpack_pack_int(pk, ti);
    pack_s(pk, "row"); msgpack_pack_int64(pk, row);
    pack_s(pk, "rows"); msgpack_pack_int64(pk, n);
    pack_s(pk, "data"); msgpack_pack_bin(pk, bytes);
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
    w->level = level;
    cctx_setup(w->cctx, level);
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
        w->sbuf.size = 0;
        pack_chunk(&w->pk, ti, w->rows[ti], n, bytes);
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

/* ---- sslt_write_section: chunk records compressed in parallel ----
 * The records are those sslt_writer_rows would write, in the same order;
 * batches of them are compressed on the thread pool (util/threads.h), each
 * by one single-threaded compressor, and written in order. A frame's bytes
 * depend on its content and level only, so the stream is the same bytes
 * at every thread count. CRC-32s are per chunk, then combined. */

#define PAR_BATCH_PER_THREAD 2

typedef struct {
    int ti;
    int64_t row, n;
    const unsigned char *data;
    size_t bytes;
    /* the worker's result */
    unsigned char *z;
    size_t zn, zcap, zerr;
    uint32_t crc;
    int failed;
} zjob;

typedef struct {
    sslt_writer *w;
    zjob *jobs;
} zbatch;

static void zwork(void *vctx, int64_t b, int64_t e, int tid) {
    zbatch *x = vctx;
    sslt_writer *w = x->w;
    msgpack_sbuffer *sb = &w->psb[tid];
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    for (int64_t i = b; i < e; i++) {
        zjob *j = &x->jobs[i];
        sb->size = 0;
        pack_chunk(&pk, j->ti, j->row, j->n, j->bytes);
        j->crc = sslt_crc32(0, j->data, j->bytes);
        j->failed = compress_frame(w->pcctx[tid], sb->data, sb->size, j->data, j->bytes, &j->z,
                                   &j->zcap, &j->zn, &j->zerr) != 0;
    }
}

/* Compress jobs[0..n) in parallel and write them in order. */
static int write_batch(sslt_writer *w, zjob *jobs, int n) {
    zbatch x = {w, jobs};
    ssl_parallel_for(n, 1, zwork, &x);
    for (int i = 0; i < n; i++) {
        zjob *j = &jobs[i];
        if (j->failed)
            return j->zerr ? wfail(w, SSL_EIO, "zstd: %s", ZSTD_getErrorName(j->zerr))
                           : wfail(w, SSL_ENOMEM, "out of memory");
        if (write_all(w, j->z, j->zn)) return -1;
        w->records++;
        w->crc[j->ti] = sslt_crc32_combine(w->crc[j->ti], j->crc, j->bytes);
        w->rows[j->ti] += j->n;
        w->nchunks++;
    }
    return 0;
}

int sslt_write_section(sslt_writer *w, const char *kind, const sv *meta, int ntensors,
                       const sslt_tensor *tensors, const void *const *data) {
    if (sslt_writer_begin(w, kind, meta, ntensors, tensors)) return -1;
    int T = ssl_threads() < 1 ? 1 : ssl_threads() > SSL_MAX_THREADS ? SSL_MAX_THREADS : ssl_threads();
    for (; w->npar < T; w->npar++) {
        if (!(w->pcctx[w->npar] = ZSTD_createCCtx())) return wfail(w, SSL_ENOMEM, "out of memory");
        cctx_setup(w->pcctx[w->npar], w->level);
        msgpack_sbuffer_init(&w->psb[w->npar]);
    }
    int G = T * PAR_BATCH_PER_THREAD, ng = 0, rc = 0;
    zjob *jobs = calloc((size_t)G, sizeof *jobs);
    int64_t *at = calloc(ntensors ? (size_t)ntensors : 1, sizeof *at);
    if (!jobs || !at) {
        free(jobs), free(at);
        return wfail(w, SSL_ENOMEM, "out of memory");
    }
    /* Interleave by rows: tensors advance together in steps of the smallest
     * chunk among the unfinished ones, so a reader streaming images and
     * labels side by side holds about one chunk of each. */
    for (;;) {
        int64_t lo = INT64_MAX, step = INT64_MAX;
        for (int i = 0; i < ntensors; i++) {
            const sslt_tensor *t = &w->tensors[i];
            if (at[i] >= sslt_tensor_rows(t)) continue;
            if (at[i] < lo) lo = at[i];
            int64_t c = chunk_rows(w, t);
            if (c < step) step = c;
        }
        if (lo == INT64_MAX) break;
        int64_t hi = lo > INT64_MAX - step ? INT64_MAX : lo + step;
        for (int i = 0; i < ntensors && !rc; i++) {
            const sslt_tensor *t = &w->tensors[i];
            int64_t stop = sslt_tensor_rows(t) < hi ? sslt_tensor_rows(t) : hi, per = chunk_rows(w, t);
            size_t rb = sslt_tensor_row_bytes(t);
            while (at[i] < stop && !rc) {
                int64_t n = stop - at[i] < per ? stop - at[i] : per;
                if ((size_t)n * rb > SSLT_MAX_RECORD_BYTES - 4096) {
                    rc = wfail(w, SSL_EARG, "record of %zu bytes exceeds the limit of %u",
                               (size_t)n * rb, SSLT_MAX_RECORD_BYTES);
                    break;
                }
                zjob *j = &jobs[ng++];
                j->ti = i;
                j->row = at[i];
                j->n = n;
                j->data = (const unsigned char *)data[i] + (size_t)at[i] * rb;
                j->bytes = (size_t)n * rb;
                at[i] += n;
                if (ng == G) rc = write_batch(w, jobs, ng), ng = 0;
            }
        }
        if (rc) break;
    }
    if (!rc && ng) rc = write_batch(w, jobs, ng);
    for (int i = 0; i < G; i++) free(jobs[i].z);
    free(jobs);
    free(at);
    return rc ? -1 : sslt_writer_end(w);
}

/* Free everything; close the output and remove its temporary file when
 * they are still open (after a failure or an abort). */
static void writer_free(sslt_writer *w) {
    section_free(w);
    for (int i = 0; i < w->npar; i++) {
        ZSTD_freeCCtx(w->pcctx[i]);
        msgpack_sbuffer_destroy(&w->psb[i]);
    }
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
