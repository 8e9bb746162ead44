/* npid.h: the instance-discrimination head of a training step: logits
 * against the memory bank, CE + SqrtKL loss, the gradient w.r.t. the head
 * output, and the bank write (METHOD.md section 2, steps 3-8; section 3).
 *
 * The memory bank is caller-owned float32 [N, d], rows L2-normalised
 * (except a fresh random bank). */
#ifndef SSL_NPID_H
#define SSL_NPID_H
#include <stdint.h>

#include "rng.h"

typedef enum { NEG_ALL, NEG_K, NEG_NONE } npid_negatives;
typedef enum { BANK_WRITE_NPID, BANK_WRITE_GRAD } npid_write_rule;

typedef struct {
    npid_negatives neg;           /* all / k / 0 (in-batch only) */
    int64_t k;                    /* with NEG_K: negatives drawn per step */
    float tau;                    /* CE temperature */
    float lambda, alpha;          /* SqrtKL weight and power */
    float m;                      /* bank momentum */
    npid_write_rule write;        /* npid or grad */
    float bank_lr;                /* grad write step factor, default (1-m)/m */
} npid_config;

typedef struct {
    double loss, ce, kl;          /* batch means: loss = ce + lambda * kl */
    double inst_acc;              /* share of rows whose largest logit is their own column */
    int64_t ncols;                /* K' = |sel| */
} npid_stats;

typedef struct npid npid;

/* Workspace for batches up to max_batch against a bank of N rows of d. */
npid *npid_new(const npid_config *cfg, int64_t N, int d, int max_batch);
void npid_free(npid *p);

/* One step. f: [B, d] head outputs; idx: [B] distinct dataset indices;
 * perm/lam: CutMix (perm NULL for none): row b's target is column b with
 * weight lam and column perm[b] with weight 1 - lam; r: draws the
 * negatives (NEG_K). Writes df [B, d] = dL/df and, if write_bank, the
 * bank rows (rule from cfg). Returns 0, or -1 if the loss is not finite
 * (the bank is then left unchanged). */
int npid_step(npid *p, const float *f, int B, const int64_t *idx,
              const int32_t *perm, float lam, float *bank, rng *r,
              float *df, int write_bank, npid_stats *st);

/* The loss on given logits s [B, K] (cosines), targets t1[b] (weight lam)
 * and t2[b] (weight 1 - lam; t2 NULL: lam = 1). Writes ds [B, K] = dL/ds
 * and, if ptau != NULL, p^tau [B, K]. Returns the loss, *ce and *kl. */
double npid_loss(const float *s, int B, int K, const int32_t *t1,
                 const int32_t *t2, float lam, float tau, float lambda,
                 float alpha, float *ds, float *ptau, double *ce, double *kl);

/* NPID's random bank: U(-a, a), a = 1/sqrt(d/3), not normalised. */
void npid_bank_random(float *bank, int64_t N, int d, uint64_t seed);
/* dst[i] = src[i] / max(||src[i]||, 1e-12) for n rows of d (dst may be src). */
void l2_normalize_rows(float *dst, const float *src, int64_t n, int d);
#endif
