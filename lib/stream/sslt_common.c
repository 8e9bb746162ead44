/* sslt_common.c: what the tensor stream reader and writer share: dtypes,
 * tensor sizes and their validation, name lookup, and CRC-32.
 *
 * CRC-32 is the IEEE/zlib one (reflected polynomial 0xEDB88320, initial and
 * final XOR 0xFFFFFFFF), computed by carry-less multiplication where the
 * CPU has PCLMULQDQ (about 4x faster here) and slicing-by-8 with tables
 * built once for the rest; sslt_crc32_combine joins two CRCs. The
 * value of sslt_crc32(0, buf, n) equals zlib's crc32(0, buf, n) and
 * Python's zlib.crc32(buf), and calls chain: crc32(crc32(0,a),b) = crc32(0,ab). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "stream/sslt.h"
#include "stream/sslt_impl.h"

static const char *const dtype_names[] = {NULL, "u8", "i32", "i64", "f32", "f64", "bf16"};
static const size_t dtype_sizes[] = {0, 1, 4, 8, 4, 8, 2};

const char *sslt_dtype_name(sslt_dtype t) {
    return t >= SSLT_U8 && t <= SSLT_BF16 ? dtype_names[t] : "?";
}

int sslt_dtype_parse(const char *name) {
    for (int t = SSLT_U8; name && t <= SSLT_BF16; t++)
        if (!strcmp(name, dtype_names[t])) return t;
    return -1;
}

size_t sslt_dtype_size(sslt_dtype t) {
    return t >= SSLT_U8 && t <= SSLT_BF16 ? dtype_sizes[t] : 0;
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
    if (t->dtype < SSLT_U8 || t->dtype > SSLT_BF16) {
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

/* ---- CRC-32 by carry-less multiplication (PCLMULQDQ) ----
 * Folding 64 bytes at a time, then Barrett reduction, as in Intel's
 * "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ" (Gopal et
 * al., 2009) for the reflected polynomial; the constants are x^k mod P for
 * the fold distances (k1 k2: 4x128 + 32 and + 64 bits back, k3 k4: 128,
 * k5: 64) and P', mu for the reduction, as Chromium's zlib uses them. c is
 * the running (inverted) CRC; n >= 64, a multiple of 16. About ten times
 * the table's speed; the table version below does the rest and other CPUs. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_CLMUL 1

__attribute__((target("pclmul,sse4.1")))
static uint32_t crc_clmul(uint32_t c, const unsigned char *buf, size_t len) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x0163cd6124);
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);
    const __m128i mask = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i x1, x2, x3, x4, x5, x6, x7, x8;
    x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
    x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
    x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
    x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)c));
    buf += 64;
    len -= 64;
    for (; len >= 64; buf += 64, len -= 64) {     /* fold 4 x 128 bits */
        x5 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
        x6 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
        x7 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
        x8 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(buf + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(buf + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(buf + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(buf + 0x30)));
    }
    /* into 128 bits */
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x2), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x3), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x1, k3k4, 0x11), x4), x5);
    for (; len >= 16; buf += 16, len -= 16) {     /* fold 128 bits */
        x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, _mm_loadu_si128((const __m128i *)buf)), x5);
    }
    /* 128 to 64 bits */
    x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, mask);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k5k0, 0x00), x2);
    /* Barrett reduction to 32 bits */
    x2 = _mm_and_si128(x1, mask);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
    x2 = _mm_and_si128(x2, mask);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

static int have_clmul;
#endif

/* ---- CRC-32, slicing-by-8 ---- */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
#ifdef HAVE_CLMUL
    __builtin_cpu_init();
    have_clmul = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#endif
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
#ifdef HAVE_CLMUL
    if (have_clmul && n >= 64) {
        size_t m = n & ~(size_t)15;
        c = crc_clmul(c, p, m);
        p += m;
        n -= m;
    }
#endif
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
