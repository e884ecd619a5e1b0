/* cbl_pil.h: what codegen's PIL harness needs from the platform: text output, exit, a tick
 * counter, and the canonical FNV-1a 64 hash of results (float32 NaNs hash as 0x7FC00000). */
#ifndef CBL_PIL_H
#define CBL_PIL_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__)
#define CBL_PIL_BARE 1
int cbl_semihost(int op, const void *arg);
extern volatile uint32_t cbl_systick_wraps;
static void cbl_puts(const char *s) { cbl_semihost(0x04, s); } /* SYS_WRITE0 */
static void cbl_timer_start(void)
{
    *(volatile uint32_t *)0xE000E014 = 0xFFFFFFU; /* SYST_RVR */
    *(volatile uint32_t *)0xE000E018 = 0;         /* SYST_CVR */
    *(volatile uint32_t *)0xE000E010 = 7;         /* SYST_CSR: enable, interrupt, CPU clock */
    while (*(volatile uint32_t *)0xE000E018 == 0) {
    } /* wait for the first reload */
    cbl_systick_wraps = 0;
}
static uint64_t cbl_ticks(void)
{
    uint32_t w1, v, w2;
    do {
        w1 = cbl_systick_wraps;
        v = *(volatile uint32_t *)0xE000E018;
        w2 = cbl_systick_wraps;
    } while (w1 != w2);
    return ((uint64_t)w1 << 24) + (0xFFFFFFU - v);
}
#else
#include <stdio.h>
static void cbl_puts(const char *s) { fputs(s, stdout); }
static void cbl_timer_start(void) {}
static uint64_t cbl_ticks(void) { return 0; }
#endif

static uint64_t cbl_fnv(uint64_t h, const uint8_t *p, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static uint64_t cbl_fnv_f32(uint64_t h, const uint8_t *p, uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        uint32_t u;
        const uint8_t *q = p + 4 * i;
        u = (uint32_t)q[0] | ((uint32_t)q[1] << 8) | ((uint32_t)q[2] << 16) | ((uint32_t)q[3] << 24);
        if ((u & 0x7F800000U) == 0x7F800000U && (u & 0x007FFFFFU) != 0) u = 0x7FC00000U;
        uint8_t b[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        h = cbl_fnv(h, b, 4);
    }
    return h;
}

static char *cbl_hex(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    }
    return out + digits;
}

#endif /* CBL_PIL_H */
