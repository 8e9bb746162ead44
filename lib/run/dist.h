/* dist.h: the processes of a data-parallel run (ssl-train(1), DATA
 * PARALLEL). Built with MPI (make MPI=1, or mpicc found: SSL_MPI defined
 * for dist.c alone), these are MPI_COMM_WORLD's ranks; built without it,
 * or before dist_init, one process: rank 0 of 1, every collective a
 * no-op (a sum of one, a gather of one), so callers need no #ifdef.
 *
 * Collectives are called by every rank in the same order, from the main
 * thread only. A failed MPI call aborts the job (MPI's default handler):
 * a rank that dies ends the run. What the library can fail at runs
 * through dist_agree, so that every rank stops together with one message.
 *
 * dist_wait_seconds and dist_bytes count the collectives of this rank:
 * the wall time spent inside them (communication and waiting for the
 * slower ranks; for the non-blocking sums, the time inside the calls that
 * start, test and wait for them, not the time they are in flight) and
 * their payload (the buffer each passes: what one rank
 * contributes, not what the algorithm moves on the wire). */
#ifndef SSL_DIST_H
#define SSL_DIST_H
#include <stdint.h>

#include "util/err.h"

/* 1 if built with MPI. */
int dist_available(void);
/* MPI_Init_thread (funneled). Only for a process that mpirun started (the
 * tool decides from its environment: the library reads none). 0, or -1
 * with err when built without MPI or when MPI fails. */
int dist_init(int *argc, char ***argv, ssl_err *err);
/* 1 between dist_init and dist_finalize. */
int dist_active(void);
/* MPI_Finalize (every rank, after its last collective); no-op if not
 * active. */
void dist_finalize(void);
/* MPI_Abort(status): ends every rank now (the tool's last resort when one
 * rank fails on its own). Returns only when not active. */
void dist_abort(int status);
int dist_rank(void);
int dist_size(void);

/* Sums over the ranks, in place; every rank gets the same bits. */
void dist_sum_float(float *buf, int64_t n);
void dist_sum_double(double *buf, int64_t n);
/* Non-blocking sums over the ranks (the gradient buckets, ssl-train(1)
 * --bucket-mb): dist_isum_float starts the in-place sum of buf [n]
 * (MPI_Iallreduce) and returns at once; buf is the collective's until
 * dist_wait_all returns. dist_progress lets the sums in flight advance
 * (MPI_Testall: Open MPI moves a non-blocking collective only inside MPI
 * calls) without blocking; dist_wait_all blocks until every one is done.
 * They are collectives like the others: every rank starts the same sums in
 * the same order, and blocking collectives may run while they are in
 * flight (MPI matches each kind in the order the ranks call them). The
 * time inside all three counts in dist_wait_seconds, the payload in
 * dist_bytes. With one process they do nothing. */
void dist_isum_float(float *buf, int64_t n);
void dist_progress(void);
void dist_wait_all(void);
/* out [size * n] = every rank's in [n], in rank order. */
void dist_gather_float(const float *in, int64_t n, float *out);
/* The largest v over the ranks. */
int dist_max_int(int v);
/* bytes of buf from root to every rank. */
void dist_bcast(void *buf, int64_t bytes, int root);

/* The ranks' verdicts on a step that each took on its own: if any rank's
 * rc is non-zero, every rank returns -1 with err the lowest such rank's
 * (prefixed "rank R: " when R is not 0); else 0. */
int dist_agree(int rc, ssl_err *err);
/* 0 if every rank's h equals rank 0's, else the lowest rank whose h
 * differs. */
int dist_differs(uint64_t h);

double dist_wait_seconds(void);
int64_t dist_bytes(void);
/* The bn_sync_fn (nn/ops/ops.h) of --sync-bn: dist_sum_double. */
void dist_bn_sum(void *ctx, double *buf, int64_t n);
#endif
