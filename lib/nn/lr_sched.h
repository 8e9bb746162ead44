/* lr_sched.h: learning-rate schedules (ssl-method(7), LEARNING-RATE SCHEDULES).
 *
 * cosine: lr_e = lr0 * 0.5 * (1 + cos(pi * e / E)), constant within epoch e
 *         (e counted from 0), as in the authors' code.
 * step:   lr0 * gamma^(number of milestones <= e).
 * Warm-up (either schedule): during the first `warmup` epochs the rate is
 * scaled linearly per step up to the scheduled value:
 * lr = sched(e) * (global_step + 1) / (warmup * steps_per_epoch). */
#ifndef SSL_LR_SCHED_H
#define SSL_LR_SCHED_H
#include <stdint.h>

typedef enum { SCHED_COSINE, SCHED_STEP, SCHED_CONSTANT } lr_sched_kind;

typedef struct {
    lr_sched_kind kind;
    double lr;                    /* lr0 */
    int epochs;                   /* E */
    int warmup;                   /* warm-up epochs, 0 for none */
    int nmilestones;
    int milestones[8];            /* step: epochs at which lr *= gamma */
    double gamma;                 /* step factor (0.1) */
} lr_sched;

/* Rate for a step in `epoch` (0-based); step is the global step index and
 * steps_per_epoch the number of steps in one epoch (for warm-up). */
double lr_sched_rate(const lr_sched *s, int epoch, int64_t step, int64_t steps_per_epoch);
#endif
