"""The compiled datagram engine (``c/esc_engine.c``) over the slaves' own ESC memory images.

The Python engine (:func:`~cerebellum_rt.drivers.ethercat.esc.line.process_frame` and
:class:`~cerebellum_rt.drivers.ethercat.esc.slave.EscSlave`) stays the behavioural specification.
The C engine works on the same ``bytearray`` per slave and does every datagram that only moves
bytes (the cyclic LRW, the DC reference time FRMW, register reads, plain register writes, SM2
completion and its watchdog). A datagram with an effect on a slave's Python state (AL control,
SyncManager / FMMU programming, SII EEPROM commands, DC latch / offset / SYNC0, mailbox data)
is an event: C stops before it, the Python engine processes that one datagram with its own
handlers, and C carries on with the rest of the frame. Small pieces of Python state the C side
reads (DC position, clock offset and correction, whether the clock is aligned) are copied in by
:meth:`CEngine.refresh` after every Python datagram; what C produced (completed SM2 buffers, the
watchdog's trigger time) is copied out by :meth:`CEngine.collect`.

:meth:`CEngine.serve` runs the receive -> process -> send loop in C on the raw socket (with the GIL
released) and hands the worker pool's process data over itself; it comes back only for a frame
with an event, on a timeout, or when :meth:`CEngine.interrupt` asks.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from cerebellum_rt.drivers.ethercat.esc import regs as R

C_DIR = Path(__file__).parent / "c"
SOURCES = ("esc_engine.c", "esc_engine.h")
MALFORMED, DONE, EVENT = 0, 1, 2
SERVE_YIELD, SERVE_EVENT, SERVE_ERROR = 0, 1, -1
FRAME_MAX = 2048

CDEF = """
typedef struct {
    uint8_t *mem; uint8_t *outbuf;
    int64_t clock_offset_ns, dc_adjust_ns, wd_ns;
    int32_t position, dc_locked, out_len, push;
    uint32_t completions, wd_seq, last_in;
    int64_t out_seq, out_data, in_seq, in_data;
    int32_t out_bytes, in_bytes, worker;
} esc_slave;
typedef struct {
    esc_slave *s; int32_t n, n_all; const uint8_t *writable; uint8_t *scratch; uint8_t *slots;
    int32_t efds[64]; int32_t n_workers; volatile int32_t yield_req;
    int64_t frames, replies; int64_t cnt[2]; int64_t *ring, *ring_n;
    ...;
} esc_line;
void esc_line_init(esc_line *L);
void esc_lock(esc_line *L);
void esc_unlock(esc_line *L);
int esc_frame(esc_line *L, uint8_t *f, int n, int pos, int64_t t, int64_t *cnt, int *pos_out);
void esc_push_outputs(esc_line *L);
int esc_serve(esc_line *L, int fd, uint8_t *buf, int cap, int timeout_ms, int64_t *info);
"""

_loaded: dict[str, Any] = {}


def load() -> Any:
    """The engine as a cffi module (compiled once per source hash into the firmware cache)."""
    if "lib" in _loaded:
        return _loaded["lib"]
    from cerebellum_rt.drivers.firmware.host import CFLAGS, build_module, cached_tree

    def write(d: Path) -> None:
        for name in SOURCES:
            shutil.copyfile(C_DIR / name, d / name)

    out, digest = cached_tree("esc-engine", write, " ".join(CFLAGS) + CDEF)
    mod = build_module(f"_cbl_esc_{digest}", CDEF, '#include "esc_engine.h"\n', [out / "esc_engine.c"], out,
                       "EtherCAT ESC engine build")
    _loaded["lib"] = mod
    return mod


class CLock:
    """The line's lock as the C engine's mutex (taken without the GIL), for ``with line.lock:``."""

    def __init__(self, engine: CEngine) -> None:
        self._lib, self._line = engine.lib, engine.line

    def __enter__(self) -> CLock:
        self._lib.esc_lock(self._line)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lib.esc_unlock(self._line)


class CEngine:
    """The C engine over ``slaves`` (their ``mem`` bytearrays are shared, not copied)."""

    def __init__(self, slaves: list[Any], engine_ns: Any = None, engine_n: Any = None) -> None:
        from cerebellum_rt.drivers.ethercat.esc.slave import _WRITABLE

        mod = load()
        self.ffi, self.lib = mod.ffi, mod.lib
        ffi = self.ffi
        self.slaves = slaves
        self.line = ffi.new("esc_line *")
        self.lib.esc_line_init(self.line)
        self._cs = ffi.new("esc_slave[]", max(1, len(slaves)))
        self._outbufs = [ffi.new("uint8_t[]", R.MEM_SIZE) for _ in slaves]
        self._scratch = ffi.new("uint8_t[]", 2 * FRAME_MAX)
        self._writable = ffi.from_buffer(_WRITABLE)
        self._mems: list[Any] = [None] * len(slaves)
        self._views: list[Any] = [None] * len(slaves)
        self._seen = [0] * len(slaves)
        self._wd_seen = [0] * len(slaves)
        self._pos = ffi.new("int *")
        self._cnt = ffi.new("int64_t[2]")
        self._info = ffi.new("int64_t[3]")
        self.events = 0  # datagrams handed to the Python engine
        L = self.line
        L.s, L.n, L.n_all = self._cs, len(slaves), len(slaves)
        L.writable, L.scratch = self._writable, self._scratch
        for k in range(len(slaves)):
            c = self._cs[k]
            c.outbuf = self._outbufs[k]
            c.out_seq = c.out_data = c.in_seq = c.in_data = -1
            c.worker = -1
        if engine_ns is not None:
            self._ring, self._ring_n = ffi.from_buffer("int64_t[]", engine_ns), ffi.from_buffer("int64_t[]", engine_n)
            L.ring, L.ring_n = self._ring, self._ring_n
        self.refresh()

    # ------------------------------------------------------------------ state both sides read
    def refresh(self, reach: int | None = None) -> None:
        """Python -> C: each slave's memory image and the DC state the engine reads."""
        if reach is not None:
            self.line.n = reach
        for k, s in enumerate(self.slaves):
            c = self._cs[k]
            if s.mem is not self._mems[k]:
                self._mems[k] = s.mem
                self._views[k] = self.ffi.from_buffer(s.mem)
                c.mem = self._views[k]
            c.position, c.clock_offset_ns = s._position, s.clock_offset_ns
            c.dc_adjust_ns, c.dc_locked = s._dc_adjust_ns, int(s._dc_locked)

    def collect(self, outputs: bool = True) -> None:
        """C -> Python: SM2 buffers the engine completed (``outputs``: into ``slave.outputs``; the
        serve loop hands them to the workers itself) and the watchdog's trigger time."""
        for k, s in enumerate(self.slaves):
            c = self._cs[k]
            if c.completions != self._seen[k]:
                self._seen[k] = c.completions
                if outputs:  # the Python side hands them over (not the serve loop)
                    s.outputs = bytes(self.ffi.buffer(c.outbuf, c.out_len))
                    c.push = 0
            if c.wd_seq != self._wd_seen[k]:
                self._wd_seen[k] = c.wd_seq
                s._wd_t = c.wd_ns / 1e9

    def last_trigger_s(self, k: int) -> float | None:
        """When the C engine last re-triggered slave ``k``'s watchdog (monotonic s), None: never."""
        c = self._cs[k]
        return c.wd_ns / 1e9 if c.wd_seq else None

    # ------------------------------------------------------------------ frames
    def process(self, frame: bytearray, t_ns: int = 0, stats: Any = None, outputs: bool = True) -> bool:
        """:func:`~cerebellum_rt.drivers.ethercat.esc.line.process_frame` with the C engine (``frame``
        in place; the slaves a frame reaches: the line's reach)."""
        if stats is not None:
            stats.frames += 1
        return self.finish(frame, 16, t_ns or time.monotonic_ns(), stats, outputs)

    def finish(self, frame: bytearray, pos: int, t_ns: int, stats: Any, outputs: bool = True) -> bool:
        """Process ``frame`` from the datagram at ``pos`` on (C, and Python for each event)."""
        from cerebellum_rt.drivers.ethercat.esc.line import LineStats, datagram_at

        st = stats if stats is not None else LineStats()
        buf = self.ffi.from_buffer(frame)
        cnt = self._cnt
        slaves = self.slaves[: self.line.n]
        try:
            while True:
                cnt[0] = cnt[1] = 0
                rc = self.lib.esc_frame(self.line, buf, len(frame), pos, t_ns, cnt, self._pos)
                st.malformed += cnt[0]
                st.bad_datagrams += cnt[1]
                if rc != EVENT:
                    return rc == DONE
                self.collect(outputs)
                self.events += 1
                end = 16 + ((frame[14] | frame[15] << 8) & 0x7FF)  # checked by the C engine
                pos = datagram_at(slaves, frame, self._pos[0], end, t_ns, st)
                self.refresh()
                if pos < 0:
                    return False
                if pos == 0:
                    frame[6] |= 0x02
                    return True
        finally:
            self.collect(outputs)
            del buf

    # ------------------------------------------------------------------ the wire
    def attach_pool(self, pool: Any) -> None:
        """The worker pool's slots and eventfds, for the serve loop's process-data hand-over."""
        L = self.line
        self._slots = self.ffi.from_buffer(pool.mem)
        L.slots = self._slots
        for k, slot in enumerate(pool.slots):
            c = self._cs[k]
            c.out_seq, c.out_data, c.in_seq, c.in_data = slot.out_seq, slot.out_data, slot.in_seq, slot.in_data
            c.out_bytes, c.in_bytes, c.worker = slot.out_bytes, slot.in_bytes, pool.worker_of[k]
        for w, efd in enumerate(pool._efds):
            L.efds[w] = efd
        L.n_workers = len(pool._efds)

    def serve(self, fd: int, buf: Any, timeout_ms: int) -> tuple[int, int, int, int]:
        """Answer frames on ``fd`` until one needs Python: (code, frame length, datagram offset,
        receive time ns). ``buf``: a cffi buffer of :data:`FRAME_MAX` bytes."""
        rc = self.lib.esc_serve(self.line, fd, buf, FRAME_MAX, timeout_ms, self._info)
        return rc, int(self._info[0]), int(self._info[1]), int(self._info[2])

    def push_outputs(self) -> None:
        self.lib.esc_push_outputs(self.line)

    def interrupt(self, on: bool = True) -> None:
        self.line.yield_req = int(on)

    def counters(self) -> dict[str, int]:
        L = self.line
        return {"frames": L.frames, "replies": L.replies, "malformed": L.cnt[0], "bad_datagrams": L.cnt[1]}
