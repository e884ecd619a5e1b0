"""The datagram engine over a line of emulated ESCs, and the raw-socket server around it.

:func:`process_frame` handles one Ethernet frame in place, as the frame would pass the slaves
in line order: every EtherCAT command (NOP, APRD/APWR/APRW, FPRD/FPWR/FPRW, BRD/BWR/BRW,
LRD/LWR/LRW, ARMW/FRMW), auto-increment (ADP incremented by every slave, the slave seeing 0 is
addressed), configured (station address 0x0010), broadcast (reads OR their data) and logical
(FMMU) addressing, working counters as an ESC counts them (read +1, write +1, read-write +3 for
physical, +1/+2 per slave for LRW). Malformed frames (short, wrong type, a datagram running
past the frame) are counted and not answered; the engine never raises on frame content.

:class:`Line` owns the slaves and, with :meth:`Line.serve_socket`, an engine thread answering
frames on a raw AF_PACKET socket (EtherType 0x88A4). The slaves' applications (the PDI side)
run either in this process (an application thread calling :meth:`Line.app_step`: the boards'
cycles, mailbox replies, watchdogs) or, given a :class:`~cerebellum_rt.drivers.ethercat.esc.pdi.WorkerPool`,
in worker processes: then the engine only copies the newest inputs into SM3 before a frame and
hands complete outputs over after it, and a thread here runs the process-data watchdogs.

This module's engine is the behavioural specification. By default (``engine="c"``) a line runs
the compiled engine of :mod:`.cengine` on the same slaves' memory images: every datagram that
only moves bytes is done in C, and each datagram with a side effect on a slave's Python state is
handed to :func:`datagram_at` here; with a worker pool the receive -> process -> send loop itself
runs in C and comes back only for such a frame, or while a fault (``mangle``, ``cut``) is on.
"""

from __future__ import annotations

import array
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from cerebellum_rt.drivers.ethercat.esc import regs as R
from cerebellum_rt.drivers.ethercat.esc.cengine import FRAME_MAX, SERVE_EVENT, SERVE_YIELD, CEngine, CLock
from cerebellum_rt.drivers.ethercat.esc.slave import EscSlave
from cerebellum_rt.rtcore.errors import ConfigError

ENGINE_RING = 4096
ENGINES = ("c", "python")
WATCHDOG_CHECK_S = 0.01  # the process-data watchdog's resolution (its default time is 100 ms)

ETHERTYPE = 0x88A4
NOP, APRD, APWR, APRW, FPRD, FPWR, FPRW, BRD, BWR, BRW, LRD, LWR, LRW, ARMW, FRMW = range(15)
_HDR = struct.Struct("<BBHHHH")
PACKET_OUTGOING = 4


@dataclass
class LineStats:
    frames: int = 0
    replies: int = 0
    malformed: int = 0
    bad_datagrams: int = 0
    app_cycles: int = 0
    watchdog_expiries: int = 0
    app_errors: int = 0
    cut_frames: int = 0  # frames lost to a cut (fault)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def process_frame(slaves: list[EscSlave], frame: bytearray, t_ns: int = 0, stats: LineStats | None = None) -> bool:
    """Process ``frame`` (a whole Ethernet frame) in place. False: malformed, not to be answered."""
    st = stats or LineStats()
    st.frames += 1
    end = frame_end(frame)
    if end < 0:
        st.malformed += 1
        return False
    pos = 16
    while pos > 0:
        pos = datagram_at(slaves, frame, pos, end, t_ns, st)
    if pos < 0:
        return False
    frame[6] |= 0x02  # the ESC marks the source address of a frame it processed
    return True


def frame_end(frame: bytearray) -> int:
    """Where the EtherCAT datagrams of ``frame`` end, or -1 when it is no EtherCAT frame."""
    n = len(frame)
    if n < 16 or frame[12] != 0x88 or frame[13] != 0xA4:
        return -1
    hdr = frame[14] | frame[15] << 8
    length, kind = hdr & 0x7FF, hdr >> 12
    end = 16 + length
    if kind != 1 or end > n or length < 12:
        return -1
    return end


def datagram_at(slaves: list[EscSlave], frame: bytearray, pos: int, end: int, t_ns: int, st: LineStats) -> int:
    """The datagram at ``pos`` through the line (in place): the next datagram's offset, 0 after the
    last one, -1 when the frame is malformed there (counted)."""
    if pos + 12 > end:
        st.malformed += 1
        return -1
    cmd, _idx, adp, ado, lenf, _irq = _HDR.unpack_from(frame, pos)
    dlen = lenf & 0x7FF
    d0 = pos + 10
    d1 = d0 + dlen
    if d1 + 2 > end:
        st.malformed += 1
        return -1
    wkc = frame[d1] | frame[d1 + 1] << 8
    adp, wkc = _datagram(slaves, cmd, adp, ado, memoryview(frame)[d0:d1], wkc, t_ns, st)
    struct.pack_into("<H", frame, pos + 2, adp)
    struct.pack_into("<H", frame, d1, wkc & 0xFFFF)
    return d1 + 2 if lenf & 0x8000 else 0


def _datagram(slaves: list[EscSlave], cmd: int, adp: int, ado: int, data: memoryview, wkc: int, t: int,
              st: LineStats) -> tuple[int, int]:
    n = len(data)
    if cmd == NOP:
        return adp, wkc
    if cmd in (APRD, APWR, APRW, ARMW):
        hit = None
        for k, s in enumerate(slaves):
            if adp == 0 and hit is None:
                hit = k
                wkc += _phys(s, cmd, ado, data, t)
            elif cmd == ARMW and hit is not None and s.write(ado, data, t):
                wkc += 1
            adp = (adp + 1) & 0xFFFF
        return adp, wkc
    if cmd in (FPRD, FPWR, FPRW, FRMW):
        hit = False
        for s in slaves:
            if s.station_address == adp and not hit:
                hit = True
                wkc += _phys(s, FPRD if cmd == FRMW else cmd, ado, data, t)
            elif cmd == FRMW and hit and s.write(ado, data, t):
                wkc += 1
        return adp, wkc
    if cmd in (BRD, BWR, BRW):
        incoming = bytes(data)
        for s in slaves:
            if cmd in (BRD, BRW):
                got = s.read(ado, n, t)
                if got is not None:
                    data[:] = bytes(a | b for a, b in zip(data, got))
                    wkc += 1
            if cmd in (BWR, BRW) and s.write(ado, incoming, t):
                wkc += 2 if cmd == BRW else 1
            adp = (adp + 1) & 0xFFFF
        return adp, wkc
    if cmd in (LRD, LWR, LRW):
        laddr = adp | ado << 16
        for s in slaves:
            wkc += s.logical(laddr, data, cmd != LWR, cmd != LRD, t)
        return adp, wkc
    st.bad_datagrams += 1
    return adp, wkc


def _phys(s: EscSlave, cmd: int, ado: int, data: memoryview, t: int) -> int:
    if cmd in (APRD, FPRD, ARMW):
        got = s.read(ado, len(data), t)
        if got is None:
            return 0
        data[:] = got
        return 1
    if cmd in (APWR, FPWR):
        return int(s.write(ado, data, t))
    incoming = bytes(data)  # APRW / FPRW: read the old content, write the master's
    got = s.read(ado, len(data), t)
    w = s.write(ado, incoming, t)
    if got is not None:
        data[:] = got
    return int(got is not None) + 2 * int(w)


class Line:
    """A line of emulated slaves (see module doc). ``reach`` = how many slaves a frame passes
    (fewer than ``len(slaves)``: the line is cut after that slave, as when one disappears).
    ``engine``: "c" (the compiled engine, :mod:`.cengine`, with the Python engine for datagrams
    with side effects; with a worker pool its serve loop runs in C) or "python" (this module's)."""

    def __init__(self, slaves: list[EscSlave], app_period_s: float = 0.0005, safeop_period_s: float = 0.01,
                 pdi: Any = None, engine: str = "c") -> None:
        if engine not in ENGINES:
            raise ConfigError(f"ESC engine {engine!r}: not one of {', '.join(ENGINES)}")
        self.slaves = slaves
        self.pdi = pdi  # a WorkerPool running the applications, or None (in this process)
        self.safeop_period_s = safeop_period_s  # SAFE-OP: inputs refreshed this often (no law, no plant step)
        self._sampled = [0.0] * len(slaves)
        self._latest: list[bytes | None] = [None] * len(slaves)  # newest outputs (SYNC0 cycles reuse them)
        self._fresh = [False] * len(slaves)
        self.engine_ns = array.array("q", bytes(8 * ENGINE_RING))  # receive-to-reply times of recent frames
        self._engine_n = array.array("q", [0])
        self.engine: CEngine | None = None
        if engine == "c":
            self.engine = CEngine(slaves, self.engine_ns, self._engine_n)
        self.lock: Any = CLock(self.engine) if self.engine is not None else threading.Lock()
        self.stats = LineStats()
        self.app_period_s = app_period_s
        self._mangle: Callable[[bytearray], bytearray | bytes | None] | None = None  # fault hook on replies
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sock: socket.socket | None = None
        self.errors: list[BaseException] = []
        self._cut: list | None = None  # fault: [frames still passing, seconds dead or None]
        self._cut_until: float | None = None
        self.set_reach(len(slaves))

    def cut(self, after: int, seconds: float | None) -> None:
        """Fault: the line goes dead after ``after`` more frames, for ``seconds`` (None: until
        ``cut(-1, ...)``, which mends it at once). A dead line answers no frame (a pulled cable)."""
        self._cut_until = None
        self._cut = None if after < 0 else [after, seconds]
        self._faults_changed()

    @property
    def mangle(self) -> Callable[[bytearray], bytearray | bytes | None] | None:
        """Fault hook on replies (None: none)."""
        return self._mangle

    @mangle.setter
    def mangle(self, fn: Callable[[bytearray], bytearray | bytes | None] | None) -> None:
        self._mangle = fn
        self._faults_changed()

    def _faults_changed(self) -> None:
        if self.engine is not None:  # the C serve loop hands the wire back to the Python loop
            self.engine.interrupt(self._mangle is not None or self._cut is not None)

    def stats_dict(self) -> dict[str, int]:
        """The line's counters, the C serve loop's included."""
        out = self.stats.as_dict()
        if self.engine is not None:
            for k, v in self.engine.counters().items():
                out[k] += v
        return out

    def _dead(self) -> bool:
        c = self._cut
        if c is None:
            return False
        if self._cut_until is None:
            if c[0] > 0:
                c[0] -= 1
                return False
            self._cut_until = float("inf") if c[1] is None else time.monotonic() + c[1]
        if time.monotonic() < self._cut_until:
            self.stats.cut_frames += 1
            return True
        self._cut = self._cut_until = None
        self._faults_changed()
        return False

    def engine_times_us(self) -> dict[str, float]:
        """p50 / p99 of the engine's receive-to-reply time over the last frames (µs; slow path)."""
        n = min(self._engine_n[0], ENGINE_RING)
        if not n:
            return {"p50": 0.0, "p99": 0.0, "frames": 0}
        ts = sorted(self.engine_ns[:n])
        return {"p50": round(ts[n // 2] / 1000, 1), "p99": round(ts[min(n - 1, (99 * n) // 100)] / 1000, 1), "frames": n}

    def set_reach(self, reach: int) -> None:
        with self.lock:
            self.reach = max(0, min(reach, len(self.slaves)))
            for k, s in enumerate(self.slaves[: self.reach]):
                s.place(k, self.reach)
            if self.engine is not None:
                self.engine.refresh(self.reach)

    def handle(self, frame: bytearray, t_ns: int = 0) -> bool:
        """One frame through the line (in place); mailbox requests it completed are answered by
        :meth:`service_mailboxes`, after the reply has left."""
        with self.lock:
            if self.pdi is not None:
                self.pdi.pull_inputs(self.slaves)
            if self.engine is not None:
                return self.engine.process(frame, t_ns, self.stats)
            return process_frame(self.slaves[: self.reach], frame, t_ns or time.monotonic_ns(), self.stats)

    def post_replies(self, index: int, frames: list[bytes]) -> None:
        """Mailbox replies / CoE emergencies from slave ``index``'s application into its SM1."""
        with self.lock:
            s = self.slaves[index]
            if s.al_state != R.INIT:
                for f in frames:
                    s._post(f)

    def service_mailboxes(self) -> None:
        with self.lock:
            for s in self.slaves[: self.reach]:
                if s._mbx_req is not None:
                    s.mailbox_service()
                    s.post_emergencies()  # an SDO write may have raised one

    # ------------------------------------------------------------------ the PDI side
    def app_step(self, now: float | None = None) -> int:
        """One pass of every slave's application: cycles on fresh outputs (with SYNC0 active: one
        cycle per SYNC0 event due, on the newest outputs), SAFE-OP sampling, watchdogs, board
        timers. Returns the number of cycles run."""
        now = time.monotonic() if now is None else now
        now_ns = int(now * 1e9)
        ran = 0
        for k, s in enumerate(self.slaves):
            with self.lock:
                if s.check_watchdog(now):
                    self.stats.watchdog_expiries += 1
                out = s.take_outputs()
                state = s.al_state
            if out is not None:
                self._latest[k], self._fresh[k] = out, True
            try:
                sync0 = getattr(s.app, "sync0_active", False) and state == R.OP
                event = s.app.take_sync0(now_ns) if sync0 and self._latest[k] is not None else None
                if event is not None:
                    inputs = s.app.cycle(self._latest[k], fresh=self._fresh[k], sync0_event=event)
                    self._fresh[k] = False
                    ran += 1
                elif out is not None and not sync0:
                    inputs = s.app.cycle(out)
                    self._fresh[k] = False
                    ran += 1
                elif state == R.SAFEOP and now - self._sampled[k] >= self.safeop_period_s:
                    self._sampled[k] = now
                    inputs = s.app.sample()
                else:
                    inputs = None
                    s.app.service()
            except Exception as exc:  # a crash in one board must not stop the line
                self.stats.app_errors += 1
                if len(self.errors) < 100:
                    self.errors.append(exc)
                continue
            with self.lock:
                if inputs is not None and s.al_state in (R.SAFEOP, R.OP):
                    s._write_inputs(inputs)
                s.post_emergencies()
        self.stats.app_cycles += ran
        return ran

    def _app_loop(self) -> None:
        if self.pdi is not None:  # the applications run in the workers: only the watchdogs here
            while not self._stop.wait(WATCHDOG_CHECK_S):
                now = time.monotonic()
                if self.engine is not None and not self._watchdog_due(now):
                    continue  # none can expire: the C loop never waits for the line's lock here
                with self.lock:
                    if self.engine is not None:
                        self.engine.collect(outputs=False)  # the C loop gave the outputs to the workers
                    for s in self.slaves:
                        if s.check_watchdog(now):
                            self.stats.watchdog_expiries += 1
            return
        while not self._stop.is_set():
            if not self.app_step():
                self._stop.wait(self.app_period_s)

    def _watchdog_due(self, now: float) -> bool:
        """Whether some slave's watchdog may have expired (read without the line's lock; the
        expiry itself is decided under it)."""
        eng = self.engine
        assert eng is not None
        for k, s in enumerate(self.slaves):
            deadline = s.watchdog_deadline(eng.last_trigger_s(k))
            if deadline is not None and now > deadline:
                return True
        return False

    # ------------------------------------------------------------------ the wire
    def serve_socket(self, sock: socket.socket, engine_priority: int = 0) -> None:
        """Answer frames arriving on ``sock`` (an AF_PACKET socket bound to EtherType 0x88A4) in an
        engine thread, and run the application thread; :meth:`close` stops both.
        ``engine_priority``: SCHED_FIFO priority of the engine thread (0: keep; a refusal warns),
        so that a frame is answered as soon as it arrives whatever else the host runs, as an ESC
        answers in hardware."""
        self._sock = sock
        if self.engine is not None and self.pdi is not None:
            self.engine.attach_pool(self.pdi)  # its workers (and their eventfds) exist by now
        for target, name in ((self._engine_loop, "esc-engine"), (self._app_loop, "esc-app")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        if engine_priority:
            from cerebellum_rt.rtcore.rt import raise_thread_priority

            raise_thread_priority(self._threads[0].native_id, engine_priority, "esc-engine")

    def _engine_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        buf = bytearray(2048)
        sock.settimeout(0.05)  # one blocking call per frame: each GIL re-acquisition costs latency
        eng = self.engine
        cbuf = eng.ffi.new("uint8_t[]", FRAME_MAX) if eng is not None and self.pdi is not None else None
        while not self._stop.is_set():
            if cbuf is not None and self._mangle is None and self._cut is None:
                self._serve_c(sock, cbuf)
            else:
                self._serve_python(sock, buf)

    def _serve_c(self, sock: socket.socket, cbuf: Any) -> None:
        """The C loop answers frames until one has an event (finished here) or it is asked back."""
        eng = self.engine
        assert eng is not None
        rc, n, pos, t_ns = eng.serve(sock.fileno(), cbuf, 20)
        if rc == SERVE_YIELD:
            return
        if rc != SERVE_EVENT:
            if not self._stop.is_set():
                time.sleep(0.01)
            return
        frame = bytearray(eng.ffi.buffer(cbuf, n))
        try:
            with self.lock:
                ok = eng.finish(frame, pos, t_ns, self.stats, outputs=False)
        except Exception as exc:  # never expected: recorded for the tests, the line keeps serving
            if len(self.errors) < 100:
                self.errors.append(exc)
            return
        if ok:
            with contextlib.suppress(OSError):
                sock.send(bytes(frame))
                self.stats.replies += 1
            self._record(t_ns)
        self._after_frame()

    def _serve_python(self, sock: socket.socket, buf: bytearray) -> None:
        try:
            n, addr = sock.recvfrom_into(buf)
        except TimeoutError:
            return
        except OSError:
            if not self._stop.is_set():
                time.sleep(0.01)
            return
        if len(addr) > 2 and addr[2] == PACKET_OUTGOING:
            return
        if self._cut is not None and self._dead():
            return
        t_ns = time.monotonic_ns()
        frame = bytearray(buf[:n])
        try:
            ok = self.handle(frame, t_ns)
        except Exception as exc:  # never expected: recorded for the tests, the line keeps serving
            if len(self.errors) < 100:
                self.errors.append(exc)
            return
        if not ok:
            return
        reply = frame if self._mangle is None else self._mangle(frame)
        if reply is None:
            return
        with contextlib.suppress(OSError):
            sock.send(bytes(reply))
            self.stats.replies += 1
        self._record(t_ns)
        self._after_frame()

    def _record(self, t_ns: int) -> None:
        self.engine_ns[self._engine_n[0] % ENGINE_RING] = time.monotonic_ns() - t_ns
        self._engine_n[0] += 1

    def _after_frame(self) -> None:
        if self.pdi is not None:
            with self.lock:
                self.pdi.push_outputs(self.slaves)
            if self.engine is not None:
                self.engine.push_outputs()  # what the C engine completed after an event in this frame
        try:
            self.service_mailboxes()
        except Exception as exc:  # never expected (the CoE server answers errors itself)
            if len(self.errors) < 100:
                self.errors.append(exc)

    def close(self) -> None:
        self._stop.set()
        if self.engine is not None:
            self.engine.interrupt()
        for t in self._threads:
            t.join(timeout=2.0)
        self._threads = []
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> Line:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
