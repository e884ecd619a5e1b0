/* qemu_link.c: the host side of the QEMU image's interrupts (bsp_qemu.c, EV_LOOP / EV_PWM, and
 * the hand image's EV_HAND_TICK).
 *
 * The emulated plant's kernel calls these functions where it would call the host image's
 * interrupts (same signature: context, input record, output record): each writes the input to
 * the image's FIFO in 80-byte records (64-byte pieces: id = byte offset, now_us = the record's
 * size; the joint's records fit one) and reads the image's answer (the output record) likewise.
 * A broken link counts in errors and answers zeros (power stage off); the bridge checks errors
 * after every advance. Built into a small cffi module by drivers/board/image_laws.py.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "qemu_link.h"

typedef struct {
    uint8_t type, flags, len, node;
    uint32_t id;
    uint64_t now_us;
    uint8_t data[64];
} link_record_t;

static int all(int fd, void *buf, size_t n, int write_it)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t k = write_it ? write(fd, p, n) : read(fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int pieces(cbl_qemu_link_t *l, uint8_t type, const void *in, uint32_t n_in, void *out, uint32_t n_out)
{
    link_record_t r;
    for (uint32_t off = 0; off < n_in; off += 64u) {
        memset(&r, 0, sizeof r);
        r.type = type;
        r.id = off;
        r.now_us = n_in;
        r.len = (uint8_t)(n_in - off < 64u ? n_in - off : 64u);
        memcpy(r.data, (const uint8_t *)in + off, r.len);
        if (all(l->to_image, &r, sizeof r, 1) != 0) return -1;
    }
    for (uint32_t got = 0; got < n_out; got += r.len) {
        if (all(l->from_image, &r, sizeof r, 0) != 0 || r.type != type || r.id != got || r.len == 0 ||
            r.len > n_out - got)
            return -1;
        memcpy((uint8_t *)out + got, r.data, r.len);
    }
    return 0;
}

static void exchange(cbl_qemu_link_t *l, uint8_t type, const void *in, uint32_t n_in, void *out, uint32_t n_out)
{
    if (l->errors == 0 && pieces(l, type, in, n_in, out, n_out) == 0) {
        l->exchanges++;
        return;
    }
    l->errors++;
    memset(out, 0, n_out);
}

void cbl_qemu_link_loop(void *ctx, const void *in, void *out)
{
    exchange(ctx, CBL_EV_LOOP, in, CBL_LOOP_IN_BYTES, out, CBL_LOOP_OUT_BYTES);
}

void cbl_qemu_link_pwm(void *ctx, const void *in, void *out)
{
    exchange(ctx, CBL_EV_PWM, in, CBL_PWM_IN_BYTES, out, CBL_PWM_OUT_BYTES);
}

void cbl_qemu_link_hand(void *ctx, const void *in, void *out)
{
    exchange(ctx, CBL_EV_HAND_TICK, in, CBL_HAND_IN_BYTES, out, CBL_HAND_OUT_BYTES);
}

void cbl_qemu_link_entries(uintptr_t *fn)
{
    fn[0] = (uintptr_t)&cbl_qemu_link_loop;
    fn[1] = (uintptr_t)&cbl_qemu_link_pwm;
    fn[2] = (uintptr_t)&cbl_qemu_link_hand;
}
