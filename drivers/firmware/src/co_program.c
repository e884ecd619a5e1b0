/* co_program.c: CiA 302-3 program download, the firmware's side (the contract: the module doc of
 * cerebellum_rt.drivers.flash; the Python board's drivers/board/flashing.py is the spec).
 *
 * Every flash write goes through the resident bootloader's services (bsp.boot, cbl_boot_api.h):
 * the firmware can only clear and program the INACTIVE slot and write its state records, so no
 * firmware bug can erase the image it runs from. Without a bootloader (a board built without
 * one) the objects keep their defaults (0x1F57 = 0), as the Python board without an image, and
 * every program-control write aborts 0x08000022.
 *
 * 0x1F50:1 streams: the SDO server hands over the bytes of every sub-block before it acknowledges
 * it (co_sdo.c); whole 8-byte program units are programmed at once, a partial unit waits in RAM
 * for the next bytes and the end of the transfer pads it with 0xFF. 0x5F50:1 is the resume point:
 * after a reset it is the programmed extent of a cleared slot found by scanning, rounded down to a
 * unit (a torn unit is programmed again with the same bytes: NOR programming is idempotent).
 * 0x1F51:1 = 1 verifies the inactive slot completely (cbl_image.c, in the bootloader) with the
 * running image's security counter as the minimum, writes its PENDING record and resets; the
 * bootloader then test-boots it. A test-booted firmware confirms itself after SELFTEST_US of
 * uptime with an empty error register, or on 0x1F51:1 = 0x80.
 */
#include "co_internal.h"

#define ABORT_NO_DATA 0x08000024u
#define SELFTEST_US 10000000u
#define STATUS_TEST_BOOT 0x20000u
#define STATUS_SLOT_B 0x10000u

static int inactive(const cbl_fw_t *fw) { return fw->bsp.boot->running_slot ^ 1; }

static void publish(cbl_fw_t *fw)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    cbl_prog_t *p = &fw->prog;
    if (a == NULL) return;  /* no bootloader: every object at its default, as the Python board without an image */
    uint32_t st = (uint32_t)p->err << 1;
    if (a->running_slot) st |= STATUS_SLOT_B;
    if (a->test_boot) st |= STATUS_TEST_BOOT;
    OD_SET(fw, 0x1F51, 1, p->running_valid ? 1u : 0u);
    OD_SET(fw, 0x1F56, 1, p->version);
    OD_SET(fw, 0x1F57, 1, st);
    OD_SET(fw, 0x5F50, 1, p->offset);
    OD_SET(fw, 0x5F50, 2, CBL_SLOT_BYTES);
    OD_SET(fw, 0x5F50, 4, p->seccnt);
    OD_SET(fw, 0x5F50, 5, a->key_id);
}

void cbl_program_setup(cbl_fw_t *fw, uint64_t now_us)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    cbl_prog_t *p = &fw->prog;
    p->boot_us = now_us;
    if (a == NULL) return;
    cbl_image_info_t info;
    p->running_valid = a->verify(a->ctx, a->running_slot, 0, &info) == CBL_IMG_OK;
    p->version = p->running_valid ? info.version : 0u;
    p->seccnt = p->running_valid ? info.seccnt : 0u;
    p->err = p->running_valid ? 0u : (uint8_t)CBL_IMG_NO_PROGRAM;
    p->offset = a->programmed(a->ctx, inactive(fw)) & ~(uint32_t)(CBL_PROGRAM_UNIT - 1u);
    p->n_tail = 0;
}

/* after every boot and NMT reset: the objects from the download state */
void cbl_program_publish(cbl_fw_t *fw) { publish(fw); }

static uint32_t fail(cbl_fw_t *fw, uint32_t err, uint32_t abort)
{
    fw->prog.err = (uint8_t)err;
    publish(fw);
    return abort;
}

static uint32_t unit_program(cbl_fw_t *fw, const uint8_t *src, uint32_t n)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    cbl_prog_t *p = &fw->prog;
    if (p->offset > CBL_SLOT_BYTES || n > CBL_SLOT_BYTES - p->offset) return fail(fw, CBL_IMG_TOO_LARGE, ABORT_LENGTH_HIGH);
    uint32_t code = a->program(a->ctx, inactive(fw), p->offset, src, n);
    if (code == CBL_IMG_SECURED) return fail(fw, code, ABORT_STATE);
    if (code) return fail(fw, code, ABORT_STORE);
    p->offset += n;
    return 0;
}

uint32_t cbl_program_begin(cbl_fw_t *fw, int has_size, uint32_t size)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    cbl_prog_t *p = &fw->prog;
    if (a == NULL) return ABORT_STATE;
    p->n_tail = 0;
    uint32_t code = a->program(a->ctx, inactive(fw), p->offset, p->tail, 0);  /* may this slot take data? */
    if (code == CBL_IMG_SECURED) return fail(fw, code, ABORT_STATE);
    if (code) return fail(fw, code, ABORT_STORE);
    if (has_size && size > CBL_SLOT_BYTES - p->offset) return fail(fw, CBL_IMG_TOO_LARGE, ABORT_LENGTH_HIGH);
    return 0;
}

uint32_t cbl_program_data(cbl_fw_t *fw, const uint8_t *src, uint32_t n)
{
    cbl_prog_t *p = &fw->prog;
    uint32_t code;
    while (n > 0u && p->n_tail > 0u) {  /* complete the waiting unit first */
        p->tail[p->n_tail++] = *src++;
        n--;
        if (p->n_tail == CBL_PROGRAM_UNIT) {
            if ((code = unit_program(fw, p->tail, CBL_PROGRAM_UNIT)) != 0) return code;
            p->n_tail = 0;
        }
    }
    uint32_t whole = n - n % CBL_PROGRAM_UNIT;
    if (whole && (code = unit_program(fw, src, whole)) != 0) return code;
    for (uint32_t k = whole; k < n; k++) p->tail[p->n_tail++] = src[k];
    OD_SET(fw, 0x5F50, 1, p->offset);
    return 0;
}

uint32_t cbl_program_end(cbl_fw_t *fw)
{
    cbl_prog_t *p = &fw->prog;
    if (p->n_tail) {
        for (uint32_t k = p->n_tail; k < CBL_PROGRAM_UNIT; k++) p->tail[k] = 0xFFu;
        p->n_tail = 0;
        uint32_t code = unit_program(fw, p->tail, CBL_PROGRAM_UNIT);
        if (code) return code;
    }
    publish(fw);
    return 0;
}

static uint32_t control(cbl_fw_t *fw, uint32_t v)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    cbl_prog_t *p = &fw->prog;
    cbl_image_info_t info;
    uint32_t code;
    switch (v) {
    case 3:  /* clear */
        code = a->clear(a->ctx, inactive(fw));
        if (code) return fail(fw, code, code == CBL_IMG_SECURED ? ABORT_STATE : ABORT_STORE);
        p->offset = 0;
        p->n_tail = 0;
        p->err = 0;
        break;
    case 1:  /* start: verify completely, then the test boot */
        if (a->test_boot) return fail(fw, CBL_IMG_SECURED, ABORT_STATE);
        code = a->verify(a->ctx, inactive(fw), p->seccnt, &info);
        if (code) return fail(fw, code, ABORT_NO_DATA);
        code = a->mark_pending(a->ctx, inactive(fw));
        if (code) return fail(fw, code, code == CBL_IMG_SECURED ? ABORT_STATE : ABORT_STORE);
        p->err = 0;
        fw->reset_request = 1;
        break;
    case 0:  /* stop: the slot keeps what was programmed, for a resume */
        p->n_tail = 0;
        break;
    case 2:
        fw->reset_request = 1;
        break;
    case 0x80:  /* confirm the running image */
        code = a->confirm(a->ctx);
        if (code) return fail(fw, code, ABORT_STORE);
        break;
    default:
        return ABORT_VALUE;
    }
    publish(fw);
    return 0;
}

/* a bus write of 0x1F51 / 0x5F50 (limits already checked by the store): 0 or the abort code */
uint32_t cbl_program_write(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint32_t v)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    if (a == NULL) return ABORT_STATE;
    if (index == 0x1F51u) return control(fw, v);
    if (index == 0x5F50u && sub == 1u) {
        uint32_t limit = a->programmed(a->ctx, inactive(fw));
        if (fw->prog.offset > limit) limit = fw->prog.offset;
        if (v > limit || v % CBL_PROGRAM_UNIT) return ABORT_VALUE;
        if (a->test_boot) return ABORT_STATE;
        fw->prog.offset = v;
        fw->prog.n_tail = 0;
        publish(fw);
        return 0;
    }
    return ABORT_READ_ONLY;
}

/* the self-test: a test-booted image that ran SELFTEST_US with an empty error register confirms itself */
void cbl_program_tick(cbl_fw_t *fw, uint64_t now_us)
{
    const cbl_boot_api_t *a = fw->bsp.boot;
    if (a == NULL || !a->test_boot || now_us - fw->prog.boot_us < SELFTEST_US) return;
    if (OD_GET(fw, 0x1001, 0) != 0u || fw->nmt_state == NMT_STOPPED) return;
    if (a->confirm(a->ctx) == 0) publish(fw);
}
