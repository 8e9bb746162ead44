/* prep_images.c: PNG/JPEG image folders and archives (tar, tar.gz, zip, any
 * format libarchive reads) in any layout: class-per-subfolder (labelled),
 * Tiny-ImageNet, flat or mixed trees (unlabelled), into a prep_data.
 *
 * Two passes. The first lists the image names (and reads the few small text
 * files Tiny-ImageNet needs), counts the other files, and decides the label
 * of every image; names are sorted, so the output order does not depend on
 * the archive order or on readdir. The second reads the chosen images in
 * batches (about 256 images or 64 MiB of encoded data) and decodes each
 * batch on the library's thread pool, resizing as it goes so that only the
 * final pixels stay in memory; in a directory each thread reads its own
 * files, so reading is spread over the threads too. The root of the tree: the directory, or in
 * an archive the longest directory common to all images (so
 * "root/CLASS/x.png" archives work with or without the top directory); the
 * class of an image is the first path component below the root. */
#include "data/prep.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/image.h"
#include "util/threads.h"

#define BATCH_IMAGES 256
#define BATCH_BYTES (64 << 20)
#define TEXT_LIMIT (64 << 20)
/* The largest encoded image file accepted (a 16384^2 RGB PNG is ~800 MB
 * raw; real ones are far smaller). */
#define IMAGE_FILE_LIMIT ((int64_t)1 << 28)

typedef struct {
    char *name;                   /* relative to the directory, or the member name */
    int label;                    /* -1: unlabelled */
    int bad;                      /* could not be read or decoded (on_error skip) */
    image im;
} item;

typedef struct {
    const char *path;
    int is_dir;
    item *items;
    int64_t n, cap;
    char *wnids_name;             /* Tiny-ImageNet files, when seen */
    uint8_t *wnids, *annot;
    int64_t wnids_n, annot_n;
    char *annot_name;
    int64_t others;               /* files skipped: not named as PNG or JPEG */
    char *other_name;             /* the first of them by name */
    int64_t nbad;                 /* images left out (on_error skip) */
} listing;

/* Hidden files and folders (a component starting with '.', other than "."
 * and ".."), and macOS's __MACOSX/ folders: skipped without a word. */
static int is_hidden(const char *name) {
    for (const char *c = name; *c; ) {
        const char *e = strchr(c, '/');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (c[0] == '.' && !(len == 1 || (len == 2 && c[1] == '.'))) return 1;
        if (len == 8 && !strncmp(c, "__MACOSX", 8)) return 1;
        if (!e) break;
        c = e + 1;
    }
    return 0;
}

static int has_image_ext(const char *name) {
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *dot = strrchr(base, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* A file that is not an image: counted, and the first name kept. */
static int note_other(listing *l, const char *name, ssl_err *err) {
    l->others++;
    if (l->other_name && strcmp(name, l->other_name) >= 0) return 0;
    free(l->other_name);
    if (!(l->other_name = strdup(name)))
        return ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path);
    return 0;
}

static const char *base_name(const char *name) {
    const char *s = strrchr(name, '/');
    return s ? s + 1 : name;
}

static int add_item(listing *l, const char *name) {
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 1024;
        item *ni = realloc(l->items, sizeof(item) * (size_t)nc);
        if (!ni) return -1;
        l->items = ni; l->cap = nc;
    }
    memset(&l->items[l->n], 0, sizeof(item));
    if (!(l->items[l->n].name = strdup(name))) return -1;
    l->items[l->n].label = -1;
    l->n++;
    return 0;
}

/* Read a whole file (at most limit bytes) into *data (malloc'ed), *n
 * bytes; errors without the file's name ("file too large"). */
static int slurp(const char *path, uint8_t **data, int64_t *n, int64_t limit, ssl_err *err) {
    *data = NULL; *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ssl_fail(err, SSL_EIO, "%s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || st.st_size > limit) {
        close(fd);
        return ssl_fail(err, SSL_EDATA, "file too large");
    }
    uint8_t *buf = malloc((size_t)st.st_size + 1);
    if (!buf) { close(fd); return ssl_fail(err, SSL_ENOMEM, "out of memory"); }
    int64_t got = 0;
    while (got < st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)(st.st_size - got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += r;
    }
    close(fd);
    if (got != st.st_size) {
        free(buf);
        return ssl_fail(err, SSL_EDATA, "read error");
    }
    *data = buf; *n = got;
    return 0;
}

static int read_whole_file(const char *path, uint8_t **data, int64_t *n, int64_t limit, ssl_err *err) {
    if (!slurp(path, data, n, limit, err)) return 0;
    ssl_prefix(err, "%s: ", path);
    return -1;
}

/* A file that is not named as an image: counted; the text files
 * Tiny-ImageNet needs are remembered (directory) or read now (archive). */
static int note_text(listing *l, const char *name, struct archive *a, struct archive_entry *e, ssl_err *err) {
    const char *b = base_name(name);
    int is_w = !strcmp(b, "wnids.txt"), is_a = !strcmp(b, "val_annotations.txt");
    if (note_other(l, name, err)) return -1;
    if (!is_w && !is_a) return 0;
    char **nm = is_w ? &l->wnids_name : &l->annot_name;
    if (*nm && strlen(*nm) <= strlen(name)) return 0;   /* keep the shallowest */
    free(*nm);
    if (!(*nm = strdup(name))) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path); return -1; }
    if (!a) return 0;
    uint8_t **buf = is_w ? &l->wnids : &l->annot;
    int64_t *bn = is_w ? &l->wnids_n : &l->annot_n;
    free(*buf);
    return prep_archive_read(a, e, buf, bn, TEXT_LIMIT, l->path, err);
}

static int list_dir(listing *l, const char *rel, int depth, ssl_err *err) {
    char full[4096];
    snprintf(full, sizeof full, "%s%s%s", l->path, *rel ? "/" : "", rel);
    if (depth > 32) { ssl_fail(err, SSL_EIO, "%s: directories nested too deep", full); return -1; }
    DIR *dp = opendir(full);
    if (!dp) { ssl_fail(err, SSL_EIO, "%s: %s", full, strerror(errno)); return -1; }
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(dp))) {
        if (de->d_name[0] == '.' || is_hidden(de->d_name)) continue;
        char sub[4096], subfull[8192];
        if ((size_t)snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name) >= sizeof sub) continue;
        if ((size_t)snprintf(subfull, sizeof subfull, "%s/%s", l->path, sub) >= sizeof subfull) continue;
        int is_dir = de->d_type == DT_DIR, is_reg = de->d_type == DT_REG;
        if (!is_dir && !is_reg) {                     /* a link, or a file system without d_type */
            struct stat st;
            if (stat(subfull, &st)) continue;         /* dangling link */
            is_dir = S_ISDIR(st.st_mode), is_reg = S_ISREG(st.st_mode);
        }
        if (is_dir) rc = list_dir(l, sub, depth + 1, err);
        else if (is_reg) {
            if (has_image_ext(sub)) {
                if (add_item(l, sub)) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path); rc = -1; }
            } else rc = note_text(l, sub, NULL, NULL, err);
        }
    }
    closedir(dp);
    return rc;
}

static int list_archive(listing *l, ssl_err *err) {
    struct archive *a = prep_archive_open(l->path, err);
    if (!a) return -1;
    struct archive_entry *e;
    int r, rc = 0;
    while (!rc && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        const char *name = archive_entry_pathname(e);
        if (!name || archive_entry_filetype(e) != AE_IFREG || is_hidden(name)) continue;
        if (has_image_ext(name)) {
            if (add_item(l, name)) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path); rc = -1; }
        } else rc = note_text(l, name, a, e, err);
    }
    if (!rc && r != ARCHIVE_EOF) {
        const char *why = archive_error_string(a);
        ssl_fail(err, SSL_EDATA, "%s: %s%s%s%s", l->path, l->n || r != ARCHIVE_FATAL
                 ? "corrupt or truncated archive" : "not a dataset: unrecognised format",
                 why ? " (" : "", why ? why : "", why ? ")" : "");
        rc = -1;
    }
    archive_read_free(a);
    return rc;
}

static int cmp_item(const void *a, const void *b) {
    return strcmp(((const item *)a)->name, ((const item *)b)->name);
}
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Split text into lines (in place: buf gets NULs); returns lines, *count. */
static char **split_lines(uint8_t *buf, int64_t n, int *count) {
    int cap = 256, k = 0;
    char **v = malloc(sizeof(char *) * cap);
    if (!v) return NULL;
    int64_t i = 0;
    while (i < n) {
        int64_t j = i;
        while (j < n && buf[j] != '\n') j++;
        int64_t e = j;
        while (e > i && (buf[e - 1] == '\r' || buf[e - 1] == ' ')) e--;
        if (j < n) buf[j] = 0;
        buf[e] = 0;
        if (e > i) {
            if (k == cap) {
                char **nv = realloc(v, sizeof(char *) * (cap *= 2));
                if (!nv) { free(v); return NULL; }
                v = nv;
            }
            v[k++] = (char *)buf + i;
        }
        i = j + 1;
    }
    *count = k;
    return v;
}

static int find_class(char **classes, int n, const char *key) {
    char *const *p = bsearch(&key, classes, (size_t)n, sizeof(char *), cmp_str);
    return p ? (int)(p - classes) : -1;
}

/* Keep only items[i] with keep[i]; frees the rest. */
static void compact(listing *l, const char *keep) {
    int64_t k = 0;
    for (int64_t i = 0; i < l->n; i++) {
        if (keep[i]) l->items[k++] = l->items[i];
        else free(l->items[i].name);
    }
    l->n = k;
}

/* Labels for Tiny-ImageNet (base: directory holding wnids.txt, with '/'). */
static int label_tiny(listing *l, prep_data *d, const char *base, const char *split, ssl_err *err) {
    int nw = 0;
    char **w = split_lines(l->wnids, l->wnids_n, &nw);
    char *keep = calloc((size_t)l->n + 1, 1);
    if (!w || !keep) { free(w); free(keep); ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path); return -1; }
    qsort(w, (size_t)nw, sizeof(char *), cmp_str);
    d->nclasses = nw;
    d->classes = calloc((size_t)nw + 1, sizeof(char *));
    for (int i = 0; d->classes && i < nw; i++) d->classes[i] = strdup(w[i]);
    char **annot = NULL;
    int na = 0, rc = -1;
    size_t bl = strlen(base);
    if (!strcmp(split, "val")) {
        if (!l->annot) {
            ssl_fail(err, SSL_EDATA, "%s: no %sval/val_annotations.txt for the val split", l->path, base);
            goto out;
        }
        if (!(annot = split_lines(l->annot, l->annot_n, &na))) goto oom;
        for (int i = 0; i < na; i++) {               /* "file\twnid\t..." -> "file\0wnid" */
            char *t = strchr(annot[i], '\t');
            if (!t) { ssl_fail(err, SSL_EDATA, "%s: %s: line %d: no tab", l->path, l->annot_name, i + 1); goto out; }
            *t = 0;
            char *t2 = strchr(t + 1, '\t');
            if (t2) *t2 = 0;
        }
        qsort(annot, (size_t)na, sizeof(char *), cmp_str);
    }
    for (int64_t i = 0; i < l->n; i++) {
        item *it = &l->items[i];
        const char *rest = it->name + bl;
        if (strncmp(it->name, base, bl)) continue;
        if (!strcmp(split, "train")) {
            if (strncmp(rest, "train/", 6)) continue;
            const char *cls = rest + 6, *slash = strchr(cls, '/');
            if (!slash) continue;
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)(slash - cls), cls);
            if ((it->label = find_class(w, nw, key)) < 0) {
                ssl_fail(err, SSL_EDATA, "%s: %s: class '%s' is not in wnids.txt", l->path, it->name, key);
                goto out;
            }
        } else {
            if (strncmp(rest, "val/images/", 11)) continue;
            const char *b = base_name(it->name);
            char **p = bsearch(&b, annot, (size_t)na, sizeof(char *), cmp_str);
            if (!p || (it->label = find_class(w, nw, *p + strlen(*p) + 1)) < 0) {
                ssl_fail(err, SSL_EDATA, "%s: %s: %s in val_annotations.txt", l->path, it->name,
                         p ? "unknown wnid" : "no label");
                goto out;
            }
        }
        keep[i] = 1;
    }
    if (!d->classes) goto oom;
    for (int i = 0; i < nw; i++) if (!d->classes[i]) goto oom;
    compact(l, keep);
    snprintf(d->format, sizeof d->format, "tiny-imagenet");
    rc = 0;
    goto out;
oom:
    ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path);
out:
    free(w); free(annot); free(keep);
    return rc;
}

/* The root's length in item names: 0 in a directory; in an archive, the
 * longest directory (up to and with its '/') common to all images. */
static size_t root_len(const listing *l) {
    if (l->is_dir) return 0;
    const char *first = l->items[0].name, *s = strrchr(first, '/');
    size_t pl = s ? (size_t)(s - first) + 1 : 0;
    for (int64_t i = 1; i < l->n && pl > 0; i++) {
        const char *nm = l->items[i].name;
        size_t k = 0;
        while (k < pl && nm[k] == first[k]) k++;
        while (k > 0 && first[k - 1] != '/') k--;
        pl = k;
    }
    return pl;
}

static void notice(const prep_opts *o, prep_notice_fn fn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void notice(const prep_opts *o, prep_notice_fn fn, const char *fmt, ...) {
    if (!fn) return;
    char msg[SSL_ERRLEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(o->notice_ctx, msg);
}

/* Labels from the layout (data/prep.h: prep_images_load): every image in
 * a subfolder of the root gives classes, else no labels. */
static int label_layout(listing *l, prep_data *d, const prep_opts *o, ssl_err *err) {
    size_t pl = root_len(l);
    int64_t flat = 0, first_flat = -1;
    for (int64_t i = 0; i < l->n; i++)
        if (!strchr(l->items[i].name + pl, '/') && flat++ == 0) first_flat = i;
    int folders = o->labels && !strcmp(o->labels, "folders");
    snprintf(d->format, sizeof d->format, "image-folder");
    if (prep_labels_none(o)) return 0;
    if (flat && folders) {
        if (!l->is_dir && flat == l->n && pl > 0) {   /* one folder: it is the one class */
            const char *first = l->items[0].name;
            pl--;
            while (pl > 0 && first[pl - 1] != '/') pl--;
        } else
            return ssl_fail(err, SSL_EDATA, "%s: %s: image is not in a class subfolder", l->path,
                            l->items[first_flat].name);
    } else if (flat) {
        if (flat == l->n)
            notice(o, o->notice, "notice: %s: no class subfolders: the stream will have no labels",
                   l->path);
        else
            notice(o, o->notice, "notice: %s: %s is not in a class subfolder (%lld of %lld images "
                   "are not): the stream will have no labels", l->path, l->items[first_flat].name,
                   (long long)flat, (long long)l->n);
        return 0;
    }
    char **names = malloc(sizeof(char *) * (size_t)l->n);
    if (!names) return ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path);
    int nc = 0;
    for (int64_t i = 0; i < l->n; i++) {    /* items are sorted: classes come in order */
        const char *rest = l->items[i].name + pl, *slash = strchr(rest, '/');
        size_t len = (size_t)(slash - rest);
        if (!nc || strlen(names[nc - 1]) != len || strncmp(names[nc - 1], rest, len)) {
            if (!(names[nc] = strndup(rest, len))) {
                for (int k = 0; k < nc; k++) free(names[k]);
                free(names);
                return ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path);
            }
            nc++;
        }
        l->items[i].label = nc - 1;
    }
    d->classes = names;
    d->nclasses = nc;
    return 0;
}

/* ---- decoding ---- */
typedef struct {
    listing *l;
    const prep_opts *o;
    int64_t idx[BATCH_IMAGES];
    uint8_t *buf[BATCH_IMAGES];
    int64_t len[BATCH_IMAGES];
    ssl_err err[BATCH_IMAGES];
    int n;
    int64_t bytes;
} batch;

/* Decode (and resize) the batch's images; in a directory, each worker
 * reads its own files first, so reading runs in parallel too. */
static void decode_range(void *ctx, int64_t b, int64_t e, int tid) {
    batch *bt = ctx;
    for (int64_t k = b; k < e; k++) {
        item *it = &bt->l->items[bt->idx[k]];
        image *im = &it->im;
        ssl_err *er = &bt->err[k];
        ssl_err_clear(er);
        uint8_t *buf = bt->buf[k];
        int64_t len = bt->len[k];
        if (!buf && bt->l->is_dir) {
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", bt->l->path, it->name);
            if (slurp(full, &buf, &len, IMAGE_FILE_LIMIT, er)) continue;
        }
        int bad = image_decode(im, buf, (size_t)len, bt->o->channels, PREP_MAX_SIDE, er);
        if (buf != bt->buf[k]) free(buf);
        if (bad) continue;
        if (bt->o->height && (im->h != bt->o->height || im->w != bt->o->width)) {
            image r = { im->c, bt->o->height, bt->o->width, NULL };
            r.px = malloc((size_t)r.c * r.h * r.w);
            if (!r.px || image_resize(im->px, im->c, im->h, im->w, r.px, r.h, r.w)) {
                free(r.px);
                ssl_fail(er, SSL_ENOMEM, "out of memory");
                image_free(im);
                continue;
            }
            image_free(im);
            *im = r;
        }
    }
}

/* An image that could not be read or decoded (e: its error, without the
 * file's name): with on_error skip (and not out of memory), a warning and
 * the item is left out; else the load fails. */
static int image_failed(listing *l, const prep_opts *o, item *it, const ssl_err *e, ssl_err *err) {
    const char *sep = l->is_dir ? "/" : ": ";
    if (o->on_error != PREP_ON_ERROR_SKIP || e->code == SSL_ENOMEM)
        return ssl_fail(err, e->code, "%s%s%s: %s", l->path, sep, it->name, e->msg);
    it->bad = 1;
    l->nbad++;
    notice(o, o->warning, "warning: %s%s%s: %s (skipped)", l->path, sep, it->name, e->msg);
    return 0;
}

static int flush_batch(batch *bt, int64_t *done, ssl_err *err) {
    ssl_parallel_for(bt->n, 1, decode_range, bt);
    int rc = 0;
    for (int k = 0; k < bt->n; k++) {
        if (!rc && bt->err[k].code != SSL_OK)
            rc = image_failed(bt->l, bt->o, &bt->l->items[bt->idx[k]], &bt->err[k], err);
        free(bt->buf[k]);
    }
    *done += bt->n;
    bt->n = 0; bt->bytes = 0;
    if (!rc && bt->o->progress) bt->o->progress(bt->o->progress_ctx, "images", *done, bt->l->n);
    return rc;
}

static int add_to_batch(batch *bt, int64_t idx, uint8_t *buf, int64_t len, int64_t *done, ssl_err *err) {
    bt->idx[bt->n] = idx; bt->buf[bt->n] = buf; bt->len[bt->n] = len;
    bt->n++;
    bt->bytes += len;
    if (bt->n == BATCH_IMAGES || bt->bytes >= BATCH_BYTES) return flush_batch(bt, done, err);
    return 0;
}

static int decode_all(listing *l, const prep_opts *o, ssl_err *err) {
    batch *bt = calloc(1, sizeof *bt);
    if (!bt) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", l->path); return -1; }
    bt->l = l; bt->o = o;
    int64_t done = 0;
    int rc = 0;
    if (l->is_dir) {                  /* the workers read the files (decode_range) */
        for (int64_t i = 0; !rc && i < l->n; i++) rc = add_to_batch(bt, i, NULL, 0, &done, err);
    } else {
        struct archive *a = prep_archive_open(l->path, err);
        if (!a) { free(bt); return -1; }
        struct archive_entry *e;
        int r;
        while (!rc && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
            item key = {.name = (char *)archive_entry_pathname(e)};
            if (!key.name || archive_entry_filetype(e) != AE_IFREG) continue;
            item *it = bsearch(&key, l->items, (size_t)l->n, sizeof(item), cmp_item);
            if (!it || it->im.px || it->bad) continue;
            int64_t i = it - l->items;
            int dup = 0;                              /* a name twice in one batch */
            for (int k = 0; k < bt->n; k++) dup |= bt->idx[k] == i;
            if (dup) continue;
            uint8_t *buf;
            int64_t len;
            rc = prep_archive_read(a, e, &buf, &len, IMAGE_FILE_LIMIT, l->path, err);
            if (!rc) rc = add_to_batch(bt, i, buf, len, &done, err);
        }
        if (!rc && r != ARCHIVE_EOF) {
            ssl_fail(err, SSL_EDATA, "%s: corrupt or truncated archive (%s)", l->path,
                     archive_error_string(a) ? archive_error_string(a) : "read error");
            rc = -1;
        }
        archive_read_free(a);
    }
    if (!rc && bt->n) rc = flush_batch(bt, &done, err);
    for (int k = 0; k < bt->n; k++) free(bt->buf[k]);
    free(bt);
    return rc;
}

static void listing_free(listing *l) {
    for (int64_t i = 0; i < l->n; i++) { free(l->items[i].name); image_free(&l->items[i].im); }
    free(l->items);
    free(l->wnids_name); free(l->annot_name); free(l->wnids); free(l->annot);
    free(l->other_name);
}

int prep_images_load(prep_data *d, const char *path, const prep_opts *o, ssl_err *err) {
    prep_opts dflt = {0};
    listing l;
    struct stat st;
    int rc = -1;
    if (!o) o = &dflt;
    const char *split = o->split ? o->split : "train";
    memset(d, 0, sizeof *d);
    memset(&l, 0, sizeof l);
    ssl_err_clear(err);
    l.path = path;
    if (stat(path, &st)) { ssl_fail(err, SSL_EIO, "%s: %s", path, strerror(errno)); return -1; }
    l.is_dir = S_ISDIR(st.st_mode);
    if (l.is_dir ? list_dir(&l, "", 0, err) : list_archive(&l, err)) goto out;
    if (l.n == 0) {
        if (l.others)
            ssl_fail(err, SSL_EDATA, "%s: no PNG or JPEG images found (%lld other file%s, e.g. %s)",
                     path, (long long)l.others, l.others == 1 ? "" : "s", l.other_name);
        else
            ssl_fail(err, SSL_EDATA, "%s: no PNG or JPEG images found", path);
        goto out;
    }
    if (l.others)
        notice(o, o->notice, "notice: %s: %lld file%s not named .png, .jpg or .jpeg skipped (e.g. %s)",
               path, (long long)l.others, l.others == 1 ? "" : "s", l.other_name);
    qsort(l.items, (size_t)l.n, sizeof(item), cmp_item);
    /* Tiny-ImageNet: wnids.txt next to train/ or val/ (unless --labels none). */
    int tiny = 0;
    char base[4096] = "";
    if (l.wnids_name && !prep_labels_none(o)) {
        const char *s = strrchr(l.wnids_name, '/');
        snprintf(base, sizeof base, "%.*s", s ? (int)(s - l.wnids_name) + 1 : 0, l.wnids_name);
        for (int64_t i = 0; i < l.n && !tiny; i++)
            tiny = !strncmp(l.items[i].name, base, strlen(base)) &&
                   (!strncmp(l.items[i].name + strlen(base), "train/", 6) ||
                    !strncmp(l.items[i].name + strlen(base), "val/", 4));
    }
    if (tiny) {
        if (strcmp(split, "train") && strcmp(split, "val")) {
            ssl_fail(err, SSL_EDATA, "%s: Tiny-ImageNet has labelled splits train and val, not '%s'", path, split);
            goto out;
        }
        if (l.is_dir) {               /* read the text files now */
            char full[8192];
            snprintf(full, sizeof full, "%s/%s", path, l.wnids_name);
            if (read_whole_file(full, &l.wnids, &l.wnids_n, TEXT_LIMIT, err)) goto out;
            if (l.annot_name) {
                snprintf(full, sizeof full, "%s/%s", path, l.annot_name);
                if (read_whole_file(full, &l.annot, &l.annot_n, TEXT_LIMIT, err)) goto out;
            }
        }
        if (label_tiny(&l, d, base, split, err)) goto out;
        if (l.n == 0) { ssl_fail(err, SSL_EDATA, "%s: no images in the %s split", path, split); goto out; }
    } else if (label_layout(&l, d, o, err)) goto out;
    if (decode_all(&l, o, err)) goto out;
    if (l.nbad) {                     /* leave out what could not be read */
        char *keep = malloc((size_t)l.n);
        if (!keep) { ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path); goto out; }
        for (int64_t i = 0; i < l.n; i++) keep[i] = !l.items[i].bad;
        int64_t all = l.n;
        compact(&l, keep);
        free(keep);
        if (l.n == 0) {
            ssl_fail(err, SSL_EDATA, "%s: none of the %lld images could be read", path, (long long)all);
            goto out;
        }
        notice(o, o->warning, "warning: %s: %lld of %lld images skipped (could not be read)", path,
               (long long)l.nbad, (long long)all);
    }
    /* Assemble: channels and a common size. */
    int c = o->channels, h = l.items[0].im.h, w = l.items[0].im.w;
    if (!c) {
        c = 1;
        for (int64_t i = 0; i < l.n; i++) if (l.items[i].im.c == 3) c = 3;
    }
    for (int64_t i = 0; i < l.n; i++)
        if (l.items[i].im.h != h || l.items[i].im.w != w) {
            ssl_fail(err, SSL_EDATA, "%s: %s: image is %dx%d but %s is %dx%d (use --size)", path,
                     l.items[i].name, l.items[i].im.w, l.items[i].im.h, l.items[0].name, w, h);
            goto out;
        }
    size_t np = (size_t)h * w, row = (size_t)c * np;
    d->n = l.n; d->c = c; d->h = h; d->w = w;
    d->images = malloc(row * (size_t)l.n);
    d->labels = d->classes ? malloc(sizeof(int32_t) * (size_t)l.n) : NULL;
    if (!d->images || (d->classes && !d->labels)) {
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    for (int64_t i = 0; i < l.n; i++) {
        image *im = &l.items[i].im;
        if (im->c == c) memcpy(d->images + row * i, im->px, row);
        else image_grey_to_rgb(im->px, d->images + row * i, np);
        if (d->labels) d->labels[i] = l.items[i].label;
        image_free(im);
    }
    rc = 0;
out:
    if (rc) prep_data_destroy(d);
    listing_free(&l);
    return rc;
}
