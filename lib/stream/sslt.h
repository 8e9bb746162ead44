/* sslt.h: tensor streams, the one file format of ssl-tools (man ssl-tensor(5)).
 *
 * A stream is a sequence of records; each record is one zstd frame whose
 * content is one msgpack map. Records form sections:
 *     header  (kind, typed metadata, the list of tensors: name, dtype, shape)
 *     chunk*  (rows [row, row+n) of one tensor, raw little-endian bytes)
 *     end     (per-tensor row counts and CRC-32 of the bytes: truncation and
 *              damage are detected, not silently accepted)
 * A stream holds one or more sections, so `cat a b` of two streams is a
 * stream. Large tensors are chunked along their first axis (rows), so a
 * dataset streams through in bounded memory. Chunks of one tensor come in
 * row order; chunks of different tensors may interleave (a dataset writes
 * images and labels of the same rows in turn).
 *
 * Kinds in use: "dataset" (images u8 [N,C,H,W], labels i32 [N]),
 * "features" (features f32 [N,F], labels i32 [N]), "checkpoint" (named
 * parameters, optimizer state, bank f32 [N,d]), "classifier".
 *
 * Errors: functions return -1 (or NULL) and the object's error string names
 * the file, the record number and what was wrong, e.g.
 *     "train.sslt: record 12: truncated (stream ends inside a zstd frame)".
 * The library never prints or exits. */
#ifndef SSL_SSLT_H
#define SSL_SSLT_H
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/value.h"

#define SSLT_MAGIC "sslt"
#define SSLT_VERSION 1
#define SSLT_MAX_DIMS 8
#define SSLT_MAX_TENSORS 65536
/* Writers split tensors into chunks of about this many bytes. */
#define SSLT_CHUNK_BYTES (4u << 20)
/* Readers refuse records (zstd frame content) larger than this. */
#define SSLT_MAX_RECORD_BYTES (256u << 20)
/* The largest zstd window (2^SSLT_WINDOW_LOG bytes, 8 MiB) a record may
 * need. zstd levels up to 19 never use more (levels 17-19 use 8 MiB on
 * inputs over 4 MiB, lower levels 4 MiB or less, and a single-segment
 * frame's window is its content size, which is within the level's window);
 * the writer caps levels 20-22 (which would take up to 128 MiB) at this;
 * readers refuse a frame that asks for more before anything is allocated
 * for it (zstd's own default would accept 128 MiB). */
#define SSLT_WINDOW_LOG 23
/* Readers refuse tensors whose declared size exceeds this. */
#define SSLT_MAX_TENSOR_BYTES ((int64_t)1 << 40)

/* SSLT_BF16: bfloat16, the high 16 bits of an IEEE 754 binary32 (the
 * memory bank's --bank-dtype bf16), stored as a little-endian uint16. */
typedef enum { SSLT_U8 = 1, SSLT_I32, SSLT_I64, SSLT_F32, SSLT_F64, SSLT_BF16 } sslt_dtype;

const char *sslt_dtype_name(sslt_dtype t);       /* "u8", "i32", "i64", "f32", "f64", "bf16" */
int sslt_dtype_parse(const char *name);          /* dtype or -1 */
size_t sslt_dtype_size(sslt_dtype t);

typedef struct {
    char *name;                   /* owned by the header */
    sslt_dtype dtype;
    int ndim;                     /* 0 for a scalar: one row of one element */
    int64_t shape[SSLT_MAX_DIMS];
} sslt_tensor;

int64_t sslt_tensor_rows(const sslt_tensor *t);  /* shape[0], 1 for a scalar */
size_t sslt_tensor_row_bytes(const sslt_tensor *t);
int64_t sslt_tensor_bytes(const sslt_tensor *t);

typedef struct {
    char *kind;
    sv *meta;                     /* a map, never NULL */
    int ntensors;
    sslt_tensor *tensors;
} sslt_header;

/* Index of the tensor named `name`, or -1. */
int sslt_find(const sslt_header *h, const char *name);

/* ---- writing ---- */
typedef struct sslt_writer sslt_writer;

/* Open for writing. path "-" or NULL is stdout. A regular file is written
 * to a temporary name in the same directory and renamed over `path` by
 * sslt_writer_close after fsync; anything else (a pipe, /dev/full) is
 * written directly. level: zstd level (0 = the default, 3). On failure
 * returns NULL with err filled. */
sslt_writer *sslt_writer_open(const char *path, int level, ssl_err *err);
sslt_writer *sslt_writer_open_fd(int fd, const char *name, int level, ssl_err *err);

/* Start a section. meta may be NULL (an empty map is written); it is
 * copied. Tensors are copied. */
int sslt_writer_begin(sslt_writer *w, const char *kind, const sv *meta,
                      int ntensors, const sslt_tensor *tensors);
/* Append nrows rows of tensor ti (rows follow those already written). The
 * data is split into chunk records as needed. */
int sslt_writer_rows(sslt_writer *w, int ti, const void *data, int64_t nrows);
/* Close the section: every tensor must be complete. */
int sslt_writer_end(sslt_writer *w);
/* Flush, and for a regular file fsync and rename into place. Frees w.
 * Returns 0, or -1 with err filled (the temporary file is removed). */
int sslt_writer_close(sslt_writer *w, ssl_err *err);
/* Give up: remove the temporary file, free w. NULL is a no-op. */
void sslt_writer_abort(sslt_writer *w);
const ssl_err *sslt_writer_error(const sslt_writer *w);  /* never NULL */
const char *sslt_writer_name(const sslt_writer *w);      /* for messages */

/* Convenience: write one whole section whose tensors are all in memory. */
int sslt_write_section(sslt_writer *w, const char *kind, const sv *meta,
                       int ntensors, const sslt_tensor *tensors, const void *const *data);

/* ---- reading ---- */
typedef struct sslt_reader sslt_reader;

/* path "-" or NULL is stdin. */
sslt_reader *sslt_reader_open(const char *path, ssl_err *err);
sslt_reader *sslt_reader_open_fd(int fd, const char *name, ssl_err *err);
void sslt_reader_close(sslt_reader *r);          /* NULL is a no-op */
const ssl_err *sslt_reader_error(const sslt_reader *r);  /* never NULL */
const char *sslt_reader_name(const sslt_reader *r);

/* Next section: 1 and *h set (valid until the next call to sslt_reader_next
 * or close), 0 at a clean end of stream, -1 on error. Unread chunks of the
 * current section are read and verified first. An empty input is an error
 * ("empty stream") on the first call. */
int sslt_reader_next(sslt_reader *r, const sslt_header **h);
/* Next chunk of the current section: 1 with *ti, *row, *nrows, *data set
 * (data valid until the next call), 0 when the section's end record has
 * been read and verified, -1 on error. */
int sslt_reader_chunk(sslt_reader *r, int *ti, int64_t *row, int64_t *nrows, const void **data);
/* Skip tensors of the current section that the caller does not need:
 * from now on, chunks of every tensor i with skip[i] != 0 (an array of
 * the header's ntensors) are not returned by sslt_reader_chunk, and their
 * data is neither decompressed nor checksummed: only each record's fields
 * and the frame's structure are read (the fields are checked as usual:
 * tensor, row order, rows, data size), and the end record's CRC-32 of
 * such a tensor is not compared. Other tensors are verified in full. A
 * later call replaces the set. 0, or -1 (not inside a section, out of
 * memory) with the reader's error. */
int sslt_reader_skip(sslt_reader *r, const int *skip);
/* For the readers of kinds that are one section (a dataset, features, a
 * checkpoint): after the section's end record, check that the stream ends
 * there. 0 at a clean end; -1 with the reader's error when another section
 * follows ("NAME: record N: a second section (kind 'K'): a WHAT stream is
 * one section") or what follows is damaged. */
int sslt_reader_expect_end(sslt_reader *r, const char *what);
/* Read the rest of the current section into memory: data[i] gets a
 * malloc'ed buffer of tensor i's full size (caller frees each). If only is
 * not NULL, only tensors with only[i] != 0 are kept (others NULL). */
int sslt_reader_read_all(sslt_reader *r, void **data, const int *only);

/* ---- inspection and tuning (ssl-info, tests) ---- */
/* Counters of a reader so far: records read, compressed bytes consumed
 * (whole zstd frames), decompressed record bytes. Any pointer may be NULL. */
void sslt_reader_stats(const sslt_reader *r, int64_t *records, int64_t *compressed,
                       int64_t *uncompressed);
/* Number (1-based) of the last record read; 0 before the first. */
int64_t sslt_reader_record(const sslt_reader *r);
/* Split chunks at about `bytes` instead of SSLT_CHUNK_BYTES (at least one
 * row per chunk); 0 restores the default. Call before writing rows. */
void sslt_writer_set_chunk_bytes(sslt_writer *w, size_t bytes);
/* Records written so far. */
int64_t sslt_writer_records(const sslt_writer *w);

/* ---- helpers ---- */
uint32_t sslt_crc32(uint32_t crc, const void *data, size_t n);
/* The CRC-32 of A followed by B from crc1 = CRC-32 of A, crc2 = CRC-32 of
 * B and B's length: sslt_crc32(sslt_crc32(0, a), b) without reading a or
 * b again (zlib's crc32_combine). */
uint32_t sslt_crc32_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);
#endif
