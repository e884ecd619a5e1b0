/* cortexm_startup.c: bare-metal start for codegen's PIL images on QEMU mps2 (Cortex-M3/M4F/M7).
 *
 * Vector table, .data copy and .bss zeroing, FPU enable (CPACR 0xE000ED88 |= 0xF << 20), then
 * exit(main()) through ARM semihosting (SYS_EXIT). Faults exit with status 127 via semihosting.
 * No C library is linked (-nostdlib): output goes through semihosting SYS_WRITE0, and the
 * memcpy / memset GCC may emit are defined here. SysTick (processor clock) counts its 2^24
 * wraps so the harness can time code with QEMU's -icount (1 instruction = 1 ns, SysTick at
 * 25 MHz: 1 tick = 40 instructions).
 */
#include <stddef.h>
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
int main(void);

volatile uint32_t cbl_systick_wraps;

int cbl_semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void cbl_exit(int status)
{
    /* SYS_EXIT (0x18): ADP_Stopped_ApplicationExit (0x20026) -> QEMU exit code 0, any other
     * reason (here ADP_Stopped_RunTimeErrorUnknown, 0x20023) -> exit code 1. */
    cbl_semihost(0x18, (const void *)(uintptr_t)(status == 0 ? 0x20026 : 0x20023));
    for (;;) {
    }
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;
    while (n--) *d++ = (uint8_t)c;
    return dst;
}

void Fault_Handler(void) { cbl_exit(127); }

void SysTick_Handler(void) { cbl_systick_wraps++; }

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) *dst++ = *src++;
    for (uint32_t *dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    *(volatile uint32_t *)0xE000ED88 |= 0xFU << 20; /* CP10, CP11 full access: FPU on */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    cbl_exit(main());
}

typedef void (*cbl_vector)(void);
__attribute__((section(".isr_vector"), used)) const cbl_vector cbl_vectors[16] = {
    (cbl_vector)(uintptr_t)&_estack, Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler,
    SysTick_Handler,
};
