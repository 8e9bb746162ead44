/* clock.h: the library's clocks, for timings and progress (never for
 * randomness: runs are seeded, not timed). */
#ifndef SSL_CLOCK_H
#define SSL_CLOCK_H

/* Seconds of CLOCK_MONOTONIC: differences are elapsed wall time. */
double ssl_clock(void);
/* Seconds of CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID):
 * for profiles on a shared machine, where wall time also counts the
 * waits for a core. */
double ssl_thread_clock(void);
#endif
