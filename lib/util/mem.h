/* mem.h: a hint for the kernel about the library's large blocks. */
#ifndef SSL_MEM_H
#define SSL_MEM_H
#include <stddef.h>

/* Ask for transparent huge pages (madvise MADV_HUGEPAGE) on the 2 MiB
 * aligned pages inside [p, p + bytes) when bytes is at least 4 MiB: the
 * bank, the network's activations and workspaces, the bank products'
 * buffers and the stream reader's records. Call it right after the
 * allocation, before the block is touched: each 2 MiB page then costs one
 * fault instead of 512 (the demo's ssl-train takes ~158000 faults with
 * 4 KiB pages, ~45000 with these hints), and the memory-bound passes over
 * the activations miss the TLB less: a 1-epoch demo run in bf16 takes
 * 2-3% less time (3 paired runs; fp32 inside the noise). Only a hint: where THP is off ("never" in
 * /sys/kernel/mm/transparent_hugepage/enabled), or madvise fails, nothing
 * changes; the bits computed never depend on it. With THP "madvise" (the
 * Debian default) this is what enables it; with "always" it changes
 * nothing. ssl_set_huge_pages(0) turns the hint off (the tools do, given
 * SSL_NO_HUGEPAGES=1). */
void ssl_advise_huge(void *p, size_t bytes);
/* 1 (the default): ssl_advise_huge and ssl_grow_huge ask for huge pages;
 * 0: they do not (plain realloc). Set it before the blocks are made. */
void ssl_set_huge_pages(int on);
/* realloc(p, n) for a block whose first used bytes matter, with
 * ssl_advise_huge on the new block before those bytes are copied into it
 * (realloc would fault its pages in 4 KiB at a time while copying). NULL
 * when out of memory, p then still valid. */
void *ssl_grow_huge(void *p, size_t used, size_t n);
#endif
