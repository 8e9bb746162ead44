/* ckpt.c: checkpoint save/load (see ckpt.h).
 *
 * Saving lists every tensor with a pointer to its data and hands the lot
 * to sslt_write_section; the stream writer does the temp + fsync + rename.
 * Loading maps each tensor of the header to a destination (a net tensor,
 * its momentum, the bank, the labels, or nowhere when the caller did not
 * ask for it), checks names, dtypes and shapes before any data is read,
 * then copies chunks straight into place: no second copy of the bank.
 * Tensors that go nowhere are skipped by the stream reader without being
 * decompressed (sslt_reader_skip): ssl-extract reads the network's 35 MB
 * of a demo checkpoint, not the 200 MB of bank and momentum. */
#include "run/ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/mem.h"

#define MOM_PREFIX "opt.momentum."

static void shape_str(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

int ckpt_save(const ssl_ckpt *c, const char *path, const char *created_by,
              ssl_err *err) {
    return ckpt_save_level(c, path, created_by, CKPT_ZSTD_LEVEL, err);
}

int ckpt_save_level(const ssl_ckpt *c, const char *path, const char *created_by, int level,
                    ssl_err *err) {
    const char *name = path && strcmp(path, "-") ? path : "<stdout>";
    int nt = net_ntensors(c->net), nparams = 0;
    for (int i = 0; i < nt; i++)
        if (!net_tensor_at(c->net, i)->is_buffer) nparams++;
    int total = nt + nparams + 2;
    sslt_tensor *ts = calloc(total, sizeof *ts);
    const void **data = calloc(total, sizeof *data);
    char **names = calloc(nparams + 1, sizeof *names);
    sv *meta = sv_map();
    sslt_writer *w = NULL;
    int rc = -1, k = 0, m = 0;
    if (!ts || !data || !names || !meta) {
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    for (int i = 0; i < nt; i++) {
        net_tensor *t = net_tensor_at(c->net, i);
        ts[k].name = (char *)t->name;
        ts[k].dtype = SSLT_F32;
        ts[k].ndim = t->ndim;
        memcpy(ts[k].shape, t->shape, sizeof t->shape);
        data[k++] = t->data;
    }
    for (int i = 0; i < nt; i++) {
        net_tensor *t = net_tensor_at(c->net, i);
        if (t->is_buffer) continue;
        size_t len = strlen(MOM_PREFIX) + strlen(t->name) + 1;
        if (!(names[m] = malloc(len))) {
            ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name);
            goto out;
        }
        snprintf(names[m], len, MOM_PREFIX "%s", t->name);
        ts[k].name = names[m++];
        ts[k].dtype = SSLT_F32;
        ts[k].ndim = t->ndim;
        memcpy(ts[k].shape, t->shape, sizeof t->shape);
        data[k++] = t->mom;
    }
    ts[k].name = "bank";
    ts[k].dtype = c->bank_bf16 ? SSLT_BF16 : SSLT_F32;
    ts[k].ndim = 2;
    ts[k].shape[0] = c->n;
    ts[k].shape[1] = c->d;
    data[k++] = ckpt_bank(c);
    if (!c->unlabelled) {
        ts[k].name = "bank_labels";
        ts[k].dtype = SSLT_I32;
        ts[k].ndim = 1;
        ts[k].shape[0] = c->n;
        data[k++] = c->bank_labels;
    }

    if (sv_set(meta, "format", sv_int(CKPT_FORMAT)) ||
        sv_set(meta, "config", c->config ? sv_copy(c->config) : sv_map()) ||
        sv_set(meta, "epoch", sv_int(c->epoch)) || sv_set(meta, "step", sv_int(c->step)) ||
        sv_set(meta, "seed", sv_int((int64_t)c->seed)) ||
        sv_set(meta, "created_by", sv_str(created_by ? created_by : "ssl-tools"))) {
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", name);
        goto out;
    }
    if (!(w = sslt_writer_open(path, level, err))) goto out;
    if (sslt_write_section(w, CKPT_KIND, meta, k, ts, data)) {
        ssl_forward(err, sslt_writer_error(w));
        sslt_writer_abort(w);
        goto out;
    }
    rc = sslt_writer_close(w, err);
out:
    if (names)
        for (int i = 0; i < m; i++) free(names[i]);
    free(names);
    free(ts);
    free(data);
    sv_free(meta);
    return rc;
}

struct ckpt_reader {
    sslt_reader *r;
    const sslt_header *h;
    char name[256];
};

ckpt_reader *ckpt_open(const char *path, ssl_err *err) {
    ckpt_reader *cr = calloc(1, sizeof *cr);
    if (!cr) {
        ssl_fail(err, SSL_ENOMEM, "out of memory");
        return NULL;
    }
    snprintf(cr->name, sizeof cr->name, "%s", path && strcmp(path, "-") ? path : "<stdin>");
    if (!(cr->r = sslt_reader_open(path, err))) {
        free(cr);
        return NULL;
    }
    int rc = sslt_reader_next(cr->r, &cr->h);
    if (rc <= 0) {
        if (rc < 0) ssl_forward(err, sslt_reader_error(cr->r));
        else ssl_fail(err, SSL_EDATA, "%s: empty stream", cr->name);
        ckpt_close(cr);
        return NULL;
    }
    if (strcmp(cr->h->kind, CKPT_KIND)) {
        ssl_fail(err, SSL_EDATA, "%.200s: not a checkpoint (a stream of kind '%.64s')",
                 cr->name, cr->h->kind);
        ckpt_close(cr);
        return NULL;
    }
    return cr;
}

const sv *ckpt_meta(const ckpt_reader *r) { return r->h->meta; }

void ckpt_close(ckpt_reader *r) {
    if (!r) return;
    sslt_reader_close(r->r);
    free(r);
}

void ckpt_destroy(ssl_ckpt *c) {
    if (!c) return;
    net_free(c->net);
    free(c->bank);
    free(c->bank16);
    free(c->bank_labels);
    sv_free(c->config);
    memset(c, 0, sizeof *c);
}

/* Where one tensor of the file goes. */
typedef struct {
    void *dst;                    /* NULL: verify and skip */
    void **grow;                  /* or: a buffer grown as chunks arrive */
    size_t cap;
    int found;
} slot;

/* Check that header tensor ti exists as `name` with dtype/shape. */
static int expect(const ckpt_reader *cr, const char *tname, sslt_dtype dt, int ndim,
                  const int64_t *shape, int *ti, ssl_err *err) {
    const sslt_header *h = cr->h;
    int i = sslt_find(h, tname);
    char want[96], got[96];
    if (i < 0) {
        ssl_fail(err, SSL_EDATA, "%.160s: tensor '%.200s' is missing", cr->name, tname);
        return -1;
    }
    const sslt_tensor *t = &h->tensors[i];
    shape_str(want, sizeof want, ndim, shape);
    shape_str(got, sizeof got, t->ndim, t->shape);
    if (t->dtype != dt) {
        ssl_fail(err, SSL_EDATA, "%.160s: tensor '%.200s' is %s, expected %s", cr->name, tname,
                 sslt_dtype_name(t->dtype), sslt_dtype_name(dt));
        return -1;
    }
    int same = t->ndim == ndim;
    for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
    if (!same) {
        ssl_fail(err, SSL_EDATA, "%.150s: tensor '%.150s' has shape %.80s in the file, %.80s expected",
                 cr->name, tname, got, want);
        return -1;
    }
    *ti = i;
    return 0;
}

int ckpt_read(ckpt_reader *cr, ssl_ckpt *c, int max_batch, int flags, ssl_err *err) {
    const sslt_header *h = cr->h;
    const sv *meta = h->meta;
    slot *slots = NULL;
    int *skip = NULL;
    memset(c, 0, sizeof *c);
    const sv *cfg = sv_get(meta, "config");
    const sv *netcfg = sv_get(cfg, "net");
    if (!netcfg) {
        ssl_fail(err, SSL_EDATA, "%s: checkpoint has no config.net", cr->name);
        return -1;
    }
    net_config nc;
    if (net_config_from_sv(&nc, netcfg, err) ||
        !(c->net = net_new_zero(&nc, max_batch > 0 ? max_batch : 1, err))) {
        if (err && err->code != SSL_ENOMEM) err->code = SSL_EDATA;
        ssl_prefix(err, "%s: config.net: ", cr->name);
        return -1;
    }
    c->config = sv_copy(cfg);
    c->epoch = sv_get_int(meta, "epoch", 0);
    c->step = sv_get_int(meta, "step", 0);
    c->seed = (uint64_t)sv_get_int(meta, "seed", 0);
    c->d = net_out_dim(c->net);
    if (!c->config || !(slots = calloc(h->ntensors, sizeof *slots))) {
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", cr->name);
        goto fail;
    }
    int nt = net_ntensors(c->net), ti;
    char mname[320];
    for (int i = 0; i < nt; i++) {
        net_tensor *t = net_tensor_at(c->net, i);
        if (expect(cr, t->name, SSLT_F32, t->ndim, t->shape, &ti, err)) goto fail;
        int head = !strncmp(t->name, "head.", 5);   /* skipped: left zero (net_new_zero) */
        slots[ti].dst = head && (flags & CKPT_SKIP_HEAD) ? NULL : t->data;
        slots[ti].found = 1;
        if (t->is_buffer) continue;
        snprintf(mname, sizeof mname, MOM_PREFIX "%s", t->name);
        if (expect(cr, mname, SSLT_F32, t->ndim, t->shape, &ti, err)) goto fail;
        slots[ti].dst = (flags & CKPT_LOAD_MOMENTUM) ? t->mom : NULL;
        slots[ti].found = 1;
    }
    /* Unexpected tensors first: they say more than a bank of another
     * width (a head that the configuration does not have). */
    int bi = sslt_find(h, "bank"), li = sslt_find(h, "bank_labels");
    for (int i = 0; i < h->ntensors; i++)
        if (!slots[i].found && i != bi && i != li) {
            ssl_fail(err, SSL_EDATA, "%.160s: unexpected tensor '%.150s' (not part of the %.16s network)",
                     cr->name, h->tensors[i].name, nc.arch);
            goto fail;
        }
    if (bi < 0) {
        ssl_fail(err, SSL_EDATA, "%s: tensor 'bank' is missing", cr->name);
        goto fail;
    }
    c->n = h->tensors[bi].ndim == 2 ? h->tensors[bi].shape[0] : 0;
    c->bank_bf16 = h->tensors[bi].dtype == SSLT_BF16;
    int64_t bshape[2] = {c->n, c->d};
    if (expect(cr, "bank", c->bank_bf16 ? SSLT_BF16 : SSLT_F32, 2, bshape, &bi, err)) goto fail;
    c->unlabelled = li < 0;           /* trained on an unlabelled dataset */
    if (!c->unlabelled && expect(cr, "bank_labels", SSLT_I32, 1, bshape, &li, err)) goto fail;
    if (flags & CKPT_LOAD_BANK) {
        /* Grown as rows arrive (doubling, up to the declared size), so a
         * header declaring a huge bank costs only what the stream holds. */
        slots[bi].grow = c->bank_bf16 ? (void **)&c->bank16 : (void **)&c->bank;
        if (!c->unlabelled) slots[li].grow = (void **)&c->bank_labels;
    }
    /* What is not loaded is not decompressed either: only its records'
     * fields and frames are read (sslt_reader_skip). */
    skip = calloc(h->ntensors ? (size_t)h->ntensors : 1, sizeof *skip);
    if (!skip) {
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", cr->name);
        goto fail;
    }
    for (int i = 0; i < h->ntensors; i++) skip[i] = !slots[i].dst && !slots[i].grow;
    if (sslt_reader_skip(cr->r, skip)) {
        ssl_forward(err, sslt_reader_error(cr->r));
        goto fail;
    }
    int cti;
    int64_t row, nrows;
    const void *data;
    int rc;
    while ((rc = sslt_reader_chunk(cr->r, &cti, &row, &nrows, &data)) == 1) {
        if (cti < 0 || cti >= h->ntensors) continue;
        slot *s = &slots[cti];
        size_t rb = sslt_tensor_row_bytes(&h->tensors[cti]), need = (size_t)(row + nrows) * rb;
        if (s->grow && need > s->cap) {
            size_t full = (size_t)sslt_tensor_bytes(&h->tensors[cti]), nc = s->cap ? s->cap : 65536;
            while (nc < need) nc *= 2;
            if (nc > full) nc = full;
            void *q = ssl_grow_huge(*s->grow, s->cap, nc);
            if (!q) {
                ssl_fail(err, SSL_ENOMEM, "%s: out of memory for a bank of %lld x %d", cr->name,
                         (long long)c->n, c->d);
                goto fail;
            }
            *s->grow = q;
            s->cap = nc;
        }
        void *dst = s->grow ? *s->grow : s->dst;
        if (dst) memcpy((char *)dst + (size_t)row * rb, data, (size_t)nrows * rb);
    }
    if (rc < 0 || sslt_reader_expect_end(cr->r, CKPT_KIND)) {
        ssl_forward(err, sslt_reader_error(cr->r));
        goto fail;
    }
    /* Complete and verified; an empty bank still gets its (1-byte) buffers. */
    if ((flags & CKPT_LOAD_BANK) &&
        ((!c->bank_bf16 && !c->bank && !(c->bank = malloc(1))) ||
         (c->bank_bf16 && !c->bank16 && !(c->bank16 = malloc(1))) ||
         (!c->unlabelled && !c->bank_labels && !(c->bank_labels = malloc(1))))) {
        ssl_fail(err, SSL_ENOMEM, "%s: out of memory", cr->name);
        goto fail;
    }
    free(slots);
    free(skip);
    return 0;
fail:
    free(slots);
    free(skip);
    ckpt_destroy(c);
    return -1;
}

int ckpt_load(ssl_ckpt *c, const char *path, int max_batch, int flags, ssl_err *err) {
    ckpt_reader *r = ckpt_open(path, err);
    memset(c, 0, sizeof *c);
    if (!r) return -1;
    int rc = ckpt_read(r, c, max_batch, flags, err);
    ckpt_close(r);
    return rc;
}
