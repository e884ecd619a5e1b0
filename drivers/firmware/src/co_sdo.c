/* co_sdo.c: the SDO server (CiA 301 §7.2.4): expedited, segmented and block transfers.
 *
 * One server channel on 0x600/0x580 + node-ID. A request whose length is not 8 is ignored. An
 * unknown command specifier, or a request that does not fit the transfer in progress, aborts
 * with 0x05040001; a client abort ends the transfer silently. Segmented: the toggle bit is
 * checked (0x05030000), an indicated size must match what arrived (0x06070010). Block
 * download: sequence numbers 1..blksize; a missing segment makes the server acknowledge the
 * last good one (§7.2.4.3.12); CRC-16/XMODEM checked when the client announced it
 * (0x05040004). Block upload: blksize 1..127 (0x05040002), the protocol-switch threshold is
 * honoured, repeats from the client's ackseq. A transfer idle for 1 s aborts with 0x05040000.
 * Uploads send a snapshot taken at the initiate request. A download never buffers more than
 * the object can hold: an indicated size above the object's size is refused at the initiate,
 * and a transfer without one is aborted as soon as the data exceed it (0x06070012). An accepted
 * download (or segment of one) is a command for the drive's watchdog (cbl_app_sdo_download).
 */
#include "co_internal.h"

enum { IDLE, DL_SEG, UL_SEG, BLK_DL, BLK_DL_END, BLK_UL_START, BLK_UL_ACK, BLK_UL_END };
#define SDO_TIMEOUT_US 1000000u
#define BLKSIZE 127u

uint16_t cbl_crc16(uint16_t crc, const uint8_t *p, uint32_t n)
{
    while (n--) {
        crc ^= (uint16_t)(*p++) << 8;
        for (int k = 0; k < 8; k++) crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

void cbl_sdo_reset(cbl_sdo_t *s)
{
    s->mode = IDLE;
    s->index = 0;
    s->sub = 0;
    s->len = 0;
    s->blksize = BLKSIZE;
    s->last_us = 0;
    s->seq = 0;
    s->pos = 0;
    s->blk_start = 0;
    s->blk_n = 0;
}

static void reply(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_send(fw, (uint16_t)(0x580u + fw->cfg.node_id), d, 8);
    if (d[0] == 0x60u || d[0] == 0x20u || d[0] == 0x30u || d[0] == 0xA1u) cbl_app_sdo_download(fw);  /* accepted */
}

static void reply8(cbl_fw_t *fw, uint8_t cmd, uint16_t index, uint8_t sub, uint32_t v)
{
    uint8_t d[8] = {cmd, (uint8_t)index, (uint8_t)(index >> 8), sub,
                    (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    reply(fw, d);
}

static void abort_transfer(cbl_fw_t *fw, uint32_t code)
{
    cbl_sdo_t *s = &fw->sdo;
    reply8(fw, 0x80, s->index, s->sub, code);
    s->mode = IDLE;
    s->len = 0;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void append(cbl_sdo_t *s, const uint8_t *p, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++, s->len++)
        if (s->len < CBL_SDO_BUF) s->buf[s->len] = p[k];
}

/* a write into the object dictionary; a plant call that failed in its hooks is the board's fault
 * (EMCY 0x6100 first), and the transfer ends with 0x08000020, as the specification's SDO server */
static uint32_t od_write(cbl_fw_t *fw, uint16_t index, uint8_t sub, const uint8_t *src, uint32_t n)
{
    uint32_t code = cbl_od_write(fw, index, sub, src, n);
    if (!fw->app_failing) return code;
    cbl_app_failed(fw);
    return ABORT_STORE;
}

static uint32_t finish_download(cbl_fw_t *fw)
{
    cbl_sdo_t *s = &fw->sdo;
    if (s->has_size && s->size != s->len) return ABORT_LENGTH;
    s->mode = IDLE;
    if (s->stream) return cbl_program_end(fw);
    if (s->len > CBL_SDO_BUF) return ABORT_LENGTH_HIGH;  /* longer than any object */
    return od_write(fw, s->index, s->sub, s->buf, s->len);
}

static uint32_t ul_initiate(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    s->mode = IDLE;
    s->index = (uint16_t)(d[1] | d[2] << 8);
    s->sub = d[3];
    uint32_t n = 0, code = cbl_od_read(fw, s->index, s->sub, s->buf, CBL_SDO_BUF, &n);
    if (code) return code;
    if (n > 0 && n <= 4) {
        uint8_t r[8] = {(uint8_t)(0x43u | ((4u - n) << 2)), d[1], d[2], d[3], 0, 0, 0, 0};
        for (uint32_t k = 0; k < n; k++) r[4 + k] = s->buf[k];
        reply(fw, r);
        return 0;
    }
    s->len = n;
    s->pos = 0;
    s->toggle = 0;
    s->mode = UL_SEG;
    reply8(fw, 0x41, s->index, s->sub, n);
    return 0;
}

/* the most bytes a download into the object may carry (numeric: its size; string/domain: its length) */
static uint32_t download_limit(uint16_t index, uint8_t sub) { return cbl_od[cbl_od_find(index, sub)].size; }

static uint32_t dl_initiate(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    s->mode = IDLE;
    s->index = (uint16_t)(d[1] | d[2] << 8);
    s->sub = d[3];
    uint8_t e_bit = (d[0] >> 1) & 1u, s_bit = d[0] & 1u, n = (d[0] >> 2) & 3u;
    uint32_t code = cbl_od_check_writable(s->index, s->sub);
    if (code) return code;
    s->stream = s->index == 0x1F50u;
    if (s->stream && (code = cbl_program_begin(fw, e_bit || s_bit, e_bit ? (s_bit ? 4u - n : 4u) : rd32(d + 4))) != 0)
        return code;
    if (e_bit && s->stream) {
        if ((code = cbl_program_data(fw, d + 4, s_bit ? 4u - n : 4u)) != 0 || (code = cbl_program_end(fw)) != 0)
            return code;
        reply8(fw, 0x60, s->index, s->sub, 0);
        return 0;
    }
    if (e_bit) {
        uint32_t len = s_bit ? 4u - n : 4u;
        const cbl_od_entry_t *e = &cbl_od[cbl_od_find(s->index, s->sub)];
        if (!s_bit && cbl_od_numeric(e)) len = e->size;
        code = od_write(fw, s->index, s->sub, d + 4, len);
        if (code) return code;
        reply8(fw, 0x60, s->index, s->sub, 0);
        return 0;
    }
    s->has_size = s_bit;
    s->size = rd32(d + 4);
    s->limit = s->stream ? CBL_SLOT_BYTES : download_limit(s->index, s->sub);
    if (s->has_size && s->size > s->limit) return ABORT_LENGTH_HIGH;
    s->len = 0;
    s->toggle = 0;
    s->mode = DL_SEG;
    reply8(fw, 0x60, s->index, s->sub, 0);
    return 0;
}

static uint32_t dl_segment(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    if (s->mode != DL_SEG) return ABORT_COMMAND;
    uint8_t t = (d[0] >> 4) & 1u;
    if (t != s->toggle) return ABORT_TOGGLE;
    uint8_t n = (d[0] >> 1) & 7u;
    if (s->stream) {
        uint32_t code = cbl_program_data(fw, d + 1, 7u - n);  /* programmed before the answer */
        if (code) return code;
        s->len += 7u - n;
    } else {
        append(s, d + 1, 7u - n);
    }
    if (s->len > s->limit) return ABORT_LENGTH_HIGH;
    s->toggle ^= 1u;
    if (d[0] & 1u) {
        uint32_t code = finish_download(fw);
        if (code) return code;
    }
    uint8_t r[8] = {(uint8_t)(0x20u | (t << 4)), 0, 0, 0, 0, 0, 0, 0};
    reply(fw, r);
    return 0;
}

static uint32_t ul_segment(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    if (s->mode != UL_SEG) return ABORT_COMMAND;
    uint8_t t = (d[0] >> 4) & 1u;
    if (t != s->toggle) return ABORT_TOGGLE;
    uint32_t n = s->len - s->pos < 7u ? s->len - s->pos : 7u;
    uint8_t r[8] = {0};
    for (uint32_t k = 0; k < n; k++) r[1 + k] = s->buf[s->pos + k];
    s->pos += n;
    int last = s->pos >= s->len;
    r[0] = (uint8_t)((t << 4) | ((7u - n) << 1) | (uint8_t)last);
    s->toggle ^= 1u;
    if (last) s->mode = IDLE;
    reply(fw, r);
    return 0;
}

static uint32_t blk_dl_cmd(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    if ((d[0] & 1u) == 0) {  /* initiate */
        s->mode = IDLE;
        s->index = (uint16_t)(d[1] | d[2] << 8);
        s->sub = d[3];
        uint32_t code = cbl_od_check_writable(s->index, s->sub);
        if (code) return code;
        s->crc = (d[0] & 0x04u) != 0;
        s->has_size = (d[0] & 0x02u) != 0;
        s->size = rd32(d + 4);
        s->stream = s->index == 0x1F50u;
        if (s->stream && (code = cbl_program_begin(fw, s->has_size, s->size)) != 0) return code;
        s->limit = s->stream ? CBL_SLOT_BYTES : download_limit(s->index, s->sub);
        if (s->has_size && s->size > s->limit) return ABORT_LENGTH_HIGH;
        s->len = 0;
        s->pos = 0;
        s->seq = 0;
        s->crc_acc = 0;
        s->mode = BLK_DL;
        uint8_t r[8] = {0xA4, d[1], d[2], d[3], s->blksize, 0, 0, 0};
        reply(fw, r);
        return 0;
    }
    if (s->mode != BLK_DL_END) return ABORT_COMMAND;
    uint8_t n = (d[0] >> 2) & 7u;
    uint32_t keep = 7u > n ? 7u - n : 0u;  /* bytes of the held (last) segment that are data */
    s->len = s->len > n ? s->len - n : 0u;
    if (s->crc) {
        uint16_t crc = cbl_crc16(s->crc_acc, s->held, keep);
        if ((uint16_t)(d[1] | d[2] << 8) != crc) return ABORT_CRC;
    }
    uint32_t code;
    if (s->stream && (code = cbl_program_data(fw, s->held, keep)) != 0) return code;  /* the held segment */
    code = finish_download(fw);
    if (code) return code;
    uint8_t r[8] = {0xA1, 0, 0, 0, 0, 0, 0, 0};
    reply(fw, r);
    return 0;
}

static uint32_t blk_dl_segment(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    uint8_t seqno = d[0] & 0x7Fu, last = (d[0] & 0x80u) != 0;
    if (seqno == s->seq + 1u) {
        if (s->len >= 7u) s->crc_acc = cbl_crc16(s->crc_acc, s->held, 7);
        for (int k = 0; k < 7; k++) s->held[k] = d[1 + k];
        s->seq = seqno;
        if (s->stream) {  /* the sub-block gathers in the program buffer until its acknowledgement */
            for (int k = 0; k < 7 && s->pos < CBL_PROG_BLOCK; k++) fw->prog.blk[s->pos++] = d[1 + k];
            s->len += 7u;
        } else {
            append(s, d + 1, 7);
        }
        if (s->len > s->limit + 7u) return ABORT_LENGTH_HIGH;  /* the last segment may carry pad bytes */
        if (last) s->mode = BLK_DL_END;
    } else if (seqno == 0) {
        return ABORT_SEQNO;
    }
    if (last || seqno >= s->blksize) {
        if (s->stream) {  /* program what this acknowledgement confirms before sending it; the last
                           * segment stays held until the end frame tells its pad bytes */
            uint32_t n = last && s->mode == BLK_DL_END ? s->pos - 7u : s->pos;
            s->pos = 0;
            uint32_t code = cbl_program_data(fw, fw->prog.blk, n);
            if (code) return code;
        }
        uint8_t r[8] = {0xA2, s->seq, s->blksize, 0, 0, 0, 0, 0};
        s->seq = 0;
        reply(fw, r);
    }
    return 0;
}

static void blk_ul_send(cbl_fw_t *fw)
{
    cbl_sdo_t *s = &fw->sdo;
    s->blk_start = s->pos;
    uint8_t seq = 0;
    while (seq < s->blksize) {
        uint32_t n = s->len - s->pos < 7u ? s->len - s->pos : 7u;
        uint8_t r[8] = {0};
        for (uint32_t k = 0; k < n; k++) r[1 + k] = s->buf[s->pos + k];
        s->pos += n;
        seq++;
        int last = s->pos >= s->len;
        r[0] = (uint8_t)((last ? 0x80u : 0u) | seq);
        reply(fw, r);
        if (last) break;
    }
    s->blk_n = seq;
    s->mode = BLK_UL_ACK;
}

static uint32_t blk_ul_cmd(cbl_fw_t *fw, const uint8_t *d)
{
    cbl_sdo_t *s = &fw->sdo;
    uint8_t sub_cmd = d[0] & 3u;
    if (sub_cmd == 0) {  /* initiate */
        s->mode = IDLE;
        s->index = (uint16_t)(d[1] | d[2] << 8);
        s->sub = d[3];
        uint8_t blksize = d[4], pst = d[5];
        if (blksize < 1u || blksize > 127u) return ABORT_BLOCK_SIZE;
        uint32_t n = 0, code = cbl_od_read(fw, s->index, s->sub, s->buf, CBL_SDO_BUF, &n);
        if (code) return code;
        if (pst && n <= pst) {
            uint8_t req[8] = {0x40, d[1], d[2], d[3], 0, 0, 0, 0};
            return ul_initiate(fw, req);
        }
        s->len = n;
        s->crc = (d[0] & 0x04u) != 0;
        s->blksize = blksize;
        s->pos = 0;
        s->mode = BLK_UL_START;
        reply8(fw, 0xC6, s->index, s->sub, n);
        return 0;
    }
    if (sub_cmd == 3) {
        if (s->mode != BLK_UL_START) return ABORT_COMMAND;
        blk_ul_send(fw);
        return 0;
    }
    if (sub_cmd == 2) {
        if (s->mode != BLK_UL_ACK) return ABORT_COMMAND;
        uint8_t ackseq = d[1], blksize = d[2];
        if (blksize < 1u || blksize > 127u) return ABORT_BLOCK_SIZE;
        if (ackseq > s->blk_n) return ABORT_SEQNO;
        uint32_t pos = s->blk_start + 7u * ackseq;
        s->pos = pos < s->len ? pos : s->len;
        s->blksize = blksize;
        if (ackseq == s->blk_n && s->pos >= s->len) {
            uint32_t n = s->len ? (7u - s->len % 7u) % 7u : 7u;
            uint16_t crc = s->crc ? cbl_crc16(0, s->buf, s->len) : 0;
            s->mode = BLK_UL_END;
            uint8_t r[8] = {(uint8_t)(0xC1u | (n << 2)), (uint8_t)crc, (uint8_t)(crc >> 8), 0, 0, 0, 0, 0};
            reply(fw, r);
            return 0;
        }
        blk_ul_send(fw);
        return 0;
    }
    if (s->mode != BLK_UL_END) return ABORT_COMMAND;
    s->mode = IDLE;
    return 0;
}

void cbl_sdo_handle(cbl_fw_t *fw, const uint8_t *d, uint8_t len, uint64_t now_us)
{
    cbl_sdo_t *s = &fw->sdo;
    if (len != 8u) return;
    s->last_us = now_us;
    uint32_t code;
    if (s->mode == BLK_DL) {
        if (d[0] == 0x80u && (uint16_t)(d[1] | d[2] << 8) == s->index && d[3] == s->sub) {
            s->mode = IDLE;
            return;
        }
        code = blk_dl_segment(fw, d);
    } else {
        switch (d[0] >> 5) {
        case 4: s->mode = IDLE; return;  /* client abort: no answer */
        case 1: code = dl_initiate(fw, d); break;
        case 2: code = ul_initiate(fw, d); break;
        case 0: code = dl_segment(fw, d); break;
        case 3: code = ul_segment(fw, d); break;
        case 6: code = blk_dl_cmd(fw, d); break;
        case 5: code = blk_ul_cmd(fw, d); break;
        default:
            s->index = (uint16_t)(d[1] | d[2] << 8);
            s->sub = d[3];
            code = ABORT_COMMAND;
        }
    }
    if (code) abort_transfer(fw, code);
}

void cbl_sdo_poll(cbl_fw_t *fw, uint64_t now_us)
{
    if (fw->sdo.mode != IDLE && now_us - fw->sdo.last_us > SDO_TIMEOUT_US) abort_transfer(fw, ABORT_TIMEOUT);
}
