/* co_internal.h: functions shared by the runtime's modules (not part of the public interface). */
#ifndef CBL_CO_INTERNAL_H
#define CBL_CO_INTERNAL_H

#include "cbl_fw.h"

/* CiA 301 SDO abort codes */
#define ABORT_TOGGLE 0x05030000u
#define ABORT_TIMEOUT 0x05040000u
#define ABORT_COMMAND 0x05040001u
#define ABORT_BLOCK_SIZE 0x05040002u
#define ABORT_SEQNO 0x05040003u
#define ABORT_CRC 0x05040004u
#define ABORT_WRITE_ONLY 0x06010001u
#define ABORT_READ_ONLY 0x06010002u
#define ABORT_NO_OBJECT 0x06020000u
#define ABORT_NOT_MAPPABLE 0x06040041u
#define ABORT_PDO_LENGTH 0x06040042u
#define ABORT_PARAM 0x06040043u
#define ABORT_LENGTH 0x06070010u
#define ABORT_LENGTH_HIGH 0x06070012u
#define ABORT_LENGTH_LOW 0x06070013u
#define ABORT_NO_SUBINDEX 0x06090011u
#define ABORT_VALUE 0x06090030u
#define ABORT_VALUE_HIGH 0x06090031u
#define ABORT_VALUE_LOW 0x06090032u
#define ABORT_MAX_LT_MIN 0x06090036u
#define ABORT_GENERAL 0x08000000u
#define ABORT_STORE 0x08000020u
#define ABORT_STATE 0x08000022u

#define NMT_BOOT 0x00u
#define NMT_STOPPED 0x04u
#define NMT_OPERATIONAL 0x05u
#define NMT_PRE_OPERATIONAL 0x7Fu

#define DT_BOOLEAN 0x01u
#define DT_INTEGER8 0x02u
#define DT_INTEGER16 0x03u
#define DT_INTEGER32 0x04u
#define DT_UNSIGNED8 0x05u
#define DT_UNSIGNED16 0x06u
#define DT_UNSIGNED32 0x07u
#define DT_REAL32 0x08u
#define DT_VISIBLE_STRING 0x09u

#define STORE_SIGNATURE 0x65766173u
#define RESTORE_SIGNATURE 0x64616F6Cu
#define PDO_NOT_VALID 0x80000000u

extern const cbl_od_entry_t cbl_od[CBL_OD_N];

/* an entry named by literal index and sub-index (0x6040, 0), resolved at compile time through
 * cbl_board.h's CBL_SLOT_0x6040_0; an entry the board's table lacks fails to compile */
#define CBL_SLOT(index, sub) CBL_SLOT_##index##_##sub
#define OD_GET(fw, index, sub) ((fw)->val[CBL_SLOT(index, sub)])
#define OD_SET(fw, index, sub, raw) cbl_od_set_slot((fw), CBL_SLOT(index, sub), (raw))
void cbl_od_set_slot(cbl_fw_t *fw, int slot, uint32_t raw);

/* co_od.c: the object store */
int cbl_od_find(uint16_t index, uint8_t sub);            /* slot or -1 */
int cbl_od_has_object(uint16_t index);
int cbl_od_numeric(const cbl_od_entry_t *e);
uint32_t cbl_od_get(const cbl_fw_t *fw, uint16_t index, uint8_t sub);
void cbl_od_set(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw);
uint32_t cbl_od_encode(const cbl_fw_t *fw, int slot, uint8_t *dst, uint32_t cap, uint32_t *len);
void cbl_od_decode(cbl_fw_t *fw, int slot, const uint8_t *src);  /* firmware write of one value, no checks */
uint32_t cbl_od_read(const cbl_fw_t *fw, uint16_t index, uint8_t sub, uint8_t *dst, uint32_t cap, uint32_t *len);
uint32_t cbl_od_check_writable(uint16_t index, uint8_t sub);
int cbl_od_fits(int slot, const uint8_t *src);  /* the value at src within the entry's limits */
uint32_t cbl_od_write(cbl_fw_t *fw, uint16_t index, uint8_t sub, const uint8_t *data, uint32_t len);
void cbl_od_reset(cbl_fw_t *fw, int comm_only);
void cbl_od_set_default(cbl_fw_t *fw, uint16_t index, uint8_t sub);
float cbl_f32(uint32_t raw);
uint32_t cbl_u32(float f);

/* co_pdo.c */
void cbl_pdo_setup(cbl_fw_t *fw);
void cbl_pdo_reload(cbl_fw_t *fw);
void cbl_pdo_rx_table(cbl_fw_t *fw);
uint32_t cbl_pdo_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t v);
uint8_t cbl_pdo_pack(const cbl_fw_t *fw, const cbl_pdo_t *ch, uint8_t *out);
void cbl_pdo_unpack(cbl_fw_t *fw, const cbl_pdo_t *ch, const uint8_t *data);
uint32_t cbl_pdo_length(const cbl_pdo_t *ch);
int cbl_pdo_is_object(uint16_t index);
int cbl_restricted_id(uint32_t cid);

/* co_sdo.c */
void cbl_sdo_reset(cbl_sdo_t *s);
void cbl_sdo_handle(cbl_fw_t *fw, const uint8_t *d, uint8_t len, uint64_t now_us);
void cbl_sdo_poll(cbl_fw_t *fw, uint64_t now_us);
uint16_t cbl_crc16(uint16_t crc, const uint8_t *p, uint32_t n);

/* co_program.c */
void cbl_program_setup(cbl_fw_t *fw, uint64_t now_us);
void cbl_program_publish(cbl_fw_t *fw);
uint32_t cbl_program_begin(cbl_fw_t *fw, int has_size, uint32_t size);
uint32_t cbl_program_data(cbl_fw_t *fw, const uint8_t *src, uint32_t n);
uint32_t cbl_program_end(cbl_fw_t *fw);
uint32_t cbl_program_write(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t v);
void cbl_program_tick(cbl_fw_t *fw, uint64_t now_us);

/* co_node.c */
void cbl_send(cbl_fw_t *fw, uint16_t cob, const uint8_t *data, uint8_t len);
void cbl_emcy(cbl_fw_t *fw, uint16_t code, uint16_t detail);
void cbl_clear_error(cbl_fw_t *fw, uint16_t code);
void cbl_send_sync_tpdos(cbl_fw_t *fw);
void cbl_apply_pending_rpdos(cbl_fw_t *fw);
int cbl_heartbeat_lost(const cbl_fw_t *fw);
uint32_t cbl_node_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t v);
void cbl_node_recheck_stored(cbl_fw_t *fw);

/* app_drive.c: the CiA 402 application (hooks called by the node) */
void cbl_app_setup(cbl_fw_t *fw, uint64_t now_us);
void cbl_app_reset(cbl_fw_t *fw);
void cbl_app_on_sync(cbl_fw_t *fw, uint64_t now_us);
void cbl_app_on_rpdo_applied(cbl_fw_t *fw, const cbl_pdo_t *ch);
void cbl_app_rpdo_rx(cbl_fw_t *fw, uint64_t now_us);
void cbl_app_sdo_download(cbl_fw_t *fw);
void cbl_app_left_operational(cbl_fw_t *fw);
void cbl_app_entered_operational(cbl_fw_t *fw);
void cbl_app_periodic(cbl_fw_t *fw, uint64_t now_us);
uint32_t cbl_app_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw);
void cbl_app_written(cbl_fw_t *fw, uint16_t index, uint8_t sub);
/* the end of an event whose plant call failed (fw->app_failing): EMCY 0x6100, fault cause 0x6100 */
void cbl_app_failed(cbl_fw_t *fw);

/* app_<board>.c: the plant side of one board type */
int cbl_board_mode_supported(int32_t mode);
void cbl_board_sample(cbl_fw_t *fw);
void cbl_board_command_plant(cbl_fw_t *fw);
int cbl_board_standstill(const cbl_fw_t *fw);
uint32_t cbl_board_plant_faults(cbl_fw_t *fw, uint16_t *codes, uint32_t max);
void cbl_board_status_inputs(cbl_fw_t *fw, int standstill, int *reached, int *follow_err);
void cbl_board_written(cbl_fw_t *fw, uint16_t index, uint8_t sub);
uint32_t cbl_board_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw);
void cbl_board_setup(cbl_fw_t *fw);
void cbl_board_reset(cbl_fw_t *fw);  /* boot / NMT reset: the plant runs the gains the OD now holds */
int cbl_board_reset_fault(cbl_fw_t *fw);  /* fault reset of the plant: 0 done, 1 its call failed, -1 no plant */
int64_t cbl_clip_int(double v, int64_t lo, int64_t hi);

#endif
