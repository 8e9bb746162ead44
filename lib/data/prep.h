/* prep.h: reading datasets as distributed into one in-memory split (ssl-prep).
 *
 * Sources: MNIST / Fashion-MNIST IDX files (plain or compressed, read through
 * libarchive), CIFAR-10 / CIFAR-100 binary tarballs (read from the archive,
 * never extracted), and PNG/JPEG image folders or archives (tar, tar.gz,
 * zip) in any layout: class-per-subfolder (labelled), Tiny-ImageNet's, or
 * flat and mixed trees (unlabelled). Every loader fills a prep_data: images
 * u8 [n, c, h, w] (planar channels), labels i32 [n] and class names, or no
 * labels (labels NULL, nclasses 0). The generic steps (channel conversion
 * and resizing, subsets, pixel statistics) work on a prep_data and are
 * independent of the stream writer, which the tool calls afterwards.
 *
 * Errors: functions return 0, or -1 with err filled as "FILE: what is
 * wrong" (FILE is the input path, followed by the archive member when there
 * is one), ready to be printed after "ssl-prep: ". Nothing prints or exits.
 * A prep_data that a loader failed on is left empty (safe to destroy). */
#ifndef SSL_PREP_H
#define SSL_PREP_H
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Refuse splits larger than this many pixel bytes (sanity limit). */
#define PREP_MAX_BYTES ((int64_t)1 << 36)
/* Refuse images with more pixels than this per side. */
#define PREP_MAX_SIDE 16384

typedef struct {
    int64_t n;
    int c, h, w;
    uint8_t *images;              /* [n, c, h, w], owned */
    int32_t *labels;              /* [n], owned; NULL: unlabelled */
    int nclasses;                 /* 0 when unlabelled */
    char **classes;               /* nclasses names, owned (NULL when unlabelled) */
    char format[32];              /* "mnist", "fashion-mnist", "cifar-10", "cifar-100",
                                     "image-folder", "tiny-imagenet" */
} prep_data;

/* Progress: what (a short word), done so far, total (-1 when unknown).
 * Called from the loading thread only, at most every few thousand items. */
typedef void (*prep_progress_fn)(void *ctx, const char *what, int64_t done, int64_t total);
/* One line about a decision or a skipped file ("FILE: ..."), no newline. */
typedef void (*prep_notice_fn)(void *ctx, const char *msg);

enum { PREP_ON_ERROR_STOP = 0, PREP_ON_ERROR_SKIP = 1 };

typedef struct {
    const char *split;            /* NULL: "train"; IDX/CIFAR: train|test; Tiny-ImageNet: train|val */
    const char *labels;           /* NULL: automatic (image folders: "folders" when every image
                                     is in a class subfolder, else "none", with a notice; CIFAR-100:
                                     "fine"); "none": no labels, any input; "folders": image
                                     folders only; CIFAR-100: "fine" or "coarse" */
    int channels;                 /* 0: automatic (3, or 1 if every image is grey), else 1 or 3 */
    int height, width;            /* image folders: resize every image to this (0: keep) */
    int on_error;                 /* image folders, an image that cannot be read or decoded:
                                     PREP_ON_ERROR_STOP fails, PREP_ON_ERROR_SKIP warns and
                                     leaves it out */
    prep_progress_fn progress;    /* may be NULL */
    void *progress_ctx;
    prep_notice_fn notice;        /* decisions and skipped non-image files; may be NULL */
    prep_notice_fn warning;       /* each image left out by PREP_ON_ERROR_SKIP; may be NULL */
    void *notice_ctx;             /* for notice and warning */
} prep_opts;

/* True when opts->labels asks for no labels. */
int prep_labels_none(const prep_opts *o);

void prep_data_destroy(prep_data *d);   /* frees the buffers, zeroes d; NULL is a no-op */

/* Detect the kind of input and load the split:
 *   two paths          IDX images + labels, in either order (by IDX magic)
 *   a directory        holding *-images-idx3-ubyte[.gz] files: IDX (split
 *                      train -> "train-*", test -> "t10k-*"); otherwise an
 *                      image folder (any tree of PNG/JPEG files)
 *   a file             a CIFAR tarball, or an archive of images
 * Then applies opts->channels and opts->height/width (prep_convert), and
 * drops the labels with opts->labels "none". "folders" on an IDX or CIFAR
 * input is an SSL_EARG error. */
int prep_load(prep_data *d, const char *const *paths, int npaths, const prep_opts *o,
              ssl_err *err);

/* ---- IDX (prep_idx.c) ---- */
/* Load an IDX image file (magic 0x00000803, u8, [n, rows, cols]) and an IDX
 * label file (0x00000801, u8, [n]); either may be gzip'ed (any filter
 * libarchive knows). The header is checked against the data actually
 * present before anything large is allocated. Class names: Fashion-MNIST's
 * when either path contains "fashion" (any case), else "0".."9". */
int prep_idx_load(prep_data *d, const char *images_path, const char *labels_path,
                  ssl_err *err);
/* Classify a file by its IDX magic: 3 images, 1 labels, 0 not IDX, -1
 * unreadable (err filled). */
int prep_idx_kind(const char *path, ssl_err *err);
/* In directory dir, find the images and labels files of split ("train" or
 * "test"). Returns 1 (found, paths written), 0 (no IDX files there), or
 * -1 (err: only one of the two, or a bad split). */
int prep_idx_find(const char *dir, const char *split, char *images, char *labels,
                  size_t size, ssl_err *err);

/* ---- CIFAR (prep_cifar.c) ---- */
/* Load a split from cifar-10-binary.tar.gz or cifar-100-binary.tar.gz (any
 * archive holding cifar-10-batches-bin/ or cifar-100-binary/).
 * CIFAR-10 record: label byte, 3072 pixel bytes (R, G, B planes of 32x32);
 * CIFAR-100: coarse byte, fine byte, 3072 bytes. Split train or test;
 * o->labels picks fine/coarse for CIFAR-100. Class names from
 * batches.meta.txt / fine_label_names.txt / coarse_label_names.txt. */
int prep_cifar_load(prep_data *d, const char *path, const prep_opts *o, ssl_err *err);
/* 1 if the archive at path looks like a CIFAR tarball, 0 if not, -1 if it
 * is not a readable archive at all (err filled). */
int prep_cifar_detect(const char *path, ssl_err *err);

/* Internal helpers shared by the loaders (prep_archive.c). Open an archive
 * (tar, zip, 7z, cpio, rar; every filter) for reading; NULL with err. */
struct archive;
struct archive_entry;
struct archive *prep_archive_open(const char *path, ssl_err *err);
/* Read the current member's data (at most limit bytes) into *data
 * (malloc'ed, caller frees), *n bytes. A short member is an error. */
int prep_archive_read(struct archive *a, struct archive_entry *e, uint8_t **data, int64_t *n,
                      int64_t limit, const char *path, ssl_err *err);

/* ---- image folders (prep_images.c) ---- */
/* Load PNG/JPEG images from a directory or an archive (tar, tar.gz, zip),
 * every folder depth. The root is the directory, or in an archive the
 * longest directory common to all images. Labels (o->labels):
 *   automatic  "folders" when every image lies in a subfolder of the root,
 *              else "none" with a notice naming an image outside one;
 *   "folders"  the class of an image is the first path component below the
 *              root (sorted names = labels 0..); an image directly in the
 *              root is an error naming it, except that an archive whose
 *              images all lie in one folder is that one class;
 *   "none"     no labels.
 * Tiny-ImageNet's layout (BASE/wnids.txt, BASE/train/WNID/images/,
 * BASE/val/images/ with BASE/val/val_annotations.txt) is recognised unless
 * o->labels is "none": classes are the sorted wnids, split train or val.
 * Files whose names do not end in .png/.jpg/.jpeg (any case) are skipped
 * and counted (one notice: the count and one name); hidden files and
 * __MACOSX/ are skipped silently. An image file that cannot be read or
 * decoded (empty, truncated, corrupt, not PNG/JPEG inside, sides over
 * PREP_MAX_SIDE) fails the load, or with o->on_error PREP_ON_ERROR_SKIP
 * is left out with a warning naming it. Images are sorted by path. Without
 * o->height/width every image must have the same size. Decoding runs on
 * the library's thread pool. */
int prep_images_load(prep_data *d, const char *path, const prep_opts *o, ssl_err *err);

/* ---- generic steps (prep.c) ---- */
/* Convert to `channels` (1: luma 0.299R+0.587G+0.114B rounded; 3: grey
 * replicated; 0: keep) and resize to h x w (0: keep) with image_resize.
 * -1 only on out of memory. */
int prep_convert(prep_data *d, int channels, int h, int w, ssl_err *err);
/* Replace the class names by a comma-separated list; it must name at least
 * 1 + the largest label. */
int prep_set_classes(prep_data *d, const char *list, ssl_err *err);
/* Check every label is in [0, nclasses) (nothing to check without labels). */
int prep_check_labels(const prep_data *d, const char *name, ssl_err *err);

/* Parse a --subset value: an integer >= 1 (images per class) or a fraction
 * in (0, 1] (written with a '.' or an exponent). 0 or -1. */
int prep_subset_parse(const char *s, int64_t *per_class, double *fraction);
/* Keep, for each class, n images chosen by a permutation seeded with
 * (seed ^ RNG_SUBSET, class): n = per_class, or round(fraction * count)
 * when per_class is 0. The kept rows are ordered by class, then by source
 * index; d is compacted in place. *indices (malloc'ed, caller frees) gets
 * the source index of each kept row, *n_out their count. A class with
 * fewer than per_class images is an error. Unlabelled data is one class:
 * n images (or the fraction) of all, in source order. */
int prep_subset(prep_data *d, int64_t per_class, double fraction, uint64_t seed,
                int64_t **indices, int64_t *n_out, ssl_err *err);

/* Per-channel mean and (population) standard deviation of the pixels
 * scaled to [0,1], exact (from 256-bin histograms). mean/std hold d->c. */
void prep_stats(const prep_data *d, double *mean, double *std);
/* Count per class: counts holds d->nclasses entries. */
void prep_class_counts(const prep_data *d, int64_t *counts);
#endif
