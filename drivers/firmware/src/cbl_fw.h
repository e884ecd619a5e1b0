/* cbl_fw.h: the board firmware's public interface (C99, freestanding, no malloc).
 *
 * The firmware is one context (cbl_fw_t, owned by the caller: static on an MCU, one per emulated
 * board on the host) driven by three entry points that the board-support package calls:
 *
 *   cbl_fw_init(fw, cfg, bsp, now_us)   power-on: restore parameters from flash, boot-up frame
 *   cbl_fw_rx(fw, frame, now_us)        one received CAN frame (from the CAN controller's FIFO)
 *   cbl_fw_tick(fw, now_us)             timers: heartbeat, SDO timeout, PDO timers, watchdogs
 *
 * now_us is the board's microsecond clock (monotonic). The firmware reaches the hardware only
 * through cbl_bsp_t: CAN transmit, the parameter flash region (two sectors), and the plant
 * (sensor samples in, the motion demand out). See co_node.c for the behaviour.
 */
#ifndef CBL_FW_H
#define CBL_FW_H

#include <stddef.h>
#include <stdint.h>
#include "cbl_boot_api.h"

#define CBL_FRAME_MAX 64u
#define CBL_FRAME_RTR 0x01u
#define CBL_FRAME_EXT 0x02u
#define CBL_FRAME_ERR 0x04u
#define CBL_FRAME_FD 0x08u           /* a CAN FD frame (sent with bit-rate switch) */

typedef struct {
    uint32_t id;                 /* 11-bit CAN-ID (29-bit with CBL_FRAME_EXT) */
    uint8_t flags;               /* CBL_FRAME_* */
    uint8_t len;                 /* data bytes, 0..64 */
    uint8_t data[CBL_FRAME_MAX];
} cbl_frame_t;

/* Sensor samples of one joint, in SI units (what the ADC / encoder drivers deliver). */
typedef struct {
    double position_rad, velocity_rad_s, torque_sensor_nm, torque_cmd_nm, iq_a, winding_temp_c;
    uint32_t fault;              /* the power stage's fault word (bit 0 overcurrent ... bit 6) */
} cbl_sample_t;

/* The motion demand of one cycle: what the cascade/FOC layer is told, then advance by dt_s. */
typedef struct {
    int32_t mode;                /* 8 CSP, 9 CSV, 10 CST */
    uint8_t enable;              /* power stage on */
    double position_rad, velocity_rad_s, torque_nm, dt_s;
} cbl_demand_t;

/* The hand board's six tendon actuators (SI units): samples in, per-axis demand out. */
#define CBL_HAND_AXES 6
typedef struct {
    double x_m[CBL_HAND_AXES], v_m_s[CBL_HAND_AXES], i_a[CBL_HAND_AXES], tension_n[CBL_HAND_AXES],
        pad_force_n[CBL_HAND_AXES];
    double stroke_min_m, stroke_max_m;
} cbl_hand_sample_t;
#define CBL_HAND_SET_X 1u   /* x_cmd carries a new screw-position target */
#define CBL_HAND_SET_T 2u   /* t_cmd: tension */
#define CBL_HAND_SET_F 4u   /* f_ref: pad force */
typedef struct {
    int32_t mode[CBL_HAND_AXES];   /* 0 current, 1 screw position, 2 tension, 3 grasp */
    uint8_t set[CBL_HAND_AXES];    /* CBL_HAND_SET_*: the other targets keep their values */
    double i_cmd[CBL_HAND_AXES], x_cmd[CBL_HAND_AXES], t_cmd[CBL_HAND_AXES], f_ref[CBL_HAND_AXES];
    int32_t ticks;                 /* control ticks to advance */
} cbl_hand_demand_t;

typedef struct {
    void *user;
    void (*can_send)(void *user, const cbl_frame_t *f);
    /* parameter flash: two sectors of flash_sector bytes at offsets 0 and flash_sector */
    uint32_t flash_sector;
    int (*flash_read)(void *user, uint32_t off, uint8_t *dst, uint32_t n);
    int (*flash_erase)(void *user, uint32_t off, uint32_t n);
    int (*flash_program)(void *user, uint32_t off, const uint8_t *src, uint32_t n);
    /* plant: NULL functions = no plant (measurements held at zero). Each returns 0, or non-zero
     * when the board's own plant code failed (a driver error; on the host: the emulated plant
     * raised): the firmware abandons the event, sends EMCY 0x6100 and latches fault cause 0x6100
     * until a fault reset (app_drive.c) */
    int (*plant_sample)(void *user, cbl_sample_t *s);
    int (*plant_demand)(void *user, const cbl_demand_t *d);
    int (*plant_reset_fault)(void *user);
    int (*plant_param)(void *user, uint16_t index, uint8_t sub, double value);
    int (*hand_sample)(void *user, cbl_hand_sample_t *s);        /* hand board */
    int (*hand_demand)(void *user, const cbl_hand_demand_t *d);
    /* the resident bootloader's services (program download, co_program.c); NULL = no bootloader */
    const cbl_boot_api_t *boot;
} cbl_bsp_t;

typedef struct {
    uint8_t node_id;             /* 1..127 */
    uint32_t serial_number;      /* 0x1018:4 */
    double plant_loop_hz;        /* 0x1006 must be a whole number of these periods; 0 = any */
    double period_tolerance;     /* |periods - round(periods)| allowed */
    /* joint board: the drive's calibration (cbl_joint_ctl.h); NULL = the image's laws stay off and
     * the plant closes its own loops on the motion demand (a plant model without law hooks) */
    const struct cbl_joint_cal *joint_cal;
    const struct cbl_hand_cal *hand_cal;  /* hand board: its laws' configs (cbl_hand_ctl.h); NULL: off */
} cbl_fw_config_t;

#include "cbl_fw_node.h"

int cbl_fw_init(cbl_fw_t *fw, const cbl_fw_config_t *cfg, const cbl_bsp_t *bsp, uint64_t now_us);
void cbl_fw_rx(cbl_fw_t *fw, const cbl_frame_t *f, uint64_t now_us);
void cbl_fw_tick(cbl_fw_t *fw, uint64_t now_us);
size_t cbl_fw_size(void);
/* the object dictionary as the bus sees it: 0 or the SDO abort code; *len in/out */
uint32_t cbl_fw_od_read(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint8_t *buf, uint32_t *len);
int32_t cbl_fw_cia402_state(const cbl_fw_t *fw);
uint8_t cbl_fw_nmt_state(const cbl_fw_t *fw);

#endif
