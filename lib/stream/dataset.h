/* dataset.h: datasets and feature sets as tensor streams: the one reader
 * and the one writer of each kind.
 *
 * Dataset stream (kind "dataset", written by ssl-prep):
 *   tensors  images u8 [N, C, H, W], labels i32 [N] (chunks interleaved by rows)
 *   meta     classes: [str] (class names, index = label), mean: [f64] and
 *            std: [f64] per channel of the [0,1]-scaled pixels over the split,
 *            source: str, split: str, subset: map (when --subset was used)
 * Features stream (kind "features", written by ssl-extract):
 *   tensors  features f32 [N, F], labels i32 [N]
 *   meta     classes, checkpoint: str, layer: str, dataset: map (the source's meta)
 * An unlabelled stream of either kind has no labels tensor (and no
 * classes; a reader ignores meta.classes there): labelled is 0, labels
 * NULL and nclasses 0 in what the readers fill.
 */
#ifndef SSL_DATASET_H
#define SSL_DATASET_H
#include <stdint.h>

#include "stream/sslt.h"

#define SSL_MAX_CHANNELS 4
#define DATASET_KIND "dataset"
#define FEATURES_KIND "features"

typedef struct {
    int64_t n;
    int c, h, w;
    uint8_t *images;              /* [n, c, h, w] */
    int32_t *labels;              /* [n]; NULL when unlabelled */
    int labelled;                 /* the stream has a labels tensor */
    int nclasses;                 /* len(classes), or 1 + max label when absent; 0 unlabelled */
    char **classes;               /* NULL when the stream has none */
    double mean[SSL_MAX_CHANNELS], std[SSL_MAX_CHANNELS];
    sv *meta;                     /* the section's metadata (owned) */
} ssl_dataset;

/* Load a dataset stream wholly into memory. Checks kind, tensor names,
 * dtypes, shapes, label range, and that the stream is one section (a
 * second is an error naming its record); the labels tensor may be absent
 * (d->labelled 0). 0 or -1 with err. */
int dataset_load(ssl_dataset *d, const char *path, ssl_err *err);
void dataset_destroy(ssl_dataset *d);

/* Streaming access to a dataset in bounded memory (ssl-extract); a second
 * section after the dataset is an error at the end, as for dataset_load. */
typedef struct ssl_dstream ssl_dstream;
ssl_dstream *dstream_open(const char *path, ssl_err *err);
/* Shape and metadata, valid while open (images/labels fields are NULL). */
const ssl_dataset *dstream_info(const ssl_dstream *s);
/* Next up to max images: returns the count (0 at end), -1 on error.
 * labels is not touched (and may be NULL) when the stream is unlabelled. */
int64_t dstream_next(ssl_dstream *s, uint8_t *images, int32_t *labels, int64_t max);
const ssl_err *dstream_error(const ssl_dstream *s);
void dstream_close(ssl_dstream *s);

typedef struct {
    int64_t n;
    int dim;
    float *x;                     /* [n, dim] */
    int32_t *labels;              /* [n]; NULL when unlabelled */
    int labelled;                 /* the stream has a labels tensor */
    int nclasses;                 /* 0 when unlabelled */
    char **classes;               /* NULL when absent */
    char *kind;                   /* "features" or "dataset" */
    sv *meta;
} ssl_features;

/* Load a features stream, or a dataset stream as features (each image
 * flattened in C,H,W order and scaled to [0,1]); one section, as
 * dataset_load. 0 or -1 with err. */
int features_load(ssl_features *f, const char *path, ssl_err *err);
void features_destroy(ssl_features *f);

/* ---- writing (atomically: a regular file appears only when complete) ---- */
/* A whole dataset stream: images u8 [n, c, h, w] and labels i32 [n],
 * chunks of both interleaved by rows, or no labels tensor when labels is
 * NULL; meta as described above (copied). level: zstd level (0: the
 * default). 0, or -1 with err. */
int dataset_write(const char *path, int level, const sv *meta, int64_t n, int c, int h, int w,
                  const uint8_t *images, const int32_t *labels, ssl_err *err);

/* A features stream written block by block: open with the row count, the
 * width and whether it has labels, append rows in order (labels ignored,
 * and may be NULL, when unlabelled), close (which checks that n rows came). */
typedef struct features_writer features_writer;
features_writer *features_writer_open(const char *path, const sv *meta, int64_t n, int dim,
                                      int labelled, ssl_err *err);
int features_writer_rows(features_writer *fw, const float *x, const int32_t *labels,
                         int64_t rows, ssl_err *err);
/* Finish and rename into place; frees fw. 0, or -1 with err. */
int features_writer_close(features_writer *fw, ssl_err *err);
/* Give up (no file is left under the real name); frees fw. NULL is a no-op. */
void features_writer_abort(features_writer *fw);
#endif
