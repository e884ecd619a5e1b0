/* app_drive.c: the CiA 402 drive application on the CANopen node (spec: drivers/board/drive.py).
 *
 * One cycle per SYNC (CiA 301 synchronous semantics): sample the plant into the object
 * dictionary and send the synchronous TPDOs; apply the RPDOs received before this SYNC; run the
 * CiA 402 law (cia402_step_r, generated C from drivers/cia402.py) with the controlword and the
 * fault / connection-loss inputs; command the plant and advance it by 0x1006 µs. An SDO write of
 * 0x6040 or 0x2040, or an event-driven RPDO, also steps the law (no plant advance).
 *
 * Connection loss (first rung of the safety ladder): a drive with its power stage on always has
 * an armed command watchdog (whatever the NMT state, however it was enabled); it arms when the
 * power stage comes on and is refreshed by a SYNC, a processed RPDO or an accepted SDO download.
 * No command for 0x2031 ms (1-10000, EMCY 0x8100), an RPDO deadline (0x8250), a
 * heartbeat-consumer timeout (0x8130), or NMT leaving operational mark the connection lost and
 * the law applies 0x6007 (quick stop by default). While SYNC is missing too, the board runs its
 * cycle on its own clock so that the reaction completes. No mode (0x6061 = 0): statusword bit
 * 12 clear; the board holds (app_<board>.c).
 * Fault causes (0x2040 injection, the plant's faults) send their EMCY, enter fault reaction
 * (0x605E), and are cleared by a fault reset once the cause is gone.
 * Application failure (as drivers/board/drive.py): a plant call of the board's own code that
 * fails (non-zero return) abandons the rest of the event (fw->app_failing; nothing after the
 * failed call runs), then cbl_app_failed sends EMCY 0x6100 and latches fault cause 0x6100: fault
 * reaction, fault; a fault reset clears it (it latches again at the next failure). The node
 * goes on serving the bus.
 */
#include "co_internal.h"

#define MAX_CATCH_UP_CYCLES 500
#define STATE_OPERATION_ENABLED 4
#define STATE_FAULT 7
#define STATE_SWITCH_ON_DISABLED 1

static int32_t opt(const cbl_fw_t *fw, uint16_t index, int32_t dflt)
{
    return cbl_od_has_object(index) ? (int32_t)cbl_od_get(fw, index, 0) : dflt;
}

static void load_options(cbl_fw_t *fw)
{
    fw->law_cfg.quick_stop_option = opt(fw, 0x605A, 2);
    fw->law_cfg.halt_option = opt(fw, 0x605D, 1);
    fw->law_cfg.fault_reaction_option = opt(fw, 0x605E, 2);
    fw->law_cfg.abort_connection_option = opt(fw, 0x6007, 3);
}

static int connection_lost(const cbl_fw_t *fw)
{
    return fw->comm_lost || fw->nmt_lost || cbl_heartbeat_lost(fw) || fw->rpdo_timeouts != 0;
}

static uint32_t fault_causes(cbl_fw_t *fw, uint16_t *codes)
{
    uint32_t n = fw->plant_reset_pending ? 0u : cbl_board_plant_faults(fw, codes, CBL_MAX_ERRORS - 1u);
#ifdef CBL_SLOT_0x2040_0
    uint16_t inj = (uint16_t)OD_GET(fw, 0x2040, 0);
#else
    uint16_t inj = 0;
#endif
    if (inj) {
        uint32_t k = 0;
        while (k < n && codes[k] != inj) k++;
        if (k == n) codes[n++] = inj;
    }
    if (fw->app_fault) {
        uint32_t k = 0;
        while (k < n && codes[k] != 0x6100u) k++;
        if (k == n && n < CBL_MAX_ERRORS) codes[n++] = 0x6100u;
    }
    return n;
}

static int has_fault_code(const cbl_fw_t *fw, uint16_t code)
{
    for (uint8_t k = 0; k < fw->n_fault_codes; k++)
        if (fw->fault_codes[k] == code) return 1;
    return 0;
}

static void step_law(cbl_fw_t *fw)
{
    uint32_t cw = OD_GET(fw, 0x6040, 0);
    if (fw->law_st.state == STATE_FAULT && (cw & 0x80u) && !(fw->law_st.last_controlword & 0x80)) {
        fw->app_fault = 0;  /* a lasting failure latches again at its next occurrence */
        int r = fw->meas.fault ? cbl_board_reset_fault(fw) : -1;  /* -1: nothing to reset */
        if (r > 0) {
            fw->app_failing = 1;
            return;
        }
        if (r == 0) fw->plant_reset_pending = 1;  /* the latch clears at the next advance; a lasting cause re-latches */
    }
    uint16_t causes[CBL_MAX_ERRORS];
    uint32_t n = fault_causes(fw, causes);
    for (uint32_t k = 0; k < n; k++) {
        if (has_fault_code(fw, causes[k])) continue;
        cbl_emcy(fw, causes[k], 0);
        OD_SET(fw, 0x603F, 0, causes[k]);
    }
    for (uint32_t k = 0; k < n; k++)
        if (!has_fault_code(fw, causes[k]) && fw->n_fault_codes < CBL_MAX_ERRORS) fw->fault_codes[fw->n_fault_codes++] = causes[k];
    int standstill = cbl_board_standstill(fw), reached, follow_err;
    cbl_board_status_inputs(fw, standstill, &reached, &follow_err);
    fw->law_in.controlword = (int32_t)cw;
    fw->law_in.fault = n > 0;
    fw->law_in.connection_lost = connection_lost(fw);
    fw->law_in.standstill = standstill;
    fw->law_in.target_reached = reached;
    fw->law_in.following_error = follow_err;
    fw->law_in.limit_active = 0;
    fw->law_in.warning = fw->n_errors > 0 && n == 0;
    int32_t before = fw->law_st.state;
    cia402_step_r(&fw->law_cfg, &fw->law_st, &fw->law_in, &fw->law_out);
    if (fw->law_st.state == STATE_SWITCH_ON_DISABLED && before == STATE_FAULT) {  /* transition 15 */
        for (uint8_t k = 0; k < fw->n_fault_codes; k++) cbl_clear_error(fw, fw->fault_codes[k]);
        fw->n_fault_codes = 0;
        OD_SET(fw, 0x603F, 0, 0);
    }
    if (fw->nmt_lost && !fw->law_out.power_enabled) fw->nmt_lost = 0;
    int32_t req = (int32_t)OD_GET(fw, 0x6060, 0);
    if (cbl_board_mode_supported(req)) OD_SET(fw, 0x6061, 0, (uint32_t)req);
    uint32_t sw = (uint32_t)fw->law_out.statusword;
    if ((int32_t)OD_GET(fw, 0x6061, 0) == 0) sw &= ~0x1000u;  /* no mode: follows no command value */
    OD_SET(fw, 0x6041, 0, sw);
}

static void cycle(cbl_fw_t *fw, uint64_t now_us, int sampled)
{
    if (!sampled) cbl_board_sample(fw);
    if (fw->app_failing) return;
    step_law(fw);
    if (fw->app_failing) return;
    cbl_board_command_plant(fw);
    if (fw->app_failing) return;
    fw->plant_reset_pending = 0;
    fw->last_cycle_us = now_us;
    fw->cycles++;
}

void cbl_app_setup(cbl_fw_t *fw, uint64_t now_us)
{
    fw->cycles = 0;
    fw->plant_reset_pending = 0;
    fw->last_cycle_us = now_us;
    cbl_board_setup(fw);
}

void cbl_app_reset(cbl_fw_t *fw)
{
    load_options(fw);
    fw->law_st.state = 0;
    fw->law_st.last_controlword = 0;
    fw->has_watch = 0;
    fw->comm_lost = 0;
    fw->nmt_lost = 0;
    fw->n_fault_codes = 0;
    fw->app_fault = 0;
    cbl_board_reset(fw);
    cbl_board_sample(fw);
    if (!fw->app_failing) step_law(fw);
}

void cbl_app_failed(cbl_fw_t *fw)
{
    fw->app_failing = 0;
    cbl_emcy(fw, 0x6100, 0);  /* internal software */
    fw->app_fault = 1;
    step_law(fw);
    fw->app_failing = 0;  /* the reaction's own plant call failed: keep serving */
}

/* a command arrived (SYNC, processed RPDO, accepted SDO download): refresh the watchdog, end a loss */
static void command_seen(cbl_fw_t *fw, uint64_t now_us)
{
    fw->watch_us = now_us;
    fw->has_watch = 1;
    if (fw->comm_lost) {
        fw->comm_lost = 0;
        cbl_clear_error(fw, 0x8100);
    }
}

void cbl_app_on_sync(cbl_fw_t *fw, uint64_t now_us)
{
    cbl_board_sample(fw);
    if (fw->app_failing) return;
    cbl_send_sync_tpdos(fw);
    cbl_apply_pending_rpdos(fw);
    if (fw->app_failing) return;
    command_seen(fw, now_us);
    cycle(fw, now_us, 1);
}

void cbl_app_sdo_download(cbl_fw_t *fw)
{
    int lost = fw->comm_lost;
    command_seen(fw, fw->sdo.last_us);
    if (lost) step_law(fw);  /* the write was judged while the loss overrode the controlword */
}

void cbl_app_on_rpdo_applied(cbl_fw_t *fw, const cbl_pdo_t *ch)
{
    if (ch->trans_type > 240u) step_law(fw);
}

void cbl_app_rpdo_rx(cbl_fw_t *fw, uint64_t now_us) { command_seen(fw, now_us); }

void cbl_app_left_operational(cbl_fw_t *fw)
{
    if (fw->law_out.power_enabled) fw->nmt_lost = 1;
    fw->has_watch = 0;
}

void cbl_app_entered_operational(cbl_fw_t *fw)
{
    fw->nmt_lost = 0;
    fw->has_watch = 0;
}

void cbl_app_periodic(cbl_fw_t *fw, uint64_t now_us)
{
#ifdef CBL_SLOT_0x2031_0
    int64_t timeout_ms = (int32_t)OD_GET(fw, 0x2031, 0);
#else
    int64_t timeout_ms = 0;
#endif
    if (!fw->law_out.power_enabled) {
        fw->has_watch = 0;  /* disarmed with the power stage off */
    } else if (!fw->has_watch) {
        fw->watch_us = now_us;  /* the power stage is on: the watchdog is armed from now */
        fw->has_watch = 1;
    }
    if (timeout_ms && fw->has_watch && !fw->comm_lost && (int64_t)(now_us - fw->watch_us) > timeout_ms * 1000) {
        fw->comm_lost = 1;
        cbl_emcy(fw, 0x8100, 0);  /* communication: command watchdog (0x2031) */
    }
    int64_t period = (int64_t)OD_GET(fw, 0x1006, 0);
    int64_t behind = (int64_t)now_us - (int64_t)fw->last_cycle_us;
    if (connection_lost(fw) && fw->law_out.power_enabled && behind > 2 * period) {  /* SYNC missing too */
        int64_t missed = behind / period;
        if (missed > MAX_CATCH_UP_CYCLES) {
            fw->last_cycle_us = now_us - (uint64_t)(MAX_CATCH_UP_CYCLES * period);
            missed = MAX_CATCH_UP_CYCLES;
        }
        uint64_t t = fw->last_cycle_us;
        for (int64_t k = 0; k < missed; k++) {
            t += (uint64_t)period;
            cycle(fw, t, 0);
            if (fw->app_failing || !fw->law_out.power_enabled) break;
        }
    } else if (!fw->law_out.power_enabled) {
        fw->last_cycle_us = now_us;
    }
}

static int64_t round_even(double v)
{
    double a = v < 0 ? -v : v;
    int64_t i = (int64_t)a;
    double f = a - (double)i;
    if (f > 0.5 || (f == 0.5 && (i & 1))) i++;
    return v < 0 ? -i : i;
}

int64_t cbl_clip_int(double v, int64_t lo, int64_t hi)
{
    if (v != v) return 0;
    if (v >= 9.0e18) return hi;
    if (v <= -9.0e18) return lo;
    int64_t r = round_even(v);
    return r < lo ? lo : r > hi ? hi : r;
}

uint32_t cbl_app_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw)
{
    if (index != 0x1006u) return cbl_board_validate(fw, index, sub, raw);
    if (fw->cfg.plant_loop_hz <= 0.0) return 0;
    double n = (double)raw * 1e-6 * fw->cfg.plant_loop_hz;  /* the plant advances whole periods */
    double r = (double)round_even(n), d = n - r;
    return (r >= 1.0 && (d < 0 ? -d : d) < fw->cfg.period_tolerance) ? 0u : ABORT_VALUE;
}

void cbl_app_written(cbl_fw_t *fw, uint16_t index, uint8_t sub)
{
    if (index == 0x605Au || index == 0x605Du || index == 0x605Eu || index == 0x6007u) load_options(fw);
    else if (index == 0x6040u || index == 0x2040u) step_law(fw);
    else cbl_board_written(fw, index, sub);
}

int32_t cbl_fw_cia402_state(const cbl_fw_t *fw) { return fw->law_st.state; }
