/* bsp_host.h: the host board-support package (see bsp_host.c). */
#ifndef CBL_BSP_HOST_H
#define CBL_BSP_HOST_H

#include "cbl_fw.h"

#define CBL_HOST_TX_QUEUE 512u

/* plant callbacks; their user pointer is the cbl_host_t, whose `py` field the caller sets */
typedef struct {
    int (*sample)(void *user, cbl_sample_t *s);
    int (*demand)(void *user, const cbl_demand_t *d);
    int (*reset_fault)(void *user);
    int (*param)(void *user, uint16_t index, uint8_t sub, double value);
    int (*hand_sample)(void *user, cbl_hand_sample_t *s);
    int (*hand_demand)(void *user, const cbl_hand_demand_t *d);
} cbl_host_plant_t;

/* the fields up to tx[] come first: a caller that loads the image as a plain library (the payload
 * of a flashed slot, cffi ABI mode) declares only this prefix */
typedef struct {
    void *py;
    uint32_t flash_ops, n_tx, tx_dropped;
    cbl_frame_t tx[CBL_HOST_TX_QUEUE];
    cbl_fw_t fw;
    cbl_host_plant_t plant;
    uint8_t *flash;
    uint32_t flash_bytes;
    const cbl_boot_api_t *boot;
} cbl_host_t;

size_t cbl_host_size(void);
cbl_fw_t *cbl_host_fw(cbl_host_t *h);
/* before cbl_host_init: the bootloader's services (the boot library that booted this image) */
void cbl_host_set_boot(cbl_host_t *h, const void *boot_api);
int cbl_host_init(cbl_host_t *h, const cbl_fw_config_t *cfg, uint8_t *flash, uint32_t flash_bytes,
                  const cbl_host_plant_t *plant, uint64_t now_us);
/* the frames received since the last call, then (tick != 0) the timers; returns the number of
 * frames sent (in h->tx), | CBL_HOST_FLASH_WRITTEN when the flash changed */
#define CBL_HOST_FLASH_WRITTEN 0x10000u
#define CBL_HOST_RESET 0x20000u  /* the firmware asked for a hardware reset (the board boots again) */
uint32_t cbl_host_step(cbl_host_t *h, const cbl_frame_t *rx, uint32_t n_rx, uint64_t now_us, int tick);
uint32_t cbl_host_joint_entries(uintptr_t *fn, uint32_t *layout, uint32_t max);
void cbl_host_joint_counts(const cbl_host_t *h, uint32_t *counts);
void *cbl_host_joint_record(cbl_host_t *h, uint32_t k);
uint32_t cbl_host_hand_entries(uintptr_t *fn, uint32_t *layout, uint32_t max);
uint32_t cbl_host_hand_ticks(const cbl_host_t *h);

#endif
