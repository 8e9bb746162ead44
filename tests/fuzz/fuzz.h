/* fuzz.h: helpers shared by the libFuzzer targets in tests/fuzz/fuzz_*.c.
 *
 * The readers under test take paths or file descriptors, so the fuzz input
 * is put in an anonymous memory file (memfd_create) and handed over as
 * /proc/self/fd/N: no disk traffic, no temporary names to clean up, and
 * every open() of the path starts at offset 0. Built only by
 * tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined. */
#ifndef SSL_FUZZ_H
#define SSL_FUZZ_H
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* A memory file holding data[0..n); *path gets "/proc/self/fd/N". Returns
 * the fd (close it when done) or -1. */
static int fuzz_memfile(const uint8_t *data, size_t n, char path[64]) __attribute__((unused));
static int fuzz_memfile(const uint8_t *data, size_t n, char path[64]) {
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < n) {
        ssize_t k = write(fd, data + off, n - off);
        if (k <= 0) { close(fd); return -1; }
        off += (size_t)k;
    }
    lseek(fd, 0, SEEK_SET);
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}
#endif
