/* dist.c: the processes of a data-parallel run (dist.h): MPI when built
 * with SSL_MPI, one process otherwise. Large buffers go in pieces of at
 * most 2^30 elements (MPI counts are int). */
#include "run/dist.h"

#include <stdlib.h>
#include <string.h>

#include "util/clock.h"

#ifdef SSL_MPI
#include <mpi.h>
#endif

static int active, rank, size = 1;
static double wait_s;
static int64_t bytes;

#define PIECE ((int64_t)1 << 30)

int dist_available(void) {
#ifdef SSL_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_active(void) { return active; }
int dist_rank(void) { return rank; }
int dist_size(void) { return size; }
double dist_wait_seconds(void) { return wait_s; }
int64_t dist_bytes(void) { return bytes; }

#ifdef SSL_MPI
int dist_init(int *argc, char ***argv, ssl_err *err) {
    int provided;
    if (active) return 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ssl_fail(err, SSL_EIO, "MPI_Init_thread failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    active = 1;
    return 0;
}

void dist_finalize(void) {
    if (!active) return;
    MPI_Finalize();
    active = 0;
}

void dist_abort(int status) {
    if (active) MPI_Abort(MPI_COMM_WORLD, status);
}

static void sum(void *buf, int64_t n, MPI_Datatype t, size_t el) {
    double t0 = ssl_clock();
    for (int64_t o = 0; o < n; o += PIECE) {
        int c = (int)(n - o < PIECE ? n - o : PIECE);
        MPI_Allreduce(MPI_IN_PLACE, (char *)buf + o * el, c, t, MPI_SUM, MPI_COMM_WORLD);
    }
    bytes += n * (int64_t)el;
    wait_s += ssl_clock() - t0;
}

void dist_sum_float(float *buf, int64_t n) {
    if (size > 1) sum(buf, n, MPI_FLOAT, sizeof *buf);
}

void dist_sum_double(double *buf, int64_t n) {
    if (size > 1) sum(buf, n, MPI_DOUBLE, sizeof *buf);
}

/* The non-blocking sums in flight. A full table waits for them all
 * before the next starts: the same on every rank, so the collectives still
 * match. */
#define MAX_REQS 1024
static MPI_Request reqs[MAX_REQS];
static int nreqs;

void dist_wait_all(void) {
    if (!nreqs) return;
    double t0 = ssl_clock();
    MPI_Waitall(nreqs, reqs, MPI_STATUSES_IGNORE);
    nreqs = 0;
    wait_s += ssl_clock() - t0;
}

void dist_progress(void) {
    if (!nreqs) return;
    double t0 = ssl_clock();
    int done;
    MPI_Testall(nreqs, reqs, &done, MPI_STATUSES_IGNORE);
    if (done) nreqs = 0;
    wait_s += ssl_clock() - t0;
}

void dist_isum_float(float *buf, int64_t n) {
    if (size == 1) return;
    for (int64_t o = 0; o < n; o += PIECE) {
        if (nreqs == MAX_REQS) dist_wait_all();
        double t0 = ssl_clock();
        int c = (int)(n - o < PIECE ? n - o : PIECE);
        MPI_Iallreduce(MPI_IN_PLACE, buf + o, c, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                       &reqs[nreqs++]);
        wait_s += ssl_clock() - t0;
    }
    bytes += n * (int64_t)sizeof *buf;
}

void dist_gather_float(const float *in, int64_t n, float *out) {
    if (size == 1) {
        if (out != in) memcpy(out, in, (size_t)n * sizeof *in);
        return;
    }
    double t0 = ssl_clock();
    if (n <= PIECE) {
        MPI_Allgather(in, (int)n, MPI_FLOAT, out, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
    } else {                      /* rank by rank, in pieces */
        for (int r = 0; r < size; r++) {
            if (r == rank) memcpy(out + (int64_t)r * n, in, (size_t)n * sizeof *in);
            for (int64_t o = 0; o < n; o += PIECE) {
                int c = (int)(n - o < PIECE ? n - o : PIECE);
                MPI_Bcast(out + (int64_t)r * n + o, c, MPI_FLOAT, r, MPI_COMM_WORLD);
            }
        }
    }
    bytes += n * (int64_t)sizeof *in;
    wait_s += ssl_clock() - t0;
}

void dist_bcast(void *buf, int64_t nbytes, int root) {
    if (size == 1) return;
    double t0 = ssl_clock();
    for (int64_t o = 0; o < nbytes; o += PIECE) {
        int c = (int)(nbytes - o < PIECE ? nbytes - o : PIECE);
        MPI_Bcast((char *)buf + o, c, MPI_BYTE, root, MPI_COMM_WORLD);
    }
    bytes += rank == root ? nbytes : 0;
    wait_s += ssl_clock() - t0;
}

int dist_max_int(int v) {
    int m = v;
    if (size > 1) MPI_Allreduce(&v, &m, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return m;
}

int dist_agree(int rc, ssl_err *err) {
    if (size == 1) return rc ? -1 : 0;
    int mine = rc ? rank : size, first;
    double t0 = ssl_clock();
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    wait_s += ssl_clock() - t0;
    if (first == size) return 0;
    ssl_err e;
    memset(&e, 0, sizeof e);
    if (rank == first && err) e = *err;
    MPI_Bcast(&e, (int)sizeof e, MPI_BYTE, first, MPI_COMM_WORLD);
    if (first != 0) ssl_prefix(&e, "rank %d: ", first);
    if (err) *err = e;
    return -1;
}

int dist_differs(uint64_t h) {
    if (size == 1) return 0;
    uint64_t h0 = h;
    MPI_Bcast(&h0, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    int mine = h0 != h ? rank : size, first;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return first == size ? 0 : first;
}

#else   /* one process */

int dist_init(int *argc, char ***argv, ssl_err *err) {
    (void)argc, (void)argv;
    return ssl_fail(err, SSL_EARG, "built without MPI: rebuild with make MPI=1 (Open MPI: "
                    "libopenmpi-dev) to run under mpirun");
}

void dist_finalize(void) {}
void dist_abort(int status) { (void)status; }
void dist_sum_float(float *buf, int64_t n) { (void)buf, (void)n; }
void dist_sum_double(double *buf, int64_t n) { (void)buf, (void)n; }

void dist_gather_float(const float *in, int64_t n, float *out) {
    if (out != in) memcpy(out, in, (size_t)n * sizeof *in);
}

void dist_bcast(void *buf, int64_t nbytes, int root) { (void)buf, (void)nbytes, (void)root; }
void dist_isum_float(float *buf, int64_t n) { (void)buf, (void)n; }
void dist_progress(void) {}
void dist_wait_all(void) {}
int dist_max_int(int v) { return v; }
int dist_agree(int rc, ssl_err *err) { (void)err; return rc ? -1 : 0; }
int dist_differs(uint64_t h) { (void)h; return 0; }
#endif

void dist_bn_sum(void *ctx, double *buf, int64_t n) {
    (void)ctx;
    dist_sum_double(buf, n);
}
