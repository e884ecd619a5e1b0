/* bsp_qemu.c: the Cortex-M board-support package on QEMU's mps2 machines (no CAN controller).
 *
 * The CAN link and the plant I/O are tunnelled over ARM semihosting files (host FIFOs in
 * lockstep: QEMU -icount, FACTS.md): the guest reads fixed 80-byte records from "cbl.rx" and
 * writes them to "cbl.tx". Host -> guest: EV_FRAME (a received frame, then the timers), EV_TICK
 * (time passes, then the timers), EV_SAMPLE (the answer to a sample request), EV_QUIT. Guest ->
 * host: EV_FRAME (a frame to send), EV_SAMPLE (sample request), EV_DEMAND (the demand, then the
 * host advances the plant; node = the cycle's CiA 402 state), EV_RESET_FAULT, EV_PARAM (index in id, sub in flags, the value as a
 * double), EV_DONE (the event is handled; flags = CiA 402 state, node = NMT state). The
 * parameter flash is the
 * semihosting file "cbl.flash" (two 8 KiB sectors), so it survives a power cycle of the guest.
 *
 * Joint board with its laws on (the power-on record's flags bit 1: the drive calibration follows
 * in EV_CAL records, id = byte offset, data[8..12] of the power-on record = its size): after
 * EV_DEMAND the image serves its two interrupts for the host's plant until EV_ADVANCED: EV_LOOP
 * (data: cbl_loop_in_t; answered with cbl_loop_out_t) once per control-loop period and EV_PWM
 * (cbl_pwm_in_t; answered with cbl_pwm_out_t) once per PWM period, so the cascade and the FOC
 * that close the loops around the emulated joint are this image's (drivers/board/qemu.py).
 * Hand board with its laws on (flags bit 1: the hand calibration, cbl_hand_cal_t, follows in
 * EV_CAL records): a record longer than 64 bytes travels in pieces (id = byte offset, len bytes,
 * now_us = the record's size): the sample (cbl_hand_sample_t) answers EV_SAMPLE, the demand
 * (cbl_hand_demand_t) is EV_DEMAND, and until EV_ADVANCED the image serves its control-tick
 * interrupt once per tick of the host's plant: EV_HAND_TICK (cbl_hand_tick_in_t; answered with
 * cbl_hand_tick_out_t), as the host build's HandSim hook calls it.
 * EV_RECORD (id = k) asks for the joint's law record k (cbl_joint_record: what gain inspection
 * shows): the image answers with its EV_RECORD pieces, then EV_DONE; no time passes (no timers run).
 * EV_OD_READ (id = index << 8 | sub-index) reads an object as the bus would (cbl_fw_od_read):
 * its value in EV_OD_READ pieces, or one EV_OD_READ with flags 1 and the SDO abort code in id;
 * then EV_DONE, no time passes.
 *
 * Built with -DCBL_QEMU_SELFTEST the image instead feeds itself a fixed 1 kHz SYNC + RPDO
 * sequence (enable; joint: CSP targets, hand: tension targets) and prints the SysTick ticks the
 * cycles took (no plant attached): the
 * firmware benchmark (40 instructions per tick under -icount shift=0). The joint selftest also
 * runs the image's interrupts on fixed sensor inputs for every 1 ms (20 current-loop periods at
 * 20 kHz, 10 control-loop periods) and prints their ticks separately.
 */
#include "cbl_fw.h"

int cbl_semihost(int op, const void *arg);
void cbl_exit(int status);
extern volatile uint32_t cbl_systick_wraps;

enum { EV_QUIT = 0, EV_FRAME = 1, EV_TICK = 2, EV_SAMPLE = 3, EV_DEMAND = 4, EV_DONE = 5, EV_RESET_FAULT = 6,
       EV_PARAM = 7, EV_CAL = 8, EV_LOOP = 9, EV_PWM = 10, EV_ADVANCED = 11,
       EV_RECORD = 12, EV_HAND_TICK = 13, EV_OD_READ = 14 };

typedef struct {
    uint8_t type, flags, len, node;
    uint32_t id;
    uint64_t now_us;
    uint8_t data[64];
} record_t;  /* 80 bytes; doubles travel in data (little-endian, both sides) */

static cbl_fw_t fw;
static record_t rec;
static int fd_rx = -1, fd_tx = -1, fd_flash = -1;

static int sh_open(const char *name, uint32_t len, int mode)
{
    const uint32_t args[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, len};
    return cbl_semihost(0x01, args);
}
#define SH_OPEN(literal, mode) sh_open(literal, sizeof(literal) - 1u, mode)

static int sh_rw(int op, int fd, const void *buf, uint32_t n)
{
    const uint32_t args[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, n};
    return cbl_semihost(op, args);  /* bytes NOT transferred */
}

static void put(const char *s) { cbl_semihost(0x04, s); }

static void copy(void *d, const void *s, uint32_t n)
{
    uint8_t *dd = d;
    const uint8_t *ss = s;
    while (n--) *dd++ = *ss++;
}

#ifndef CBL_QEMU_SELFTEST
static void send_record(void) { sh_rw(0x05, fd_tx, &rec, sizeof rec); }

/* a record of n bytes in 64-byte pieces of this type (see above; node: in each piece) */
static void send_pieces(uint8_t type, const void *src, uint32_t n, uint8_t node)
{
    for (uint32_t off = 0; off < n; off += 64u) {
        rec = (record_t){0};
        rec.type = type;
        rec.id = off;
        rec.now_us = n;
        rec.node = node;
        rec.len = (uint8_t)(n - off < 64u ? n - off : 64u);
        copy(rec.data, (const uint8_t *)src + off, rec.len);
        send_record();
    }
}

#ifdef CBL_BOARD_HAND
/* the pieces of a record of n bytes, the first already in rec; exits on a broken link */
static void recv_pieces(uint8_t type, void *dst, uint32_t n)
{
    for (uint32_t got = 0;;) {
        if (rec.type != type || rec.id != got || rec.len > n - got) cbl_exit(5);
        copy((uint8_t *)dst + got, rec.data, rec.len);
        got += rec.len;
        if (got == n) return;
        if (rec.len == 0 || sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0) cbl_exit(3);
    }
}
#endif

static void can_send(void *user, const cbl_frame_t *f)
{
    (void)user;
    rec = (record_t){0};
    rec.type = EV_FRAME;
    rec.id = f->id;
    rec.len = f->len;
    copy(rec.data, f->data, f->len);
    send_record();
}

#ifdef CBL_BOARD_HAND
static int hand_sample(void *user, cbl_hand_sample_t *s)
{
    (void)user;
    rec = (record_t){0};
    rec.type = EV_SAMPLE;
    send_record();
    if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0) cbl_exit(3);
    recv_pieces(EV_SAMPLE, s, sizeof *s);
    return 0;
}

/* the host's plant advances: it calls the control-tick interrupt once per tick (see above) */
static void serve_hand_ticks(void)
{
    for (;;) {
        if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0) cbl_exit(3);
        if (rec.type == EV_ADVANCED) return;
        static cbl_hand_tick_in_t in;
        cbl_hand_tick_out_t out = {0};
        recv_pieces(EV_HAND_TICK, &in, sizeof in);
        cbl_hand_tick_isr(&fw, &in, &out);
        send_pieces(EV_HAND_TICK, &out, sizeof out, 0);
    }
}

static int hand_demand(void *user, const cbl_hand_demand_t *d)
{
    (void)user;
    send_pieces(EV_DEMAND, d, sizeof *d, (uint8_t)cbl_fw_cia402_state(&fw));
    if (fw.hctl.on) serve_hand_ticks();
    return 0;
}
#else
static int plant_sample(void *user, cbl_sample_t *s)
{
    (void)user;
    rec = (record_t){0};
    rec.type = EV_SAMPLE;
    send_record();
    if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0 || rec.type != EV_SAMPLE) cbl_exit(3);
    copy(&s->position_rad, rec.data, 48);
    s->fault = rec.id;
    return 0;  /* the bridge serves the plant; its failures stay on the host (QemuBoard.crashes) */
}

/* the host's plant advances: it calls the control-loop and current-loop interrupts (see above) */
static void serve_interrupts(void)
{
    for (;;) {
        if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0) cbl_exit(3);
        if (rec.type == EV_ADVANCED) return;
        if (rec.type == EV_LOOP) {
            cbl_loop_in_t in;
            cbl_loop_out_t out = {0};
            copy(&in, rec.data, sizeof in);
            cbl_joint_loop_isr(&fw, &in, &out);
            rec = (record_t){0};
            rec.type = EV_LOOP;
            rec.len = sizeof out;
            copy(rec.data, &out, sizeof out);
        } else if (rec.type == EV_PWM) {
            cbl_pwm_in_t in;
            cbl_pwm_out_t out = {0};
            copy(&in, rec.data, sizeof in);
            cbl_joint_pwm_isr(&fw, &in, &out);
            rec = (record_t){0};
            rec.type = EV_PWM;
            rec.len = sizeof out;
            copy(rec.data, &out, sizeof out);
        } else {
            cbl_exit(5);
        }
        send_record();
    }
}

static int plant_demand(void *user, const cbl_demand_t *d)
{
    (void)user;
    rec = (record_t){0};
    rec.type = EV_DEMAND;
    rec.id = (uint32_t)d->mode;
    rec.flags = d->enable;
    rec.node = (uint8_t)cbl_fw_cia402_state(&fw);  /* the cycle's state (QemuBoard.on_cycle) */
    copy(rec.data, &d->position_rad, 32);
    send_record();
    if (fw.ctl.on) serve_interrupts();
    return 0;
}

static int plant_reset_fault(void *user)
{
    (void)user;
    rec = (record_t){0};
    rec.type = EV_RESET_FAULT;
    send_record();
    return 0;
}

static int plant_param(void *user, uint16_t index, uint8_t sub, double value)
{
    (void)user;
    rec = (record_t){0};
    rec.type = EV_PARAM;
    rec.id = index;
    rec.flags = sub;
    copy(rec.data, &value, 8);
    send_record();
    return 0;
}
#endif

/* EV_RECORD: law record k in 64-byte pieces (none on a board without it) */
static void send_law_record(uint32_t k)
{
#ifndef CBL_BOARD_HAND
    uint32_t size = 0;
    const void *r = cbl_joint_record(&fw, k, &size);
    if (r != NULL) send_pieces(EV_RECORD, r, size, 0);
#else
    (void)k;
#endif
}

/* EV_OD_READ: an object's value in pieces, or its abort code (values up to 256 bytes: the stack) */
static void send_od_value(uint32_t key)
{
    uint8_t buf[256];
    uint32_t n = sizeof buf;
    uint32_t code = cbl_fw_od_read(&fw, (uint16_t)(key >> 8), (uint8_t)key, buf, &n);
    if (code != 0) {
        rec = (record_t){0};
        rec.type = EV_OD_READ;
        rec.flags = 1;
        rec.id = code;
        send_record();
    } else {
        send_pieces(EV_OD_READ, buf, n, 0);
    }
}

static int flash_seek(uint32_t off)
{
    const uint32_t args[2] = {(uint32_t)fd_flash, off};
    return cbl_semihost(0x0A, args);
}

static int flash_read(void *user, uint32_t off, uint8_t *dst, uint32_t n)
{
    (void)user;
    if (fd_flash < 0 || flash_seek(off) != 0) return -1;
    return sh_rw(0x06, fd_flash, dst, n) == 0 ? 0 : -1;
}

static int flash_write(uint32_t off, const uint8_t *src, uint32_t n)
{
    return (fd_flash < 0 || flash_seek(off) != 0 || sh_rw(0x05, fd_flash, src, n) != 0) ? -1 : 0;
}

static int flash_erase(void *user, uint32_t off, uint32_t n)
{
    (void)user;
    static const uint8_t ff[64] = {
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    for (uint32_t k = 0; k < n; k += 64)
        if (flash_write(off + k, ff, n - k < 64 ? n - k : 64) != 0) return -1;
    return 0;
}

static int flash_program(void *user, uint32_t off, const uint8_t *src, uint32_t n)
{
    uint8_t old[32];
    for (uint32_t k = 0; k < n; k += 32) {  /* NOR flash: programming only clears bits */
        uint32_t m = n - k < 32 ? n - k : 32;
        if (flash_read(user, off + k, old, m) != 0) return -1;
        for (uint32_t j = 0; j < m; j++) old[j] &= src[k + j];
        if (flash_write(off + k, old, m) != 0) return -1;
    }
    return 0;
}

int main(void)
{
    fd_rx = SH_OPEN("cbl.rx", 1);  /* "rb" */
    fd_tx = SH_OPEN("cbl.tx", 5);  /* "wb" */
    fd_flash = SH_OPEN("cbl.flash", 3);  /* "r+b": the host creates it (16 KiB of 0xFF) */
    if (fd_rx < 0 || fd_tx < 0) return 2;
    if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0 || rec.type != EV_TICK) return 3;  /* power on: node, time */
    cbl_bsp_t bsp = {0};
    bsp.can_send = can_send;
    bsp.flash_sector = 8192;
    bsp.flash_read = flash_read;
    bsp.flash_erase = flash_erase;
    bsp.flash_program = flash_program;
    if (rec.flags & 1u) {  /* a plant is attached */
#ifdef CBL_BOARD_HAND
        bsp.hand_sample = hand_sample;  /* as the host build's hand board: no fault reset, no gains */
        bsp.hand_demand = hand_demand;
#else
        bsp.plant_sample = plant_sample;
        bsp.plant_demand = plant_demand;
        bsp.plant_reset_fault = plant_reset_fault;
        bsp.plant_param = plant_param;
#endif
    }
    /* power on: serial in id; data: the plant's loop rate, the calibration's size, the tolerance */
    cbl_fw_config_t cfg = {rec.node, rec.id, 0.0, 1e-6, 0};
    copy(&cfg.plant_loop_hz, rec.data, 8);
    double tolerance;
    copy(&tolerance, rec.data + 16, 8);
    if (tolerance > 0.0) cfg.period_tolerance = tolerance;
    uint64_t now = rec.now_us;
#ifndef CBL_BOARD_HAND
    cbl_joint_cal_t cal;  /* main never returns: the calibration stays on its stack */
#else
    static cbl_hand_cal_t cal;
#endif
    if (rec.flags & 2u) {
        uint32_t size;
        copy(&size, rec.data + 8, 4);
        if (size != sizeof cal) return 6;  /* the host's record layout is not this image's */
        for (uint32_t got = 0; got < size;) {
            if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0 || rec.type != EV_CAL || rec.id != got) return 7;
            uint32_t n = size - got < 64u ? size - got : 64u;
            copy((uint8_t *)&cal + got, rec.data, n);
            got += n;
        }
#ifndef CBL_BOARD_HAND
        cfg.joint_cal = &cal;
#else
        cfg.hand_cal = &cal;
#endif
    }
    if (cbl_fw_init(&fw, &cfg, &bsp, now) != 0) return 4;
    cbl_fw_tick(&fw, now);
    for (;;) {
        rec = (record_t){0};
        rec.type = EV_DONE;
        rec.flags = (uint8_t)cbl_fw_cia402_state(&fw);  /* the bridge shows the states without an SDO */
        rec.node = cbl_fw_nmt_state(&fw);
        send_record();
        if (sh_rw(0x06, fd_rx, &rec, sizeof rec) != 0 || rec.type == EV_QUIT) return 0;
        if (rec.type == EV_RECORD || rec.type == EV_OD_READ) {  /* a read: no time passes */
            if (rec.type == EV_RECORD) send_law_record(rec.id);
            else send_od_value(rec.id);
            continue;
        }
        now = rec.now_us;
        if (rec.type == EV_FRAME) {
            cbl_frame_t f;
            f.id = rec.id;
            f.flags = rec.flags;
            f.len = rec.len > 64u ? 64u : rec.len;
            copy(f.data, rec.data, f.len);
            cbl_fw_rx(&fw, &f, now);
        }
        cbl_fw_tick(&fw, now);
    }
}
#else
static void can_send(void *user, const cbl_frame_t *f) { (void)user; (void)f; }

static uint32_t ticks(void)
{
    volatile uint32_t *syst = (volatile uint32_t *)0xE000E010;
    uint32_t w, v;
    do { w = cbl_systick_wraps; v = syst[2]; } while (w != cbl_systick_wraps);
    return w * 0x1000000u + (0xFFFFFFu - v);
}

static void put_u32(uint32_t v)
{
    char b[12];
    int k = 11;
    b[k] = 0;
    do { b[--k] = (char)('0' + v % 10u); v /= 10u; } while (v);
    put(&b[k]);
}

static void frame(uint32_t id, const uint8_t *d, uint8_t len, uint64_t now)
{
    cbl_frame_t f = {0};
    f.id = id;
    f.len = len;
    copy(f.data, d, len);
    cbl_fw_rx(&fw, &f, now);
}

#define NODE 1u
#define CYCLES 1000u

extern uint32_t _ebss, _estack;

int main(void)
{
    uint32_t *sp;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_ebss; p < sp - 16; p++) *p = 0xCDCDCDCDu;  /* paint: the high-water mark below */
    volatile uint32_t *syst = (volatile uint32_t *)0xE000E010;
    syst[1] = 0xFFFFFFu;
    syst[2] = 0;
    syst[0] = 7u;  /* processor clock, interrupt, enable */
    cbl_bsp_t bsp = {0};
    bsp.can_send = can_send;
    cbl_fw_config_t cfg = {NODE, NODE, 0.0, 1e-6, 0};
#ifndef CBL_BOARD_HAND
    cbl_joint_cal_t cal;  /* the laws' default records: a 22.5:1 joint, 20 kHz PWM, 10 kHz control loop */
    FocConfig_defaults(&cal.foc);
    CascadeConfig_defaults(&cal.cascade);
    cal.ratio = 22.5;
    cal.pwm_hz = 20000.0;
    cal.pwm_per_loop = 2;
    cfg.joint_cal = &cal;
    uint32_t t_loop = 0, t_pwm = 0, n_loop = 0, n_pwm = 0;
#else
    static cbl_hand_cal_t cal;  /* the laws' default records, 4 coupled joints, the current limit 0.5 A */
    for (int k = 0; k < 6; k++) {
        ScrewPosConfig_defaults(&cal.pos[k]);
        TensionConfig_defaults(&cal.ten[k]);
        GraspConfig_defaults(&cal.grasp[k]);
        CouplingConfig_defaults(&cal.couple[k]);
        SlackConfig_defaults(&cal.slack[k]);
        ObserverConfig_defaults(&cal.obs[k]);
        cal.f_max[k] = 20.0;
        cal.i_max[k] = 0.5;
    }
    cal.derate_start_c = 100.0;
    cal.temp_max_c = 120.0;
    cal.n_joints = 4;
    cfg.hand_cal = &cal;
    uint32_t t_hand = 0, n_hand = 0;
#endif
    uint64_t now = 1000003u;
    if (cbl_fw_init(&fw, &cfg, &bsp, now) != 0) return 4;
    const uint8_t start[2] = {0x01, 0x00};
    frame(0x000, start, 2, now);
    uint32_t t0 = 0, t_sync = 0, t_all = 0;
    for (uint32_t k = 0; k < CYCLES + 3u; k++) {
        uint16_t cw = k == 0 ? 0x06 : k == 1 ? 0x07 : 0x0F;
#ifdef CBL_BOARD_HAND  /* RPDO1: controlword + tensions 1-3; RPDO2: tensions 4-6 (0.01 N) */
        uint16_t t = (uint16_t)(k % 2000u);
        const uint8_t rpdo1[8] = {(uint8_t)cw, (uint8_t)(cw >> 8), (uint8_t)t, (uint8_t)(t >> 8), (uint8_t)t,
                                  (uint8_t)(t >> 8), (uint8_t)t, (uint8_t)(t >> 8)};
        const uint8_t rpdo2[6] = {(uint8_t)t, (uint8_t)(t >> 8), (uint8_t)t, (uint8_t)(t >> 8), (uint8_t)t,
                                  (uint8_t)(t >> 8)};
#else  /* RPDO1: controlword + mode (CSP) + target position; RPDO2: offsets */
        int32_t target = (int32_t)(k * 100u);
        const uint8_t rpdo1[7] = {(uint8_t)cw, (uint8_t)(cw >> 8), 8, (uint8_t)target, (uint8_t)(target >> 8),
                                  (uint8_t)(target >> 16), (uint8_t)(target >> 24)};
        const uint8_t rpdo2[8] = {0};
#endif
        now += 1000u;
        if (k == 3) t_all = t_sync = 0;
        t0 = ticks();
        frame(0x200 + NODE, rpdo1, sizeof rpdo1, now);
        frame(0x300 + NODE, rpdo2, sizeof rpdo2, now);
        uint32_t t1 = ticks();
        frame(0x080, 0, 0, now);
        uint32_t t2 = ticks();
        cbl_fw_tick(&fw, now);
        uint32_t t3 = ticks();
        t_sync += t2 - t1;
        t_all += t3 - t0;
#ifndef CBL_BOARD_HAND
        if (k == 3) t_loop = t_pwm = n_loop = n_pwm = 0;
        for (uint32_t p = 0; p < 20u; p++) {  /* the millisecond's interrupts */
            if (p % 2u == 0u) {
                const cbl_loop_in_t in = {1.0, 0.5F, 30.0F, 48.0F, 0};
                cbl_loop_out_t out;
                uint32_t a = ticks();
                cbl_joint_loop_isr(&fw, &in, &out);
                t_loop += ticks() - a;
                n_loop++;
            }
            const cbl_pwm_in_t in = {0.5F, -0.25F, 48.0F, (int32_t)((k * 20u + p) * 13u % 16384u)};
            cbl_pwm_out_t out;
            uint32_t a = ticks();
            cbl_joint_pwm_isr(&fw, &in, &out);
            t_pwm += ticks() - a;
            n_pwm++;
        }
#else
        if (k == 3) t_hand = n_hand = 0;
        {  /* the millisecond's control tick */
            static cbl_hand_tick_in_t in;
            cbl_hand_tick_out_t out;
            for (int a = 0; a < 6; a++) {
                in.x_m[a] = 0.01 + 1e-6 * (double)k;
                in.v_m_s[a] = 1e-3;
                in.i_a[a] = 0.1;
                in.tension_n[a] = 5.0;
                in.winding_c[a] = 40.0;
            }
            uint32_t a = ticks();
            cbl_hand_tick_isr(&fw, &in, &out);
            t_hand += ticks() - a;
            n_hand++;
        }
#endif
    }
    put("cycles ");
    put_u32(CYCLES);
    put(" ticks ");
    put_u32(t_all);
    put(" sync_ticks ");
    put_u32(t_sync);
    put(" state ");
    put_u32((uint32_t)cbl_fw_cia402_state(&fw));
#ifndef CBL_BOARD_HAND
    put(" loop_ticks ");
    put_u32(t_loop);
    put(" loops ");
    put_u32(n_loop);
    put(" pwm_ticks ");
    put_u32(t_pwm);
    put(" pwms ");
    put_u32(n_pwm);
    put(" power_on ");
    put_u32(fw.ctl.co.power_on);
#else
    put(" hand_tick_ticks ");
    put_u32(t_hand);
    put(" hand_ticks ");
    put_u32(n_hand);
#endif
    put(" stack ");
    uint32_t *p = &_ebss;
    while (p < &_estack && *p == 0xCDCDCDCDu) p++;
    put_u32((uint32_t)((uintptr_t)&_estack - (uintptr_t)p));
    put("\n");
    return 0;
}
#endif
