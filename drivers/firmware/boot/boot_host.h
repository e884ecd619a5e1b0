/* boot_host.h: the bootloader's host build (see boot_host.c). */
#ifndef CBL_BOOT_HOST_H
#define CBL_BOOT_HOST_H

#include <stddef.h>
#include "cbl_boot.h"
#include "cbl_image.h"

typedef struct {
    uint32_t ops, cut_at, cut_bytes;  /* power-cut hook (see boot_host.c) */
    uint8_t dead;
    uint8_t *flash;
    cbl_boot_t boot;
} cbl_boot_host_t;

size_t cbl_boot_host_size(void);
void cbl_boot_host_init(cbl_boot_host_t *h, uint8_t *flash, uint32_t board_type);
int cbl_boot_host_select(cbl_boot_host_t *h);
const cbl_boot_api_t *cbl_boot_host_api(cbl_boot_host_t *h);
uint32_t cbl_boot_host_check(const uint8_t *img, uint32_t n, const uint8_t *key, uint32_t board_type,
                             uint32_t min_seccnt, cbl_image_info_t *info);

#endif
