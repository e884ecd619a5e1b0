/* boot_m4.c: the resident bootloader on the Cortex-M4F board (QEMU mps2-an386 in the tests).
 *
 * The flash is read in place from address 0 (on QEMU the "flash" is SSRAM, so erase and program
 * are emulated with NOR semantics: erase sets 0xFF, program clears bits). The Ed25519 public key
 * is linked into the last 64 bytes of the bootloader region (section .boot_key, CBL_KEY_OFF). The
 * policy is cbl_boot.c's; the chosen slot's vector table follows its image header: the bootloader
 * points VTOR at it, loads its stack pointer and jumps to its reset handler. Without a bootable
 * slot it reports every slot's failing check over semihosting and stops (exit status 1).
 */
#include <stddef.h>
#include <stdint.h>
#include "cbl_boot.h"
#include "cbl_image.h"

int cbl_semihost(int op, const void *arg);

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = (const uint8_t *)a, *q = (const uint8_t *)b;
    for (size_t k = 0; k < n; k++)
        if (p[k] != q[k]) return p[k] < q[k] ? -1 : 1;
    return 0;
}

static void put(const char *s) { cbl_semihost(0x04, s); }

static void put_u32(uint32_t v)
{
    char buf[11];
    int k = 10;
    buf[k] = 0;
    do {
        buf[--k] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v && k > 0);
    put(&buf[k]);
}

static volatile uint8_t *const FLASH = (volatile uint8_t *)(uintptr_t)0x0u;

static int m4_erase(void *user, uint32_t off, uint32_t n)
{
    if (off > CBL_FLASH_BYTES || n > CBL_FLASH_BYTES - off || off < CBL_BOOT_BYTES) return -1;
    for (uint32_t k = 0; k < n; k++) FLASH[off + k] = 0xFFu;
    return 0;
}

static int m4_program(void *user, uint32_t off, const uint8_t *src, uint32_t n)
{
    if (off > CBL_FLASH_BYTES || n > CBL_FLASH_BYTES - off || off < CBL_BOOT_BYTES) return -1;
    for (uint32_t k = 0; k < n; k++) FLASH[off + k] &= src[k];
    return 0;
}

__attribute__((noreturn)) static void jump(uint32_t vt)
{
    const volatile uint32_t *v = (const volatile uint32_t *)(uintptr_t)vt;
    uint32_t sp = v[0], pc = v[1];
    *(volatile uint32_t *)0xE000ED08u = vt;  /* VTOR */
    __asm__ volatile("dsb\n\tisb\n\tmsr msp, %0\n\tbx %1" ::"r"(sp), "r"(pc) : "memory");
    __builtin_unreachable();
}

static cbl_boot_t boot;

int main(void)
{
    static const uint32_t slot_off[2] = {CBL_SLOT_A_OFF, CBL_SLOT_B_OFF};
    cbl_flash_t f = {NULL, (const uint8_t *)(uintptr_t)0x0u, m4_erase, m4_program};
    cbl_boot_init(&boot, &f, CBL_BOOT_BOARD_TYPE);
    int s = cbl_boot_select(&boot);
    if (s < 0) {
        for (int k = 0; k < 2; k++) {
            cbl_image_info_t info;
            put(k ? "boot: slot B refused, check " : "boot: slot A refused, check ");
            put_u32(boot.api.verify(boot.api.ctx, k, 0, &info));
            put("\n");
        }
        put("boot: no bootable image\n");
        return 1;
    }
    cbl_image_info_t info;
    (void)boot.api.verify(boot.api.ctx, s, 0, &info);
    put(s ? "boot: slot B version " : "boot: slot A version ");
    put_u32(info.version >> 24);
    put(".");
    put_u32((info.version >> 16) & 0xFFu);
    put(".");
    put_u32(info.version & 0xFFFFu);
    put(boot.api.test_boot ? " test boot\n" : "\n");
    jump(slot_off[s] + info.hdr_size);
}
