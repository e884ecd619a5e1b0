/* co_pdo.c: PDO channels built from 0x1400-0x1A03, packing, and mapping validation.
 *
 * Mapping rules enforced on SDO writes (CiA 301 §7.5.2.35-38):
 *  - COB-ID (sub 1) may change only while the PDO is not valid (bit 31), else 0x06090030;
 *    29-bit IDs and the restricted CAN-IDs of §7.3.5 are refused (0x06090030);
 *  - transmission type 241-253 is refused (0x06090030);
 *  - mapping entries only while sub 0 = 0 and the PDO is not valid (0x08000022); each names an
 *    existing PDO-mappable object of the right direction with its exact length, or a dummy
 *    0x0002-0x0007 (RPDO only), else 0x06040041;
 *  - sub 0 only while the PDO is not valid; the mapped length must fit 64 bits, 512 bits in a
 *    CANopen FD build (CBL_FD: up to 64 entries), else 0x06040042.
 * Channels are rebuilt from the object dictionary after every write to these objects.
 */
#include "co_internal.h"

static const uint16_t restricted[][2] = {{0x000, 0x07F}, {0x101, 0x180}, {0x581, 0x5FF}, {0x601, 0x67F},
                                         {0x6E0, 0x6FF}, {0x701, 0x77F}, {0x780, 0x7FF}};

int cbl_restricted_id(uint32_t cid)
{
    int bad = 0;
    for (unsigned j = 0; j < sizeof restricted / sizeof restricted[0]; j++)
        bad |= cid >= restricted[j][0] && cid <= restricted[j][1];
    return bad;
}

static uint8_t dummy_bits(uint16_t index)
{
    switch (index) {
    case 0x0002: case 0x0005: return 8;
    case 0x0003: case 0x0006: return 16;
    case 0x0004: case 0x0007: return 32;
    default: return 0;
    }
}

int cbl_pdo_is_object(uint16_t index)
{
    uint16_t base = index & 0xFFFCu;
    return (base == 0x1400u || base == 0x1600u || base == 0x1800u || base == 0x1A00u) && cbl_od_has_object(index);
}

void cbl_pdo_setup(cbl_fw_t *fw)
{
    for (uint8_t k = 0; k < 4; k++) {
        cbl_pdo_t *r = &fw->rpdo[k], *t = &fw->tpdo[k];
        *r = (cbl_pdo_t){0};
        *t = (cbl_pdo_t){0};
        r->number = t->number = (uint8_t)(k + 1u);
        t->tx = 1;
        r->trans_type = t->trans_type = 1;
        r->present = (uint8_t)cbl_od_has_object((uint16_t)(0x1400u + k));
        t->present = (uint8_t)cbl_od_has_object((uint16_t)(0x1800u + k));
    }
}

static cbl_pdo_t *channel(cbl_fw_t *fw, int tx, int k) { return tx ? &fw->tpdo[k] : &fw->rpdo[k]; }

void cbl_pdo_reload(cbl_fw_t *fw)
{
    for (int tx = 0; tx < 2; tx++) {
        for (int k = 0; k < 4; k++) {
            cbl_pdo_t *ch = channel(fw, tx, k);
            uint16_t comm = (uint16_t)((tx ? 0x1800u : 0x1400u) + k), map = (uint16_t)((tx ? 0x1A00u : 0x1600u) + k);
            if (!ch->present) continue;
            uint32_t cob = cbl_od_get(fw, comm, 1);
            ch->cob_id = (uint16_t)(cob & 0x7FFu);
            ch->valid = !(cob & PDO_NOT_VALID);
            ch->trans_type = (uint8_t)cbl_od_get(fw, comm, 2);
            ch->event_timer_ms = (uint16_t)cbl_od_get(fw, comm, 5);
            ch->inhibit_100us = tx ? (uint16_t)cbl_od_get(fw, comm, 3) : 0;
            uint32_t n = cbl_od_get(fw, map, 0);
            ch->n_entries = 0;
            for (uint32_t j = 1; j <= n && j <= CBL_PDO_MAX_ENTRIES; j++) {
                uint32_t v = cbl_od_get(fw, map, (uint8_t)j);
                uint8_t e = ch->n_entries++;
                ch->map_index[e] = (uint16_t)(v >> 16);
                ch->map_sub[e] = (uint8_t)(v >> 8);
                ch->map_bits[e] = (uint8_t)v;
                ch->map_slot[e] = dummy_bits(ch->map_index[e]) ? -1 : (int16_t)cbl_od_find(ch->map_index[e], ch->map_sub[e]);
            }
            ch->has_last = 0;
        }
    }
}

/* RPDO channels by COB-ID (valid and mapped), in channel order; a later channel with the same
 * COB-ID replaces an earlier one in its place */
void cbl_pdo_rx_table(cbl_fw_t *fw)
{
    fw->rx_n = 0;
    for (uint8_t k = 0; k < 4; k++) {
        const cbl_pdo_t *ch = &fw->rpdo[k];
        if (!ch->present || !ch->valid || !ch->n_entries) continue;
        uint8_t j = 0;
        while (j < fw->rx_n && fw->rx_cob[j] != ch->cob_id) j++;
        fw->rx_cob[j] = ch->cob_id;
        fw->rx_ch[j] = k;
        if (j == fw->rx_n) fw->rx_n++;
    }
}

uint32_t cbl_pdo_length(const cbl_pdo_t *ch)
{
    uint32_t bits = 0;
    for (uint8_t e = 0; e < ch->n_entries; e++) bits += ch->map_bits[e];
    return bits / 8u;
}

uint32_t cbl_pdo_validate(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t v)
{
    int k = index & 3, is_map = (index & 0x200u) != 0, tx = (index & 0x800u) != 0;
    cbl_pdo_t *ch = channel(fw, tx, k);
    if (!is_map) {
        if (sub == 1) {
            uint32_t cid = v & 0x7FFu;
            if ((v & 0x20000000u) || (v & 0x1FFFF800u) || cbl_restricted_id(cid)) return ABORT_VALUE;
            if (ch->valid && !(v & PDO_NOT_VALID) && cid != ch->cob_id) return ABORT_VALUE;
        } else if (sub == 2 && v >= 241u && v <= 253u) {
            return ABORT_VALUE;
        }
        return 0;
    }
    if (ch->valid) return ABORT_STATE;
    if (sub == 0) {
        uint32_t bits = 0;
        for (uint32_t j = 1; j <= v; j++) {
            uint32_t e = cbl_od_get(fw, index, (uint8_t)j);
            if ((e & 0xFFu) == 0 || (e & 0xFFu) % 8u) return ABORT_NOT_MAPPABLE;
            bits += e & 0xFFu;
        }
        return bits > CBL_PDO_BYTES * 8u ? ABORT_PDO_LENGTH : 0;
    }
    if (cbl_od_get(fw, index, 0) != 0) return ABORT_STATE;
    if (v == 0) return 0;
    uint16_t idx = (uint16_t)(v >> 16);
    uint8_t si = (uint8_t)(v >> 8), bits = (uint8_t)v;
    if (dummy_bits(idx)) return (tx || si != 0 || bits != dummy_bits(idx)) ? ABORT_NOT_MAPPABLE : 0;
    int slot = cbl_od_find(idx, si);
    if (slot < 0) return ABORT_NOT_MAPPABLE;
    const cbl_od_entry_t *e = &cbl_od[slot];
    if (!e->pdo_mappable || !cbl_od_numeric(e) || e->size * 8u != bits) return ABORT_NOT_MAPPABLE;
    if (tx && e->access == CBL_OD_WO) return ABORT_NOT_MAPPABLE;
    if (!tx && e->access != CBL_OD_RW && e->access != CBL_OD_WO) return ABORT_NOT_MAPPABLE;
    return 0;
}

uint8_t cbl_pdo_pack(const cbl_fw_t *fw, const cbl_pdo_t *ch, uint8_t *out)
{
    uint32_t pos = 0;
    for (uint8_t e = 0; e < ch->n_entries; e++) {
        uint32_t n = ch->map_bits[e] / 8u, len;
        if (pos + n > CBL_PDO_BYTES) break;
        if (ch->map_slot[e] < 0) {
            for (uint32_t j = 0; j < n; j++) out[pos + j] = 0;
        } else {
            cbl_od_encode(fw, ch->map_slot[e], out + pos, n, &len);
        }
        pos += n;
    }
    return (uint8_t)pos;
}

void cbl_pdo_unpack(cbl_fw_t *fw, const cbl_pdo_t *ch, const uint8_t *data)
{
    uint32_t pos = 0;
    for (uint8_t e = 0; e < ch->n_entries; e++) {
        uint32_t n = ch->map_bits[e] / 8u;
        if (ch->map_slot[e] >= 0) cbl_od_decode(fw, ch->map_slot[e], data + pos);
        pos += n;
    }
}
