/* prep.c: ssl-prep as a library call (run.h): load a split (data/prep),
 * apply the class names, take the per-class subset, compute the
 * per-channel mean and std over what will be written, record all of it in
 * the stream's metadata and write the dataset stream (stream/dataset):
 * without a labels tensor and without classes when the data has no labels. */
#include "run/run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The section's metadata. */
static sv *make_meta(const run_prep_opts *o, const prep_data *d, const double *mean,
                     const double *std, const int64_t *idx, int64_t nidx) {
    sv *m = sv_map();
    if (!m) return NULL;
    char src[4096];
    snprintf(src, sizeof src, "%s%s%s", o->paths[0], o->npaths > 1 ? " " : "",
             o->npaths > 1 ? o->paths[1] : "");
    int bad = 0;
    if (d->labels)
        bad |= sv_set(m, "classes", sv_str_array((const char *const *)d->classes, (size_t)d->nclasses));
    bad |= sv_set(m, "mean", sv_float_array(mean, (size_t)d->c));
    bad |= sv_set(m, "std", sv_float_array(std, (size_t)d->c));
    bad |= sv_set(m, "source", sv_str(src));
    bad |= sv_set(m, "format", sv_str(d->format));
    bad |= sv_set(m, "split", sv_str(o->po.split ? o->po.split : "train"));
    if (!strcmp(d->format, "cifar-100") && d->labels)
        bad |= sv_set(m, "labels", sv_str(o->po.labels ? o->po.labels : "fine"));
    if (o->subset) {
        sv *s = sv_map();
        if (!s) { sv_free(m); return NULL; }
        bad |= sv_set(s, "spec", sv_str(o->subset));
        bad |= sv_set(s, "seed", sv_int((int64_t)o->seed));
        bad |= sv_set(s, "indices", sv_int_array(idx, (size_t)nidx));
        bad |= sv_set(m, "subset", s);
    }
    if (bad) { sv_free(m); return NULL; }
    return m;
}

int run_prep(const run_prep_opts *o, run_prep_result *res, ssl_err *err) {
    prep_data d;
    int64_t *idx = NULL, nidx = 0;
    sv *meta = NULL;
    int rc = -1;
    memset(res, 0, sizeof *res);
    if (o->npaths < 1 || o->npaths > 2)
        return ssl_fail(err, SSL_EARG, "%d inputs: give a directory or archive, or two IDX files",
                        o->npaths);
    if (prep_load(&d, o->paths, o->npaths, &o->po, err)) return -1;
    if (o->classes && prep_set_classes(&d, o->classes, err)) {
        ssl_prefix(err, "%s: ", o->paths[0]);
        goto out;
    }
    if (prep_check_labels(&d, o->paths[0], err)) goto out;
    if (o->subset) {
        int64_t per;
        double frac;
        if (prep_subset_parse(o->subset, &per, &frac)) {
            ssl_fail(err, SSL_EARG, "--subset: '%s' is not a count >= 1 or a fraction in (0, 1]",
                     o->subset);
            goto out;
        }
        if (prep_subset(&d, per, frac, o->seed, &idx, &nidx, err)) goto out;
    }
    prep_stats(&d, res->mean, res->std);
    if (!(meta = make_meta(o, &d, res->mean, res->std, idx, nidx))) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        goto out;
    }
    if (dataset_write(o->output, o->level, meta, d.n, d.c, d.h, d.w, d.images, d.labels, err))
        goto out;
    res->n = d.n, res->c = d.c, res->h = d.h, res->w = d.w, res->nclasses = d.nclasses;
    rc = 0;
out:
    sv_free(meta);
    free(idx);
    prep_data_destroy(&d);
    return rc;
}
