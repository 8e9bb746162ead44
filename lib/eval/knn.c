/* knn.c: weighted kNN evaluation (see knn.h): blocked GEMM of queries
 * against training rows, a per-query bounded heap of the best Kmax
 * neighbours, then one vote per (K, sigma) pair from the sorted list. */
#include "eval/knn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ops/ops.h"
#include "util/threads.h"

/* Bound on the neighbour lists held at once (entries of float + int64). */
#define KNN_MAX_LIST_ENTRIES ((int64_t)1 << 22)
/* Bound on one block of similarities (floats): 128 MiB. */
#define KNN_MAX_BLOCK_FLOATS ((int64_t)1 << 25)
/* knn_topk_rows' block of training rows (8 MiB; with the default 8192
 * rows of 2048 it would be 64 MiB, most of what a bf16 bank saves) */
#define KNN_ROWS_BLOCK_FLOATS ((int64_t)1 << 21)

/* ---- bounded heap: the root is the worst kept neighbour ---- */

/* a is worse than b: lower similarity, or equal similarity and higher index. */
static inline int worse(float sa, int64_t ia, float sb, int64_t ib) {
    return sa < sb || (sa == sb && ia > ib);
}

static void sift_down(float *hs, int64_t *hi, int n, int p) {
    float s = hs[p];
    int64_t id = hi[p];
    for (;;) {
        int c = 2 * p + 1;
        if (c >= n) break;
        if (c + 1 < n && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) c++;
        if (!worse(hs[c], hi[c], s, id)) break;
        hs[p] = hs[c]; hi[p] = hi[c];
        p = c;
    }
    hs[p] = s; hi[p] = id;
}

static void sift_up(float *hs, int64_t *hi, int p) {
    float s = hs[p];
    int64_t id = hi[p];
    while (p > 0) {
        int q = (p - 1) / 2;
        if (!worse(s, id, hs[q], hi[q])) break;
        hs[p] = hs[q]; hi[p] = hi[q];
        p = q;
    }
    hs[p] = s; hi[p] = id;
}

typedef struct {
    const float *c;               /* [qn, tn] similarities of this block pair */
    int64_t tn, t0;               /* block width and first training index */
    float *sims;                  /* [qn, kmax] heaps */
    int64_t *idx;
    int *cnt;                     /* [qn] entries in each heap */
    int kmax;
} select_ctx;

static void select_rows(void *vctx, int64_t b, int64_t e, int tid) {
    (void)tid;
    select_ctx *x = vctx;
    for (int64_t q = b; q < e; q++) {
        const float *row = x->c + q * x->tn;
        float *hs = x->sims + q * x->kmax;
        int64_t *hi = x->idx + q * x->kmax;
        int n = x->cnt[q];
        int64_t j = 0;
        for (; j < x->tn && n < x->kmax; j++) {       /* fill */
            hs[n] = row[j]; hi[n] = x->t0 + j;
            sift_up(hs, hi, n);
            n++;
        }
        /* Full: training indices only grow, so a candidate beats the root
         * exactly when its similarity is strictly larger. */
        float thr = hs[0];
        for (; j < x->tn; j++) {
            if (row[j] > thr) {
                hs[0] = row[j]; hi[0] = x->t0 + j;
                sift_down(hs, hi, n, 0);
                thr = hs[0];
            }
        }
        x->cnt[q] = n;
    }
}

static void sort_rows(void *vctx, int64_t b, int64_t e, int tid) {
    (void)tid;
    select_ctx *x = vctx;
    for (int64_t q = b; q < e; q++) {
        float *hs = x->sims + q * x->kmax;
        int64_t *hi = x->idx + q * x->kmax;
        /* Heap sort: moving the worst to the end leaves the list best first. */
        for (int n = x->cnt[q] - 1; n > 0; n--) {
            float ts = hs[0]; int64_t ti = hi[0];
            hs[0] = hs[n]; hi[0] = hi[n];
            hs[n] = ts; hi[n] = ti;
            sift_down(hs, hi, n, 0);
        }
    }
}

static int topk(const float *train, knn_rows_fn rows, void *rctx, int64_t ntrain,
                const float *test, int64_t ntest, int dim, int kmax, int64_t qblock,
                int64_t tblock, float *sims, int64_t *idx) {
    if ((!train && !rows) || !test || !sims || !idx || dim < 1 || ntrain < 1 || ntest < 0 ||
        kmax < 1 || kmax > ntrain)
        return -1;
    if (qblock <= 0) qblock = KNN_QUERY_BLOCK;
    if (tblock <= 0) tblock = KNN_TRAIN_BLOCK;
    if (tblock > ntrain) tblock = ntrain;
    /* rows made into a buffer: at most KNN_ROWS_BLOCK_FLOATS of it */
    if (rows && tblock > KNN_ROWS_BLOCK_FLOATS / dim) tblock = KNN_ROWS_BLOCK_FLOATS / dim;
    if (tblock < 1) tblock = 1;
    if (tblock > KNN_MAX_BLOCK_FLOATS) tblock = KNN_MAX_BLOCK_FLOATS;
    if (qblock > KNN_MAX_BLOCK_FLOATS / tblock) qblock = KNN_MAX_BLOCK_FLOATS / tblock;
    if (qblock > ntest) qblock = ntest > 0 ? ntest : 1;
    float *c = malloc((size_t)qblock * (size_t)tblock * sizeof *c);
    int *cnt = malloc((size_t)qblock * sizeof *cnt);
    float *tb = rows ? malloc((size_t)tblock * (size_t)dim * sizeof *tb) : NULL;
    /* The library's GEMM (nn/ops/gemm.c) where the build has it: the same
     * bits at any thread count, and its speed does not hang on OpenBLAS
     * recognising the CPU (without OPENBLAS_CORETYPE, Debian's 0.3.21 ran
     * these products at a fifth of it on the development machine). */
    float *ws = gemm_available()
                    ? malloc((size_t)gemm_workspace((int)qblock, (int)tblock, dim) * sizeof *ws)
                    : NULL;
    if (!c || !cnt || (rows && !tb)) {
        free(c); free(cnt); free(ws); free(tb);
        return -1;
    }
    for (int64_t q0 = 0; q0 < ntest; q0 += qblock) {
        int64_t qn = ntest - q0 < qblock ? ntest - q0 : qblock;
        memset(cnt, 0, (size_t)qn * sizeof *cnt);
        select_ctx x = { c, 0, 0, sims + q0 * kmax, idx + q0 * kmax, cnt, kmax };
        for (int64_t t0 = 0; t0 < ntrain; t0 += tblock) {
            int64_t tn = ntrain - t0 < tblock ? ntrain - t0 : tblock;
            if (rows) rows(rctx, t0, tn, tb);
            gemm_dispatch(0, 1, (int)qn, (int)tn, dim, 1.0f, test + q0 * dim, dim,
                          rows ? tb : train + t0 * dim, dim, 0.0f, c, (int)tn, ws);
            x.tn = tn; x.t0 = t0;
            ssl_parallel_for(qn, 8, select_rows, &x);
        }
        ssl_parallel_for(qn, 8, sort_rows, &x);
    }
    free(c);
    free(cnt);
    free(ws);
    free(tb);
    return 0;
}

int knn_topk(const float *train, int64_t ntrain, const float *test, int64_t ntest,
             int dim, int kmax, int64_t qblock, int64_t tblock, float *sims,
             int64_t *idx) {
    if (!train) return -1;
    return topk(train, NULL, NULL, ntrain, test, ntest, dim, kmax, qblock, tblock, sims, idx);
}

int knn_topk_rows(knn_rows_fn rows, void *ctx, int64_t ntrain, const float *test,
                  int64_t ntest, int dim, int kmax, int64_t qblock, int64_t tblock,
                  float *sims, int64_t *idx) {
    if (!rows) return -1;
    return topk(NULL, rows, ctx, ntrain, test, ntest, dim, kmax, qblock, tblock, sims, idx);
}

/* ---- voting ---- */

typedef struct {
    const float *sims;            /* [qn, kmax] sorted lists of this block */
    const int64_t *idx;
    const int32_t *ytrain, *ytest;   /* ytest of this block */
    int kmax, nclasses;
    int nuk;                      /* distinct K values, ascending in uk */
    const int *uk;
    const int *kpos_start, *kpos;    /* list positions having K == uk[u] */
    const double *sigma;
    int nsigma, nres;
    double *scratch;              /* [threads, nclasses] */
    int32_t *rank;                /* [qn, nres] rank of the true class */
} vote_ctx;

static void vote_rows(void *vctx, int64_t b, int64_t e, int tid) {
    vote_ctx *x = vctx;
    double *score = x->scratch + (size_t)tid * x->nclasses;
    for (int64_t q = b; q < e; q++) {
        const float *s = x->sims + q * x->kmax;
        const int64_t *id = x->idx + q * x->kmax;
        int y = x->ytest[q];
        for (int si = 0; si < x->nsigma; si++) {
            double inv = 1.0 / x->sigma[si];
            memset(score, 0, (size_t)x->nclasses * sizeof *score);
            int r = 0;
            for (int u = 0; u < x->nuk; u++) {
                for (; r < x->uk[u]; r++)
                    score[x->ytrain[id[r]]] += exp((double)s[r] * inv);
                int rank = 0;
                double sy = score[y];
                for (int c = 0; c < x->nclasses; c++)
                    if (score[c] > sy || (score[c] == sy && c < y)) rank++;
                for (int p = x->kpos_start[u]; p < x->kpos_start[u + 1]; p++)
                    x->rank[q * x->nres + x->kpos[p] * x->nsigma + si] = rank;
            }
        }
    }
}

void knn_report_destroy(knn_report *rep) {
    if (!rep) return;
    if (rep->res)
        for (int i = 0; i < rep->nresults; i++) free(rep->res[i].class_correct1);
    free(rep->res);
    free(rep->class_count);
    memset(rep, 0, sizeof *rep);
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int knn_evaluate(const float *train, const int32_t *ytrain, int64_t ntrain,
                 const float *test, const int32_t *ytest, int64_t ntest,
                 int dim, int nclasses, const knn_config *cfg, knn_report *rep,
                 ssl_err *err) {
    memset(rep, 0, sizeof *rep);
    if (ntrain < 1) return ssl_fail(err, SSL_EARG, "the training set is empty");
    if (ntest < 1) return ssl_fail(err, SSL_EARG, "the test set is empty");
    if (dim < 1) return ssl_fail(err, SSL_EARG, "feature dimension must be at least 1");
    if (nclasses < 1) return ssl_fail(err, SSL_EARG, "no classes");
    if (!cfg || cfg->nk < 1 || cfg->nsigma < 1) return ssl_fail(err, SSL_EARG, "empty K or sigma list");
    if (!train && (!cfg->rows || !cfg->normalized))
        return ssl_fail(err, SSL_EARG, "no training rows (or rows from a callback not normalised)");
    int kmax = 0;
    for (int i = 0; i < cfg->nk; i++) {
        if (cfg->k[i] < 1) return ssl_fail(err, SSL_EARG, "K must be at least 1");
        if (cfg->k[i] > ntrain) {
            return ssl_fail(err, SSL_EARG, "K = %d is larger than the training set (%lld items)",
                     cfg->k[i], (long long)ntrain);
        }
        if (cfg->k[i] > kmax) kmax = cfg->k[i];
    }
    for (int i = 0; i < cfg->nsigma; i++)
        if (!(cfg->sigma[i] > 0) || !isfinite(cfg->sigma[i]))
            return ssl_fail(err, SSL_EARG, "sigma must be a positive number");
    for (int64_t i = 0; i < ntrain; i++)
        if (ytrain[i] < 0 || ytrain[i] >= nclasses) {
            return ssl_fail(err, SSL_EARG, "training label %d (row %lld) is outside [0, %d)",
                     (int)ytrain[i], (long long)i, nclasses);
        }
    for (int64_t i = 0; i < ntest; i++)
        if (ytest[i] < 0 || ytest[i] >= nclasses) {
            return ssl_fail(err, SSL_EARG, "test label %d (row %lld) is outside [0, %d)",
                     (int)ytest[i], (long long)i, nclasses);
        }

    int nres = cfg->nk * cfg->nsigma, nthr = ssl_threads();
    int64_t qb = cfg->query_block > 0 ? cfg->query_block : KNN_QUERY_BLOCK;
    if (qb * kmax > KNN_MAX_LIST_ENTRIES) qb = KNN_MAX_LIST_ENTRIES / kmax;
    if (qb < 1) qb = 1;
    if (qb > ntest) qb = ntest;

    float *tr = NULL, *te = NULL, *sims = NULL;
    int64_t *idx = NULL;
    int32_t *rank = NULL;
    double *scratch = NULL;
    int *uk = NULL, *kpos = NULL, *kstart = NULL;
    int rc = -1;
    rep->nresults = nres;
    rep->nclasses = nclasses;
    rep->has_top5 = nclasses > 5;
    rep->n_test = ntest;
    rep->n_train = ntrain;
    rep->res = calloc((size_t)nres, sizeof *rep->res);
    rep->class_count = calloc((size_t)nclasses, sizeof *rep->class_count);
    sims = malloc((size_t)(qb * kmax) * sizeof *sims);
    idx = malloc((size_t)(qb * kmax) * sizeof *idx);
    rank = malloc((size_t)(qb * nres) * sizeof *rank);
    scratch = malloc((size_t)nthr * (size_t)nclasses * sizeof *scratch);
    uk = malloc((size_t)cfg->nk * sizeof *uk);
    kpos = malloc((size_t)cfg->nk * sizeof *kpos);
    kstart = malloc((size_t)(cfg->nk + 1) * sizeof *kstart);
    if (!rep->res || !rep->class_count || !sims || !idx || !rank || !scratch || !uk ||
        !kpos || !kstart)
        goto oom;
    for (int i = 0; i < nres; i++) {
        rep->res[i].k = cfg->k[i / cfg->nsigma];
        rep->res[i].sigma = cfg->sigma[i % cfg->nsigma];
        rep->res[i].class_correct1 = calloc((size_t)nclasses, sizeof(int64_t));
        if (!rep->res[i].class_correct1) goto oom;
    }

    /* Distinct K ascending, and for each the list positions asking for it. */
    memcpy(uk, cfg->k, (size_t)cfg->nk * sizeof *uk);
    qsort(uk, (size_t)cfg->nk, sizeof *uk, cmp_int);
    int nuk = 0;
    for (int i = 0; i < cfg->nk; i++)
        if (nuk == 0 || uk[nuk - 1] != uk[i]) uk[nuk++] = uk[i];
    int np = 0;
    for (int u = 0; u < nuk; u++) {
        kstart[u] = np;
        for (int i = 0; i < cfg->nk; i++)
            if (cfg->k[i] == uk[u]) kpos[np++] = i;
    }
    kstart[nuk] = np;

    if (!cfg->normalized) {
        int64_t bad;
        tr = malloc((size_t)ntrain * (size_t)dim * sizeof *tr);
        te = malloc((size_t)ntest * (size_t)dim * sizeof *te);
        if (!tr || !te) goto oom;
        memcpy(tr, train, (size_t)ntrain * (size_t)dim * sizeof *tr);
        memcpy(te, test, (size_t)ntest * (size_t)dim * sizeof *te);
        if ((bad = l2norm_forward(tr, tr, ntrain, dim, L2_EPS)) >= 0) {
            ssl_fail(err, SSL_ENUM, "training row %lld holds a value that is not finite",
                     (long long)bad);
            goto out;
        }
        if ((bad = l2norm_forward(te, te, ntest, dim, L2_EPS)) >= 0) {
            ssl_fail(err, SSL_ENUM, "test row %lld holds a value that is not finite",
                     (long long)bad);
            goto out;
        }
        train = tr;
        test = te;
    }

    for (int64_t q0 = 0; q0 < ntest; q0 += qb) {
        int64_t qn = ntest - q0 < qb ? ntest - q0 : qb;
        if (topk(train, train ? NULL : cfg->rows, cfg->rows_ctx, ntrain, test + q0 * dim, qn,
                 dim, kmax, qn, cfg->train_block, sims, idx))
            goto oom;
        vote_ctx v = { sims, idx, ytrain, ytest + q0, kmax, nclasses, nuk, uk, kstart,
                       kpos, cfg->sigma, cfg->nsigma, nres, scratch, rank };
        ssl_parallel_for(qn, 8, vote_rows, &v);
        for (int64_t q = 0; q < qn; q++) {
            int y = ytest[q0 + q];
            rep->class_count[y]++;
            for (int i = 0; i < nres; i++) {
                int32_t r = rank[q * nres + i];
                if (r == 0) {
                    rep->res[i].correct1++;
                    rep->res[i].class_correct1[y]++;
                }
                if (r < 5) rep->res[i].correct5++;
            }
        }
    }
    for (int i = 0; i < nres; i++) {
        knn_result *r = &rep->res[i];
        r->top1 = (double)r->correct1 / ntest;
        r->top5 = rep->has_top5 ? (double)r->correct5 / ntest : NAN;
    }
    rc = 0;
    goto out;
oom:
    ssl_fail(err, SSL_ENOMEM, "out of memory");
out:
    free(tr); free(te); free(sims); free(idx); free(rank); free(scratch);
    free(uk); free(kpos); free(kstart);
    if (rc) knn_report_destroy(rep);
    return rc;
}
