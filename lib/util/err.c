/* err.c: the library's one error type (err.h). */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

int ssl_failv(ssl_err *e, ssl_code code, const char *fmt, va_list ap) {
    if (!e) return -1;
    e->code = code;
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return -1;
}

int ssl_fail(ssl_err *e, ssl_code code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ssl_failv(e, code, fmt, ap);
    va_end(ap);
    return -1;
}

void ssl_prefix(ssl_err *e, const char *fmt, ...) {
    if (!e) return;
    char head[SSL_ERRLEN], old[SSL_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t h = strlen(head), o = strnlen(old, sizeof old - 1);
    if (h + o > sizeof e->msg - 1) o = sizeof e->msg - 1 - h;
    memcpy(e->msg, head, h);
    memcpy(e->msg + h, old, o);
    e->msg[h + o] = 0;
}

int ssl_forward(ssl_err *dst, const ssl_err *src) {
    if (dst && src && dst != src) *dst = *src;
    return -1;
}

void ssl_err_clear(ssl_err *e) {
    if (!e) return;
    e->code = SSL_OK;
    e->msg[0] = 0;
}

const char *ssl_code_name(ssl_code c) {
    switch (c) {
    case SSL_OK: return "no error";
    case SSL_EARG: return "bad argument";
    case SSL_EIO: return "I/O error";
    case SSL_EDATA: return "bad data";
    case SSL_ENOMEM: return "out of memory";
    case SSL_ENUM: return "not finite";
    }
    return "unknown error";
}
