/* outfile.h: output files that appear under their name only when complete
 * (STYLE.md item 9; the stream writer and the safetensors writer).
 *
 * A regular file, or a name that does not exist yet, is written under a
 * temporary name in the same directory ("PATH.tmp.XXXXXX", mode 0666 less
 * the umask) and renamed over PATH after fsync by outfile_commit; an
 * existing file that is not regular (a pipe, /dev/null, /dev/full) is
 * written in place; "-" or NULL is stdout (fd 1, never closed). Error
 * messages name the file: "out.sslt: No space left on device". */
#ifndef SSL_OUTFILE_H
#define SSL_OUTFILE_H
#include <stddef.h>

#include "util/err.h"

typedef struct {
    int fd;
    int own_fd;                   /* fd is closed at the end (not stdout's) */
    char *name;                   /* for messages: the path, or "<stdout>" */
    char *path, *tmp;             /* final and temporary names; tmp NULL: written in place */
} ssl_outfile;

/* Open path for writing into *o. 0, or -1 with err ("PATH: strerror"). */
int outfile_open(ssl_outfile *o, const char *path, ssl_err *err);
/* An already open descriptor (not closed at the end), named name. */
int outfile_open_fd(ssl_outfile *o, int fd, const char *name, ssl_err *err);
/* Write all n bytes (retrying short writes and EINTR). 0, or -1 with err. */
int outfile_write(ssl_outfile *o, const void *buf, size_t n, ssl_err *err);
/* fsync (a temporary file), close (an owned fd), rename into place, free.
 * 0, or -1 with err; on failure the temporary file is removed. */
int outfile_commit(ssl_outfile *o, ssl_err *err);
/* Give up: close, remove the temporary file, free. Safe on a zeroed *o. */
void outfile_abort(ssl_outfile *o);
#endif
