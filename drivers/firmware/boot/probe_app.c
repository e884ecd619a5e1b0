/* probe_app.c: a minimal slot application for the bootloader's QEMU check: linked for a slot
 * (after its image header, probe_app.ld), it reports that it runs and where its vector table is
 * (VTOR, as the bootloader set it), then exits. */
#include <stdint.h>

int cbl_semihost(int op, const void *arg);

int main(void)
{
    uint32_t vtor = *(volatile uint32_t *)0xE000ED08u;
    char msg[] = "app: running, VTOR 0x00000000\n";
    for (int k = 0; k < 8; k++) {
        uint32_t d = (vtor >> (28 - 4 * k)) & 0xFu;
        msg[21 + k] = (char)(d < 10u ? '0' + d : 'a' + d - 10u);
    }
    cbl_semihost(0x04, msg);
    return 0;
}
