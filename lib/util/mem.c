/* mem.c: transparent huge pages for large blocks (mem.h). */
#include "util/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((uintptr_t)2 << 20)
#define HUGE_MIN ((size_t)4 << 20)

static int huge_off;

void ssl_set_huge_pages(int on) { huge_off = !on; }

void ssl_advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
    if (!p || bytes < HUGE_MIN || huge_off) return;
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t b = ((uintptr_t)p + bytes) & ~(HUGE_PAGE - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

void *ssl_grow_huge(void *p, size_t used, size_t n) {
    if (n < HUGE_MIN || huge_off) return realloc(p, n);
    void *q = malloc(n);
    if (!q) return NULL;
    ssl_advise_huge(q, n);
    if (p && used) memcpy(q, p, used < n ? used : n);
    free(p);
    return q;
}
