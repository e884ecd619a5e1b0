/* refloop.c: the C reference loop of `cbl bench loop` (built from source with gcc by the bench).
 *
 * The plainest good C 1 kHz loop: mlockall, SCHED_FIFO, CPU affinity, 1 ns timer slack,
 * clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME) on deadlines d_{i+1} = d_i + T (missed
 * deadlines skipped, as rtcore's default policy), stepping the whole-body workload
 * (wholebody.h) on the same records as the Python runners. Statistics are recorded in
 * preallocated, pre-faulted arrays and written out raw for rtcore.stats to summarise.
 *
 * usage: refloop RECORDS OUT PERIOD_NS CYCLES PRIORITY CPU STRICT
 *   RECORDS  cfg, st, inp, out records back to back (numpy bytes); OUT gets:
 *   int64 header[8] = {magic, cycles, overruns, skipped, max_consecutive, minflt, refused, 0},
 *   int64 latency[CYCLES], int64 step[CYCLES], int64 period[CYCLES], uint8 overrun[CYCLES],
 *   then the four records after the run. PRIORITY 0 keeps SCHED_OTHER, CPU -1 keeps affinity,
 *   STRICT 1 exits with status 3 when a real-time step is refused (else a warning on stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>

#include "wholebody.h"

#define NS 1000000000LL
#define MAGIC 0x43424c5245464c31LL /* "CBLREFL1" */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    struct timespec ts = {.tv_sec = t / NS, .tv_nsec = t % NS};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

static void prefault_stack(void)
{
    volatile unsigned char buf[64 * 1024];
    for (size_t i = 0; i < sizeof buf; i += 4096)
        buf[i] = 1;
}

static int refuse(int strict, const char *step, int err)
{
    if (strict) {
        fprintf(stderr, "--strict-rt: real-time step '%s' was refused: %s\n", step, strerror(err));
        exit(3);
    }
    fprintf(stderr, "refloop: warning: real-time step '%s' refused: %s\n", step, strerror(err));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: refloop RECORDS OUT PERIOD_NS CYCLES PRIORITY CPU STRICT\n");
        return 2;
    }
    const int64_t period = atoll(argv[3]), cycles = atoll(argv[4]);
    const int prio = atoi(argv[5]), cpu = atoi(argv[6]), strict = atoi(argv[7]);
    if (period < 10000 || cycles < 1) {
        fprintf(stderr, "refloop: PERIOD_NS = %lld must be >= 10000 and CYCLES = %lld >= 1\n",
                (long long)period, (long long)cycles);
        return 2;
    }
    static wb_config_t cfg;
    static wb_state_t st;
    static wb_input_t inp;
    static wb_output_t out;
    FILE *f = fopen(argv[1], "rb");
    if (!f || fread(&cfg, sizeof cfg, 1, f) != 1 || fread(&st, sizeof st, 1, f) != 1 ||
        fread(&inp, sizeof inp, 1, f) != 1 || fread(&out, sizeof out, 1, f) != 1) {
        fprintf(stderr, "refloop: %s: cannot read %zu bytes of records\n", argv[1],
                sizeof cfg + sizeof st + sizeof inp + sizeof out);
        return 2;
    }
    fclose(f);

    int64_t refused = 0;
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        refused |= refuse(strict, "mlockall", errno) << 0;
    if (prio > 0) {
        struct sched_param sp = {.sched_priority = prio};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
            refused |= refuse(strict, "sched_fifo", errno) << 1;
    }
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            refused |= refuse(strict, "affinity", errno) << 2;
    }
    if (prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) != 0)
        refused |= refuse(strict, "timer_slack", errno) << 3;

    const size_t n = (size_t)cycles;
    int64_t *lat = malloc(n * 8), *stp = malloc(n * 8), *per = malloc(n * 8);
    uint8_t *over = malloc(n);
    if (!lat || !stp || !per || !over) {
        fprintf(stderr, "refloop: out of memory for %lld cycles\n", (long long)cycles);
        return 2;
    }
    memset(lat, 0, n * 8); /* pre-fault every page */
    memset(stp, 0, n * 8);
    memset(per, 0, n * 8);
    memset(over, 0, n);

    prefault_stack();
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    int64_t overruns = 0, skipped = 0, consecutive = 0, max_consecutive = 0;
    const int64_t start = now_ns();
    int64_t deadline = start + period, prev_wake = start;
    for (size_t i = 0; i < n; i++) {
        sleep_until(deadline);
        const int64_t wake = now_ns();
        wholebody_step(&cfg, &st, &inp, &out);
        const int64_t end = now_ns();
        const int64_t next = deadline + period;
        lat[i] = wake - deadline;
        stp[i] = end - wake;
        per[i] = wake - prev_wake;
        if (end > next) {
            const int64_t k = (end - next) / period + 1;
            over[i] = 1;
            overruns++;
            skipped += k;
            deadline = next + k * period;
            if (++consecutive > max_consecutive)
                max_consecutive = consecutive;
        } else {
            deadline = next;
            consecutive = 0;
        }
        prev_wake = wake;
    }
    getrusage(RUSAGE_THREAD, &ru1);

    FILE *o = fopen(argv[2], "wb");
    if (!o) {
        fprintf(stderr, "refloop: cannot write %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    const int64_t hdr[8] = {MAGIC, cycles, overruns, skipped, max_consecutive,
                            ru1.ru_minflt - ru0.ru_minflt, refused, 0};
    fwrite(hdr, 8, 8, o);
    fwrite(lat, 8, n, o);
    fwrite(stp, 8, n, o);
    fwrite(per, 8, n, o);
    fwrite(over, 1, n, o);
    fwrite(&cfg, sizeof cfg, 1, o);
    fwrite(&st, sizeof st, 1, o);
    fwrite(&inp, sizeof inp, 1, o);
    fwrite(&out, sizeof out, 1, o);
    return fclose(o) == 0 ? 0 : 2;
}
