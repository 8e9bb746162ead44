/* err.h: the library's one error type.
 *
 * Every function of lib/ that can fail returns -1 (or NULL) and fills an
 * ssl_err the caller passed (or, for an object that lives across calls,
 * such as a stream reader, one it keeps: X_error(obj) returns it). The
 * message is one line that names the file (and record, tensor, flag...)
 * and the problem, ready to be printed after "prog: "; the code says what
 * kind of failure it was, so a tool can choose its exit status without
 * reading the text. lib/ never prints or exits (STYLE.md).
 *
 *   ssl_err e;
 *   if (dataset_load(&d, path, &e)) die("%s", e.msg);
 *
 * Inside the library:
 *   return ssl_fail(err, SSL_EDATA, "%s: truncated", path);   (returns -1)
 *   ssl_prefix(err, "%s: ", name);   (context added on the way up)
 * err may be NULL: the failure is then reported by the return value only. */
#ifndef SSL_ERR_H
#define SSL_ERR_H
#include <stdarg.h>

#define SSL_ERRLEN 512

typedef enum {
    SSL_OK = 0,
    SSL_EARG,                     /* a bad argument or setting: the caller's mistake */
    SSL_EIO,                      /* a file could not be opened, read or written */
    SSL_EDATA,                    /* input corrupt, truncated, of the wrong kind, absurd, or
                                   * not what a checkpoint was built from */
    SSL_ENOMEM,                   /* out of memory */
    SSL_ENUM,                     /* a non-finite loss, gradient or feature */
} ssl_code;

typedef struct {
    ssl_code code;
    char msg[SSL_ERRLEN];         /* one line, NUL-terminated; "" when code is SSL_OK */
} ssl_err;

/* Fill *e (when e is not NULL) and return -1. Messages longer than
 * SSL_ERRLEN - 1 bytes are cut. */
int ssl_fail(ssl_err *e, ssl_code code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ssl_failv(ssl_err *e, ssl_code code, const char *fmt, va_list ap);
/* Prepend context ("train.sslt: ") to e's message; keeps the code. */
void ssl_prefix(ssl_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copy src into *dst (when dst is not NULL) and return -1: passes on the
 * error an object keeps (sslt_reader_error(r)). */
int ssl_forward(ssl_err *dst, const ssl_err *src);
/* e = {SSL_OK, ""}. */
void ssl_err_clear(ssl_err *e);
/* "bad argument", "I/O error", ... for a code. */
const char *ssl_code_name(ssl_code c);
#endif
