/* cbl_flash.h: the flash as the bootloader sees it: memory-mapped reads, sector erase and
 * program operations that return 0 or -1 (NOR semantics: erase sets 0xFF, program clears bits). */
#ifndef CBL_FLASH_H
#define CBL_FLASH_H

#include <stdint.h>

typedef struct {
    void *user;
    const uint8_t *mem;  /* the whole flash (CBL_FLASH_BYTES), readable in place */
    int (*erase)(void *user, uint32_t off, uint32_t n);
    int (*program)(void *user, uint32_t off, const uint8_t *src, uint32_t n);
} cbl_flash_t;

#endif
