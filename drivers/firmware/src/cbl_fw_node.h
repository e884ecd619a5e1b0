/* cbl_fw_node.h: the firmware context (one CANopen node with its CiA 402 application).
 * Included by cbl_fw.h; the sizes come from the board's generated cbl_board.h. */
#ifndef CBL_FW_NODE_H
#define CBL_FW_NODE_H

#include <stdint.h>
#include "cbl_board.h"
#include "cia402.h"
#ifndef CBL_BOARD_HAND
#include "cbl_joint_ctl.h"
#else
#include "cbl_hand_ctl.h"
#endif

#ifndef CBL_OD_TYPES
#define CBL_OD_TYPES
typedef enum { CBL_OD_RO, CBL_OD_WO, CBL_OD_RW, CBL_OD_CONST } cbl_od_access_t;
typedef struct {
    uint16_t index;
    uint8_t subindex;
    uint8_t data_type;
    uint8_t access;
    uint8_t pdo_mappable;
    uint16_t size;
    double low, high, def;
    uint8_t flags;
    uint8_t n_values;
    const int32_t *values;
    const char *text;
} cbl_od_entry_t;
#define CBL_OD_RELATIVE 0x01u
#define CBL_OD_PERSISTENT 0x02u
#endif

#ifdef CBL_FD  /* CANopen FD (cbl_board.h of a table built with fd=True): 64-byte PDOs, 64 entries */
#define CBL_PDO_MAX_ENTRIES 64u
#define CBL_PDO_BYTES 64u
#else
#define CBL_PDO_MAX_ENTRIES 8u
#define CBL_PDO_BYTES 8u
#endif
#define CBL_MAX_ERRORS 16u
#define CBL_SDO_BUF (CBL_OD_MAX_OBJECT_BYTES + 8u)

typedef struct {
    uint8_t tx, number, valid, trans_type, present;  /* present: the table has this PDO */
    uint16_t cob_id;
    uint16_t event_timer_ms, inhibit_100us;
    uint8_t n_entries;
    uint16_t map_index[CBL_PDO_MAX_ENTRIES];
    uint8_t map_sub[CBL_PDO_MAX_ENTRIES], map_bits[CBL_PDO_MAX_ENTRIES];
    int16_t map_slot[CBL_PDO_MAX_ENTRIES];  /* OD entry, -1 for a dummy */
    uint32_t sync_count;
    uint8_t has_last, last_len, last[CBL_PDO_BYTES];  /* TPDO: last sent; RPDO: pending until SYNC */
    uint8_t has_rx_t, has_tx_t, timed_out;
    uint64_t last_rx_us, last_tx_us;
} cbl_pdo_t;

typedef struct {
    uint8_t mode;
    uint16_t index;
    uint8_t sub;
    uint8_t buf[CBL_SDO_BUF];
    uint32_t len;            /* bytes received / to send (may exceed the buffer: counted, not kept) */
    uint32_t size, limit;  /* indicated size; the most bytes the object can take */
    uint8_t has_size, toggle, crc, seq, blksize, blk_n;
    uint8_t stream;          /* 0x1F50: the bytes go to the program download as they are acknowledged */
    uint32_t pos, blk_start;
    uint16_t crc_acc;        /* block download: CRC of all bytes before the held segment */
    uint8_t held[7];         /* block download: the newest segment (the end frame may cut it) */
    uint64_t last_us;
} cbl_sdo_t;

/* program download (co_program.c) */
#define CBL_PROG_BLOCK (127u * 7u)
typedef struct {
    uint32_t offset;             /* bytes programmed into the inactive slot (0x5F50:1) */
    uint32_t version, seccnt;    /* of the running image */
    uint8_t tail[CBL_PROGRAM_UNIT], n_tail;  /* a partial program unit waiting for its bytes */
    uint8_t blk[CBL_PROG_BLOCK];            /* one block-download sub-block (127 segments) */
    uint8_t err, running_valid;
    uint64_t boot_us;
} cbl_prog_t;

typedef struct cbl_fw {
    cbl_fw_config_t cfg;
    cbl_bsp_t bsp;
    uint32_t val[CBL_OD_N];          /* numeric values (sign-extended ints, float bits) */
    uint16_t blob_off[CBL_OD_N], blob_len[CBL_OD_N];
    uint8_t blob[CBL_BLOB_BYTES > 0 ? CBL_BLOB_BYTES : 1];
    uint8_t nmt_state;
    cbl_pdo_t rpdo[4], tpdo[4];
    uint8_t rx_n, rx_ch[4];          /* RPDO channels by COB-ID, as of boot / entering operational */
    uint16_t rx_cob[4];
    uint8_t rpdo_timeouts;           /* bit k: RPDO k+1 missed its deadline */
    uint8_t rpdo_rejected;           /* bit k: RPDO k+1's last payload broke a limit (EMCY 0x8200) */
    cbl_sdo_t sdo;
    cbl_prog_t prog;
    uint8_t reset_request;           /* the firmware asks the board for a hardware reset (bootloader) */
    uint64_t hb_next_us;
    uint64_t hb_seen_us[128];
    uint32_t hb_seen[4], hb_lost[4]; /* bitmaps over node-IDs */
    uint8_t n_errors;
    uint16_t err_code[CBL_MAX_ERRORS], err_detail[CBL_MAX_ERRORS];
    /* CiA 402 application */
    Cia402Config law_cfg;
    Cia402State law_st;
    Cia402Input law_in;
    Cia402Output law_out;
    cbl_sample_t meas;
    uint32_t cycles;
    uint8_t plant_reset_pending, comm_lost, nmt_lost, has_watch, ramp_active;
    uint8_t app_failing;  /* a plant call failed in this event: abandon it (cbl_app_failed at its end) */
    uint8_t app_fault;    /* fault cause 0x6100 latched until a fault reset */
    uint8_t n_fault_codes;
    uint16_t fault_codes[CBL_MAX_ERRORS];
    uint64_t watch_us, last_cycle_us;
    double ramp_v;
#ifndef CBL_BOARD_HAND
    double hold_pos;  /* joint: the position held without a mode */
    uint8_t holding;
    cbl_joint_ctl_t ctl;  /* joint: the cascade and the FOC (ctl_joint.c) */
#endif
#ifdef CBL_BOARD_HAND
    double hand_x[CBL_HAND_AXES], hand_v[CBL_HAND_AXES], hold[CBL_HAND_AXES];
    double stroke_min_m, stroke_max_m;
    uint8_t holding;
    cbl_hand_ctl_t hctl;  /* hand: the tendon laws (ctl_hand.c) */
#endif
} cbl_fw_t;

#endif
