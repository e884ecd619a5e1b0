/* cbl_boot_api.h: what the resident bootloader offers the firmware (the only code that writes
 * the slots and the boot state), and the image check's result codes (= 0x1F57 error codes).
 *
 * On the Cortex-M board the table lives in the bootloader region and the firmware reaches it
 * through its board-support package; in the host build the boot library hands its address to
 * the firmware library it booted. See cbl_boot.c for the boot policy.
 */
#ifndef CBL_BOOT_API_H
#define CBL_BOOT_API_H

#include <stdint.h>
#include "cbl_layout.h"

/* image check results: the CiA 302-3 flash status error codes (0x1F57 bits 1..7) */
#define CBL_IMG_OK 0u
#define CBL_IMG_NO_PROGRAM 1u      /* the slot holds no image (erased) */
#define CBL_IMG_FORMAT_UNKNOWN 2u  /* header flags this bootloader does not run (encrypted, compressed, ...) */
#define CBL_IMG_FORMAT 3u          /* TLV area malformed: info magic, lengths, unknown or duplicate TLV */
#define CBL_IMG_NOT_CLEARED 4u     /* the slot was not cleared (0x1F51 = 3) before the download */
#define CBL_IMG_WRITE 5u           /* the flash refused an erase or program */
#define CBL_IMG_ADDRESS 6u         /* beyond the slot, or linked for another slot */
#define CBL_IMG_SECURED 7u         /* the slot may not be written now (running, or the only confirmed image) */
#define CBL_IMG_SIGNATURE 8u       /* no Ed25519 signature, or not by the provisioned key */
#define CBL_IMG_BOARD 9u           /* the board-type TLV (0xA0) is missing or names another board */
#define CBL_IMG_SECCNT 10u         /* the security counter TLV (0x50) is missing or below the installed one */
#define CBL_IMG_TOO_LARGE 11u      /* header + payload + TLVs do not fit the slot */
#define CBL_IMG_HASH 12u           /* the SHA-256 TLV is missing or does not match */
#define CBL_IMG_HEADER 13u         /* header magic or header size invalid */

typedef struct {
    uint32_t version;     /* major << 24 | minor << 16 | revision */
    uint32_t seccnt;      /* security counter */
    uint32_t board_type;  /* TLV 0xA0 */
    uint32_t hdr_size, img_size, total;  /* total: header + payload + both TLV areas */
} cbl_image_info_t;

typedef struct {
    uint8_t staging;    /* cleared for a download (any bits programmed) */
    uint8_t pending;    /* verified and requested for a test boot (exact record) */
    uint8_t tried;      /* the bootloader started it in test boot (any bits programmed) */
    uint8_t confirmed;  /* confirmed by its running firmware (exact record) */
    uint8_t bad;        /* reverted or failed (any bits programmed) */
    uint8_t factory;    /* no record at all: an image put there by the production programmer */
    uint32_t seq;       /* install sequence (PENDING's value; 0 for a factory image) */
} cbl_slot_state_t;

typedef struct cbl_boot_api {
    void *ctx;
    uint8_t running_slot;  /* 0 = A, 1 = B */
    uint8_t test_boot;     /* running in test boot: not confirmed yet */
    uint32_t key_id;       /* first 4 bytes (LE) of the provisioned key's MCUboot KEYHASH (0x5F50:5) */
    /* full check of a slot's image (hash, signature, board type, security counter >= min_seccnt) */
    uint32_t (*verify)(void *ctx, int slot, uint32_t min_seccnt, cbl_image_info_t *info);
    void (*state)(void *ctx, int slot, cbl_slot_state_t *st);
    /* these return 0 or a CBL_IMG_* code */
    uint32_t (*clear)(void *ctx, int slot);
    uint32_t (*program)(void *ctx, int slot, uint32_t off, const uint8_t *src, uint32_t n);
    uint32_t (*programmed)(void *ctx, int slot);  /* bytes of a cleared slot holding data (resume point) */
    uint32_t (*mark_pending)(void *ctx, int slot);
    uint32_t (*confirm)(void *ctx);
} cbl_boot_api_t;

#endif
