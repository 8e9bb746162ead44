/* sslt_impl.h: what the stream reader and writer share (sslt_common.c),
 * private to lib/stream/. The record layout is in man/ssl-tensor(5). */
#ifndef SSL_SSLT_IMPL_H
#define SSL_SSLT_IMPL_H
#include "stream/sslt.h"

/* 0 if t's name, dtype and shape are acceptable (at most SSLT_MAX_DIMS
 * dimensions, none negative, total bytes <= SSLT_MAX_TENSOR_BYTES without
 * overflow); else -1 with why. */
int sslt_check_tensor(const sslt_tensor *t, ssl_err *why);
#endif
