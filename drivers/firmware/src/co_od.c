/* co_od.c: the object store of one node: values, the bus-facing read/write with every CiA 301
 * check, and store/restore (0x1010/0x1011, CiA 301 §7.5.2.13-14) into the parameter flash.
 *
 * Flash: two sectors used in turn. A sector holds a 16-byte header (magic "CBLP", sequence,
 * record bytes, CRC-16 of the records) and 8-byte-aligned records (index u16, sub u8, 0,
 * length u16, 0 u16, data). A save writes the whole new image into the other sector and the
 * header last, so a power cut at any point leaves the previous image valid. "save" copies the
 * persistent entries of the chosen range (sub 1 all, 2 0x1000-0x1FFF, 3 0x2000-0x9FFF) that differ
 * from their defaults (a missing record loads the default); "load"
 * drops that range from flash, so the defaults apply after the next NMT reset. A stored value
 * that no longer fits its entry's limits is ignored (the default applies).
 */
#include "co_internal.h"

#define SECTOR_MAGIC 0x504C4243u
#define HDR_BYTES 16u

float cbl_f32(uint32_t raw) { union { uint32_t u; float f; } x; x.u = raw; return x.f; }
uint32_t cbl_u32(float f) { union { uint32_t u; float f; } x; x.f = f; return x.u; }

static void copy(uint8_t *d, const uint8_t *s, uint32_t n) { while (n--) *d++ = *s++; }

int cbl_od_find(uint16_t index, uint8_t sub)
{
    uint32_t key = ((uint32_t)index << 8) | sub;
    int lo = 0, hi = (int)CBL_OD_N - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        uint32_t k = ((uint32_t)cbl_od[mid].index << 8) | cbl_od[mid].subindex;
        if (k == key) return mid;
        if (k < key) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

int cbl_od_has_object(uint16_t index)
{
    int lo = 0, hi = (int)CBL_OD_N - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cbl_od[mid].index == index) return 1;
        if (cbl_od[mid].index < index) lo = mid + 1; else hi = mid - 1;
    }
    return 0;
}

int cbl_od_numeric(const cbl_od_entry_t *e) { return e->data_type >= DT_BOOLEAN && e->data_type <= DT_REAL32; }

static int is_signed(const cbl_od_entry_t *e)
{
    return e->data_type == DT_INTEGER8 || e->data_type == DT_INTEGER16 || e->data_type == DT_INTEGER32;
}

/* the value as a double (exact for every type used) */
static double as_double(const cbl_od_entry_t *e, uint32_t raw)
{
    if (e->data_type == DT_REAL32) return (double)cbl_f32(raw);
    if (is_signed(e)) return (double)(int32_t)raw;
    return (double)raw;
}

/* little-endian bytes -> raw (sign-extended for signed types) */
static uint32_t from_bytes(const cbl_od_entry_t *e, const uint8_t *p)
{
    uint32_t v = 0;
    for (uint32_t k = 0; k < e->size; k++) v |= (uint32_t)p[k] << (8u * k);
    if (is_signed(e) && e->size < 4u && (v >> (8u * e->size - 1u)) & 1u) v |= ~0u << (8u * e->size);
    return v;
}

uint32_t cbl_od_get(const cbl_fw_t *fw, uint16_t index, uint8_t sub)
{
    int slot = cbl_od_find(index, sub);
    return slot < 0 ? 0u : fw->val[slot];
}

void cbl_od_set_slot(cbl_fw_t *fw, int slot, uint32_t raw)
{
    const cbl_od_entry_t *e = &cbl_od[slot];
    if (e->size < 4u) raw = from_bytes(e, (const uint8_t[4]){(uint8_t)raw, (uint8_t)(raw >> 8), 0, 0});
    fw->val[slot] = raw;
}

void cbl_od_set(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t raw)
{
    int slot = cbl_od_find(index, sub);
    if (slot >= 0) cbl_od_set_slot(fw, slot, raw);
}

void cbl_od_decode(cbl_fw_t *fw, int slot, const uint8_t *src) { fw->val[slot] = from_bytes(&cbl_od[slot], src); }

uint32_t cbl_od_encode(const cbl_fw_t *fw, int slot, uint8_t *dst, uint32_t cap, uint32_t *len)
{
    const cbl_od_entry_t *e = &cbl_od[slot];
    if (cbl_od_numeric(e)) {
        for (uint32_t k = 0; k < e->size && k < cap; k++) dst[k] = (uint8_t)(fw->val[slot] >> (8u * k));
        *len = e->size;
    } else if (e->text != NULL) {
        uint32_t n = 0;
        while (e->text[n] != '\0') { if (n < cap) dst[n] = (uint8_t)e->text[n]; n++; }
        *len = n;
    } else {
        uint32_t n = fw->blob_len[slot];
        copy(dst, &fw->blob[fw->blob_off[slot]], n < cap ? n : cap);
        *len = n;
    }
    return 0;
}

static uint32_t entry_abort(uint16_t index, uint8_t sub, int *slot)
{
    *slot = cbl_od_find(index, sub);
    if (*slot >= 0) return 0;
    return cbl_od_has_object(index) ? ABORT_NO_SUBINDEX : ABORT_NO_OBJECT;
}

uint32_t cbl_od_read(const cbl_fw_t *fw, uint16_t index, uint8_t sub, uint8_t *dst, uint32_t cap, uint32_t *len)
{
    int slot;
    uint32_t code = entry_abort(index, sub, &slot);
    if (code) return code;
    if (cbl_od[slot].access == CBL_OD_WO) return ABORT_WRITE_ONLY;
    return cbl_od_encode(fw, slot, dst, cap, len);
}

uint32_t cbl_od_check_writable(uint16_t index, uint8_t sub)
{
    int slot;
    uint32_t code = entry_abort(index, sub, &slot);
    if (code) return code;
    if (cbl_od[slot].access == CBL_OD_RO || cbl_od[slot].access == CBL_OD_CONST) return ABORT_READ_ONLY;
    return 0;
}

/* ------------------------------------------------------------------------------ defaults, flash */
static int in_range(uint8_t sub, uint16_t index)
{
    if (sub == 1) return 1;
    if (sub == 2) return index >= 0x1000u && index < 0x2000u;
    return index >= 0x2000u;
}

static int value_fits(const cbl_od_entry_t *e, uint32_t raw)
{
    double v = as_double(e, raw);
    if (e->data_type == DT_REAL32 && !(v == v && v - v == 0.0)) return 0;  /* NaN or infinite */
    if (e->n_values) {
        int ok = 0;
        for (uint32_t k = 0; k < e->n_values; k++) ok |= (double)e->values[k] == v;
        if (!ok) return 0;
    }
    return v >= e->low && v <= e->high;
}

int cbl_od_fits(int slot, const uint8_t *src) { return value_fits(&cbl_od[slot], from_bytes(&cbl_od[slot], src)); }

typedef struct { uint32_t base, seq, len; int valid; } sector_t;

static void sector_info(const cbl_fw_t *fw, uint32_t base, sector_t *s)
{
    uint8_t h[HDR_BYTES], chunk[32];
    s->base = base;
    s->valid = 0;
    if (fw->bsp.flash_read == NULL || fw->bsp.flash_read(fw->bsp.user, base, h, HDR_BYTES) != 0) return;
    uint32_t magic = h[0] | h[1] << 8 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 24;
    s->seq = h[4] | h[5] << 8 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24;
    s->len = h[8] | h[9] << 8 | (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
    uint16_t crc = (uint16_t)(h[12] | h[13] << 8);
    if (magic != SECTOR_MAGIC || s->len > fw->bsp.flash_sector - HDR_BYTES) return;
    uint16_t acc = 0;
    for (uint32_t off = 0; off < s->len; off += sizeof chunk) {
        uint32_t n = s->len - off < sizeof chunk ? s->len - off : (uint32_t)sizeof chunk;
        if (fw->bsp.flash_read(fw->bsp.user, base + HDR_BYTES + off, chunk, n) != 0) return;
        acc = cbl_crc16(acc, chunk, n);
    }
    s->valid = acc == crc;
}

static int current_sector(const cbl_fw_t *fw, sector_t *cur)
{
    sector_t a, b;
    if (fw->bsp.flash_sector < 2u * HDR_BYTES) return 0;
    sector_info(fw, 0, &a);
    sector_info(fw, fw->bsp.flash_sector, &b);
    if (a.valid && (!b.valid || (int32_t)(a.seq - b.seq) > 0)) { *cur = a; return 1; }
    if (b.valid) { *cur = b; return 1; }
    return 0;
}

/* offset of the record of (index, sub) in the sector, its data length in *len; 0 if absent */
static uint32_t find_record(const cbl_fw_t *fw, const sector_t *s, uint16_t index, uint8_t sub, uint32_t *len)
{
    uint8_t r[8];
    for (uint32_t off = 0; off + 8u <= s->len;) {
        fw->bsp.flash_read(fw->bsp.user, s->base + HDR_BYTES + off, r, 8);
        uint32_t n = r[4] | (uint32_t)r[5] << 8;
        if ((r[0] | r[1] << 8) == index && r[2] == sub) { *len = n; return s->base + HDR_BYTES + off + 8u; }
        off += 8u + ((n + 7u) & ~7u);
    }
    return 0;
}

static uint32_t default_raw(const cbl_fw_t *fw, const cbl_od_entry_t *e)
{
    uint32_t raw;
    if (e->data_type == DT_REAL32) raw = cbl_u32((float)e->def);
    else if (is_signed(e)) raw = (uint32_t)(int32_t)e->def;
    else raw = (uint32_t)e->def;
    if (e->flags & CBL_OD_RELATIVE) raw += fw->cfg.node_id;
    return raw;
}

void cbl_od_set_default(cbl_fw_t *fw, uint16_t index, uint8_t sub)
{
    int slot = cbl_od_find(index, sub);
    if (slot >= 0 && cbl_od_numeric(&cbl_od[slot])) fw->val[slot] = default_raw(fw, &cbl_od[slot]);
}

void cbl_od_reset(cbl_fw_t *fw, int comm_only)
{
    sector_t cur;
    int have = current_sector(fw, &cur);
    for (uint32_t k = 0; k < CBL_OD_N; k++) {
        const cbl_od_entry_t *e = &cbl_od[k];
        if (comm_only && e->index >= 0x2000u) continue;
        if (cbl_od_numeric(e)) {
            fw->val[k] = default_raw(fw, e);
        } else {
            fw->blob_len[k] = 0;
        }
        uint32_t n, at;
        if (!have || !(e->flags & CBL_OD_PERSISTENT) || (at = find_record(fw, &cur, e->index, e->subindex, &n)) == 0)
            continue;
        if (cbl_od_numeric(e)) {
            uint8_t b[4] = {0};
            if (n != e->size) continue;
            fw->bsp.flash_read(fw->bsp.user, at, b, n);
            uint32_t raw = from_bytes(e, b);
            if (value_fits(e, raw)) fw->val[k] = raw;
        } else if (e->text == NULL && n <= e->size) {
            fw->bsp.flash_read(fw->bsp.user, at, &fw->blob[fw->blob_off[k]], n);
            fw->blob_len[k] = (uint16_t)n;
        }
    }
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(v >> (8 * k));
}

static uint32_t store_restore(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t value)
{
    if (index == 0x1010u && value != STORE_SIGNATURE) return ABORT_STORE;
    if (index == 0x1011u && value != RESTORE_SIGNATURE) return ABORT_STORE;
    if (fw->bsp.flash_program == NULL || fw->bsp.flash_erase == NULL) return ABORT_STORE;
    sector_t cur;
    int have = current_sector(fw, &cur);
    uint32_t base = (have && cur.base == 0) ? fw->bsp.flash_sector : 0;
    uint32_t limit = fw->bsp.flash_sector - HDR_BYTES;
    if (fw->bsp.flash_erase(fw->bsp.user, base, fw->bsp.flash_sector) != 0) return ABORT_STORE;
    uint32_t off = 0;
    uint16_t crc = 0;
    uint8_t chunk[32];
    for (uint32_t k = 0; k < CBL_OD_N; k++) {
        const cbl_od_entry_t *e = &cbl_od[k];
        if (!(e->flags & CBL_OD_PERSISTENT)) continue;
        int mine = in_range(sub, e->index);
        uint32_t n = 0, at = 0;
        if (mine && index == 0x1011u) continue;
        /* a value at its default needs no record (a missing record loads the default): the
         * CAN-FD tables' 64-entry PDO mappings would not fit the sector otherwise */
        if (mine && cbl_od_numeric(e) && fw->val[k] == default_raw(fw, e)) continue;
        if (mine && !cbl_od_numeric(e) && e->text == NULL && fw->blob_len[k] == 0) continue;
        if (!mine && (!have || (at = find_record(fw, &cur, e->index, e->subindex, &n)) == 0)) continue;
        if (mine) cbl_od_encode(fw, (int)k, chunk, 0, &n);
        uint32_t padded = (n + 7u) & ~7u;
        if (off + 8u + padded > limit) return ABORT_STORE;
        uint8_t r[8] = {(uint8_t)e->index, (uint8_t)(e->index >> 8), e->subindex, 0, (uint8_t)n, (uint8_t)(n >> 8), 0, 0};
        if (fw->bsp.flash_program(fw->bsp.user, base + HDR_BYTES + off, r, 8) != 0) return ABORT_STORE;
        crc = cbl_crc16(crc, r, 8);
        off += 8u;
        for (uint32_t done = 0; done < padded; done += sizeof chunk) {
            uint32_t m = padded - done < sizeof chunk ? padded - done : (uint32_t)sizeof chunk;
            for (uint32_t j = 0; j < m; j++) chunk[j] = 0;
            uint32_t have_n = done < n ? (n - done < m ? n - done : m) : 0;
            if (mine && cbl_od_numeric(e)) {
                uint32_t len;
                cbl_od_encode(fw, (int)k, chunk, m, &len);
            } else if (mine && e->text == NULL) {
                copy(chunk, &fw->blob[fw->blob_off[k] + done], have_n);
            } else if (have_n) {
                fw->bsp.flash_read(fw->bsp.user, at + done, chunk, have_n);
            }
            if (fw->bsp.flash_program(fw->bsp.user, base + HDR_BYTES + off, chunk, m) != 0) return ABORT_STORE;
            crc = cbl_crc16(crc, chunk, m);
            off += m;
        }
    }
    uint8_t h[HDR_BYTES] = {0};
    put_le32(h, SECTOR_MAGIC);
    put_le32(h + 4, have ? cur.seq + 1u : 1u);
    put_le32(h + 8, off);
    h[12] = (uint8_t)crc;
    h[13] = (uint8_t)(crc >> 8);
    if (fw->bsp.flash_program(fw->bsp.user, base, h, HDR_BYTES) != 0) return ABORT_STORE;
    return 0;
}

/* ------------------------------------------------------------------------------ bus write */
uint32_t cbl_od_write(cbl_fw_t *fw, uint16_t index, uint8_t sub, const uint8_t *data, uint32_t len)
{
    uint32_t code = cbl_od_check_writable(index, sub);
    if (code) return code;
    int slot = cbl_od_find(index, sub);
    const cbl_od_entry_t *e = &cbl_od[slot];
    uint32_t raw = 0;
    if (cbl_od_numeric(e)) {
        if (len > e->size) return ABORT_LENGTH_HIGH;
        if (len < e->size) return ABORT_LENGTH_LOW;
        raw = from_bytes(e, data);
        double v = as_double(e, raw);
        if (e->data_type == DT_REAL32 && !(v == v && v - v == 0.0)) return ABORT_VALUE;
        if (e->n_values) {
            int ok = 0;
            for (uint32_t k = 0; k < e->n_values; k++) ok |= (double)e->values[k] == v;
            if (!ok) return ABORT_VALUE;
        }
        if (v > e->high) return ABORT_VALUE_HIGH;
        if (v < e->low) return ABORT_VALUE_LOW;
    } else if (len > e->size) {
        return ABORT_LENGTH_HIGH;
    }
    if ((index == 0x1010u || index == 0x1011u) && sub > 0) return store_restore(fw, index, sub, raw);
    if (cbl_pdo_is_object(index)) {
        code = cbl_pdo_validate(fw, index, sub, raw);
        if (code) return code;
    }
    if (index == 0x1F51u || index == 0x5F50u) return cbl_program_write(fw, index, sub, raw);
    code = cbl_node_validate(fw, index, sub, raw);
    if (code) return code;
    code = cbl_app_validate(fw, index, sub, raw);
    if (code) return code;
    if (cbl_od_numeric(e)) {
        fw->val[slot] = raw;
    } else {
        copy(&fw->blob[fw->blob_off[slot]], data, len);
        fw->blob_len[slot] = (uint16_t)len;
    }
    if (index == 0x1003u) {
        for (uint8_t k = 1; k <= 8; k++) cbl_od_set(fw, 0x1003u, k, 0);
    } else if (cbl_pdo_is_object(index)) {
        cbl_pdo_reload(fw);
    } else {
        cbl_app_written(fw, index, sub);
    }
    return 0;
}
