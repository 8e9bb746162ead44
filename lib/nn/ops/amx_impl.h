/* amx_impl.h: the tile configuration that gemm_bf16.c's and
 * conv_winograd.c's AMX kernels share (private to nn/ops): all eight
 * tiles 16 rows of 64 bytes (an fp32 C tile 16 x 16, a bf16 A tile 16
 * rows of 32 k, a B tile 16 rows of k pairs). A thread calls
 * amx_begin() before its tile instructions and amx_end() after them, so
 * that the tile state is not kept (nor saved at each context switch)
 * between calls. Only where gemm_bf16_amx() says the CPU has AMX and
 * Linux granted the state. */
#ifndef SSL_AMX_IMPL_H
#define SSL_AMX_IMPL_H
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

typedef struct __attribute__((aligned(64))) {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} amx_tilecfg;

__attribute__((target("amx-tile"), unused))
static void amx_begin(void) {
    amx_tilecfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) { cfg.colsb[t] = 64; cfg.rows[t] = 16; }
    _tile_loadconfig(&cfg);
}

__attribute__((target("amx-tile"), unused))
static void amx_end(void) { _tile_release(); }
#endif
