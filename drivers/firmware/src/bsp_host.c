/* bsp_host.c: the host board-support package: the firmware as a library of an emulated board.
 *
 * CAN transmit goes into a queue that the emulated board drains onto its python-can bus after
 * every call; the parameter flash is a caller-owned buffer (the emulated board keeps it in a
 * file); the plant is reached through the caller's callbacks (cffi "extern Python" on the host,
 * none in the standalone replay driver). Flash semantics as NOR flash: erase sets 0xFF,
 * program can only clear bits.
 */
#include "bsp_host.h"

static void can_send(void *user, const cbl_frame_t *f)
{
    cbl_host_t *h = (cbl_host_t *)user;
    if (h->n_tx < CBL_HOST_TX_QUEUE) h->tx[h->n_tx++] = *f;
    else h->tx_dropped++;
}

static int flash_read(void *user, uint32_t off, uint8_t *dst, uint32_t n)
{
    cbl_host_t *h = (cbl_host_t *)user;
    if (off > h->flash_bytes || n > h->flash_bytes - off) return -1;
    for (uint32_t k = 0; k < n; k++) dst[k] = h->flash[off + k];
    return 0;
}

static int flash_erase(void *user, uint32_t off, uint32_t n)
{
    cbl_host_t *h = (cbl_host_t *)user;
    if (off > h->flash_bytes || n > h->flash_bytes - off) return -1;
    for (uint32_t k = 0; k < n; k++) h->flash[off + k] = 0xFF;
    h->flash_ops++;
    return 0;
}

static int flash_program(void *user, uint32_t off, const uint8_t *src, uint32_t n)
{
    cbl_host_t *h = (cbl_host_t *)user;
    if (off > h->flash_bytes || n > h->flash_bytes - off) return -1;
    for (uint32_t k = 0; k < n; k++) h->flash[off + k] &= src[k];
    h->flash_ops++;
    return 0;
}

size_t cbl_host_size(void) { return sizeof(cbl_host_t); }

cbl_fw_t *cbl_host_fw(cbl_host_t *h) { return &h->fw; }

void cbl_host_set_boot(cbl_host_t *h, const void *boot_api) { h->boot = (const cbl_boot_api_t *)boot_api; }

int cbl_host_init(cbl_host_t *h, const cbl_fw_config_t *cfg, uint8_t *flash, uint32_t flash_bytes,
                  const cbl_host_plant_t *plant, uint64_t now_us)
{
    h->n_tx = 0;
    h->tx_dropped = 0;
    h->flash = flash;
    h->flash_bytes = flash_bytes;
    h->flash_ops = 0;
    cbl_bsp_t bsp = {0};
    bsp.user = h;
    bsp.can_send = can_send;
    bsp.flash_sector = flash_bytes / 2u;
    bsp.flash_read = flash_read;
    bsp.flash_erase = flash_erase;
    bsp.flash_program = flash_program;
    bsp.boot = h->boot;
    if (plant != NULL) {
        h->plant = *plant;
        bsp.plant_sample = plant->sample;
        bsp.plant_demand = plant->demand;
        bsp.plant_reset_fault = plant->reset_fault;
        bsp.plant_param = plant->param;
        bsp.hand_sample = plant->hand_sample;
        bsp.hand_demand = plant->hand_demand;
        bsp.user = h;
    }
    return cbl_fw_init(&h->fw, cfg, &bsp, now_us);
}

uint32_t cbl_host_step(cbl_host_t *h, const cbl_frame_t *rx, uint32_t n_rx, uint64_t now_us, int tick)
{
    uint32_t ops = h->flash_ops;
    h->n_tx = 0;
    for (uint32_t k = 0; k < n_rx; k++) cbl_fw_rx(&h->fw, &rx[k], now_us);
    if (tick) cbl_fw_tick(&h->fw, now_us);
    uint32_t reset = h->fw.reset_request ? CBL_HOST_RESET : 0u;
    h->fw.reset_request = 0;
    return h->n_tx | (h->flash_ops != ops ? CBL_HOST_FLASH_WRITTEN : 0u) | reset;
}
