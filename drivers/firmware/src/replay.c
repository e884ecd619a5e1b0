/* replay.c: a standalone driver of the firmware (host BSP, no plant) for sanitizer builds.
 *
 * Reads events from stdin, one per line:
 *   B <node-id> <start-us>                   power on (fresh context, erased flash)
 *   F <id> <flags> <hex data>                a received frame, then the timers
 *   W <microseconds>                         time passes, then the timers
 * and prints, after each event, "E" and one line "<id> <hex data>" per frame the board sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bsp_host.h"

static cbl_host_t host;
static uint8_t flash[2u * 8192u];

static void frames(uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        printf("%x ", (unsigned)host.tx[k].id);
        for (uint32_t j = 0; j < host.tx[k].len; j++) printf("%02x", host.tx[k].data[j]);
        putchar('\n');
    }
}

static void emit(uint32_t n)
{
    puts("E");
    frames(n);
}

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

int main(void)
{
    static char line[512];
    uint64_t now = 0;
    int booted = 0;
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (line[0] == 'B') {
            unsigned node;
            unsigned long long start;
            if (sscanf(line + 1, "%u %llu", &node, &start) != 2) return 2;
            memset(flash, 0xFF, sizeof flash);
            cbl_fw_config_t cfg = {(uint8_t)node, (uint32_t)node, 0.0, 1e-6};
            now = start;
            if (cbl_host_init(&host, &cfg, flash, sizeof flash, NULL, now) != 0) return 3;
            booted = 1;
            emit(host.n_tx);  /* the boot-up frame, sent during init */
            frames(cbl_host_step(&host, NULL, 0, now, 1) & 0xFFFFu);
        } else if (!booted) {
            return 4;
        } else if (line[0] == 'W') {
            unsigned long long us;
            if (sscanf(line + 1, "%llu", &us) != 1) return 2;
            now += us;
            emit(cbl_host_step(&host, NULL, 0, now, 1) & 0xFFFFu);
        } else if (line[0] == 'F') {
            cbl_frame_t f;
            unsigned id, flags;
            char hex[160] = "";
            memset(&f, 0, sizeof f);
            if (sscanf(line + 1, "%x %u %159s", &id, &flags, hex) < 2) return 2;
            if (hex[0] == '-') hex[0] = '\0';
            size_t len = strlen(hex) / 2u;
            f.id = id;
            f.flags = (uint8_t)flags;
            f.len = (uint8_t)(len > CBL_FRAME_MAX ? CBL_FRAME_MAX : len);
            for (size_t k = 0; k < f.len; k++) f.data[k] = (uint8_t)(hexval(hex[2 * k]) << 4 | hexval(hex[2 * k + 1]));
            emit(cbl_host_step(&host, &f, 1, now, 1) & 0xFFFFu);
        }
        fflush(stdout);
    }
    return 0;
}
