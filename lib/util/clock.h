/* clock.h: the library's one clock, for timings and progress (never for
 * randomness: runs are seeded, not timed). */
#ifndef SSL_CLOCK_H
#define SSL_CLOCK_H

/* Seconds of CLOCK_MONOTONIC: differences are elapsed wall time. */
double ssl_clock(void);
#endif
