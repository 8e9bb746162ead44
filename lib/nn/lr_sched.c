/* lr_sched.c: learning-rate schedules (see lr_sched.h). */
#include "nn/lr_sched.h"

#include <math.h>

double lr_sched_rate(const lr_sched *s, int epoch, int64_t step, int64_t steps_per_epoch) {
    double lr = s->lr;
    switch (s->kind) {
    case SCHED_COSINE:
        if (s->epochs > 0) lr = s->lr * 0.5 * (1.0 + cos(M_PI * epoch / s->epochs));
        break;
    case SCHED_STEP:
        for (int i = 0; i < s->nmilestones; i++)
            if (epoch >= s->milestones[i]) lr *= s->gamma;
        break;
    case SCHED_CONSTANT:
        break;
    }
    if (s->warmup > 0 && epoch < s->warmup && steps_per_epoch > 0) {
        double total = (double)s->warmup * steps_per_epoch;
        lr *= (step + 1) / total;
    }
    return lr;
}
