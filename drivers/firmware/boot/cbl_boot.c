/* cbl_boot.c: the boot policy (direct-XIP with revert, as MCUboot's) and the flash services the
 * firmware uses to download into the inactive slot.
 *
 * Each slot runs in place; its state lives in its own 8 KiB state sector as write-once 16-byte
 * records at fixed places: STAGING (cleared for a download), PENDING (verified, asked for a test
 * boot; value = install sequence), TRIED (the bootloader started it), CONFIRMED (its firmware
 * confirmed it), BAD (reverted). A record is {magic | kind, value, ~value, ~(magic | kind)}.
 * NOR flash can only clear bits and a cut program leaves any prefix of the bytes, so records that
 * GRANT something (PENDING, CONFIRMED) count only when exact, and records that TAKE something
 * away (STAGING, TRIED, BAD) count as soon as any bit is programmed. Hence every torn write falls
 * to the safe side.
 *
 * At every reset, for each slot: its image is checked completely (hash, signature, board type:
 * cbl_image.c); a slot that fails, or is BAD, never runs. A slot PENDING but not CONFIRMED runs
 * once in test boot: TRIED is written BEFORE the jump, so if the board resets before the firmware
 * confirms it (crash, power cut, watchdog, reset), the next boot finds TRIED without CONFIRMED,
 * writes BAD and runs the other slot. Otherwise the bootloader runs the permanent slot (CONFIRMED,
 * or a factory image without any record) with the highest install sequence: the newest confirmed
 * image; downgrades are stopped by the security counter check at start.
 *
 * Why no cut can leave neither image: the firmware only ever writes the INACTIVE slot (the running
 * one is refused: CBL_IMG_SECURED), and refuses to clear it while the running image is itself only
 * in test boot (then the inactive slot holds the last confirmed image). Clearing erases the slot's
 * image from its header on, then its state sector, then writes STAGING; an image with no STAGING
 * record is only bootable as a factory image if it is complete and signed, which a cleared slot
 * cannot be until it is downloaded again - and a download is refused without STAGING. So at every
 * point the running, confirmed slot stays untouched and bootable.
 */
#include <string.h>
#include "cbl_boot.h"
#include "cbl_image.h"
#include "cbl_crypto.h"

static const uint8_t SPKI_PREFIX[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

enum { REC_STAGING, REC_PENDING, REC_TRIED, REC_CONFIRMED, REC_BAD, REC_N };
#define REC_BYTES 16u
#define REC_MAGIC 0xCB1B0000u

static const uint32_t SLOT_OFF[2] = {CBL_SLOT_A_OFF, CBL_SLOT_B_OFF};
static const uint32_t STATE_OFF[2] = {CBL_STATE_A_OFF, CBL_STATE_B_OFF};

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

static const uint8_t *rec_at(const cbl_boot_t *b, int slot, int kind)
{
    return b->flash.mem + STATE_OFF[slot] + (uint32_t)kind * REC_BYTES;
}

static int rec_blank(const uint8_t *p)
{
    for (uint32_t k = 0; k < REC_BYTES; k++)
        if (p[k] != 0xFFu) return 0;
    return 1;
}

static int rec_exact(const uint8_t *p, int kind, uint32_t *value)
{
    uint32_t m = REC_MAGIC | (uint32_t)kind, v = rd32(p + 4);
    if (rd32(p) != m || rd32(p + 8) != ~v || rd32(p + 12) != ~m) return 0;
    if (value) *value = v;
    return 1;
}

static uint32_t rec_write(cbl_boot_t *b, int slot, int kind, uint32_t value)
{
    uint8_t r[REC_BYTES];
    uint32_t m = REC_MAGIC | (uint32_t)kind;
    wr32(r, m);
    wr32(r + 4, value);
    wr32(r + 8, ~value);
    wr32(r + 12, ~m);
    if (!rec_blank(rec_at(b, slot, kind))) return CBL_IMG_WRITE;
    uint32_t off = STATE_OFF[slot] + (uint32_t)kind * REC_BYTES;
    return b->flash.program(b->flash.user, off, r, REC_BYTES) == 0 ? 0u : CBL_IMG_WRITE;
}

static void slot_state(void *ctx, int slot, cbl_slot_state_t *st)
{
    const cbl_boot_t *b = (const cbl_boot_t *)ctx;
    memset(st, 0, sizeof *st);
    st->staging = !rec_blank(rec_at(b, slot, REC_STAGING));
    st->pending = (uint8_t)rec_exact(rec_at(b, slot, REC_PENDING), REC_PENDING, &st->seq);
    st->tried = !rec_blank(rec_at(b, slot, REC_TRIED));
    st->confirmed = (uint8_t)rec_exact(rec_at(b, slot, REC_CONFIRMED), REC_CONFIRMED, NULL);
    st->bad = !rec_blank(rec_at(b, slot, REC_BAD));
    st->factory = 1;
    for (int k = 0; k < REC_N; k++)
        if (!rec_blank(rec_at(b, slot, k))) st->factory = 0;
    if (!st->pending) st->seq = 0;
}

static uint32_t verify(void *ctx, int slot, uint32_t min_seccnt, cbl_image_info_t *info)
{
    const cbl_boot_t *b = (const cbl_boot_t *)ctx;
    return cbl_image_check(b->flash.mem + SLOT_OFF[slot], CBL_SLOT_BYTES, cbl_boot_key(b), b->board_type,
                           min_seccnt, SLOT_OFF[slot], info);
}

/* the inactive slot may be written: not the running one, not while the running one is on trial */
static uint32_t writable(const cbl_boot_t *b, int slot)
{
    if (slot < 0 || slot > 1) return CBL_IMG_ADDRESS;
    if (slot == b->api.running_slot || b->api.test_boot) return CBL_IMG_SECURED;
    return 0;
}

static uint32_t clear(void *ctx, int slot)
{
    cbl_boot_t *b = (cbl_boot_t *)ctx;
    uint32_t code = writable(b, slot);
    if (code) return code;
    for (uint32_t off = 0; off < CBL_SLOT_BYTES; off += CBL_SECTOR)
        if (b->flash.erase(b->flash.user, SLOT_OFF[slot] + off, CBL_SECTOR) != 0) return CBL_IMG_WRITE;
    if (b->flash.erase(b->flash.user, STATE_OFF[slot], CBL_STATE_BYTES) != 0) return CBL_IMG_WRITE;
    return rec_write(b, slot, REC_STAGING, 0);
}

/* a download may go on: STAGING written, nothing after it */
static uint32_t downloading(const cbl_boot_t *b, int slot)
{
    if (rec_blank(rec_at(b, slot, REC_STAGING))) return CBL_IMG_NOT_CLEARED;
    for (int k = REC_PENDING; k < REC_N; k++)
        if (!rec_blank(rec_at(b, slot, k))) return CBL_IMG_NOT_CLEARED;
    return 0;
}

static uint32_t program(void *ctx, int slot, uint32_t off, const uint8_t *src, uint32_t n)
{
    cbl_boot_t *b = (cbl_boot_t *)ctx;
    uint32_t code = writable(b, slot);
    if (!code) code = downloading(b, slot);
    if (code) return code;
    if (off > CBL_SLOT_BYTES || n > CBL_SLOT_BYTES - off) return CBL_IMG_TOO_LARGE;
    if (n == 0u) return 0;
    return b->flash.program(b->flash.user, SLOT_OFF[slot] + off, src, n) == 0 ? 0u : CBL_IMG_WRITE;
}

static uint32_t programmed(void *ctx, int slot)
{
    const cbl_boot_t *b = (const cbl_boot_t *)ctx;
    if (writable(b, slot) || downloading(b, slot)) return 0;
    const uint8_t *s = b->flash.mem + SLOT_OFF[slot];
    uint32_t n = CBL_SLOT_BYTES;
    while (n > 0u && s[n - 1u] == 0xFFu) n--;
    return n;
}

static uint32_t mark_pending(void *ctx, int slot)
{
    cbl_boot_t *b = (cbl_boot_t *)ctx;
    uint32_t code = writable(b, slot);
    if (!code) code = downloading(b, slot);
    if (code) return code;
    cbl_slot_state_t run;
    slot_state(b, b->api.running_slot, &run);
    return rec_write(b, slot, REC_PENDING, run.seq + 1u);
}

static uint32_t confirm(void *ctx)
{
    cbl_boot_t *b = (cbl_boot_t *)ctx;
    if (!b->api.test_boot) return 0;
    uint32_t code = rec_write(b, b->api.running_slot, REC_CONFIRMED, 0);
    if (code == 0) b->api.test_boot = 0;
    return code;
}

const uint8_t *cbl_boot_key(const cbl_boot_t *b) { return b->flash.mem + CBL_KEY_OFF; }

void cbl_boot_init(cbl_boot_t *b, const cbl_flash_t *flash, uint32_t board_type)
{
    memset(b, 0, sizeof *b);
    b->flash = *flash;
    b->board_type = board_type;
    b->api.ctx = b;
    b->api.verify = verify;
    b->api.state = slot_state;
    b->api.clear = clear;
    b->api.program = program;
    b->api.programmed = programmed;
    b->api.mark_pending = mark_pending;
    b->api.confirm = confirm;
    uint8_t spki[44], kh[32];
    memcpy(spki, SPKI_PREFIX, sizeof SPKI_PREFIX);
    memcpy(spki + sizeof SPKI_PREFIX, cbl_boot_key(b), 32);
    if (crypto_hash_sha256(kh, spki, sizeof spki) == 0) b->api.key_id = rd32(kh);
}

int cbl_boot_select(cbl_boot_t *b)
{
    int best = -1, test = -1;
    uint32_t best_seq = 0, test_seq = 0;
    for (int s = 0; s < 2; s++) {
        cbl_slot_state_t st;
        cbl_image_info_t info;
        slot_state(b, s, &st);
        if (st.bad || verify(b, s, 0, &info) != CBL_IMG_OK) continue;
        if (st.pending && !st.confirmed) {
            if (st.tried) {
                (void)rec_write(b, s, REC_BAD, 0);  /* its test boot ended without a confirm: revert */
                continue;
            }
            if (test < 0 || st.seq > test_seq) { test = s; test_seq = st.seq; }
        } else if ((st.pending && st.confirmed) || st.factory) {
            if (best < 0 || st.seq > best_seq) { best = s; best_seq = st.seq; }
        }
    }
    if (test >= 0 && rec_write(b, test, REC_TRIED, 0) == 0) {
        b->api.running_slot = (uint8_t)test;
        b->api.test_boot = 1;
        return test;
    }
    if (best < 0) return -1;
    b->api.running_slot = (uint8_t)best;
    b->api.test_boot = 0;
    return best;
}
