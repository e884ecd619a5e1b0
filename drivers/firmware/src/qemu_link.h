/* qemu_link.h: the host side of the QEMU image's interrupts (qemu_link.c). */
#ifndef CBL_QEMU_LINK_H
#define CBL_QEMU_LINK_H

#include <stdint.h>

#define CBL_EV_LOOP 9   /* bsp_qemu.c EV_LOOP / EV_PWM */
#define CBL_EV_PWM 10
#define CBL_LOOP_IN_BYTES 24u  /* sizeof cbl_loop_in_t ... cbl_pwm_out_t (cbl_joint_ctl.h) */
#define CBL_LOOP_OUT_BYTES 16u
#define CBL_PWM_IN_BYTES 16u
#define CBL_PWM_OUT_BYTES 32u
#define CBL_EV_HAND_TICK 13  /* bsp_qemu.c EV_HAND_TICK: the hand image's control tick */
#define CBL_HAND_IN_BYTES 440u  /* sizeof cbl_hand_tick_in_t, cbl_hand_tick_out_t (cbl_hand_ctl.h) */
#define CBL_HAND_OUT_BYTES 144u

typedef struct {
    int to_image, from_image;  /* the FIFOs' file descriptors (the bridge's) */
    uint32_t errors, exchanges;
} cbl_qemu_link_t;

void cbl_qemu_link_loop(void *ctx, const void *in, void *out);
void cbl_qemu_link_pwm(void *ctx, const void *in, void *out);
void cbl_qemu_link_hand(void *ctx, const void *in, void *out);
void cbl_qemu_link_entries(uintptr_t *fn);  /* fn[0..2]: loop, pwm, hand */

#endif
