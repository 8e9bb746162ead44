/* outfile.c: output files written under a temporary name, fsync'ed and
 * renamed into place (outfile.h), as redis's rdbSave does. */
#include "util/outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int outfile_open_fd(ssl_outfile *o, int fd, const char *name, ssl_err *err) {
    memset(o, 0, sizeof *o);
    o->fd = fd;
    if (!(o->name = strdup(name ? name : "<stdout>")))
        return ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name ? name : "<stdout>");
    return 0;
}

int outfile_open(ssl_outfile *o, const char *path, ssl_err *err) {
    if (!path || !strcmp(path, "-")) return outfile_open_fd(o, 1, "<stdout>", err);
    memset(o, 0, sizeof *o);
    o->fd = -1;
    struct stat st;
    size_t n = strlen(path);
    if (!(o->name = strdup(path)) || !(o->path = strdup(path))) goto nomem;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        o->fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    } else {
        if (!(o->tmp = malloc(n + 12))) goto nomem;
        memcpy(o->tmp, path, n);
        memcpy(o->tmp + n, ".tmp.XXXXXX", 12);
        o->fd = mkstemp(o->tmp);
        if (o->fd >= 0) {
            mode_t um = umask(0);
            umask(um);
            fchmod(o->fd, 0666 & ~um);
        } else {
            free(o->tmp);
            o->tmp = NULL;
        }
    }
    if (o->fd < 0) {
        ssl_fail(err, SSL_EIO, "%s: %s", path, strerror(errno));
        outfile_abort(o);
        return -1;
    }
    o->own_fd = 1;
    return 0;
nomem:
    outfile_abort(o);
    return ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path);
}

int outfile_write(ssl_outfile *o, const void *buf, size_t n, ssl_err *err) {
    const char *p = buf;
    while (n) {
        ssize_t k = write(o->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return ssl_fail(err, SSL_EIO, "%s: %s", o->name, strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int outfile_commit(ssl_outfile *o, ssl_err *err) {
    int rc = 0;
    if (o->tmp && fsync(o->fd)) rc = ssl_fail(err, SSL_EIO, "%s: %s", o->name, strerror(errno));
    if (o->own_fd && close(o->fd) && !rc) rc = ssl_fail(err, SSL_EIO, "%s: %s", o->name, strerror(errno));
    o->own_fd = 0;
    if (!rc && o->tmp) {
        if (rename(o->tmp, o->path)) rc = ssl_fail(err, SSL_EIO, "%s: %s", o->name, strerror(errno));
        else { free(o->tmp); o->tmp = NULL; }
    }
    outfile_abort(o);
    return rc;
}

void outfile_abort(ssl_outfile *o) {
    if (o->own_fd && o->fd >= 0) close(o->fd);
    if (o->tmp) unlink(o->tmp);
    free(o->tmp);
    free(o->path);
    free(o->name);
    memset(o, 0, sizeof *o);
    o->fd = -1;
}
