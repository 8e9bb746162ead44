/* sslt_common.c: what the tensor stream reader and writer share: dtypes,
 * tensor sizes and their validation, name lookup, and CRC-32.
 *
 * CRC-32 is the IEEE/zlib one (reflected polynomial 0xEDB88320, initial and
 * final XOR 0xFFFFFFFF), computed slicing-by-8 with tables built once. The
 * value of sslt_crc32(0, buf, n) equals zlib's crc32(0, buf, n) and
 * Python's zlib.crc32(buf), and calls chain: crc32(crc32(0,a),b) = crc32(0,ab). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "stream/sslt.h"
#include "stream/sslt_impl.h"

static const char *const dtype_names[] = {NULL, "u8", "i32", "i64", "f32", "f64"};
static const size_t dtype_sizes[] = {0, 1, 4, 8, 4, 8};

const char *sslt_dtype_name(sslt_dtype t) {
    return t >= SSLT_U8 && t <= SSLT_F64 ? dtype_names[t] : "?";
}

int sslt_dtype_parse(const char *name) {
    for (int t = SSLT_U8; name && t <= SSLT_F64; t++)
        if (!strcmp(name, dtype_names[t])) return t;
    return -1;
}

size_t sslt_dtype_size(sslt_dtype t) {
    return t >= SSLT_U8 && t <= SSLT_F64 ? dtype_sizes[t] : 0;
}

int64_t sslt_tensor_rows(const sslt_tensor *t) { return t->ndim ? t->shape[0] : 1; }

size_t sslt_tensor_row_bytes(const sslt_tensor *t) {
    size_t b = sslt_dtype_size(t->dtype);
    for (int i = 1; i < t->ndim; i++) b *= (size_t)t->shape[i];
    return b;
}

int64_t sslt_tensor_bytes(const sslt_tensor *t) {
    return sslt_tensor_rows(t) * (int64_t)sslt_tensor_row_bytes(t);
}

/* 0 if t is a valid tensor description (dtype, 0 <= ndim <= 8, dims >= 0,
 * total bytes <= SSLT_MAX_TENSOR_BYTES without overflow); else -1 and why. */
int sslt_check_tensor(const sslt_tensor *t, ssl_err *why) {
    if (!t->name || !*t->name) return ssl_fail(why, SSL_EDATA, "tensor without a name");
    if (t->dtype < SSLT_U8 || t->dtype > SSLT_F64) {
        ssl_fail(why, SSL_EDATA, "tensor %s: bad dtype", t->name);
        return -1;
    }
    if (t->ndim < 0 || t->ndim > SSLT_MAX_DIMS) {
        ssl_fail(why, SSL_EDATA, "tensor %s: %d dimensions (at most %d)", t->name, t->ndim,
                 SSLT_MAX_DIMS);
        return -1;
    }
    /* Multiply, refusing as soon as the limit would be passed (no overflow). */
    int64_t total = (int64_t)sslt_dtype_size(t->dtype), zero = 0;
    for (int i = 0; i < t->ndim; i++) {
        int64_t d = t->shape[i];
        if (d < 0) {
            ssl_fail(why, SSL_EDATA, "tensor %s: negative dimension %lld", t->name, (long long)d);
            return -1;
        }
        if (d == 0) zero = 1;
        else if (!zero && total > SSLT_MAX_TENSOR_BYTES / d) {
            ssl_fail(why, SSL_EDATA, "tensor %s: declared size exceeds %lld bytes", t->name,
                     (long long)SSLT_MAX_TENSOR_BYTES);
            return -1;
        }
        else if (!zero) total *= d;
    }
    /* A zero dimension makes the total 0, but the row size must still be sane. */
    if (zero) {
        int64_t rb = (int64_t)sslt_dtype_size(t->dtype);
        for (int i = 1; i < t->ndim; i++) {
            int64_t d = t->shape[i];
            if (d && rb > SSLT_MAX_TENSOR_BYTES / d) {
                ssl_fail(why, SSL_EDATA, "tensor %s: declared row size exceeds %lld bytes",
                         t->name, (long long)SSLT_MAX_TENSOR_BYTES);
                return -1;
            }
            rb *= d;
        }
    }
    return 0;
}

int sslt_find(const sslt_header *h, const char *name) {
    for (int i = 0; h && name && i < h->ntensors; i++)
        if (!strcmp(h->tensors[i].name, name)) return i;
    return -1;
}

/* ---- CRC-32, slicing-by-8 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t sslt_crc32(uint32_t crc, const void *data, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = data;
    uint32_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) { c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8); n--; }
    while (n >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= c;          /* little-endian host (x86-64, the only target) */
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
            crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
            crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

/* ---- CRC-32 of a concatenation ----
 * crc(A B) = crc(A) x^(8 len(B)) + crc(B) over GF(2) modulo the CRC
 * polynomial, in the reflected bit order of the table above (bit 31 is
 * x^0). x^(8 len) is built from the squares x^(2^k). */

static uint32_t multmodp(uint32_t a, uint32_t b) {
    uint32_t m = (uint32_t)1 << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) break;
        }
        m >>= 1;
        b = b & 1 ? (b >> 1) ^ 0xEDB88320u : b >> 1;
    }
    return p;
}

uint32_t sslt_crc32_combine(uint32_t crc1, uint32_t crc2, uint64_t len2) {
    uint32_t base = (uint32_t)1 << 30;   /* x^1 */
    for (int i = 0; i < 3; i++) base = multmodp(base, base);   /* x^8 */
    uint32_t xn = (uint32_t)1 << 31;     /* x^0; becomes x^(8 len2) */
    for (uint64_t n = len2; n; n >>= 1) {
        if (n & 1) xn = multmodp(base, xn);
        base = multmodp(base, base);
    }
    return multmodp(xn, crc1) ^ crc2;
}
