/* safetensors.h: the safetensors file format (Hugging Face's, read by
 * PyTorch, JAX and most model hubs): one writer and one checking reader.
 *
 * A file is N, the length of the header in bytes (u64 little-endian),
 * then N bytes of JSON: an object that maps each tensor's name to
 *     {"dtype": "F32", "shape": [64, 3, 3, 3], "data_offsets": [begin, end]}
 * and may hold "__metadata__", an object of string values; then the data
 * section: every tensor's bytes, row-major and little-endian, at
 * [begin, end) counted from the start of the data section. The header may
 * end in spaces (the writer pads it so that the data starts at a multiple
 * of 8 bytes). See man ssl-export(1).
 *
 * The reader trusts nothing in the header: the length is checked against
 * ST_MAX_HEADER (and the file's size) before anything is allocated for it;
 * the JSON must be a strict object; each dtype must be known, each shape
 * a list of non-negative integers whose byte size matches its offsets;
 * the tensors must tile the data section exactly, without gaps or
 * overlaps, and the file must hold exactly that many data bytes. Errors
 * name the file and the tensor: "m.safetensors: tensor 'x': data_offsets
 * [0, 20] hold 20 bytes, F32 [2, 3] needs 24". */
#ifndef SSL_SAFETENSORS_H
#define SSL_SAFETENSORS_H
#include <stdint.h>

#include "util/err.h"
#include "util/value.h"

#define ST_MAX_HEADER 100000000   /* bytes of JSON; the reference reader's limit */
#define ST_MAX_DIMS 16

typedef struct {
    char *name;                   /* owned by the header (writer: the caller's) */
    char dtype[16];               /* "F32", "I64", ... */
    int ndim;                     /* 0: a scalar */
    int64_t shape[ST_MAX_DIMS];
    int64_t begin, end;           /* byte offsets in the data section (reader only) */
} st_tensor;

typedef struct {
    int ntensors;
    st_tensor *tensors;           /* in the header's order */
    sv *meta;                     /* __metadata__, a map of strings; never NULL once read */
    int64_t header_len;           /* N */
    int64_t data_len;             /* bytes of the data section */
} st_header;

/* Bytes per element of a dtype name ("F32": 4, "BF16": 2, "BOOL": 1),
 * 0 for an unknown name. */
int st_dtype_size(const char *dtype);

/* Parse and check the header text json[0..n) into a zeroed *h (without
 * header_len). 0, or -1 with err (no file name in the message). */
int st_parse_header(const char *json, size_t n, st_header *h, ssl_err *err);

/* Read and check the file path ("-": stdin, read once, never seeked):
 * the header into a zeroed *h, then exactly h->data_len bytes of data
 * and nothing after them. data: NULL to count the bytes only, or it gets
 * a malloc'ed copy of the data section (grown as it arrives, so a header
 * alone cannot make it allocate). 0, or -1 with err ("PATH: problem");
 * on error *h is destroyed. */
int st_read(const char *path, st_header *h, void **data, ssl_err *err);
void st_header_destroy(st_header *h);     /* frees and zeroes; NULL is a no-op */

/* Write n tensors (name, dtype, ndim, shape; begin and end are ignored)
 * whose bytes are data[i], in that order, with meta (a map of strings, or
 * NULL) as __metadata__, to path ("-" or NULL: stdout) through
 * util/outfile.h (temporary name, fsync, rename). Names must be unique
 * and not "__metadata__". 0, or -1 with err. */
int st_write(const char *path, const sv *meta, int n, const st_tensor *t,
             const void *const *data, ssl_err *err);
#endif
