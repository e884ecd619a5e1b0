# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The Cython loop runner's core: the whole loop runs in C with the GIL released.

Built on first use by rtcore.build.cyloop(); driven by rtcore.cyrunner.CyLoopRunner. Each tick:
sleep to the absolute deadline (clock_nanosleep TIMER_ABSTIME, optional spin tail), call
read/step/write through C function pointers ``int32_t f(double t_s, double dt_s, void *ctx)``
(numba cfunc or cffi), record the tick in preallocated arrays, push it into the telemetry ring,
feed the watchdog heartbeat, and compute the next deadline with the overrun policy of
rtcore/schedule.py (same arithmetic, same order of operations as rtcore/loop.py). No Python
object is touched between the first and the last tick.
"""

from libc.stdint cimport int32_t, int64_t, uint8_t, uintptr_t

cdef extern from *:
    """
    #include <errno.h>
    #include <malloc.h>
    #include <stdint.h>
    #include <sys/resource.h>
    #include <time.h>
    typedef int32_t (*cbl_step_fn)(double, double, void *);
    static inline int64_t cbl_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    static inline void cbl_sleep_abs(int64_t t) {
        struct timespec ts;
        ts.tv_sec = t / 1000000000LL;
        ts.tv_nsec = t % 1000000000LL;
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
    }
    static inline int64_t cbl_minflt(void) {
        struct rusage ru;
        getrusage(RUSAGE_THREAD, &ru);
        return (int64_t)ru.ru_minflt;
    }
    static inline int64_t cbl_heap_bytes(void) {  /* malloc'd bytes in use, all arenas */
    #if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
        struct mallinfo2 m = mallinfo2();
        return (int64_t)(m.uordblks + m.hblkhd);
    #else
        return -1;
    #endif
    }
    static inline int64_t cbl_load_acq(int64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
    static inline int64_t cbl_load_rlx(int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
    static inline void cbl_store_rel(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
    static inline void cbl_store_rlx(int64_t *p, int64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
    """
    ctypedef int32_t (*cbl_step_fn)(double, double, void *) noexcept nogil
    int64_t cbl_now_ns() noexcept nogil
    void cbl_sleep_abs(int64_t t) noexcept nogil
    int64_t cbl_minflt() noexcept nogil
    int64_t cbl_heap_bytes() noexcept nogil
    int64_t cbl_load_acq(int64_t *p) noexcept nogil
    int64_t cbl_load_rlx(int64_t *p) noexcept nogil
    void cbl_store_rel(int64_t *p, int64_t v) noexcept nogil
    void cbl_store_rlx(int64_t *p, int64_t v) noexcept nogil

cdef enum:
    CATCH_UP = 1
    RING_HEADER = 256


cdef inline int64_t _next_deadline(int64_t d, int64_t end, int64_t period, int policy,
                                   int64_t *skipped) noexcept nogil:
    cdef int64_t nxt = d + period
    cdef int64_t k
    if end <= nxt or policy == CATCH_UP:
        skipped[0] = 0
        return nxt
    k = (end - nxt) // period + 1
    skipped[0] = k
    return nxt + k * period


def next_deadline(int64_t deadline_ns, int64_t end_ns, int64_t period_ns, int policy):
    """(next deadline, deadlines skipped): the C twin of rtcore.schedule.next_deadline."""
    cdef int64_t sk = 0
    cdef int64_t nxt = _next_deadline(deadline_ns, end_ns, period_ns, policy, &sk)
    return nxt, sk


cdef inline void _ring_push(char *ring, int64_t a, int64_t b, int64_t c, int64_t d) noexcept nogil:
    cdef int64_t *hdr = <int64_t *> ring
    cdef int64_t head = cbl_load_rlx(&hdr[0])
    cdef int64_t cap = hdr[24]
    cdef int64_t width = hdr[25]
    cdef double *row
    cdef int64_t j
    if head - cbl_load_acq(&hdr[8]) >= cap:
        cbl_store_rlx(&hdr[16], hdr[16] + 1)
        return
    row = (<double *> (ring + RING_HEADER)) + (head % cap) * width
    row[0] = <double> a
    row[1] = <double> b
    row[2] = <double> c
    row[3] = <double> d
    for j in range(4, width):
        row[j] = 0.0
    cbl_store_rel(&hdr[0], head + 1)


cdef inline int64_t _now(int64_t *vc) noexcept nogil:
    if vc != NULL:
        return cbl_load_rlx(vc)
    return cbl_now_ns()


cdef inline void _sleep_until(int64_t *vc, int64_t deadline, int64_t spin_ns) noexcept nogil:
    if vc != NULL:
        if deadline > cbl_load_rlx(vc):
            cbl_store_rlx(vc, deadline)
        return
    cbl_sleep_abs(deadline - spin_ns)
    if spin_ns > 0:
        while cbl_now_ns() < deadline:
            pass


def run_loop(int64_t period, int64_t cycles,
             uintptr_t read_fn, uintptr_t read_ctx, uintptr_t step_fn, uintptr_t step_ctx,
             uintptr_t write_fn, uintptr_t write_ctx,
             int policy, int64_t fault_after, int64_t spin_ns,
             int64_t[::1] vclock, int64_t[::1] lat, int64_t[::1] stp, int64_t[::1] per,
             uint8_t[::1] over, int64_t[::1] hist, uintptr_t ring, int64_t[::1] heartbeat,
             int64_t stall_ns):
    """Run up to ``cycles`` ticks with the GIL released; return the counters as a dict.

    ``vclock``: a 1-element virtual clock (lockstep mode) or empty (real time). ``ring``: the
    address of a TelemetryRing buffer or 0. ``heartbeat``: the watchdog's int64[2] or empty.
    ``stall_ns`` > 0 (lockstep only): stop after a tick that ended more than that after the
    previous feed (the caller then lets the watchdog trip in virtual time).
    """
    cdef cbl_step_fn rd = <cbl_step_fn> read_fn
    cdef cbl_step_fn st = <cbl_step_fn> step_fn
    cdef cbl_step_fn wr = <cbl_step_fn> write_fn
    cdef int64_t *vc = &vclock[0] if vclock.shape[0] > 0 else NULL
    cdef int64_t *hb = &heartbeat[0] if heartbeat.shape[0] >= 2 else NULL
    cdef char *rp = <char *> ring
    cdef int64_t nbins = hist.shape[0]
    cdef int64_t i = 0, start, deadline, prev_wake, wake, end, nxt, sk, b, last_feed
    cdef int64_t overruns = 0, skipped = 0, consecutive = 0, max_consecutive = 0
    cdef int64_t minflt0, minflt1, heap0, heap1
    cdef int32_t status = 0
    cdef bint faulted = False, stalled = False, overran
    cdef double t_s, dt_s
    if st == NULL:
        raise ValueError("run_loop: step function pointer is NULL")
    if lat.shape[0] < cycles or stp.shape[0] < cycles or per.shape[0] < cycles or over.shape[0] < cycles:
        raise ValueError(f"run_loop: statistics arrays are shorter than cycles = {cycles}")
    if nbins < 1:
        raise ValueError("run_loop: histogram has no bins")
    with nogil:
        heap0 = cbl_heap_bytes()
        minflt0 = cbl_minflt()
        start = _now(vc)
        end = start
        deadline = start + period
        prev_wake = start
        last_feed = start
        if hb != NULL:
            cbl_store_rlx(&hb[1], start)
            cbl_store_rel(&hb[0], hb[0] + 1)
        while i < cycles:
            _sleep_until(vc, deadline, spin_ns)
            wake = _now(vc)
            t_s = (wake - start) * 1e-9
            dt_s = (wake - prev_wake) * 1e-9
            if rd != NULL:
                status = rd(t_s, dt_s, <void *> read_ctx)
            if status == 0:
                status = st(t_s, dt_s, <void *> step_ctx)
            if status == 0 and wr != NULL:
                status = wr(t_s, dt_s, <void *> write_ctx)
            end = _now(vc)
            nxt = _next_deadline(deadline, end, period, policy, &sk)
            overran = end > deadline + period
            lat[i] = wake - deadline
            stp[i] = end - wake
            per[i] = wake - prev_wake
            over[i] = overran
            b = (wake - deadline) // 1000
            if b < 0:
                b = 0
            elif b >= nbins:
                b = nbins - 1
            hist[b] += 1
            if hb != NULL:
                if vc != NULL and stall_ns > 0 and end - last_feed > stall_ns:
                    stalled = True  # not fed: the caller's watchdog check sees the stall
                else:
                    cbl_store_rlx(&hb[1], end)
                    cbl_store_rel(&hb[0], hb[0] + 1)
                    last_feed = end
            if rp != NULL:
                _ring_push(rp, i, wake, wake - deadline, end - wake)
            i += 1
            if overran:
                overruns += 1
                skipped += sk
                consecutive += 1
                if consecutive > max_consecutive:
                    max_consecutive = consecutive
                if fault_after > 0 and consecutive >= fault_after:
                    faulted = True
                    break
            else:
                consecutive = 0
            if status != 0 or stalled:
                break
            prev_wake = wake
            deadline = nxt
        minflt1 = cbl_minflt()
        heap1 = cbl_heap_bytes()
    return {
        "cycles": i, "overruns": overruns, "skipped": skipped, "max_consecutive": max_consecutive,
        "faulted": bool(faulted), "status": int(status), "stalled": bool(stalled),
        "end_ns": end, "minor_faults": minflt1 - minflt0,
        "heap_delta_bytes": heap1 - heap0 if heap0 >= 0 else None,
    }
