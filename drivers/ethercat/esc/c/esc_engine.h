/* The compiled datagram engine of the emulated ESCs: the structures shared with Python (cengine.py). */
#ifndef ESC_ENGINE_H
#define ESC_ENGINE_H

#include <pthread.h>
#include <stdint.h>

#define ESC_MEM 0x2000
#define ESC_N_FMMU 8
#define ESC_N_SM 8
#define ESC_FRAME_MAX 2048
#define ESC_RING 4096
#define ESC_MAX_WORKERS 64

#define ESC_MALFORMED 0
#define ESC_DONE 1
#define ESC_EVENT 2

#define ESC_SERVE_YIELD 0
#define ESC_SERVE_EVENT 1
#define ESC_SERVE_ERROR -1

typedef struct {
    uint8_t *mem;     /* the slave's ESC memory (its Python bytearray) */
    uint8_t *outbuf;  /* ESC_MEM bytes: the last SM2 buffer this engine completed */
    int64_t clock_offset_ns, dc_adjust_ns, wd_ns;
    int32_t position, dc_locked, out_len, push;
    uint32_t completions, wd_seq, last_in;
    int64_t out_seq, out_data, in_seq, in_data; /* offsets of its PDI slots in esc_line.slots, -1: none */
    int32_t out_bytes, in_bytes, worker;
} esc_slave;

typedef struct {
    esc_slave *s;
    int32_t n, n_all;            /* slaves a frame reaches; slaves in the line */
    const uint8_t *writable;     /* ESC_MEM flags: register bytes the master may write */
    uint8_t *scratch;            /* 2 * ESC_FRAME_MAX bytes */
    uint8_t *slots;              /* the worker pool's shared mapping, or NULL */
    int32_t efds[ESC_MAX_WORKERS];
    int32_t n_workers;
    volatile int32_t yield_req;  /* Python wants the serve loop back */
    int64_t frames, replies;
    int64_t cnt[2];              /* malformed frames, unknown commands */
    int64_t *ring, *ring_n;      /* receive-to-reply times (ns) of recent frames, and their count */
    pthread_mutex_t mu;          /* the line's lock (line.py Line.lock) */
} esc_line;

void esc_line_init(esc_line *L);
void esc_lock(esc_line *L);
void esc_unlock(esc_line *L);
int esc_frame(esc_line *L, uint8_t *f, int n, int pos, int64_t t, int64_t *cnt, int *pos_out);
void esc_push_outputs(esc_line *L);
int esc_serve(esc_line *L, int fd, uint8_t *buf, int cap, int timeout_ms, int64_t *info);

#endif
