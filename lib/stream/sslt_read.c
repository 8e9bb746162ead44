/* sslt_read.c: the tensor stream reader (sslt.h, man ssl-tensor(5)).
 *
 * Input is read with read(2) into a buffer and never seeked, so pipes work.
 * For each record: the zstd frame header is looked at first, and a frame
 * without a content size or with one above SSLT_MAX_RECORD_BYTES is refused
 * before anything is allocated for it; then exactly that frame is
 * decompressed with the streaming API (bytes after it stay buffered for the
 * next record) into a buffer that grows only as content arrives, so a frame
 * that merely declares a large size costs nothing, and zstd checks its
 * content checksum. The content must be
 * one msgpack map: a small scanner first checks that it is well formed and
 * that no array or map claims more items than there are bytes left (so
 * msgpack-c never allocates for absurd counts), then msgpack-c unpacks it
 * without copying (chunk data points into the record buffer). Every field is
 * checked for presence and type; tensor shapes are validated before any
 * allocation depending on them; chunks must come in row order; the end
 * record's counts and CRC-32s must match what was read. Errors read
 * "NAME: record N: problem".
 *
 * Skipping (sslt_reader_skip): a chunk of a tensor the caller does not
 * want is recognised without decompressing its data. Only the frame header
 * and the frame's first block are decompressed (the writer ends the first
 * block after the record's fields, so that block is a few dozen bytes;
 * older files have a first block of up to 128 KiB); when the fields name a
 * skipped tensor and the data bin is the record's last field, filling it
 * exactly, the fields are unpacked with an empty bin in its place and the
 * rest of the frame is passed over by its block headers (RFC 8878 3.1.1.2:
 * 3 bytes each, giving the block's stored size), never decompressed or
 * checksummed. Anything else (a first block that is the last, fields in
 * another order) is decompressed and checked as usual. */
#include <errno.h>
#include <fcntl.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "stream/sslt.h"
#include "stream/sslt_impl.h"
#include "util/mem.h"

#define IN_BLOCK (128u << 10)     /* read(2) size */
#define FRAME_HEADER_MAX 18       /* ZSTD_FRAMEHEADERSIZE_MAX */
#define MP_MAX_DEPTH 40
#define BLOCK_MAX (128u << 10)    /* ZSTD_BLOCKSIZE_MAX: the largest block (RFC 8878) */

enum { ST_OUTSIDE, ST_SECTION, ST_FAILED };

struct sslt_reader {
    int fd, own_fd, eof;
    char *name;
    unsigned char *in;            /* buffered input [in_pos, in_len) */
    size_t in_pos, in_len, in_cap;
    ZSTD_DCtx *dctx;
    unsigned char *rec;           /* the current record's content */
    size_t rec_cap, rec_len;
    msgpack_unpacked unp;
    int64_t recno, compressed, uncompressed;
    int state;
    sslt_header hdr;
    int64_t *rows;                /* rows read per tensor in this section */
    uint32_t *crc;
    int64_t nchunks;
    /* sslt_reader_skip: per tensor, bit 0: its chunks are to be skipped;
     * bit 1: a chunk was skipped, so its CRC-32 cannot be compared */
    int *skip;
    int nskip;                    /* tensors with bit 0 set */
    unsigned char *stub;          /* a skipped record's fields, with an empty bin */
    size_t stub_cap;
    int rec_skipped;              /* the current record is a skipped chunk ... */
    uint64_t skipped_len;         /* ... whose data bin held this many bytes */
    ssl_err err;
};

static int rfail(sslt_reader *r, ssl_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int rfail(sslt_reader *r, ssl_code code, const char *fmt, ...) {
    if (r->state == ST_FAILED) return -1;
    va_list ap;
    va_start(ap, fmt);
    ssl_failv(&r->err, code, fmt, ap);
    va_end(ap);
    if (r->recno > 0) ssl_prefix(&r->err, "%s: record %lld: ", r->name, (long long)r->recno);
    else ssl_prefix(&r->err, "%s: ", r->name);
    r->state = ST_FAILED;
    return -1;
}

sslt_reader *sslt_reader_open_fd(int fd, const char *name, ssl_err *err) {
    if (!name) name = "<stdin>";
    sslt_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name)) || !(r->dctx = ZSTD_createDCtx()) ||
        ZSTD_isError(ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, SSLT_WINDOW_LOG)) ||
        !(r->in = malloc(IN_BLOCK))) {
        if (r) { free(r->name); ZSTD_freeDCtx(r->dctx); free(r); }
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name);
        return NULL;
    }
    r->in_cap = IN_BLOCK;
    r->fd = fd;
    r->hdr.meta = NULL;
    msgpack_unpacked_init(&r->unp);
    return r;
}

sslt_reader *sslt_reader_open(const char *path, ssl_err *err) {
    if (!path || !strcmp(path, "-")) return sslt_reader_open_fd(0, "<stdin>", err);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        ssl_fail(err, SSL_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    sslt_reader *r = sslt_reader_open_fd(fd, path, err);
    if (!r) close(fd);
    else r->own_fd = 1;
    return r;
}

static void header_clear(sslt_reader *r) {
    for (int i = 0; i < r->hdr.ntensors; i++) free(r->hdr.tensors[i].name);
    free(r->hdr.tensors);
    free(r->hdr.kind);
    sv_free(r->hdr.meta);
    free(r->rows);
    free(r->crc);
    free(r->skip);
    memset(&r->hdr, 0, sizeof r->hdr);
    r->rows = NULL;
    r->crc = NULL;
    r->skip = NULL;
    r->nskip = 0;
}

void sslt_reader_close(sslt_reader *r) {
    if (!r) return;
    header_clear(r);
    if (r->own_fd) close(r->fd);
    msgpack_unpacked_destroy(&r->unp);
    ZSTD_freeDCtx(r->dctx);
    free(r->in);
    free(r->rec);
    free(r->stub);
    free(r->name);
    free(r);
}

const ssl_err *sslt_reader_error(const sslt_reader *r) {
    static const ssl_err none = {SSL_EARG, "no reader"};
    return r ? &r->err : &none;
}
const char *sslt_reader_name(const sslt_reader *r) { return r ? r->name : ""; }
int64_t sslt_reader_record(const sslt_reader *r) { return r->recno; }

void sslt_reader_stats(const sslt_reader *r, int64_t *records, int64_t *compressed,
                       int64_t *uncompressed) {
    if (records) *records = r->recno;
    if (compressed) *compressed = r->compressed;
    if (uncompressed) *uncompressed = r->uncompressed;
}

/* Read more input: 1 if bytes were added, 0 at end of input, -1 on error. */
static int fill(sslt_reader *r) {
    if (r->eof) return 0;
    if (r->in_pos) {
        memmove(r->in, r->in + r->in_pos, r->in_len - r->in_pos);
        r->in_len -= r->in_pos;
        r->in_pos = 0;
    }
    for (;;) {
        ssize_t k = read(r->fd, r->in + r->in_len, r->in_cap - r->in_len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return rfail(r, SSL_EIO, "%s", strerror(errno));
        if (k == 0) { r->eof = 1; return 0; }
        r->in_len += (size_t)k;
        return 1;
    }
}

/* ---- msgpack well-formedness scan ---- */

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Skip one object at p; NULL if malformed, too deep, or a count exceeds
 * the bytes left. */
static const unsigned char *mp_skip(const unsigned char *p, const unsigned char *end, int depth) {
    if (p >= end || depth > MP_MAX_DEPTH) return NULL;
    unsigned b = *p++;
    uint64_t len = 0, items = 0;
    size_t avail = (size_t)(end - p);
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return p;
    if (b >= 0xa0 && b <= 0xbf) len = b & 0x1f;
    else if (b >= 0x90 && b <= 0x9f) items = b & 0x0f;
    else if (b >= 0x80 && b <= 0x8f) items = 2 * (uint64_t)(b & 0x0f);
    else {
        static const signed char fixed[] = {  /* 0xc4..0xdf: header bytes, or -1 */
            1, 2, 4, 1, 2, 4, 4, 8, 1, 2, 4, 8, 1, 2, 4, 8, 2, 3, 5, 9, 17, 1, 2, 4, 2, 4, 2, 4};
        if (b == 0xc1) return NULL;
        int h = fixed[b - 0xc4];
        if (avail < (size_t)h) return NULL;
        switch (b) {
        case 0xc4: case 0xc5: case 0xc6: case 0xd9: case 0xda: case 0xdb:
            len = be(p, h); p += h; break;
        case 0xc7: case 0xc8: case 0xc9:
            len = be(p, h) + 1; p += h; break;   /* + the ext type byte */
        case 0xdc: case 0xdd: items = be(p, h); p += h; break;
        case 0xde: case 0xdf: items = 2 * be(p, h); p += h; break;
        default: len = (uint64_t)h; break;      /* numbers and fixext */
        }
        avail = (size_t)(end - p);
    }
    if (len) return len <= avail ? p + len : NULL;
    if (items > avail) return NULL;
    for (uint64_t i = 0; i < items && p; i++) p = mp_skip(p, end, depth + 1);
    return p;
}

/* ---- skipping a frame by its block headers ---- */

/* At least n (<= IN_BLOCK) bytes buffered at r->in + r->in_pos: 0, 1 when
 * the input ends with fewer, -1 on a read error. */
static int need(sslt_reader *r, size_t n) {
    while (r->in_len - r->in_pos < n) {
        int k = fill(r);
        if (k <= 0) return k < 0 ? -1 : 1;
    }
    return 0;
}

/* Pass over n bytes of the frame being read. 0, or -1 (truncated). */
static int consume(sslt_reader *r, uint64_t n) {
    for (;;) {
        size_t have = r->in_len - r->in_pos;
        if (have >= n) {
            r->in_pos += (size_t)n;
            r->compressed += (int64_t)n;
            return 0;
        }
        r->in_pos = r->in_len;
        r->compressed += (int64_t)have;
        n -= have;
        int k = fill(r);
        if (k < 0) return -1;
        if (k == 0) return rfail(r, SSL_EDATA, "truncated (stream ends inside a zstd frame)");
    }
}

/* The size of a frame header whose descriptor byte is fhd (RFC 8878
 * 3.1.1.1: magic, descriptor, window descriptor unless single-segment,
 * dictionary id, content size). */
static size_t frame_header_size(unsigned fhd) {
    static const size_t did[4] = {0, 1, 2, 4}, fcs[4] = {0, 2, 4, 8};
    int single = fhd >> 5 & 1;
    size_t f = fcs[fhd >> 6];
    if (!f && single) f = 1;
    return 4 + 1 + (size_t)!single + did[fhd & 3] + f;
}

/* Pass over the rest of a frame from a block header on, by the block
 * headers alone (RFC 8878 3.1.1.2), and its checksum. 0, or -1. */
static int skip_blocks(sslt_reader *r, int checksum) {
    for (;;) {
        int k = need(r, 3);
        if (k) return k < 0 ? -1 : rfail(r, SSL_EDATA, "truncated (stream ends inside a zstd frame)");
        const unsigned char *b = r->in + r->in_pos;
        uint32_t bh = b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16, bs = bh >> 3;
        unsigned type = bh >> 1 & 3;
        if (type == 3) return rfail(r, SSL_EDATA, "damaged zstd frame: reserved block type");
        if (bs > BLOCK_MAX)
            return rfail(r, SSL_EDATA, "damaged zstd frame: a block of %u bytes", (unsigned)bs);
        if (consume(r, 3 + (type == 1 ? 1 : bs))) return -1;
        if (bh & 1) break;
    }
    return checksum ? consume(r, 4) : 0;
}

static int try_skip(sslt_reader *r, size_t have, unsigned long long size, int checksum);

/* ---- one record ---- */

static const char *const rec_types[] = {"header", "chunk", "end"};

/* Read, decompress and unpack the next record. Returns 1 with *map set
 * (it lives in r->unp and r->rec until the next record), 0 at a clean end
 * of input (nothing left), -1 on error. A chunk of a skipped tensor comes
 * back with r->rec_skipped set: *map holds its fields, its data bin empty
 * (r->skipped_len says how long it was). */
static int next_record(sslt_reader *r, const msgpack_object **map) {
    r->rec_skipped = 0;
    while (r->in_len - r->in_pos < FRAME_HEADER_MAX && !r->eof)
        if (fill(r) < 0) return -1;
    size_t avail = r->in_len - r->in_pos;
    if (avail == 0) return 0;
    r->recno++;
    const unsigned char *p = r->in + r->in_pos;
    static const unsigned char zmagic[4] = {0x28, 0xb5, 0x2f, 0xfd};
    if (memcmp(p, zmagic, avail < 4 ? avail : 4)) {
        if (r->recno == 1) return rfail(r, SSL_EDATA, "not a tensor stream (not zstd data)");
        return rfail(r, SSL_EDATA, "trailing garbage after the last record");
    }
    if (avail < 4) return rfail(r, SSL_EDATA, "truncated (stream ends inside a zstd frame)");
    unsigned long long size = ZSTD_getFrameContentSize(p, avail);
    if (size == ZSTD_CONTENTSIZE_ERROR) {
        if (r->eof && avail < FRAME_HEADER_MAX)
            return rfail(r, SSL_EDATA, "truncated (stream ends inside a zstd frame)");
        return rfail(r, SSL_EDATA, "bad zstd frame header");
    }
    if (size == ZSTD_CONTENTSIZE_UNKNOWN)
        return rfail(r, SSL_EDATA, "zstd frame without a content size");
    if (size > SSLT_MAX_RECORD_BYTES)
        return rfail(r, SSL_EDATA, "record too large (%llu bytes, the limit is %u)", size,
                     SSLT_MAX_RECORD_BYTES);
    /* The window zstd allocates up front (RFC 8878 3.1.1.1): a
     * single-segment frame's is its content size, else the window
     * descriptor's 2^(10+exponent) * (1 + mantissa/8). A hostile frame
     * could otherwise make zstd allocate 128 MiB before any content
     * arrives; the dctx's windowLogMax backs this up. */
    unsigned long long window = size;
    if (!(p[4] & 0x20)) {
        unsigned long long base = 1ull << (10 + (p[5] >> 3));
        window = base + base / 8 * (p[5] & 7);
    }
    if (window > (1ull << SSLT_WINDOW_LOG))
        return rfail(r, SSL_EDATA, "zstd frame needs a window of %.1f MiB, more than the %u MiB this format uses",
                     /* MiB rounded up to a tenth: never shown as equal to the limit */
                     (double)((window * 10 + 1048575) / 1048576) / 10, (1u << SSLT_WINDOW_LOG) >> 20);
    /* Skipping tensors: feed zstd the frame header and the first block
     * only (limit), unless that block is the frame's last. */
    int checksum = p[4] >> 2 & 1;
    size_t limit = SIZE_MAX, fed = 0;
    if (r->nskip && r->state == ST_SECTION) {
        size_t fhs = frame_header_size(p[4]);
        int k = need(r, fhs + 3);
        if (k < 0) return -1;
        p = r->in + r->in_pos;    /* need may have moved the buffer */
        if (k == 0) {
            uint32_t bh = p[fhs] | (uint32_t)p[fhs + 1] << 8 | (uint32_t)p[fhs + 2] << 16;
            unsigned type = bh >> 1 & 3;
            if (!(bh & 1) && type != 3) limit = fhs + 3 + (type == 1 ? 1 : bh >> 3);
        }
    }
    /* The buffer grows as content actually arrives (from 1 MiB, doubling),
     * so a frame header declaring a large size costs nothing by itself. */
    size_t first = size + 1 < (1u << 20) ? (size_t)size + 1 : (1u << 20);
    if (first > r->rec_cap) {
        free(r->rec);
        r->rec_cap = 0;
        if (!(r->rec = malloc(first))) return rfail(r, SSL_ENOMEM, "out of memory");
        r->rec_cap = first;
    }
    /* Decompress exactly one frame. */
    ZSTD_DCtx_reset(r->dctx, ZSTD_reset_session_only);
    ZSTD_outBuffer out = {r->rec, r->rec_cap - 1 < size ? r->rec_cap - 1 : (size_t)size, 0};
    for (;;) {
        size_t give = r->in_len - r->in_pos;
        if (give > limit - fed) give = limit - fed;
        ZSTD_inBuffer in = {r->in + r->in_pos, give, 0};
        size_t rc = ZSTD_decompressStream(r->dctx, &out, &in);
        r->in_pos += in.pos;
        fed += in.pos;
        r->compressed += (int64_t)in.pos;
        if (ZSTD_isError(rc)) return rfail(r, SSL_EDATA, "damaged zstd frame: %s", ZSTD_getErrorName(rc));
        if (rc == 0) break;
        if (fed == limit) {       /* the first block is in: skip the rest? */
            limit = SIZE_MAX;
            int k = try_skip(r, out.pos, size, checksum);
            if (k < 0) return -1;
            if (k > 0) {
                *map = &r->unp.data;
                return 1;
            }
        }
        if (out.pos == out.size && out.size < size) {
            size_t nc = r->rec_cap * 2 < size + 1 ? r->rec_cap * 2 : (size_t)size + 1;
            unsigned char *q = ssl_grow_huge(r->rec, out.pos, nc);
            if (!q) return rfail(r, SSL_ENOMEM, "out of memory");
            r->rec = q;
            r->rec_cap = nc;
            out.dst = q;
            out.size = nc - 1;
            continue;
        }
        if (r->in_pos == r->in_len) {
            int k = fill(r);
            if (k < 0) return -1;
            if (k == 0) return rfail(r, SSL_EDATA, "truncated (stream ends inside a zstd frame)");
        } else if (in.pos == 0 && out.pos == out.size) {
            return rfail(r, SSL_EDATA, "damaged zstd frame: more content than declared");
        }
    }
    if (out.pos != size) return rfail(r, SSL_EDATA, "damaged zstd frame: content size mismatch");
    r->rec_len = (size_t)size;
    r->uncompressed += (int64_t)size;

    const unsigned char *end = mp_skip(r->rec, r->rec + r->rec_len, 0);
    if (!end) return rfail(r, SSL_EDATA, "not a valid msgpack record");
    if (end != r->rec + r->rec_len) return rfail(r, SSL_EDATA, "extra bytes after the record's map");
    size_t off = 0;
    if (msgpack_unpack_next(&r->unp, (const char *)r->rec, r->rec_len, &off) !=
        MSGPACK_UNPACK_SUCCESS)
        return rfail(r, SSL_EDATA, "not a valid msgpack record");
    const msgpack_object *o = &r->unp.data;
    if (o->type != MSGPACK_OBJECT_MAP) return rfail(r, SSL_EDATA, "record is not a map");
    *map = o;
    return 1;
}

/* Field lookup in a msgpack map: NULL if absent. */
static const msgpack_object *mp_get(const msgpack_object *m, const char *key) {
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            !memcmp(k->via.str.ptr, key, kl))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static int mp_is_str(const msgpack_object *o, const char *s) {
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           !memcmp(o->via.str.ptr, s, o->via.str.size);
}

/* After the first block of a frame (have bytes of content in r->rec):
 * 1 when the record is a chunk of a tensor being skipped whose data bin is
 * its last field and ends the content (size bytes); the rest of the frame
 * has then been passed over and r->unp holds the fields with an empty bin.
 * 0 when the frame must be decompressed after all (r->unp is overwritten
 * by the full record later), -1 on an input error. */
static int try_skip(sslt_reader *r, size_t have, unsigned long long size, int checksum) {
    const unsigned char *b = r->rec, *e = b + have, *p = b;
    uint64_t n;
    if (have < 1) return 0;
    if (*p >= 0x80 && *p <= 0x8f) n = *p++ & 0x0f;
    else if (*p == 0xde && have >= 3) n = be(p + 1, 2), p += 3;
    else if (*p == 0xdf && have >= 5) n = be(p + 1, 4), p += 5;
    else return 0;
    for (uint64_t i = 0; i + 1 < n && p; i++) p = mp_skip(p, e, 1), p = p ? mp_skip(p, e, 1) : NULL;
    static const unsigned char key[5] = {0xa4, 'd', 'a', 't', 'a'};
    if (!n || !p || e - p < 6 || memcmp(p, key, 5)) return 0;
    p += 5;
    int h = *p == 0xc4 ? 1 : *p == 0xc5 ? 2 : *p == 0xc6 ? 4 : 0;
    if (!h || e - p < 1 + h) return 0;
    uint64_t len = be(p + 1, h);
    size_t off = (size_t)(p - b);
    if (off + 1 + h + len != size) return 0;
    if (off + 2 > r->stub_cap) {
        unsigned char *q = realloc(r->stub, off + 2);
        if (!q) return rfail(r, SSL_ENOMEM, "out of memory");
        r->stub = q;
        r->stub_cap = off + 2;
    }
    memcpy(r->stub, b, off);
    r->stub[off] = 0xc4;          /* bin 8 of length 0 */
    r->stub[off + 1] = 0;
    size_t used = 0;
    if (msgpack_unpack_next(&r->unp, (const char *)r->stub, off + 2, &used) !=
            MSGPACK_UNPACK_SUCCESS || used != off + 2 || r->unp.data.type != MSGPACK_OBJECT_MAP)
        return 0;
    const msgpack_object *m = &r->unp.data, *t = mp_get(m, "tensor");
    if (!m->via.map.size || mp_get(m, "data") != &m->via.map.ptr[m->via.map.size - 1].val ||
        !mp_is_str(mp_get(m, "type"), "chunk") || !t || t->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        t->via.u64 >= (uint64_t)r->hdr.ntensors || !(r->skip[t->via.u64] & 1))
        return 0;
    if (skip_blocks(r, checksum)) return -1;
    r->rec_skipped = 1;
    r->skipped_len = len;
    return 1;
}

/* An integer field >= 0: 0 and *v, or -1 (error set) naming the field. */
static int field_int(sslt_reader *r, const msgpack_object *m, const char *key, int64_t *v) {
    const msgpack_object *o = mp_get(m, key);
    if (!o) return rfail(r, SSL_EDATA, "missing field '%s'", key);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > (uint64_t)INT64_MAX)
        return rfail(r, SSL_EDATA, "field '%s' is not a non-negative integer", key);
    *v = (int64_t)o->via.u64;
    return 0;
}

static char *mp_strdup(const msgpack_object *o) {
    char *s = malloc(o->via.str.size + 1);
    if (s) {
        memcpy(s, o->via.str.ptr, o->via.str.size);
        s[o->via.str.size] = 0;
    }
    return s;
}

/* Read the next record and check magic, version and type. */
static int read_typed(sslt_reader *r, int *type, const msgpack_object **m) {
    int k = next_record(r, m);
    if (k <= 0) return k;
    if (!mp_is_str(mp_get(*m, "magic"), SSLT_MAGIC)) return rfail(r, SSL_EDATA, "bad magic (not sslt)");
    int64_t version;
    if (field_int(r, *m, "version", &version)) return -1;
    if (version != SSLT_VERSION)
        return rfail(r, SSL_EDATA, "unsupported version %lld (this reader knows %d)", (long long)version,
                     SSLT_VERSION);
    const msgpack_object *t = mp_get(*m, "type");
    for (int i = 0; i < 3; i++)
        if (mp_is_str(t, rec_types[i])) { *type = i; return 1; }
    return rfail(r, SSL_EDATA, "unknown record type");
}

static int parse_header(sslt_reader *r, const msgpack_object *m) {
    header_clear(r);
    const msgpack_object *kind = mp_get(m, "kind"), *meta = mp_get(m, "meta"),
                         *tens = mp_get(m, "tensors");
    if (!kind || kind->type != MSGPACK_OBJECT_STR) return rfail(r, SSL_EDATA, "header: 'kind' is not a string");
    if (!meta || meta->type != MSGPACK_OBJECT_MAP) return rfail(r, SSL_EDATA, "header: 'meta' is not a map");
    if (!tens || tens->type != MSGPACK_OBJECT_ARRAY) return rfail(r, SSL_EDATA, "header: 'tensors' is not an array");
    if (tens->via.array.size > SSLT_MAX_TENSORS)
        return rfail(r, SSL_EDATA, "header: %u tensors (at most %d)", tens->via.array.size, SSLT_MAX_TENSORS);
    int n = (int)tens->via.array.size;
    if (!(r->hdr.kind = mp_strdup(kind))) return rfail(r, SSL_ENOMEM, "out of memory");
    if (!(r->hdr.meta = sv_from_msgpack(meta)))
        return rfail(r, SSL_EDATA, "header: metadata has values that cannot be represented");
    r->hdr.tensors = calloc(n ? n : 1, sizeof *r->hdr.tensors);
    r->rows = calloc(n ? n : 1, sizeof *r->rows);
    r->crc = calloc(n ? n : 1, sizeof *r->crc);
    if (!r->hdr.tensors || !r->rows || !r->crc) return rfail(r, SSL_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        const msgpack_object *t = &tens->via.array.ptr[i];
        if (t->type != MSGPACK_OBJECT_MAP) return rfail(r, SSL_EDATA, "header: tensor %d is not a map", i);
        const msgpack_object *name = mp_get(t, "name"), *dt = mp_get(t, "dtype"),
                             *shape = mp_get(t, "shape");
        if (!name || name->type != MSGPACK_OBJECT_STR || !name->via.str.size ||
            memchr(name->via.str.ptr, 0, name->via.str.size))
            return rfail(r, SSL_EDATA, "header: tensor %d: 'name' is not a string", i);
        sslt_tensor *st = &r->hdr.tensors[i];
        if (!(st->name = mp_strdup(name))) return rfail(r, SSL_ENOMEM, "out of memory");
        r->hdr.ntensors = i + 1;
        char dtype[8] = "";
        if (dt && dt->type == MSGPACK_OBJECT_STR && dt->via.str.size < sizeof dtype)
            memcpy(dtype, dt->via.str.ptr, dt->via.str.size);
        int d = sslt_dtype_parse(dtype);
        if (d < 0) return rfail(r, SSL_EDATA, "header: tensor %s: bad dtype", st->name);
        st->dtype = (sslt_dtype)d;
        if (!shape || shape->type != MSGPACK_OBJECT_ARRAY)
            return rfail(r, SSL_EDATA, "header: tensor %s: 'shape' is not an array", st->name);
        if (shape->via.array.size > SSLT_MAX_DIMS)
            return rfail(r, SSL_EDATA, "header: tensor %s: %u dimensions (at most %d)", st->name,
                         shape->via.array.size, SSLT_MAX_DIMS);
        st->ndim = (int)shape->via.array.size;
        for (int j = 0; j < st->ndim; j++) {
            const msgpack_object *e = &shape->via.array.ptr[j];
            if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER || e->via.u64 > (uint64_t)INT64_MAX)
                return rfail(r, SSL_EDATA, "header: tensor %s: dimension %d is not a non-negative integer",
                             st->name, j);
            st->shape[j] = (int64_t)e->via.u64;
        }
        ssl_err why;
        if (sslt_check_tensor(st, &why)) return rfail(r, SSL_EDATA, "header: %s", why.msg);
        for (int j = 0; j < i && n <= 4096; j++)
            if (!strcmp(st->name, r->hdr.tensors[j].name))
                return rfail(r, SSL_EDATA, "header: duplicate tensor name %s", st->name);
    }
    r->nchunks = 0;
    r->state = ST_SECTION;
    return 0;
}

static int parse_chunk(sslt_reader *r, const msgpack_object *m, int *ti, int64_t *row,
                       int64_t *nrows, const void **data) {
    int64_t t, rw, n;
    if (field_int(r, m, "tensor", &t) || field_int(r, m, "row", &rw) ||
        field_int(r, m, "rows", &n))
        return -1;
    if (t >= r->hdr.ntensors) return rfail(r, SSL_EDATA, "chunk of unknown tensor %lld", (long long)t);
    const sslt_tensor *st = &r->hdr.tensors[t];
    if (rw != r->rows[t])
        return rfail(r, SSL_EDATA, "chunk of %s starts at row %lld, expected %lld", st->name,
                     (long long)rw, (long long)r->rows[t]);
    if (n < 1 || n > sslt_tensor_rows(st) - rw)
        return rfail(r, SSL_EDATA, "chunk of %s has %lld rows at row %lld, the tensor has %lld", st->name,
                     (long long)n, (long long)rw, (long long)sslt_tensor_rows(st));
    const msgpack_object *d = mp_get(m, "data");
    if (!d || d->type != MSGPACK_OBJECT_BIN) return rfail(r, SSL_EDATA, "chunk: 'data' is not bin");
    uint64_t want = (uint64_t)n * sslt_tensor_row_bytes(st);
    uint64_t got = r->rec_skipped ? r->skipped_len : d->via.bin.size;
    if (got != want)
        return rfail(r, SSL_EDATA, "chunk of %s: %llu data bytes for %lld rows, expected %llu", st->name,
                     (unsigned long long)got, (long long)n, (unsigned long long)want);
    if (r->rec_skipped) r->skip[t] |= 2;     /* its CRC-32 is no longer known */
    else r->crc[t] = sslt_crc32(r->crc[t], d->via.bin.ptr, d->via.bin.size);
    r->rows[t] += n;
    r->nchunks++;
    *ti = (int)t;
    *row = rw;
    *nrows = n;
    *data = r->rec_skipped ? NULL : d->via.bin.ptr;
    return 0;
}

static int check_end(sslt_reader *r, const msgpack_object *m) {
    const msgpack_object *rows = mp_get(m, "rows"), *crc = mp_get(m, "crc32");
    int n = r->hdr.ntensors;
    int64_t chunks;
    if (!rows || rows->type != MSGPACK_OBJECT_ARRAY || (int)rows->via.array.size != n)
        return rfail(r, SSL_EDATA, "end: 'rows' is not an array of %d counts", n);
    if (!crc || crc->type != MSGPACK_OBJECT_ARRAY || (int)crc->via.array.size != n)
        return rfail(r, SSL_EDATA, "end: 'crc32' is not an array of %d checksums", n);
    if (field_int(r, m, "chunks", &chunks)) return -1;
    for (int i = 0; i < n; i++) {
        const sslt_tensor *t = &r->hdr.tensors[i];
        const msgpack_object *a = &rows->via.array.ptr[i], *c = &crc->via.array.ptr[i];
        if (a->type != MSGPACK_OBJECT_POSITIVE_INTEGER || c->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return rfail(r, SSL_EDATA, "end: counts and checksums must be non-negative integers");
        if (r->rows[i] != sslt_tensor_rows(t))
            return rfail(r, SSL_EDATA, "tensor %s is incomplete: %lld of %lld rows", t->name,
                         (long long)r->rows[i], (long long)sslt_tensor_rows(t));
        if (a->via.u64 != (uint64_t)r->rows[i])
            return rfail(r, SSL_EDATA, "end: tensor %s: %llu rows recorded, %lld read", t->name,
                         (unsigned long long)a->via.u64, (long long)r->rows[i]);
        if (c->via.u64 != r->crc[i] && !(r->skip && r->skip[i] & 2))
            return rfail(r, SSL_EDATA, "tensor %s: CRC-32 mismatch (data damaged)", t->name);
    }
    if (chunks != r->nchunks)
        return rfail(r, SSL_EDATA, "end: %lld chunks recorded, %lld read", (long long)chunks,
                     (long long)r->nchunks);
    r->state = ST_OUTSIDE;
    return 0;
}

int sslt_reader_chunk(sslt_reader *r, int *ti, int64_t *row, int64_t *nrows, const void **data) {
    for (;;) {
        if (r->state == ST_FAILED) return -1;
        if (r->state != ST_SECTION) return 0;
        int type;
        const msgpack_object *m;
        int k = read_typed(r, &type, &m);
        if (k < 0) return -1;
        if (k == 0) {
            r->recno++;
            return rfail(r, SSL_EDATA, "truncated (stream ends before the section's end record)");
        }
        if (type == 0) return rfail(r, SSL_EDATA, "header inside a section (the previous one has no end record)");
        if (type == 2) return check_end(r, m) ? -1 : 0;
        if (parse_chunk(r, m, ti, row, nrows, data)) return -1;
        if (!r->rec_skipped) return 1;
    }
}

int sslt_reader_skip(sslt_reader *r, const int *skip) {
    if (r->state == ST_FAILED) return -1;
    if (r->state != ST_SECTION) return rfail(r, SSL_EARG, "no section to skip tensors of");
    int n = r->hdr.ntensors;
    if (!r->skip && !(r->skip = calloc(n ? (size_t)n : 1, sizeof *r->skip)))
        return rfail(r, SSL_ENOMEM, "out of memory");
    r->nskip = 0;
    for (int i = 0; i < n; i++) {
        r->skip[i] = (r->skip[i] & 2) | (skip[i] != 0);
        r->nskip += skip[i] != 0;
    }
    return 0;
}

int sslt_reader_next(sslt_reader *r, const sslt_header **h) {
    int ti, k;
    int64_t row, n;
    const void *data;
    while ((k = sslt_reader_chunk(r, &ti, &row, &n, &data)) > 0) {}
    if (k < 0) return -1;
    int type;
    const msgpack_object *m;
    int64_t before = r->recno;
    k = read_typed(r, &type, &m);
    if (k < 0) return -1;
    if (k == 0) {
        if (before == 0) return rfail(r, SSL_EDATA, "empty stream");
        return 0;
    }
    if (type != 0)
        return rfail(r, SSL_EDATA, "%s record where a section header was expected", rec_types[type]);
    if (parse_header(r, m)) return -1;
    *h = &r->hdr;
    return 1;
}

int sslt_reader_expect_end(sslt_reader *r, const char *what) {
    const sslt_header *h;
    int k = sslt_reader_next(r, &h);
    if (k <= 0) return k;
    return rfail(r, SSL_EDATA, "a second section (kind '%.64s'): a %s stream is one section",
                 h->kind, what);
}

int sslt_reader_read_all(sslt_reader *r, void **data, const int *only) {
    int n = r->hdr.ntensors, ti, k;
    int64_t row, nrows;
    const void *p;
    size_t *cap;
    if (r->state != ST_SECTION) return rfail(r, SSL_EDATA, "no section to read");
    for (int i = 0; i < n; i++) data[i] = NULL;
    /* Buffers grow as chunks arrive (doubling, up to the declared size), so
     * a header declaring a huge tensor costs only what the stream holds. */
    if (!(cap = calloc(n ? (size_t)n : 1, sizeof *cap))) return rfail(r, SSL_ENOMEM, "out of memory");
    while ((k = sslt_reader_chunk(r, &ti, &row, &nrows, &p)) > 0) {
        if (only && !only[ti]) continue;
        const sslt_tensor *t = &r->hdr.tensors[ti];
        size_t rb = sslt_tensor_row_bytes(t), need = (size_t)(row + nrows) * rb;
        if (rb == 0) continue;        /* a tensor of no bytes: nothing to copy */
        if (need > cap[ti]) {
            size_t full = (size_t)sslt_tensor_bytes(t), nc = cap[ti] ? cap[ti] : 65536;
            while (nc < need) nc *= 2;
            if (nc > full) nc = full;
            void *q = realloc(data[ti], nc);
            if (!q) { k = rfail(r, SSL_ENOMEM, "out of memory"); break; }
            data[ti] = q;
            cap[ti] = nc;
        }
        memcpy((char *)data[ti] + (size_t)row * rb, p, (size_t)nrows * rb);
    }
    if (k == 0)     /* complete and verified: tensors with no bytes get 1 */
        for (int i = 0; i < n; i++)
            if (!data[i] && (!only || only[i]) && !(data[i] = malloc(1))) {
                k = rfail(r, SSL_ENOMEM, "out of memory");
                break;
            }
    free(cap);
    if (k == 0) return 0;
    for (int i = 0; i < n; i++) { free(data[i]); data[i] = NULL; }
    return -1;
}
