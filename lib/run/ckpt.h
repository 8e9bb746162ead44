/* ckpt.h: training checkpoints as tensor streams (one section of kind
 * "checkpoint"; a second section is an error).
 *
 * Tensors: every net tensor under its own name in PyTorch layout (weights,
 * biases, BN running statistics), f32; the SGD momentum of every parameter
 * as "opt.momentum.<name>"; the memory bank "bank" [N, d], f32 or bf16
 * (ssl-init-bank --bank-dtype; ssl-train keeps it), and the
 * training labels of its rows "bank_labels" i32 [N] (for the kNN monitor),
 * absent when the training set has no labels.
 * Metadata: format (1), config (the resolved configuration: net, data,
 * init, train, critical), epoch (completed epochs), step (global steps
 * completed; the position in the data order is step mod steps-per-epoch),
 * seed, created_by. No time stamps: two runs that compute the same state
 * write the same bytes.
 *
 * Writing goes through sslt_writer (temporary file, fsync, rename), so a
 * crash never leaves a half-written checkpoint under the real name; its
 * records are compressed on the thread pool (sslt_write_section), at
 * CKPT_ZSTD_LEVEL.
 * Reading checks the kind, that every expected tensor is present with the
 * expected dtype and shape (the error names the tensor and both shapes),
 * and that there are no unexpected tensors. */
#ifndef SSL_CKPT_H
#define SSL_CKPT_H
#include <stdint.h>

#include "nn/net.h"
#include "stream/sslt.h"
#include "util/value.h"

#define CKPT_KIND "checkpoint"
#define CKPT_FORMAT 1
/* The zstd level of checkpoints. Their floats (bank, weights, momentum)
 * barely compress: zstd's Huffman coding of literals (levels 1 and up)
 * saves 7% of a bank of unit rows at about 4x the CPU time of level -1 to
 * write and 5x to read, and level -1 leaves them uncompressed (raw blocks)
 * but still compresses what repeats (a fresh network's zero momentum).
 * tests/bench/overheads.sh measures both. */
#define CKPT_ZSTD_LEVEL (-1)

typedef struct {
    net *net;                     /* owned */
    int64_t n;                    /* bank rows N */
    int d;                        /* bank width = net_out_dim */
    int bank_bf16;                /* the bank's dtype: 0 f32 (bank), 1 bf16 (bank16) */
    float *bank;                  /* [n, d] f32, owned (NULL if not loaded or bf16) */
    uint16_t *bank16;             /* [n, d] bf16 words, owned (NULL if not loaded or f32) */
    int32_t *bank_labels;         /* [n], owned (NULL if not loaded or unlabelled) */
    int unlabelled;               /* the bank's dataset has no labels: no bank_labels */
    sv *config;                   /* owned map: net, data, init, [train], [critical] */
    int64_t epoch;                /* completed epochs */
    int64_t step;                 /* global steps completed */
    uint64_t seed;
} ssl_ckpt;

/* What ckpt_read loads besides the network weights and buffers. */
#define CKPT_LOAD_BANK 1          /* bank (or bank16) and bank_labels */
#define CKPT_LOAD_MOMENTUM 2      /* SGD momentum (else left zero) */
#define CKPT_LOAD_ALL (CKPT_LOAD_BANK | CKPT_LOAD_MOMENTUM)
/* For the backbone's features alone (net_forward_features): the head's
 * weights ("head.*") are not read either, and are left zero. */
#define CKPT_SKIP_HEAD 4

/* The loaded bank, f32 or bf16 words (npid_config.bank_bf16 says which). */
static inline void *ckpt_bank(const ssl_ckpt *c) {
    return c->bank_bf16 ? (void *)c->bank16 : (void *)c->bank;
}

/* Write c to path ("-": stdout) atomically. created_by: a short string
 * ("ssl-train 0.1.0"). The network's momentum buffers are written as
 * they are (zero for a fresh network). Returns 0, or -1 with err. */
int ckpt_save(const ssl_ckpt *c, const char *path, const char *created_by,
              ssl_err *err);
/* The same at another zstd level (benchmarks, tests). */
int ckpt_save_level(const ssl_ckpt *c, const char *path, const char *created_by, int level,
                    ssl_err *err);

/* Two-phase reading, so that a caller can look at the stored configuration
 * before it sizes the network (and so that stdin can be read once). */
typedef struct ckpt_reader ckpt_reader;
/* Open path ("-": stdin) and read the section header. NULL with err if
 * the stream is unreadable or not a checkpoint. */
ckpt_reader *ckpt_open(const char *path, ssl_err *err);
/* The section's metadata (config, epoch, step, seed, ...), valid until
 * ckpt_close. */
const sv *ckpt_meta(const ckpt_reader *r);
/* Build the network (batches up to max_batch) and read the tensors that
 * flags ask for into a zeroed *c. The others are verified for presence
 * and shape and skipped without being decompressed: their records'
 * fields and order are checked, their data's checksums are not
 * (sslt_reader_skip), so damage inside the bank does not stop a reader
 * of the network alone (ssl-info --check finds it). Returns 0, or -1
 * with err; on error *c is left destroyed. */
int ckpt_read(ckpt_reader *r, ssl_ckpt *c, int max_batch, int flags, ssl_err *err);
void ckpt_close(ckpt_reader *r);  /* NULL is a no-op */

/* ckpt_open + ckpt_read + ckpt_close. */
int ckpt_load(ssl_ckpt *c, const char *path, int max_batch, int flags, ssl_err *err);
/* Free everything c owns and zero it. */
void ckpt_destroy(ssl_ckpt *c);
#endif
