/* sslt_internal.h: extra entry points of the tensor stream code (sslt.h)
 * used by ssl-info and the tests, kept out of the lead's sslt.h.
 *
 * The record layout is in man/ssl-tensor(5). These functions follow the
 * conventions of sslt.h: no printing, -1 with the object's error string. */
#ifndef SSL_SSLT_INTERNAL_H
#define SSL_SSLT_INTERNAL_H
#include <stdint.h>

#include "stream/sslt.h"

/* Counters of a reader so far: records read, compressed bytes consumed
 * (whole zstd frames), decompressed record bytes. Any pointer may be NULL. */
void sslt_reader_stats(const sslt_reader *r, int64_t *records, int64_t *compressed,
                       int64_t *uncompressed);
/* Number (1-based) of the last record read; 0 before the first. */
int64_t sslt_reader_record(const sslt_reader *r);

/* Test hook: split chunks at about `bytes` instead of SSLT_CHUNK_BYTES
 * (at least one row per chunk). 0 restores the default. */
void sslt_writer_set_chunk_bytes(sslt_writer *w, size_t bytes);
/* Records written so far. */
int64_t sslt_writer_records(const sslt_writer *w);

/* Shared by the reader and the writer (sslt_common.c). */
int sslt_check_tensor(const sslt_tensor *t, char *why, size_t whylen);
#endif
