/* The compiled datagram engine of the emulated ESCs (see cengine.py).
 *
 * It works on the same ESC memory images as the Python engine (line.py / slave.py, the
 * behavioural specification) and does the part of a frame that only moves bytes: every command,
 * the addressing modes, working counters, FMMU mapping into process RAM, SM2 completion (buffered
 * mode: the outputs and the watchdog), SM1 reads of an empty mailbox, SM0 writes refused while
 * full, the DC system time read and the reference time write once the clock is aligned. A
 * datagram that would touch anything with a side effect on the slave's Python state (AL control,
 * SyncManager or FMMU registers, the SII EEPROM interface, the DC latch / offset / SYNC0
 * registers, mailbox data, FMMUs onto registers) is not started: esc_frame returns ESC_EVENT with
 * its offset and the Python engine processes that one datagram, then calls back in for the rest.
 * Whether a datagram is pure is decided before it touches any slave, and pure work never changes
 * what decides it, so the split is exact.
 *
 * esc_serve is the receive -> process -> send loop on a raw AF_PACKET socket, with the PDI side's
 * process-data hand-over (the worker pool's sequence-locked slots and eventfds, pdi.py): it
 * returns to Python only for a frame with an event, on a timeout, or when asked to.
 */
#define _GNU_SOURCE
#include "esc_engine.h"

#include <errno.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { NOP, APRD, APWR, APRW, FPRD, FPWR, FPRW, BRD, BWR, BRW, LRD, LWR, LRW, ARMW, FRMW };

#define RAM_START 0x1000
#define SM_BASE 0x0800
#define FMMU_BASE 0x0600
#define AL_STATUS 0x0130
#define STATION_ADDR 0x0010
#define WD_STATUS_PD 0x0440
#define DC_SYS_TIME 0x0910
#define DC_SYS_OFFSET 0x0920
#define DC_SYNC0_START 0x0990
#define DC_HOP_NS 500
#define AL_SAFEOP 0x04
#define AL_OP 0x08

static inline unsigned u16(const uint8_t *p) { return (unsigned)p[0] | (unsigned)p[1] << 8; }
static inline uint32_t u32(const uint8_t *p) { return (uint32_t)u16(p) | (uint32_t)u16(p + 2) << 16; }
static inline uint64_t u64(const uint8_t *p) { return (uint64_t)u32(p) | (uint64_t)u32(p + 4) << 32; }
static inline void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void put64(uint8_t *p, uint64_t v) { for (int k = 0; k < 8; k++) p[k] = (uint8_t)(v >> (8 * k)); }
static inline int ov(long a, long e, long lo, long hi) { return a < hi && e > lo; }

typedef struct { long start, len; int ctrl, act; } sm_t;

static inline sm_t sm(const uint8_t *m, int k) {
    const uint8_t *r = m + SM_BASE + 8 * k;
    sm_t s = {u16(r), u16(r + 2), r[4], r[6]};
    return s;
}

/* the mailbox areas as slave.py's _mailboxes(): an inactive SM has an empty area */
static inline void mailboxes(const uint8_t *m, long *m0, long *m0e, long *m1, long *m1e) {
    sm_t s0 = sm(m, 0), s1 = sm(m, 1);
    *m0 = s0.start; *m0e = s0.act & 1 ? s0.start + s0.len : s0.start;
    *m1 = s1.start; *m1e = s1.act & 1 ? s1.start + s1.len : s1.start;
}

static inline unsigned al_state(const esc_slave *s) { return s->mem[AL_STATUS] & 0x0F; }

/* ------------------------------------------------------------------ purity (no Python side effect) */
static int read_pure(const esc_slave *s, long addr, long n) {
    long end = addr + n;
    if (addr < 0 || end > ESC_MEM) return 1;
    if (ov(addr, end, DC_SYNC0_START, DC_SYNC0_START + 8)) return 0;
    sm_t s1 = sm(s->mem, 1);
    if (s1.act & 1 && ov(addr, end, s1.start, s1.start + s1.len) && s->mem[SM_BASE + 8 + 5] & 0x08) return 0;
    return 1;
}

static int write_pure(const esc_slave *s, long addr, long n) {
    long end = addr + n;
    if (addr < 0 || end > ESC_MEM) return 1;
    if (addr == DC_SYS_TIME && (n == 4 || n == 8)) return s->dc_locked;
    sm_t s0 = sm(s->mem, 0);
    if (s0.act & 1 && ov(addr, end, s0.start, s0.start + s0.len)) return 0;
    if (addr >= RAM_START) return 1;
    return !(ov(addr, end, 0x0120, 0x0121) || ov(addr, end, 0x0300, 0x0314) || ov(addr, end, 0x0502, 0x0504) ||
             ov(addr, end, FMMU_BASE, FMMU_BASE + 16 * ESC_N_FMMU) || ov(addr, end, SM_BASE, SM_BASE + 8 * ESC_N_SM) ||
             ov(addr, end, 0x0900, 0x0901) || ov(addr, end, 0x0920, 0x092C) || ov(addr, end, 0x0981, 0x09A4));
}

/* ------------------------------------------------------------------ the slave's memory, pure cases */
static void complete_sm2(esc_slave *s, long addr, long end, int64_t t) {
    sm_t s2 = sm(s->mem, 2);
    if (!(s2.act & 1) || !s2.len || !(addr < s2.start + s2.len && s2.start + s2.len <= end)) return;
    memcpy(s->outbuf, s->mem + s2.start, (size_t)s2.len);
    s->out_len = (int32_t)s2.len;
    s->completions++;
    s->push = 1;
    if (s2.ctrl & 0x40) {
        s->wd_ns = t;
        s->wd_seq++;
        put16(s->mem + WD_STATUS_PD, 1);
    }
}

static uint64_t system_time(const esc_slave *s, int64_t t) {
    return (uint64_t)t + (uint64_t)((int64_t)s->position * DC_HOP_NS) + (uint64_t)s->clock_offset_ns +
           u64(s->mem + DC_SYS_OFFSET) + (uint64_t)s->dc_adjust_ns;
}

/* slave.py read(): 1 and the bytes in out, or 0 (not acknowledged) */
static int esc_read(esc_slave *s, long addr, long n, int64_t t, uint8_t *out) {
    long end = addr + n;
    if (addr < 0 || end > ESC_MEM) return 0;
    uint8_t *m = s->mem;
    if (addr < DC_SYS_TIME + 8 && end > DC_SYS_TIME) put64(m + DC_SYS_TIME, system_time(s, t));
    sm_t s1 = sm(m, 1);
    if (s1.act & 1 && addr < s1.start + s1.len && end > s1.start && !(m[SM_BASE + 8 + 5] & 0x08)) return 0;
    memmove(out, m + addr, (size_t)n);
    return 1;
}

/* slave.py write() */
static int esc_write(esc_line *L, esc_slave *s, long addr, const uint8_t *data, long n, int64_t t) {
    long end = addr + n;
    if (addr < 0 || end > ESC_MEM) return 0;
    if (addr == DC_SYS_TIME && (n == 4 || n == 8)) return 1; /* aligned clock: the reference time is taken */
    uint8_t *m = s->mem;
    if (addr >= RAM_START) {
        memmove(m + addr, data, (size_t)n);
    } else {
        for (long k = 0; k < n; k++)
            if (L->writable[addr + k]) m[addr + k] = data[k];
    }
    if (end > RAM_START) complete_sm2(s, addr, end, t);
    return 1;
}

/* ------------------------------------------------------------------ logical addressing */
typedef struct { long lstart, len, pstart; int kind; } fmmu_t;

static int fmmus(const uint8_t *m, fmmu_t *f) {
    int n = 0;
    for (int k = 0; k < ESC_N_FMMU; k++) {
        const uint8_t *r = m + FMMU_BASE + 16 * k;
        fmmu_t x = {(long)u32(r), (long)u16(r + 4), (long)u16(r + 8), r[11] & 0x03};
        if (r[12] & 1 && x.len && x.kind) f[n++] = x;
    }
    return n;
}

/* every FMMU overlap of this datagram lies in process RAM outside the mailboxes */
static int logical_pure(const esc_slave *s, long laddr, long n) {
    fmmu_t f[ESC_N_FMMU];
    int nf = fmmus(s->mem, f);
    long m0, m0e, m1, m1e, end = laddr + n;
    mailboxes(s->mem, &m0, &m0e, &m1, &m1e);
    for (int k = 0; k < nf; k++) {
        long lo = f[k].lstart > laddr ? f[k].lstart : laddr;
        long hi = f[k].lstart + f[k].len < end ? f[k].lstart + f[k].len : end;
        if (lo >= hi) continue;
        long p = f[k].pstart + (lo - f[k].lstart), pe = p + hi - lo;
        if (!(p >= RAM_START && pe <= ESC_MEM && (pe <= m0 || p >= m0e) && (pe <= m1 || p >= m1e))) return 0;
    }
    return 1;
}

/* slave.py logical(): the planned path (separate read and write ranges: writes, then reads, SM2
 * completion from the final memory) or the general path (FMMU by FMMU) */
static int esc_logical(esc_slave *s, long laddr, uint8_t *data, long n, int rd, int wr, int64_t t, uint8_t *scratch) {
    fmmu_t f[ESC_N_FMMU];
    int nf = fmmus(s->mem, f);
    long end = laddr + n;
    long lo_[ESC_N_FMMU], hi_[ESC_N_FMMU], p_[ESC_N_FMMU];
    int r_[ESC_N_FMMU], w_[ESC_N_FMMU];
    int nr = 0, nw = 0, overlap = 0;
    uint8_t *m = s->mem;
    for (int k = 0; k < nf; k++) {
        long lo = f[k].lstart > laddr ? f[k].lstart : laddr;
        long hi = f[k].lstart + f[k].len < end ? f[k].lstart + f[k].len : end;
        lo_[k] = lo; hi_[k] = hi; p_[k] = f[k].pstart + (lo - f[k].lstart);
        r_[k] = lo < hi && (f[k].kind & 1) && rd;
        w_[k] = lo < hi && (f[k].kind & 2) && wr;
        nr += r_[k]; nw += w_[k];
    }
    for (int a = 0; a < nf; a++)
        for (int b = 0; b < nf; b++)
            if (r_[a] && w_[b] && lo_[a] < hi_[b] && lo_[b] < hi_[a]) overlap = 1;
    if (!overlap) {
        for (int k = 0; k < nf; k++)
            if (w_[k]) memcpy(m + p_[k], data + (lo_[k] - laddr), (size_t)(hi_[k] - lo_[k]));
        for (int k = 0; k < nf; k++)
            if (r_[k]) memcpy(data + (lo_[k] - laddr), m + p_[k], (size_t)(hi_[k] - lo_[k]));
        sm_t s2 = sm(m, 2);
        if (s2.act & 1 && s2.len) {
            for (int k = 0; k < nf; k++) {
                long p = p_[k], pe = p + hi_[k] - lo_[k];
                if (w_[k] && p < s2.start + s2.len && s2.start + s2.len <= pe) {
                    complete_sm2(s, p, pe, t);
                    break;
                }
            }
        }
        return (nr > 0) + (rd ? 2 : 1) * (nw > 0);
    }
    const uint8_t *incoming = data;
    if (rd && wr) {
        memcpy(scratch, data, (size_t)n);
        incoming = scratch;
    }
    int did_r = 0, did_w = 0;
    for (int k = 0; k < nf; k++) {
        long len = hi_[k] - lo_[k];
        if (r_[k]) { memcpy(data + (lo_[k] - laddr), m + p_[k], (size_t)len); did_r = 1; }
        if (w_[k]) {
            memcpy(m + p_[k], incoming + (lo_[k] - laddr), (size_t)len);
            complete_sm2(s, p_[k], p_[k] + len, t);
            did_w = 1;
        }
    }
    return did_r + (rd ? 2 : 1) * did_w;
}

/* ------------------------------------------------------------------ one datagram */
static int hit_ap(const esc_line *L, unsigned adp) {
    unsigned k = (0x10000u - adp) & 0xFFFF;
    return k < (unsigned)L->n ? (int)k : -1;
}

static int hit_fp(const esc_line *L, unsigned adp) {
    for (int k = 0; k < L->n; k++)
        if (u16(L->s[k].mem + STATION_ADDR) == adp) return k;
    return -1;
}

static int phys_pure(const esc_slave *s, int cmd, long ado, long n) {
    switch (cmd) {
    case APRD: case FPRD: case ARMW: case FRMW: return read_pure(s, ado, n);
    case APWR: case FPWR: return write_pure(s, ado, n);
    default: return read_pure(s, ado, n) && write_pure(s, ado, n);
    }
}

static int datagram_pure(const esc_line *L, int cmd, unsigned adp, long ado, long n) {
    int hit;
    switch (cmd) {
    case APRD: case APWR: case APRW: case ARMW: case FPRD: case FPWR: case FPRW: case FRMW:
        hit = cmd <= APRW || cmd == ARMW ? hit_ap(L, adp) : hit_fp(L, adp);
        if (hit < 0) return 1;
        if (!phys_pure(&L->s[hit], cmd, ado, n)) return 0;
        if (cmd == ARMW || cmd == FRMW)
            for (int k = hit + 1; k < L->n; k++)
                if (!write_pure(&L->s[k], ado, n)) return 0;
        return 1;
    case BRD: case BWR: case BRW:
        for (int k = 0; k < L->n; k++) {
            if (cmd != BWR && !read_pure(&L->s[k], ado, n)) return 0;
            if (cmd != BRD && !write_pure(&L->s[k], ado, n)) return 0;
        }
        return 1;
    case LRD: case LWR: case LRW:
        for (int k = 0; k < L->n; k++)
            if (!logical_pure(&L->s[k], (long)(adp | (uint32_t)ado << 16), n)) return 0;
        return 1;
    default: return 1;
    }
}

/* line.py _phys(): the working-counter increment */
static int phys(esc_line *L, esc_slave *s, int cmd, long ado, uint8_t *data, long n, int64_t t) {
    if (cmd == APRD || cmd == FPRD || cmd == ARMW) return esc_read(s, ado, n, t, data);
    if (cmd == APWR || cmd == FPWR) return esc_write(L, s, ado, data, n, t);
    uint8_t *got = L->scratch + ESC_FRAME_MAX;
    memcpy(L->scratch, data, (size_t)n);
    int r = esc_read(s, ado, n, t, got);
    int w = esc_write(L, s, ado, L->scratch, n, t);
    if (r) memcpy(data, got, (size_t)n);
    return r + 2 * w;
}

static unsigned datagram(esc_line *L, int cmd, unsigned *adp_io, long ado, uint8_t *data, long n, unsigned wkc,
                         int64_t t, int64_t *cnt) {
    unsigned adp = *adp_io;
    switch (cmd) {
    case NOP: return wkc;
    case APRD: case APWR: case APRW: case ARMW: {
        int hit = -1;
        for (int k = 0; k < L->n; k++) {
            if (adp == 0 && hit < 0) {
                hit = k;
                wkc += phys(L, &L->s[k], cmd, ado, data, n, t);
            } else if (cmd == ARMW && hit >= 0 && esc_write(L, &L->s[k], ado, data, n, t)) {
                wkc += 1;
            }
            adp = (adp + 1) & 0xFFFF;
        }
        *adp_io = adp;
        return wkc;
    }
    case FPRD: case FPWR: case FPRW: case FRMW: {
        int hit = 0;
        for (int k = 0; k < L->n; k++) {
            esc_slave *s = &L->s[k];
            if (u16(s->mem + STATION_ADDR) == adp && !hit) {
                hit = 1;
                wkc += phys(L, s, cmd == FRMW ? FPRD : cmd, ado, data, n, t);
            } else if (cmd == FRMW && hit && esc_write(L, s, ado, data, n, t)) {
                wkc += 1;
            }
        }
        return wkc;
    }
    case BRD: case BWR: case BRW: {
        uint8_t *incoming = L->scratch, *got = L->scratch + ESC_FRAME_MAX;
        memcpy(incoming, data, (size_t)n);
        for (int k = 0; k < L->n; k++) {
            esc_slave *s = &L->s[k];
            if (cmd != BWR && esc_read(s, ado, n, t, got)) {
                for (long i = 0; i < n; i++) data[i] |= got[i];
                wkc += 1;
            }
            if (cmd != BRD && esc_write(L, s, ado, incoming, n, t)) wkc += cmd == BRW ? 2 : 1;
            adp = (adp + 1) & 0xFFFF;
        }
        *adp_io = adp;
        return wkc;
    }
    case LRD: case LWR: case LRW: {
        long laddr = (long)(adp | (uint32_t)ado << 16);
        for (int k = 0; k < L->n; k++)
            wkc += esc_logical(&L->s[k], laddr, data, n, cmd != LWR, cmd != LRD, t, L->scratch);
        return wkc;
    }
    default:
        cnt[1] += 1;
        return wkc;
    }
}

/* ------------------------------------------------------------------ one frame */
int esc_frame(esc_line *L, uint8_t *f, int n, int pos, int64_t t, int64_t *cnt, int *pos_out) {
    if (n < 16 || f[12] != 0x88 || f[13] != 0xA4) { cnt[0] += 1; return ESC_MALFORMED; }
    unsigned hdr = u16(f + 14), length = hdr & 0x7FF, kind = hdr >> 12;
    int end = 16 + (int)length;
    if (kind != 1 || end > n || length < 12) { cnt[0] += 1; return ESC_MALFORMED; }
    for (;;) {
        if (pos + 12 > end) { cnt[0] += 1; return ESC_MALFORMED; }
        int cmd = f[pos];
        unsigned adp = u16(f + pos + 2), ado = u16(f + pos + 4), lenf = u16(f + pos + 6);
        int dlen = (int)(lenf & 0x7FF), d0 = pos + 10, d1 = d0 + dlen;
        if (d1 + 2 > end) { cnt[0] += 1; return ESC_MALFORMED; }
        if (!datagram_pure(L, cmd, adp, ado, dlen)) { *pos_out = pos; return ESC_EVENT; }
        unsigned wkc = u16(f + d1);
        wkc = datagram(L, cmd, &adp, ado, f + d0, dlen, wkc, t, cnt);
        put16(f + pos + 2, adp);
        put16(f + d1, wkc & 0xFFFF);
        pos = d1 + 2;
        if (!(lenf & 0x8000)) break;
    }
    f[6] |= 0x02;
    return ESC_DONE;
}

/* ------------------------------------------------------------------ the PDI hand-over (pdi.py Slot) */
static void pull_inputs(esc_line *L) {
    uint8_t *tmp = L->scratch;
    for (int k = 0; k < L->n_all; k++) {
        esc_slave *s = &L->s[k];
        if (s->in_seq < 0 || !s->in_bytes) continue;
        uint32_t *seq = (uint32_t *)(L->slots + s->in_seq);
        uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (s1 == s->last_in || s1 & 1) continue;
        memcpy(tmp, L->slots + s->in_data, (size_t)s->in_bytes);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(seq, __ATOMIC_RELAXED) != s1) continue;
        s->last_in = s1;
        unsigned st = al_state(s);
        if (st != AL_SAFEOP && st != AL_OP) continue;
        sm_t s3 = sm(s->mem, 3);
        if (s3.len == s->in_bytes && s3.start >= RAM_START && s3.start + s3.len <= ESC_MEM)
            memcpy(s->mem + s3.start, tmp, (size_t)s3.len);
    }
}

void esc_push_outputs(esc_line *L) {
    uint8_t notify[ESC_MAX_WORKERS] = {0};
    for (int k = 0; k < L->n_all; k++) {
        esc_slave *s = &L->s[k];
        if (!s->push) continue;
        s->push = 0;
        if (s->out_seq < 0 || al_state(s) != AL_OP || s->out_len != s->out_bytes) continue;
        uint32_t *seq = (uint32_t *)(L->slots + s->out_seq);
        uint32_t v = __atomic_load_n(seq, __ATOMIC_RELAXED);
        __atomic_store_n(seq, v + 1, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        memcpy(L->slots + s->out_data, s->outbuf, (size_t)s->out_len);
        __atomic_store_n(seq, v + 2, __ATOMIC_RELEASE);
        if (s->worker >= 0 && s->worker < ESC_MAX_WORKERS) notify[s->worker] = 1;
    }
    for (int w = 0; w < L->n_workers && w < ESC_MAX_WORKERS; w++) {
        if (!notify[w]) continue;
        uint64_t one = 1;
        ssize_t r = write(L->efds[w], &one, sizeof one);
        (void)r;
    }
}

/* ------------------------------------------------------------------ the lock shared with Python */
void esc_line_init(esc_line *L) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT); /* the engine thread runs SCHED_FIFO */
    pthread_mutex_init(&L->mu, &a);
    pthread_mutexattr_destroy(&a);
}

void esc_lock(esc_line *L) { pthread_mutex_lock(&L->mu); }
void esc_unlock(esc_line *L) { pthread_mutex_unlock(&L->mu); }

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ the wire */
int esc_serve(esc_line *L, int fd, uint8_t *buf, int cap, int timeout_ms, int64_t *info) {
    for (;;) {
        if (L->yield_req) return ESC_SERVE_YIELD;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, timeout_ms);
        if (r == 0 || L->yield_req) return ESC_SERVE_YIELD;
        if (r < 0) {
            if (errno == EINTR) continue;
            return ESC_SERVE_ERROR;
        }
        struct sockaddr_ll sll;
        socklen_t sl = sizeof sll;
        ssize_t n = recvfrom(fd, buf, (size_t)cap, MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
            return ESC_SERVE_ERROR;
        }
        if (sll.sll_pkttype == PACKET_OUTGOING) continue;
        int64_t t = now_ns();
        int pos = 0;
        pthread_mutex_lock(&L->mu);
        pull_inputs(L);
        L->frames += 1;
        int rc = esc_frame(L, buf, (int)n, 16, t, L->cnt, &pos);
        if (rc == ESC_EVENT) {
            esc_push_outputs(L);
            pthread_mutex_unlock(&L->mu);
            info[0] = n; info[1] = pos; info[2] = t;
            return ESC_SERVE_EVENT;
        }
        pthread_mutex_unlock(&L->mu);
        if (rc != ESC_DONE) continue;
        if (send(fd, buf, (size_t)n, 0) == n) L->replies += 1;
        L->ring[*L->ring_n % ESC_RING] = now_ns() - t;
        *L->ring_n += 1;
        esc_push_outputs(L);
    }
}
