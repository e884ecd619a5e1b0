/* bsp_host.c: the host board-support package: the firmware as a library of an emulated board.
 *
 * CAN transmit goes into a queue that the emulated board drains onto its python-can bus after
 * every call; the parameter flash is a caller-owned buffer (the emulated board keeps it in a
 * file); the plant is reached through the caller's callbacks (cffi "extern Python" on the host,
 * none in the standalone replay driver). Flash semantics as NOR flash: erase sets 0xFF,
 * program can only clear bits. The joint image's interrupt entry points are handed to the
 * emulated plant by address (cbl_host_joint_entries), which calls them from compiled code.
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

/* the joint image's interrupt entry points and the layout of its control records, for an emulated
 * plant that calls them from compiled code (actuators/joint/module.py): fn[0] the control loop,
 * fn[1] the current loop (both 0 on a board without them); layout[]: sizeof and field offsets of
 * cbl_joint_cal_t and of the four interrupt records. Returns the number of layout entries. */
uint32_t cbl_host_joint_entries(uintptr_t *fn, uint32_t *layout, uint32_t max)
{
#ifdef CBL_BOARD_HAND
    fn[0] = fn[1] = 0;
    (void)layout, (void)max;
    return 0;
#else
    fn[0] = (uintptr_t)&cbl_joint_loop_isr;
    fn[1] = (uintptr_t)&cbl_joint_pwm_isr;
    const uint32_t v[] = {
        sizeof(cbl_joint_cal_t), offsetof(cbl_joint_cal_t, cascade), offsetof(cbl_joint_cal_t, ratio),
        offsetof(cbl_joint_cal_t, pwm_hz), offsetof(cbl_joint_cal_t, pwm_per_loop),
        sizeof(cbl_loop_in_t), offsetof(cbl_loop_in_t, torque_sensor_nm), offsetof(cbl_loop_in_t, temp_c),
        offsetof(cbl_loop_in_t, vbus_v),
        sizeof(cbl_loop_out_t), offsetof(cbl_loop_out_t, current_limit_a), offsetof(cbl_loop_out_t, fault),
        sizeof(cbl_pwm_in_t), offsetof(cbl_pwm_in_t, ib_a), offsetof(cbl_pwm_in_t, vbus_v),
        offsetof(cbl_pwm_in_t, enc_count),
        sizeof(cbl_pwm_out_t), offsetof(cbl_pwm_out_t, duty_b), offsetof(cbl_pwm_out_t, duty_c),
        offsetof(cbl_pwm_out_t, iq_a), offsetof(cbl_pwm_out_t, id_a), offsetof(cbl_pwm_out_t, motor_vel_rad_s),
        offsetof(cbl_pwm_out_t, pwm_on)};
    uint32_t n = (uint32_t)(sizeof v / sizeof v[0]);
    for (uint32_t k = 0; k < n && k < max; k++) layout[k] = v[k];
    return n;
#endif
}

/* the joint image's law record k (0..7: FOC config, state, input, output, then the cascade's), NULL
 * past them or on a board without them: an emulated board shows them as the module's law records */
void *cbl_host_joint_record(cbl_host_t *h, uint32_t k)
{
#ifdef CBL_BOARD_HAND
    (void)h, (void)k;
    return NULL;
#else
    return cbl_joint_record(&h->fw, k, NULL);
#endif
}

/* interrupts the joint image has served since power-on: [0] control loop, [1] current loop */
void cbl_host_joint_counts(const cbl_host_t *h, uint32_t *counts)
{
#ifdef CBL_BOARD_HAND
    counts[0] = counts[1] = 0;
    (void)h;
#else
    counts[0] = h->fw.ctl.loop_count;
    counts[1] = h->fw.ctl.pwm_count;
#endif
}

/* the hand image's control-tick interrupt and the layout of its records, as
 * cbl_host_joint_entries (fn[0] = 0 on a board without it) */
uint32_t cbl_host_hand_entries(uintptr_t *fn, uint32_t *layout, uint32_t max)
{
#ifndef CBL_BOARD_HAND
    fn[0] = 0;
    (void)layout, (void)max;
    return 0;
#else
    fn[0] = (uintptr_t)&cbl_hand_tick_isr;
    const uint32_t v[] = {
        sizeof(cbl_hand_cal_t), offsetof(cbl_hand_cal_t, ten), offsetof(cbl_hand_cal_t, grasp),
        offsetof(cbl_hand_cal_t, couple), offsetof(cbl_hand_cal_t, slack), offsetof(cbl_hand_cal_t, obs),
        offsetof(cbl_hand_cal_t, f_max), offsetof(cbl_hand_cal_t, i_max), offsetof(cbl_hand_cal_t, derate_start_c),
        offsetof(cbl_hand_cal_t, temp_max_c), offsetof(cbl_hand_cal_t, n_joints),
        sizeof(cbl_hand_tick_in_t), offsetof(cbl_hand_tick_in_t, q_rad), offsetof(cbl_hand_tick_in_t, fault),
        sizeof(cbl_hand_tick_out_t), offsetof(cbl_hand_tick_out_t, i_law_a), offsetof(cbl_hand_tick_out_t, phase),
        offsetof(cbl_hand_tick_out_t, slack)};
    uint32_t n = (uint32_t)(sizeof v / sizeof v[0]);
    for (uint32_t k = 0; k < n && k < max; k++) layout[k] = v[k];
    return n;
#endif
}

/* control ticks the hand image has served since power-on */
uint32_t cbl_host_hand_ticks(const cbl_host_t *h)
{
#ifndef CBL_BOARD_HAND
    (void)h;
    return 0;
#else
    return h->fw.hctl.tick_count;
#endif
}
