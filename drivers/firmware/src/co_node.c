/* co_node.c: the CANopen device runtime of a cerebellum board (CiA 301), the node that serves
 * the object dictionary and runs the CiA 402 application (app_drive.c) over it.
 *
 * NMT states (CiA 301 §7.3.2), in physical terms:
 *
 *   state               code  what the board does                               power stage
 *   initialisation      0x00  loads defaults + stored parameters (0x1010),      off
 *                             sends the boot-up frame 0x700+n [0x00]
 *   pre-operational     0x7F  serves SDO, heartbeat, EMCY; ignores SYNC/PDOs    as the CiA 402
 *                                                                               state says (off
 *   operational         0x05  + SYNC, RPDOs, TPDOs, PDO event timers,           after boot)
 *                             connection watchdogs (0x2031, 0x1016, RPDO deadlines)
 *   stopped             0x04  only NMT and heartbeat consumption; no SDO         unchanged, but
 *                                                                               leaving operational
 *                                                                               is a connection loss
 *
 * NMT commands (§7.2.8.3.1; frame 0x000 [cmd, node-ID or 0], any other length ignored): 0x01
 * start, 0x02 stop, 0x80 enter pre-operational, 0x81 reset node (every value from defaults +
 * flash, the CiA 402 application starts over, boot-up again), 0x82 reset communication
 * (0x1000-0x1FFF only; the drive keeps running).
 *
 * Heartbeat (§7.2.8.3.2): producer every 0x1017 ms; consumer 0x1016 (node-ID, ms per sub):
 * monitoring of a node starts with its first heartbeat; a timeout sends EMCY 0x8130 once and
 * counts as a connection loss until that node's next heartbeat. EMCY (§7.2.7, COB-ID 0x1014):
 * error code, 0x1001, detail byte; every error goes into 0x1003 (newest in sub 1, 8 deep); when
 * the last active error clears, EMCY 0x0000. SYNC (0x1005, length 0 or 1) in operational: the
 * synchronous TPDOs go out with the state sampled now, then the RPDOs received before this SYNC
 * take effect, then the CiA 402 cycle runs (app_drive.c). RPDO shorter than its mapping: EMCY
 * 0x8210, not processed; longer: EMCY 0x8220, processed; a value outside its entry's limits:
 * EMCY 0x8200, not processed (cleared when that RPDO next arrives within them); an RPDO not
 * processed is not a command (no watchdog or deadline refresh). 0x1005/0x1014 accept
 * unrestricted 11-bit CAN-IDs only (0x1014 bit 31 allowed); 0x1016: reserved bits 24-31 zero,
 * node 1-127 when a time is set, one sub-index per node (0x06040043); the flash values of these
 * objects are re-checked at boot (a broken one takes its default). RPDO deadline (0x1400+k sub 5): EMCY
 * 0x8250 once until the next reception. Event-driven TPDOs (type 254/255) on change (not
 * faster than the inhibit time) and every event-timer period.
 *
 * This is the C image of the executable specification in drivers/board/node.py; differential
 * tests (tests/firmware) require the same replies, frame for frame. Classic CAN only (8-byte
 * PDOs); CANopen FD is served by the Python board.
 */
#include "co_internal.h"

void cbl_send(cbl_fw_t *fw, uint16_t cob, const uint8_t *data, uint8_t len)
{
    cbl_frame_t f;
    f.id = cob;
    f.flags = 0;
    f.len = len;
    for (uint8_t k = 0; k < len; k++) f.data[k] = data[k];
#ifdef CBL_FD  /* every frame as FD with bit-rate switch, padded with zeros to the next FD length */
    static const uint8_t fd_len[] = {12, 16, 20, 24, 32, 48, 64};
    f.flags = CBL_FRAME_FD;
    if (len > 8u) {
        uint8_t k = 0;
        while (fd_len[k] < len) k++;
        for (uint8_t j = len; j < fd_len[k]; j++) f.data[j] = 0;
        f.len = fd_len[k];
    }
#endif
    if (fw->bsp.can_send != NULL) fw->bsp.can_send(fw->bsp.user, &f);
}

static uint8_t error_register_bit(uint16_t code)
{
    uint16_t hi = code >> 12;
    if (hi == 2) return 0x02;
    if (hi == 3) return 0x04;
    if (hi == 4) return 0x08;
    if ((code >> 8) == 0x81 || (code >> 8) == 0x82) return 0x10;
    if (hi == 8) return 0x20;
    if (hi == 0xF) return 0x80;
    return 0x00;
}

static void update_error_register(cbl_fw_t *fw)
{
    uint32_t reg = 0;
    for (uint8_t k = 0; k < fw->n_errors; k++) reg |= 0x01u | error_register_bit(fw->err_code[k]);
    OD_SET(fw, 0x1001, 0, reg);
}

static void send_emcy(cbl_fw_t *fw, uint16_t code, uint16_t detail)
{
    uint32_t cob = OD_GET(fw, 0x1014, 0);
    if (cob & 0x80000000u) return;
    uint8_t d[8] = {(uint8_t)code, (uint8_t)(code >> 8), (uint8_t)OD_GET(fw, 0x1001, 0), (uint8_t)detail, 0, 0, 0, 0};
    cbl_send(fw, (uint16_t)(cob & 0x7FFu), d, 8);
}

void cbl_emcy(cbl_fw_t *fw, uint16_t code, uint16_t detail)
{
    for (uint8_t k = 0; k < fw->n_errors; k++)
        if (fw->err_code[k] == code) return;
    if (fw->n_errors < CBL_MAX_ERRORS) {
        fw->err_code[fw->n_errors] = code;
        fw->err_detail[fw->n_errors++] = detail;
    }
    update_error_register(fw);
    for (uint8_t k = 8; k > 1; k--) cbl_od_set(fw, 0x1003, k, cbl_od_get(fw, 0x1003, (uint8_t)(k - 1)));
    OD_SET(fw, 0x1003, 1, code | (uint32_t)detail << 16);
    uint32_t n = OD_GET(fw, 0x1003, 0) + 1u;
    OD_SET(fw, 0x1003, 0, n < 8u ? n : 8u);
    send_emcy(fw, code, detail);
}

void cbl_clear_error(cbl_fw_t *fw, uint16_t code)
{
    uint8_t k = 0;
    while (k < fw->n_errors && fw->err_code[k] != code) k++;
    if (k == fw->n_errors) return;
    for (; k + 1u < fw->n_errors; k++) {
        fw->err_code[k] = fw->err_code[k + 1];
        fw->err_detail[k] = fw->err_detail[k + 1];
    }
    fw->n_errors--;
    update_error_register(fw);
    if (fw->n_errors == 0) send_emcy(fw, 0x0000, 0);
}

static int bit_get(const uint32_t *m, uint8_t n) { return (m[n >> 5] >> (n & 31u)) & 1u; }
static void bit_set(uint32_t *m, uint8_t n, int v)
{
    if (v) m[n >> 5] |= 1u << (n & 31u); else m[n >> 5] &= ~(1u << (n & 31u));
}

int cbl_heartbeat_lost(const cbl_fw_t *fw) { return (fw->hb_lost[0] | fw->hb_lost[1] | fw->hb_lost[2] | fw->hb_lost[3]) != 0; }

/* ------------------------------------------------------------------------------ lifecycle */
static void boot(cbl_fw_t *fw, int comm_only, uint64_t now_us)
{
    cbl_od_reset(fw, comm_only);
    cbl_node_recheck_stored(fw);
    OD_SET(fw, 0x1018, 4, fw->cfg.serial_number);
    cbl_program_publish(fw);
    cbl_pdo_reload(fw);
    cbl_pdo_rx_table(fw);
    fw->hb_next_us = now_us;
    for (int k = 0; k < 4; k++) fw->hb_seen[k] = fw->hb_lost[k] = 0;
    fw->rpdo_timeouts = 0;
    fw->rpdo_rejected = 0;
    cbl_sdo_reset(&fw->sdo);
    if (!comm_only) {
        fw->n_errors = 0;
        cbl_app_reset(fw);
    }
    uint8_t zero = 0;
    cbl_send(fw, (uint16_t)(0x700u + fw->cfg.node_id), &zero, 1);
    fw->nmt_state = NMT_PRE_OPERATIONAL;
}

size_t cbl_fw_size(void) { return sizeof(cbl_fw_t); }

int cbl_fw_init(cbl_fw_t *fw, const cbl_fw_config_t *cfg, const cbl_bsp_t *bsp, uint64_t now_us)
{
    uint8_t *p = (uint8_t *)fw;
    for (size_t k = 0; k < sizeof *fw; k++) p[k] = 0;
    if (cfg->node_id < 1u || cfg->node_id > 127u) return -1;
    fw->cfg = *cfg;
    fw->bsp = *bsp;
    uint32_t off = 0;
    for (uint32_t k = 0; k < CBL_OD_N; k++) {
        if (cbl_od_numeric(&cbl_od[k]) || cbl_od[k].text != NULL) continue;
        fw->blob_off[k] = (uint16_t)off;
        off += cbl_od[k].size;
    }
    if (off > CBL_BLOB_BYTES) return -2;
    cbl_od_reset(fw, 0);  /* the store exists before the application is set up */
    cbl_pdo_setup(fw);
    cbl_app_setup(fw, now_us);
    fw->nmt_state = NMT_BOOT;
    fw->app_failing = 0;
    cbl_program_setup(fw, now_us);
    boot(fw, 0, now_us);
    if (fw->app_failing) cbl_app_failed(fw);
    return 0;
}

/* ------------------------------------------------------------------------------ input */
static void heartbeat_rx(cbl_fw_t *fw, uint8_t node, uint64_t now_us)
{
    fw->hb_seen_us[node] = now_us;
    bit_set(fw->hb_seen, node, 1);
    if (bit_get(fw->hb_lost, node)) {
        bit_set(fw->hb_lost, node, 0);
        if (!cbl_heartbeat_lost(fw)) cbl_clear_error(fw, 0x8130);
    }
}

static void nmt(cbl_fw_t *fw, const uint8_t *d, uint8_t len, uint64_t now_us)
{
    if (len != 2u || (d[1] != 0 && d[1] != fw->cfg.node_id)) return;
    uint8_t before = fw->nmt_state;
    switch (d[0]) {
    case 0x01: fw->nmt_state = NMT_OPERATIONAL; break;
    case 0x02: fw->nmt_state = NMT_STOPPED; break;
    case 0x80: fw->nmt_state = NMT_PRE_OPERATIONAL; break;
    case 0x81: boot(fw, 0, now_us); break;
    case 0x82: boot(fw, 1, now_us); break;
    default: return;
    }
    if (before == NMT_OPERATIONAL && fw->nmt_state != NMT_OPERATIONAL) cbl_app_left_operational(fw);
    if (fw->nmt_state == NMT_OPERATIONAL && before != NMT_OPERATIONAL) {
        cbl_pdo_rx_table(fw);
        for (int k = 0; k < 4; k++) {
            fw->rpdo[k].has_rx_t = fw->rpdo[k].has_tx_t = 0;
            fw->tpdo[k].has_rx_t = fw->tpdo[k].has_tx_t = 0;
        }
        cbl_app_entered_operational(fw);
    }
}

static void rpdo_rx(cbl_fw_t *fw, cbl_pdo_t *ch, const uint8_t *d, uint8_t len, uint64_t now_us)
{
    uint32_t need = cbl_pdo_length(ch);
    if (len < need) {
        cbl_emcy(fw, 0x8210, ch->number);  /* not processed (not a command either) */
        return;
    }
#ifndef CBL_FD  /* FD: bytes beyond the mapping are the padding to an FD length */
    if (len > need) cbl_emcy(fw, 0x8220, ch->number);
#endif
    uint8_t bit = (uint8_t)(1u << (ch->number - 1u));
    uint32_t pos = 0;
    for (uint8_t e = 0; e < ch->n_entries; e++) {
        if (ch->map_slot[e] >= 0 && !cbl_od_fits(ch->map_slot[e], d + pos)) {
            fw->rpdo_rejected |= bit;
            cbl_emcy(fw, 0x8200, ch->number);  /* not processed: a value outside its limits */
            return;
        }
        pos += ch->map_bits[e] / 8u;
    }
    if (fw->rpdo_rejected & bit) {
        fw->rpdo_rejected &= (uint8_t)~bit;
        if (!fw->rpdo_rejected) cbl_clear_error(fw, 0x8200);
    }
    ch->last_rx_us = now_us;
    ch->has_rx_t = 1;
    if (ch->timed_out) {
        ch->timed_out = 0;
        fw->rpdo_timeouts &= (uint8_t)~(1u << (ch->number - 1u));
        if (!fw->rpdo_timeouts) cbl_clear_error(fw, 0x8250);
    }
    if (ch->trans_type <= 240u) {
        for (uint32_t k = 0; k < need && k < CBL_PDO_BYTES; k++) ch->last[k] = d[k];
        ch->last_len = (uint8_t)need;
        ch->has_last = 1;
    } else {
        cbl_pdo_unpack(fw, ch, d);
        cbl_app_on_rpdo_applied(fw, ch);
    }
    cbl_app_rpdo_rx(fw, now_us);
}

static void rx_frame(cbl_fw_t *fw, const cbl_frame_t *f, uint64_t now_us);

/* one frame; a failed plant call in it ends the frame there and becomes the board's fault (0x6100) */
void cbl_fw_rx(cbl_fw_t *fw, const cbl_frame_t *f, uint64_t now_us)
{
    rx_frame(fw, f, now_us);
    if (fw->app_failing) cbl_app_failed(fw);
}

static void rx_frame(cbl_fw_t *fw, const cbl_frame_t *f, uint64_t now_us)
{
    if (f->flags & (CBL_FRAME_RTR | CBL_FRAME_EXT | CBL_FRAME_ERR)) return;
    uint32_t cob = f->id;
    uint8_t len = f->len > CBL_FRAME_MAX ? CBL_FRAME_MAX : f->len;
    if (cob == 0x000u) {
        nmt(fw, f->data, len, now_us);
        return;
    }
    if (fw->nmt_state == NMT_STOPPED) {
        if ((cob & 0x780u) == 0x700u) heartbeat_rx(fw, (uint8_t)(cob & 0x7Fu), now_us);
        return;
    }
    if (cob == 0x600u + fw->cfg.node_id) {
        cbl_sdo_handle(fw, f->data, len, now_us);
        return;
    }
    if ((cob & 0x780u) == 0x700u && len == 1u) {
        heartbeat_rx(fw, (uint8_t)(cob & 0x7Fu), now_us);
        return;
    }
    if (fw->nmt_state != NMT_OPERATIONAL) return;
    if (cob == (OD_GET(fw, 0x1005, 0) & 0x7FFu) && len <= 1u) {
        cbl_app_on_sync(fw, now_us);
        return;
    }
    for (uint8_t j = 0; j < fw->rx_n; j++) {
        if (fw->rx_cob[j] == cob) {
            rpdo_rx(fw, &fw->rpdo[fw->rx_ch[j]], f->data, len, now_us);
            return;
        }
    }
}

/* ------------------------------------------------------------------------------ SYNC, timers */
void cbl_apply_pending_rpdos(cbl_fw_t *fw)
{
    for (uint8_t j = 0; j < fw->rx_n; j++) {
        cbl_pdo_t *ch = &fw->rpdo[fw->rx_ch[j]];
        if (!ch->has_last) continue;
        uint8_t data[CBL_PDO_BYTES] = {0};
        for (uint8_t k = 0; k < ch->last_len; k++) data[k] = ch->last[k];
        cbl_pdo_unpack(fw, ch, data);
        ch->has_last = 0;
        cbl_app_on_rpdo_applied(fw, ch);
    }
}

static int same_data(const cbl_pdo_t *ch, const uint8_t *d, uint8_t n)
{
    if (!ch->has_last || ch->last_len != n) return 0;
    for (uint8_t k = 0; k < n; k++)
        if (ch->last[k] != d[k]) return 0;
    return 1;
}

static void remember(cbl_pdo_t *ch, const uint8_t *d, uint8_t n)
{
    for (uint8_t k = 0; k < n; k++) ch->last[k] = d[k];
    ch->last_len = n;
    ch->has_last = 1;
}

void cbl_send_sync_tpdos(cbl_fw_t *fw)
{
    for (int k = 0; k < 4; k++) {
        cbl_pdo_t *ch = &fw->tpdo[k];
        if (!ch->present || !ch->valid || !ch->n_entries || ch->trans_type > 240u) continue;
        uint8_t d[CBL_PDO_BYTES];
        uint8_t n = cbl_pdo_pack(fw, ch, d);
        if (ch->trans_type == 0) {
            if (!same_data(ch, d, n)) {
                remember(ch, d, n);
                cbl_send(fw, ch->cob_id, d, n);
            }
            continue;
        }
        if (++ch->sync_count >= ch->trans_type) {
            ch->sync_count = 0;
            cbl_send(fw, ch->cob_id, d, n);
        }
    }
}

static void pdo_timers(cbl_fw_t *fw, uint64_t now_us)
{
    if (fw->nmt_state != NMT_OPERATIONAL) return;
    for (uint8_t j = 0; j < fw->rx_n; j++) {
        cbl_pdo_t *ch = &fw->rpdo[fw->rx_ch[j]];
        if (ch->event_timer_ms && ch->has_rx_t && !ch->timed_out &&
            now_us - ch->last_rx_us > (uint64_t)ch->event_timer_ms * 1000u) {
            ch->timed_out = 1;
            fw->rpdo_timeouts |= (uint8_t)(1u << (ch->number - 1u));
            cbl_emcy(fw, 0x8250, ch->number);
        }
    }
    for (int k = 0; k < 4; k++) {
        cbl_pdo_t *ch = &fw->tpdo[k];
        if (!ch->present || !ch->valid || !ch->n_entries || ch->trans_type < 254u) continue;
        uint8_t d[CBL_PDO_BYTES];
        uint8_t n = cbl_pdo_pack(fw, ch, d);
        uint64_t age = now_us - ch->last_tx_us;
        int due = ch->event_timer_ms && (!ch->has_tx_t || age >= (uint64_t)ch->event_timer_ms * 1000u);
        int changed = !same_data(ch, d, n) && (!ch->has_tx_t || age >= (uint64_t)ch->inhibit_100us * 100u);
        if (due || changed) {
            remember(ch, d, n);
            ch->last_tx_us = now_us;
            ch->has_tx_t = 1;
            cbl_send(fw, ch->cob_id, d, n);
        }
    }
}

/* COB-ID objects 0x1005/0x1014 and the heartbeat consumer 0x1016 (CiA 301 §7.3.5, §7.5.2.27) */
uint32_t cbl_node_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t v)
{
    if (index == 0x1005u || index == 0x1014u) {
        uint32_t flags = index == 0x1014u ? 0x80000000u : 0u;
        return ((v & ~(0x7FFu | flags)) || cbl_restricted_id(v & 0x7FFu)) ? ABORT_VALUE : 0u;
    }
    if (index != 0x1016u || sub == 0) return 0;
    uint32_t node = (v >> 16) & 0xFFu, ms = v & 0xFFFFu;
    if ((v >> 24) || (ms && (node < 1u || node > 127u))) return ABORT_VALUE;
    if (node && ms) {
        for (uint8_t k = 1; k < 128u; k++) {
            if (k == sub || cbl_od_find(0x1016u, k) < 0) continue;
            uint32_t other = cbl_od_get(fw, 0x1016u, k);
            if (((other >> 16) & 0xFFu) == node && (other & 0xFFFFu)) return ABORT_PARAM;
        }
    }
    return 0;
}

/* values loaded from flash obey the bus rules: a broken COB-ID or consumer entry takes its default */
void cbl_node_recheck_stored(cbl_fw_t *fw)
{
    static const uint16_t objs[2] = {0x1005u, 0x1014u};
    for (int j = 0; j < 2; j++)
        if (cbl_node_validate(fw, objs[j], 0, cbl_od_get(fw, objs[j], 0))) cbl_od_set_default(fw, objs[j], 0);
    for (uint8_t k = 1; k < 128u; k++)
        if (cbl_od_find(0x1016u, k) >= 0 && cbl_node_validate(fw, 0x1016u, k, cbl_od_get(fw, 0x1016u, k)))
            cbl_od_set_default(fw, 0x1016u, k);
}

void cbl_fw_tick(cbl_fw_t *fw, uint64_t now_us)
{
    uint32_t period_ms = OD_GET(fw, 0x1017, 0);
    if (period_ms && now_us >= fw->hb_next_us) {
        cbl_send(fw, (uint16_t)(0x700u + fw->cfg.node_id), &fw->nmt_state, 1);
        uint64_t next = fw->hb_next_us + (uint64_t)period_ms * 1000u;
        fw->hb_next_us = next > now_us ? next : now_us;
    }
    cbl_sdo_poll(fw, now_us);
    pdo_timers(fw, now_us);
    static const int consumer_slots[4] = {CBL_SLOT(0x1016, 1), CBL_SLOT(0x1016, 2), CBL_SLOT(0x1016, 3),
                                          CBL_SLOT(0x1016, 4)};
    for (uint8_t k = 0; k < 4; k++) {
        uint32_t v = fw->val[consumer_slots[k]];
        uint8_t node = (uint8_t)((v >> 16) & 0x7Fu);
        uint32_t ms = v & 0xFFFFu;
        if (!node || !ms || !bit_get(fw->hb_seen, node) || bit_get(fw->hb_lost, node)) continue;
        if (now_us - fw->hb_seen_us[node] > (uint64_t)ms * 1000u) {
            bit_set(fw->hb_lost, node, 1);
            cbl_emcy(fw, 0x8130, node);
        }
    }
    cbl_app_periodic(fw, now_us);
    if (fw->app_failing) cbl_app_failed(fw);
    cbl_program_tick(fw, now_us);
}

uint32_t cbl_fw_od_read(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint8_t *buf, uint32_t *len)
{
    uint32_t cap = *len;
    *len = 0;
    return cbl_od_read(fw, index, sub, buf, cap, len);
}

uint8_t cbl_fw_nmt_state(const cbl_fw_t *fw) { return fw->nmt_state; }
