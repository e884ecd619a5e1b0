/* cbl_image.h: the check of an MCUboot image (see cbl_image.c). */
#ifndef CBL_IMAGE_H
#define CBL_IMAGE_H

#include "cbl_boot_api.h"

#define CBL_IMAGE_ANY_ADDR 0xFFFFFFFFu
/* img: the image (cap readable bytes); key: the provisioned Ed25519 public key; slot_addr: the
 * slot's flash offset (checked against a ROM_FIXED load address) or CBL_IMAGE_ANY_ADDR.
 * Returns CBL_IMG_OK or the first check that failed; fills info as far as it got. */
uint32_t cbl_image_check(const uint8_t *img, uint32_t cap, const uint8_t key[32], uint32_t board_type,
                         uint32_t min_seccnt, uint32_t slot_addr, cbl_image_info_t *info);

#endif
