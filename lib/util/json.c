/* json.c: JSON text into a value tree (value.h: sv_from_json), strict
 * RFC 8259: one value, whitespace around it only; strings valid UTF-8
 * without raw control characters, escapes \uXXXX with surrogate pairs
 * combined (a lone surrogate is refused); numbers in JSON's grammar, an
 * integer without fraction or exponent that fits int64 as SV_INT and
 * every other number as SV_FLOAT; nesting at most 32 deep; a map key at
 * most once and never containing NUL. Errors name the byte offset:
 * "byte 17: expected ':' after a key". */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/value.h"

#define JSON_MAX_DEPTH 32

typedef struct {
    const unsigned char *s;
    size_t n, i;
    ssl_err *err;
} jp;

static sv *jfail(jp *p, const char *what) {
    ssl_fail(p->err, SSL_EDATA, "byte %zu: %s", p->i, what);
    return NULL;
}

static void skip_ws(jp *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int lit(jp *p, const char *w) {
    size_t k = strlen(w);
    if (p->n - p->i < k || memcmp(p->s + p->i, w, k)) return 0;
    p->i += k;
    return 1;
}

static int hex4(jp *p, unsigned *out) {
    unsigned v = 0;
    if (p->n - p->i < 4) return -1;
    for (int k = 0; k < 4; k++) {
        int c = p->s[p->i + k], d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + (unsigned)d;
    }
    p->i += 4;
    *out = v;
    return 0;
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (!k || k > n) return 0;
    unsigned cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[j] & 0x3F);
    }
    static const unsigned min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return k;
}

/* A string at p->i (the opening quote): a malloc'ed copy, NUL-terminated,
 * its length in *len. */
static char *parse_str(jp *p, size_t *len) {
    p->i++;
    size_t cap = 16, o = 0;
    char *b = malloc(cap);
    if (!b) { ssl_fail(p->err, SSL_ENOMEM, "out of memory"); return NULL; }
    for (;;) {
        if (p->i >= p->n) { jfail(p, "unterminated string"); goto bad; }
        unsigned char c = p->s[p->i];
        char tmp[4];
        size_t k;
        if (c == '"') { p->i++; break; }
        if (c < 0x20) { jfail(p, "control character in a string"); goto bad; }
        if (c == '\\') {
            if (p->i + 1 >= p->n) { jfail(p, "unterminated string"); goto bad; }
            char e = (char)p->s[p->i + 1];
            const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
            const char *q = e ? strchr(from, e) : NULL;
            if (q) { tmp[0] = to[q - from]; k = 1; p->i += 2; }
            else if (e == 'u') {
                unsigned u, lo;
                p->i += 2;
                if (hex4(p, &u)) { jfail(p, "bad \\u escape"); goto bad; }
                if (u >= 0xDC00 && u <= 0xDFFF) { jfail(p, "lone surrogate in a \\u escape"); goto bad; }
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (!lit(p, "\\u") || hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        jfail(p, "lone surrogate in a \\u escape");
                        goto bad;
                    }
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (u < 0x80) { tmp[0] = (char)u; k = 1; }
                else if (u < 0x800) { tmp[0] = (char)(0xC0 | u >> 6); tmp[1] = (char)(0x80 | (u & 0x3F)); k = 2; }
                else if (u < 0x10000) {
                    tmp[0] = (char)(0xE0 | u >> 12); tmp[1] = (char)(0x80 | (u >> 6 & 0x3F));
                    tmp[2] = (char)(0x80 | (u & 0x3F)); k = 3;
                } else {
                    tmp[0] = (char)(0xF0 | u >> 18); tmp[1] = (char)(0x80 | (u >> 12 & 0x3F));
                    tmp[2] = (char)(0x80 | (u >> 6 & 0x3F)); tmp[3] = (char)(0x80 | (u & 0x3F)); k = 4;
                }
            } else { jfail(p, "bad escape in a string"); goto bad; }
        } else {
            if (!(k = utf8_len(p->s + p->i, p->n - p->i))) { jfail(p, "invalid UTF-8 in a string"); goto bad; }
            memcpy(tmp, p->s + p->i, k);
            p->i += k;
        }
        if (o + k + 1 > cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { ssl_fail(p->err, SSL_ENOMEM, "out of memory"); goto bad; }
            b = nb;
        }
        memcpy(b + o, tmp, k);
        o += k;
    }
    b[o] = 0;
    *len = o;
    return b;
bad:
    free(b);
    return NULL;
}

static sv *parse_num(jp *p) {
    size_t st = p->i;
    int isint = 1;
    if (p->i < p->n && p->s[p->i] == '-') p->i++;
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return jfail(p, "not a JSON value");
    if (p->s[p->i] == '0') p->i++;
    else while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    if (p->i < p->n && p->s[p->i] == '.') {
        isint = 0;
        p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return jfail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        isint = 0;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
        if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') return jfail(p, "bad number");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') p->i++;
    }
    char buf[64];
    size_t len = p->i - st;
    if (len >= sizeof buf) isint = 0;
    if (len >= 400) return jfail(p, "number too long");
    char *t = len < sizeof buf ? buf : malloc(len + 1);
    if (!t) { ssl_fail(p->err, SSL_ENOMEM, "out of memory"); return NULL; }
    memcpy(t, p->s + st, len);
    t[len] = 0;
    sv *v = NULL;
    if (isint) {
        errno = 0;
        long long x = strtoll(t, NULL, 10);
        if (errno != ERANGE) v = sv_int(x);
        else isint = 0;
    }
    if (!isint) v = sv_float(strtod(t, NULL));
    if (t != buf) free(t);
    if (!v) ssl_fail(p->err, SSL_ENOMEM, "out of memory");
    return v;
}

static sv *parse_value(jp *p, int depth) {
    skip_ws(p);
    if (p->i >= p->n) return jfail(p, "unexpected end of text");
    unsigned char c = p->s[p->i];
    if (c == '{' || c == '[') {
        int map = c == '{';
        if (depth >= JSON_MAX_DEPTH) return jfail(p, "nested more than 32 deep");
        sv *v = map ? sv_map() : sv_array();
        if (!v) { ssl_fail(p->err, SSL_ENOMEM, "out of memory"); return NULL; }
        p->i++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == (map ? '}' : ']')) { p->i++; return v; }
        for (;;) {
            char *key = NULL;
            size_t klen;
            if (map) {
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != '"') { sv_free(v); return jfail(p, "expected a string key"); }
                size_t at = p->i;
                if (!(key = parse_str(p, &klen))) { sv_free(v); return NULL; }
                if (strlen(key) != klen || sv_get(v, key)) {
                    p->i = at;
                    jfail(p, strlen(key) != klen ? "NUL in a key" : "duplicate key");
                    free(key);
                    sv_free(v);
                    return NULL;
                }
                skip_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':') {
                    free(key);
                    sv_free(v);
                    return jfail(p, "expected ':' after a key");
                }
                p->i++;
            }
            sv *item = parse_value(p, depth + 1);
            int bad = !item || (map ? sv_set(v, key, item) : sv_push(v, item));
            if (item && bad) ssl_fail(p->err, SSL_ENOMEM, "out of memory");
            free(key);
            if (bad) { sv_free(v); return NULL; }
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
            if (p->i < p->n && p->s[p->i] == (map ? '}' : ']')) { p->i++; return v; }
            sv_free(v);
            return jfail(p, map ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') {
        size_t len;
        char *s = parse_str(p, &len);
        if (!s) return NULL;
        sv *v = sv_strn(s, len);
        free(s);
        if (!v) ssl_fail(p->err, SSL_ENOMEM, "out of memory");
        return v;
    }
    int t = lit(p, "true") ? 1 : lit(p, "false") ? 0 : lit(p, "null") ? 2 : -1;
    if (t < 0) return parse_num(p);
    sv *v = t == 2 ? sv_nil() : sv_bool(t);
    if (!v) ssl_fail(p->err, SSL_ENOMEM, "out of memory");
    return v;
}

sv *sv_from_json(const char *text, size_t n, ssl_err *err) {
    jp p = {(const unsigned char *)text, n, 0, err};
    sv *v = parse_value(&p, 0);
    if (!v) return NULL;
    skip_ws(&p);
    if (p.i != n) {
        sv_free(v);
        return jfail(&p, "text after the JSON value");
    }
    return v;
}
