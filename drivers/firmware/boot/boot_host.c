/* boot_host.c: the bootloader's host build: a library of the emulated board, its flash a
 * caller-owned buffer (the board keeps it in a file).
 *
 * Power-cut hook: every erase and program operation counts (ops). With cut_at = N the N-th
 * operation is the last one: it lands only partly (its first cut_bytes bytes: a torn program
 * or a partly erased sector; cut_bytes >= its length = the whole operation lands, the cut comes
 * right after it), `dead` is set and every later operation is dropped, as on a board whose supply
 * is gone. The caller then discards the board's state and boots again from the buffer.
 */
#include <string.h>
#include "boot_host.h"

static int host_erase(void *user, uint32_t off, uint32_t n)
{
    cbl_boot_host_t *h = (cbl_boot_host_t *)user;
    if (h->dead || off > CBL_FLASH_BYTES || n > CBL_FLASH_BYTES - off || off % CBL_SECTOR || n % CBL_SECTOR) return -1;
    h->ops++;
    if (h->cut_at != 0u && h->ops == h->cut_at) {
        memset(h->flash + off, 0xFF, n < h->cut_bytes ? n : h->cut_bytes);
        h->dead = 1;
        return -1;
    }
    memset(h->flash + off, 0xFF, n);
    return 0;
}

static int host_program(void *user, uint32_t off, const uint8_t *src, uint32_t n)
{
    cbl_boot_host_t *h = (cbl_boot_host_t *)user;
    if (h->dead || off > CBL_FLASH_BYTES || n > CBL_FLASH_BYTES - off) return -1;
    h->ops++;
    uint32_t m = n;
    if (h->cut_at != 0u && h->ops == h->cut_at) {
        m = n < h->cut_bytes ? n : h->cut_bytes;
        h->dead = 1;
    }
    for (uint32_t k = 0; k < m; k++) h->flash[off + k] &= src[k];
    return h->dead ? -1 : 0;
}

size_t cbl_boot_host_size(void) { return sizeof(cbl_boot_host_t); }

void cbl_boot_host_init(cbl_boot_host_t *h, uint8_t *flash, uint32_t board_type)
{
    h->flash = flash;
    h->ops = 0;
    h->dead = 0;
    cbl_flash_t f = {h, flash, host_erase, host_program};
    cbl_boot_init(&h->boot, &f, board_type);
}

int cbl_boot_host_select(cbl_boot_host_t *h) { return cbl_boot_select(&h->boot); }

const cbl_boot_api_t *cbl_boot_host_api(cbl_boot_host_t *h) { return &h->boot.api; }

uint32_t cbl_boot_host_check(const uint8_t *img, uint32_t n, const uint8_t *key, uint32_t board_type,
                             uint32_t min_seccnt, cbl_image_info_t *info)
{
    return cbl_image_check(img, n, key, board_type, min_seccnt, CBL_IMAGE_ANY_ADDR, info);
}
