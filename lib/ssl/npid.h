/* npid.h: the instance-discrimination head of a training step: logits
 * against the memory bank, CE + SqrtKL loss, the gradient w.r.t. the head
 * output, and the bank write (ssl-method(7), THE TRAINING STEP, steps 3-8).
 *
 * The memory bank is caller-owned [N, d], float32 or (cfg.bank_bf16)
 * bfloat16, rows L2-normalised (except a fresh random bank). */
#ifndef SSL_NPID_H
#define SSL_NPID_H
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/rng.h"

typedef enum { NEG_ALL, NEG_K, NEG_NONE } npid_negatives;
typedef enum { BANK_WRITE_NPID, BANK_WRITE_GRAD } npid_write_rule;
/* Which terms of SqrtKL's closed form KL(p||u) = L1 + L2 the loss keeps:
 * L1 = (1-alpha) sum p log p, L2 = log sum p^alpha (ssl-method(7), THE
 * LOSS, SqrtKL variants). L1 or L2 alone needs kl_keepgrad and the reverse
 * direction. */
typedef enum { KL_TERMS_BOTH, KL_TERMS_L1, KL_TERMS_L2 } npid_kl_terms;

typedef struct {
    npid_negatives neg;           /* all / k / 0 (in-batch only) */
    int64_t k;                    /* with NEG_K: negatives drawn per step */
    float tau;                    /* CE temperature */
    float lambda, alpha;          /* SqrtKL weight and power */
    float m;                      /* bank momentum */
    npid_write_rule write;        /* npid or grad */
    float bank_lr;                /* grad write step factor, default (1-m)/m */
    /* The SqrtKL variant; all 0 is the default, KL(p||u) with
     * u = p^alpha / sum p^alpha held constant. */
    int kl_keepgrad;              /* 1: the gradient also flows through u */
    int kl_forward;               /* 1: KL(u||p) (config key kl_reverse = 0) */
    npid_kl_terms kl_terms;       /* both, or L1 / L2 alone */
    /* PREC_FP32 (0) or PREC_BF16 (nn/ops/ops.h): the three bank products
     * (logits, dz, the grad write's step) with bf16 inputs and fp32 sums
     * (gemm_bf16) where gemm_bf16_available(); the bank, the loss, the
     * softmax and the writes' normalisation stay fp32. */
    int prec;
    /* 1: the bank's rows are bfloat16 (uint16_t, the high halves of
     * float32; --bank-dtype bf16): read into float32 as they are gathered,
     * written as float32 rows rounded to bf16 (npid_bank_put_row). 0: float32. */
    int bank_bf16;
} npid_config;

typedef struct {
    double loss, ce, kl;          /* batch means: loss = ce + lambda * kl */
    double inst_acc;              /* share of rows whose largest logit is their own column */
    int64_t ncols;                /* K' = |sel| */
} npid_stats;

typedef struct npid npid;

/* Workspace for batches up to max_batch against a bank of N rows of d.
 * Everything npid_step needs is allocated here (about 3 * max_batch * K'
 * floats for the logits, K' * d for the gathered rows unless neg is all,
 * N bytes + 4 N bytes for the sampler). A NEG_K with k > N - max_batch is
 * clipped per step to N - B (no error). Returns NULL with err on a bad config
 * (N < 1, d < 1, max_batch < 1 or > N, tau <= 0, k < 0, m not in (0, 1],
 * lambda < 0, non-finite values, kl_terms L1/L2 without kl_keepgrad or with
 * kl_forward) or when out of memory. */
npid *npid_new(const npid_config *cfg, int64_t N, int d, int max_batch, ssl_err *err);
void npid_free(npid *p);          /* NULL is a no-op */
/* The detail of the last error of npid_step (never NULL). */
const ssl_err *npid_error(const npid *p);
/* The columns of the last npid_step: sel [K'] (dataset indices: the batch
 * idx in batch order, then the negatives; `all` in index order, `k` in draw
 * order). Valid until the next step. *ncols gets K'. */
const int64_t *npid_columns(const npid *p, int64_t *ncols);

/* K' of a step of B rows against a bank of N rows (the columns
 * npid_step picks): N with negatives all, B + min(k, N - B) with k (the
 * clip of npid_new), B with none (in-batch only). */
int64_t npid_ncols(const npid_config *cfg, int64_t N, int B);
/* The FLOPs of one step's bank products, forward and backward, for reports
 * (make bench): each product is B K' d multiply-adds, 2 B K' d FLOPs, and a
 * step does the logits s = z Ws^T, dz = dS Ws and, with the grad write, the
 * deltas g^T z (npid_grad_update); so 4 B K' d with the npid write, 6 B K' d
 * with the grad write. Left out: the normalisation, the softmax rows and
 * the writes' element-wise work (O(B d + B K' + K' d)). */
double npid_step_flops(const npid_config *cfg, int64_t N, int B, int d);

/* One step. f: [B, d] head outputs; idx: [B] distinct dataset indices;
 * perm/lam: CutMix (perm NULL for none): row b's target is column b with
 * weight lam and column perm[b] with weight 1 - lam; r: draws the
 * negatives (NEG_K; may be NULL otherwise). Writes df [B, d] = dL/df and,
 * if write_bank, the bank rows (rule from cfg). Returns 0, or -1 if the
 * loss is not finite (the bank and df are then left unchanged; st is
 * filled), or -2 on bad arguments (B out of range, idx out of range or
 * repeated, perm out of range, lam not in [0, 1]; npid_error says which).
 * The draw of the negatives is a function of the state of r only. */
int npid_step(npid *p, const float *f, int B, const int64_t *idx,
              const int32_t *perm, float lam, void *bank, rng *r,
              float *df, int write_bank, npid_stats *st);

/* Data parallel: npid_step for the rows [off, off + B) of a global batch
 * of Bg rows that R replicas share, f [B, d] this replica's head outputs,
 * idx [Bg] and perm [Bg] (or NULL) the global batch's. The columns (the
 * global batch, then the negatives drawn from r), the targets and the
 * divisor of the loss are the global batch's, so df is this replica's
 * rows of the global df, and st's loss, ce, kl and inst_acc are this
 * replica's shares of the global means (their sums over the replicas are
 * the global values). The bank is not written: the npid write is
 * npid_write_npid of the global batch's npid_last_z rows (gathered from
 * every replica), the grad write npid_grad_update, the sum of the
 * replicas' updates, then npid_apply_update. npid_step(p, f, B, idx, ...)
 * is npid_step_part(p, f, B, 0, B, idx, ...) and the write. Returns as
 * npid_step. */
int npid_step_part(npid *p, const float *f, int B, int off, int Bg, const int64_t *idx,
                   const int32_t *perm, float lam, const void *bank, rng *r, float *df,
                   npid_stats *st);
/* z [B, d]: the L2-normalised rows f of the last step. */
const float *npid_last_z(const npid *p);
/* The grad write's update of the last successful step (whole or part):
 * upd [K', d] = bank_lr * g^T z over that step's rows, g = y - p^tau,
 * in the order of npid_columns. 0, or -2 if there is no such step, it
 * was written, or the rule is not grad. */
int npid_grad_update(npid *p, float *upd);
/* After npid_grad_update: bank[sel[k]] <- normalize(bank[sel[k]] +
 * upd[k]) for every column k, the bank as the step saw it. upd: the sum
 * of every replica's update. 0, or -2 without a taken update. */
int npid_apply_update(npid *p, void *bank, const float *upd);

/* The bank write of the last successful npid_step that was called with
 * write_bank = 0, on the same bank, unchanged since: lets a caller check the
 * network's gradients first and write the bank only for a good step. Valid
 * once per step (until the next npid_step). Returns 0, or -2 when there is
 * no such step (none yet, it failed, or it was already written). */
int npid_write_last(npid *p, void *bank);
/* The npid write of the rows idx [B] (distinct) with z [B, d], in p's
 * bank type and momentum: the data-parallel write of the global batch's
 * npid_last_z rows, after a npid_step_part. */
void npid_write_npid_rows(npid *p, void *bank, const int64_t *idx, int B, const float *z);

/* ---- the bank's rows, float32 or bfloat16 (bf16 1: uint16_t words) ----
 * A bf16 row is written from float32 values rounded to nearest even
 * (bf16_round's rounding: the products' inputs round the same way), and
 * read back exactly. The bank's own rows in the bank's type: */
void npid_bank_get_row(const void *bank, int bf16, int64_t i, int d, float *dst);
void npid_bank_put_row(void *bank, int bf16, int64_t i, int d, const float *src);
/* Bytes of a bank of N rows of d. */
size_t npid_bank_bytes(int bf16, int64_t N, int d);

/* The loss on given logits s [B, K] (cosines), targets t1[b] (weight lam)
 * and t2[b] (weight 1 - lam; t2 NULL: lam = 1), with cfg's tau, lambda,
 * alpha and SqrtKL variant (the other fields are not used). Writes
 * ds [B, K] = dL/ds (ssl-method(7), THE LOSS) and, if
 * ptau != NULL, p^tau [B, K]. Returns the loss, *ce and *kl (batch means;
 * with lambda == 0 the temperature-1 softmax is skipped and *kl is 0).
 * Rows run on the thread pool; the result does not depend on the thread
 * count. Returns NaN if out of memory (it allocates when ptau is NULL) or
 * if the variant is one npid_new refuses. */
double npid_loss(const float *s, int B, int K, const int32_t *t1,
                 const int32_t *t2, float lam, const npid_config *cfg,
                 float *ds, float *ptau, double *ce, double *kl);

/* The two bank writes on their own (npid_step calls them; tests use them).
 * npid: bank[idx[b]] <- normalize(m bank[idx[b]] + (1 - m) z[b]) for B
 * distinct rows; z [B, d]. */
void npid_write_npid(float *bank, int d, const int64_t *idx, int B,
                     const float *z, float m);
/* grad: g [B, K] = y - p^tau, z [B, d]; for every column k:
 * bank[sel[k]] <- normalize(bank[sel[k]] + step * sum_b g[b][k] z[b]).
 * sel: K distinct rows, with work [K, d] scratch; or sel NULL: the columns
 * are bank rows 0..K-1, written in place (work unused). Its product is
 * OpenBLAS's sgemm (npid_step's write: gemm, when built; the two agree
 * within rounding, not bit for bit). */
void npid_write_grad(float *bank, int d, const int64_t *sel, int64_t K,
                     const float *g, const float *z, int B, float step,
                     float *work);

/* NPID's random bank: U(-a, a), a = 1/sqrt(d/3), not normalised. Row i
 * draws from rng_init(seed ^ RNG_BANK, i, 0): independent of threads. */
void npid_bank_random(float *bank, int64_t N, int d, uint64_t seed);
/* The same bank in bf16 (each row rounded from float32). */
void npid_bank_random_bf16(uint16_t *bank, int64_t N, int d, uint64_t seed);
#endif
