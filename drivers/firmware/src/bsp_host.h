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

typedef struct {
    cbl_fw_t fw;
    void *py;
    cbl_host_plant_t plant;
    uint8_t *flash;
    uint32_t flash_bytes, flash_ops, n_tx, tx_dropped;
    cbl_frame_t tx[CBL_HOST_TX_QUEUE];
} cbl_host_t;

size_t cbl_host_size(void);
int cbl_host_init(cbl_host_t *h, const cbl_fw_config_t *cfg, uint8_t *flash, uint32_t flash_bytes,
                  const cbl_host_plant_t *plant, uint64_t now_us);
/* the frames received since the last call, then (tick != 0) the timers; returns the number of
 * frames sent (in h->tx), | CBL_HOST_FLASH_WRITTEN when the flash changed */
#define CBL_HOST_FLASH_WRITTEN 0x10000u
uint32_t cbl_host_step(cbl_host_t *h, const cbl_frame_t *rx, uint32_t n_rx, uint64_t now_us, int tick);

#endif
