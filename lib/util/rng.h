/* rng.h: explicit, seedable random numbers (no global state, no clock).
 *
 * rng_init(r, seed, a, b) derives an independent stream from a key
 * (seed, a, b) with splitmix64; the stream itself is xoshiro256**. Use the
 * key to make draws a function of what they are for, e.g. augmentation of
 * image `index` in `epoch`: rng_init(&r, seed ^ RNG_AUGMENT, epoch, index).
 * Then results do not depend on thread count or order of work. */
#ifndef SSL_RNG_H
#define SSL_RNG_H
#include <stdint.h>

typedef struct { uint64_t s[4]; } rng;

/* Domain tags, xor-ed into the seed so that different uses never share a stream. */
enum {
    RNG_INIT = 0x1000,      /* network initialisation */
    RNG_BANK = 0x2000,      /* random bank */
    RNG_ORDER = 0x3000,     /* data order per epoch */
    RNG_AUGMENT = 0x4000,   /* per-image augmentation */
    RNG_CUTMIX = 0x5000,    /* per-batch CutMix */
    RNG_NEGATIVES = 0x6000, /* per-step negative sampling */
    RNG_SUBSET = 0x7000,    /* dataset subsets */
    RNG_LINEVAL = 0x8000,   /* linear evaluation */
    RNG_FEWSHOT = 0x9000    /* few-label training subsets (lib/eval/fewshot.h) */
};

void rng_init(rng *r, uint64_t seed, uint64_t a, uint64_t b);
uint64_t rng_u64(rng *r);
/* Uniform in [0, 1) with 24 (float) or 53 (double) random bits. */
float rng_uniform(rng *r);
double rng_uniform_d(rng *r);
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t rng_below(rng *r, uint64_t n);
/* Standard normal (Box-Muller, double precision). */
double rng_normal(rng *r);
/* In-place Fisher-Yates shuffle of n int32 / int64 values. */
void rng_shuffle_i32(rng *r, int32_t *v, int64_t n);
void rng_shuffle_i64(rng *r, int64_t *v, int64_t n);
/* A stateless 64-bit hash of (seed, a, b): handy for one-off draws. */
uint64_t rng_hash(uint64_t seed, uint64_t a, uint64_t b);
#endif
