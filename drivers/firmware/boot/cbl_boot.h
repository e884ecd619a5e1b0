/* cbl_boot.h: the resident bootloader's core (see cbl_boot.c), shared by its two builds. */
#ifndef CBL_BOOT_H
#define CBL_BOOT_H

#include "cbl_boot_api.h"
#include "cbl_flash.h"

typedef struct {
    cbl_flash_t flash;
    uint32_t board_type;  /* the product code an image must carry */
    cbl_boot_api_t api;   /* handed to the firmware that was booted */
} cbl_boot_t;

void cbl_boot_init(cbl_boot_t *b, const cbl_flash_t *flash, uint32_t board_type);
/* choose the slot to run (writing TRIED / BAD records as the policy says): 0, 1, or -1 when no
 * slot holds a bootable image; sets api.running_slot / api.test_boot */
int cbl_boot_select(cbl_boot_t *b);
const uint8_t *cbl_boot_key(const cbl_boot_t *b);

#endif
