/* pair.c: an evaluation's two sets and its labelled subsets (pair.h). */
#include "eval/pair.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/fewshot.h"

static const char *name_of(const char *path) {
    return path && strcmp(path, "-") ? path : "<stdin>";
}

static int load_one(ssl_features *f, const char *path, ssl_err *err) {
    if (features_load(f, path, err)) {
        const char *name = name_of(path);
        if (err && strncmp(err->msg, name, strlen(name))) ssl_prefix(err, "%s: ", name);
        return -1;
    }
    if (f->n < 1) {
        features_destroy(f);
        return ssl_fail(err, SSL_EDATA, "%s: no rows (empty set)", name_of(path));
    }
    if (!f->labelled) {
        features_destroy(f);
        return ssl_fail(err, SSL_EDATA, "%s: no labels (an unlabelled stream); evaluation needs "
                        "labelled training and test sets", name_of(path));
    }
    return 0;
}

static int check_pair(const ssl_features *tr, const ssl_features *te, const char *train_path,
                      const char *test_path, int check_finite, int *nclasses, ssl_err *err) {
    if (tr->dim != te->dim)
        return ssl_fail(err, SSL_EDATA, "%s: feature dimension %d does not match the training "
                        "features (%d)", test_path, te->dim, tr->dim);
    int nc = tr->nclasses > te->nclasses ? tr->nclasses : te->nclasses;
    if (tr->classes && te->classes) {
        if (tr->nclasses != te->nclasses)
            return ssl_fail(err, SSL_EDATA, "%s: %d classes, the training features have %d",
                            test_path, te->nclasses, tr->nclasses);
        for (int i = 0; i < tr->nclasses; i++)
            if (strcmp(tr->classes[i], te->classes[i]))
                return ssl_fail(err, SSL_EDATA, "%s: class %d is '%s', in the training "
                                "features '%s'", test_path, i, te->classes[i], tr->classes[i]);
    } else if (tr->classes || te->classes) {
        nc = tr->classes ? tr->nclasses : te->nclasses;
    }
    const ssl_features *s[2] = { tr, te };
    const char *p[2] = { train_path, test_path };
    for (int k = 0; k < 2; k++)
        for (int64_t i = 0; i < s[k]->n; i++)
            if (s[k]->labels[i] < 0 || s[k]->labels[i] >= nc)
                return ssl_fail(err, SSL_EDATA, "%s: label %d (row %lld) is outside the %d "
                                "classes", p[k], (int)s[k]->labels[i], (long long)i, nc);
    if (check_finite)
        for (int k = 0; k < 2; k++)
            for (int64_t i = 0; i < s[k]->n * s[k]->dim; i++)
                if (!isfinite(s[k]->x[i]))
                    return ssl_fail(err, SSL_EDATA, "%s: row %lld holds a value that is not "
                                    "finite", p[k], (long long)(i / s[k]->dim));
    *nclasses = nc;
    return 0;
}

int eval_load_pair(ssl_features *tr, ssl_features *te, const char *train_path,
                   const char *test_path, int check_finite, int *nclasses, ssl_err *err) {
    if (load_one(tr, train_path, err)) return -1;
    if (load_one(te, test_path, err)) {
        features_destroy(tr);
        return -1;
    }
    if (check_pair(tr, te, train_path, test_path, check_finite, nclasses, err)) {
        features_destroy(tr);
        features_destroy(te);
        return -1;
    }
    return 0;
}

int eval_check_labels_per_class(const ssl_features *tr, int nc, const char *train_path,
                                const int *lpc, int n, ssl_err *err) {
    int64_t have;
    int c = fewshot_smallest_class(tr->labels, tr->n, nc, &have);
    if (c < 0)
        return ssl_fail(err, SSL_EDATA, "%s: labels do not allow a labelled subset", train_path);
    for (int i = 0; i < n; i++) {
        if (lpc[i] <= have) continue;
        const char *name = tr->classes && c < tr->nclasses ? tr->classes[c] : NULL;
        return ssl_fail(err, SSL_EDATA, "%s: --labels-per-class %d: class %d%s%s%s has only "
                        "%lld training image%s", train_path, lpc[i], c, name ? " (" : "",
                        name ? name : "", name ? ")" : "", (long long)have, have == 1 ? "" : "s");
    }
    return 0;
}

int eval_labelled_subset(const ssl_features *tr, int nc, int per_class, uint64_t seed,
                         int draw, float *x, int32_t *y, ssl_err *err) {
    int64_t m = (int64_t)nc * per_class;
    int64_t *idx = malloc((size_t)m * sizeof *idx);
    if (!idx) return ssl_fail(err, SSL_ENOMEM, "out of memory");
    if (fewshot_select(tr->labels, tr->n, nc, per_class, seed, draw, idx, err)) {
        free(idx);
        return -1;
    }
    for (int64_t i = 0; i < m; i++) {
        memcpy(x + i * tr->dim, tr->x + idx[i] * tr->dim, (size_t)tr->dim * sizeof *x);
        y[i] = tr->labels[idx[i]];
    }
    free(idx);
    return 0;
}
