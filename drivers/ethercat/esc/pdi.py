"""The slaves' applications in worker processes: the PDI side of the emulated ESCs, off the frame path.

A real ESC answers a frame from its process image at once; the slave's microcontroller reads the
outputs and writes the inputs through its PDI whenever its own cycle runs (at each SM2 event, or
at each SYNC0 event with distributed clocks). Here the boards' Python application (the CiA 402
law, the plant, the CoE/FoE servers) runs in :class:`WorkerPool`'s processes, forked from the ESC
process before its threads start, at a lower CPU priority (nice :data:`WORKER_NICE`): the ESC
process only moves bytes.

Between the two sides, per slave:

* process data in one shared anonymous mapping: an output slot (written by the ESC's engine when
  the master completes an SM2 buffer in OP) and an input slot (written by the worker after each
  step of the law; copied into SM3 just before the next frame is processed). Each slot is a
  sequence lock: a 32-bit count, odd while its writer is inside; a reader that sees it odd or
  changed keeps what it had (the 3-buffer SyncManager: the master reads the newest complete
  buffer);
* an eventfd per worker, signalled when new outputs are there (SM2 event);
* a pipe per worker for the slow path: AL state changes, SYNC0 settings, mailbox requests ->
  replies and CoE emergencies (posted into SM1 by the ESC's receiver thread), status.

In OP a worker steps a slave's law on every new output buffer, or, with SYNC0 active, once per
SYNC0 event (host time of the event = its system time minus the ESC's system-time offset) on the
newest outputs; in SAFE-OP it refreshes the inputs every 10 ms; otherwise it runs the board's
timers every 5 ms.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection as mpc
import os
import queue
import select
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from cerebellum_rt.drivers.ethercat.layout import SlaveLayout

WORKER_NICE = 10
SAFEOP_SAMPLE_S = 0.01
SERVICE_S = 0.005
AL_SAFEOP, AL_OP = 0x04, 0x08
_SEQ = struct.Struct("<I")


class Slot:
    """One slave's process-data slots in the shared mapping (see module doc)."""

    def __init__(self, mem: Any, base: int, out_bytes: int, in_bytes: int) -> None:
        self.mem, self.out_bytes, self.in_bytes = mem, out_bytes, in_bytes
        self.out_seq, self.out_data = base, base + 4
        self.in_seq = base + 4 + out_bytes + (-(4 + out_bytes) % 8)
        self.in_data = self.in_seq + 4
        self.end = self.in_data + in_bytes + (-(in_bytes + 4) % 8)
        self._last_in = 0

    @staticmethod
    def _write(mem: Any, seq_at: int, at: int, data: bytes) -> None:
        seq = _SEQ.unpack_from(mem, seq_at)[0]
        _SEQ.pack_into(mem, seq_at, (seq + 1) & 0xFFFFFFFF)
        mem[at : at + len(data)] = data
        _SEQ.pack_into(mem, seq_at, (seq + 2) & 0xFFFFFFFF)

    @staticmethod
    def _read(mem: Any, seq_at: int, at: int, n: int, last: int) -> tuple[int, bytes | None]:
        """(sequence, data) when a complete buffer newer than ``last`` is there, else (last, None)."""
        s1 = _SEQ.unpack_from(mem, seq_at)[0]
        if s1 == last or s1 & 1:
            return last, None
        data = bytes(mem[at : at + n])
        if _SEQ.unpack_from(mem, seq_at)[0] != s1:
            return last, None
        return s1, data

    def put_outputs(self, data: bytes) -> None:
        self._write(self.mem, self.out_seq, self.out_data, data)

    def take_outputs(self, last: int) -> tuple[int, bytes | None]:
        return self._read(self.mem, self.out_seq, self.out_data, self.out_bytes, last)

    def put_inputs(self, data: bytes) -> None:
        self._write(self.mem, self.in_seq, self.in_data, data)

    def take_inputs(self) -> bytes | None:
        """ESC side: the newest complete input buffer, if it is new."""
        self._last_in, data = self._read(self.mem, self.in_seq, self.in_data, self.in_bytes, self._last_in)
        return data


class RemoteApp:
    """The ESC's handle on a slave application running in a worker (the interface of
    :class:`cerebellum_rt.drivers.ethercat.slave_app.BoardApp` the ESC uses)."""

    def __init__(self, pool: WorkerPool, index: int, layout: SlaveLayout) -> None:
        self.pool, self.index, self.layout = pool, index, layout

    def set_al_state(self, state: int) -> None:
        self.pool.send(self.index, ("al", self.index, state))

    def sample(self) -> bytes | None:
        return None  # the worker writes fresh inputs when it learns of SAFE-OP

    def mailbox(self, request: bytes) -> list[bytes]:
        self.pool.send(self.index, ("mbx", self.index, bytes(request)))
        return []  # the replies come back through the pool's receiver

    def emergency_frames(self) -> list[bytes]:
        return []

    def set_sync0(self, active: bool, start_ns: int, cycle_ns: int, system_offset_ns: int) -> None:
        self.pool.send(self.index, ("sync0", self.index, active, start_ns, cycle_ns, system_offset_ns))

    def service(self) -> None:
        return None


class WorkerPool:
    """Worker processes hosting the slaves' applications (see module doc). ``specs``: per slave
    ``(kind, preset, node, storage_path, image_key, slot_size)``; ``layouts``: their layouts; ``workers``: how many
    processes (the slaves are dealt round-robin)."""

    def __init__(self, specs: list[tuple[str, str | None, int, str | None, str | None, int | None]],
                 layouts: list[SlaveLayout],
                 workers: int) -> None:
        self.specs, self.layouts = specs, layouts
        self.n_workers = max(1, min(workers, len(specs)))
        self.worker_of = [k % self.n_workers for k in range(len(specs))]
        size, self.slots = 0, []
        bases = []
        for lay in layouts:
            bases.append(size)
            size = Slot(None, size, lay.out_bytes, lay.in_bytes).end
        import mmap

        self.mem = mmap.mmap(-1, max(size, 8))  # anonymous, shared with the forked workers
        self.slots = [Slot(self.mem, b, lay.out_bytes, lay.in_bytes) for b, lay in zip(bases, layouts)]
        self.apps = [RemoteApp(self, k, lay) for k, lay in enumerate(layouts)]
        self._conns: list[mpc.Connection] = []
        self._send_locks = [threading.Lock() for _ in range(self.n_workers)]
        self._efds: list[int] = []
        self._procs: list[Any] = []
        self._notify = [False] * self.n_workers
        self._status: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ ESC side
    def start(self, on_mailbox: Callable[[int, list[bytes]], None]) -> None:
        """Fork the workers (call before the ESC process starts threads), wait until every slave
        application is built, then receive their mailbox replies in a thread (``on_mailbox``)."""
        ctx = multiprocessing.get_context("fork")
        for w in range(self.n_workers):
            parent, child = ctx.Pipe()
            efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            mine = [k for k in range(len(self.specs)) if self.worker_of[k] == w]
            p = ctx.Process(target=_worker_main, args=(child, efd, self, mine), daemon=True, name=f"esc-pdi-{w}")
            p.start()
            child.close()
            self._conns.append(parent)
            self._efds.append(efd)
            self._procs.append(p)
        for w, c in enumerate(self._conns):
            msg = c.recv()
            if msg[0] != "ready":
                raise RuntimeError(f"ESC application worker {w}: {msg}")
        self._on_mailbox = on_mailbox
        self._thread = threading.Thread(target=self._receive, name="esc-pdi-rx", daemon=True)
        self._thread.start()

    def send(self, index: int, msg: tuple) -> None:
        w = self.worker_of[index]
        if w >= len(self._conns):
            return
        with self._send_locks[w], contextlib.suppress(OSError, ValueError):
            self._conns[w].send(msg)

    def pull_inputs(self, slaves: list[Any]) -> None:
        """Before a frame: newest complete inputs into each SM3 (SAFE-OP and OP; line lock held)."""
        for s, slot in zip(slaves, self.slots):
            data = slot.take_inputs()
            if data is not None and s.al_state in (AL_SAFEOP, AL_OP):
                s._write_inputs(data)

    def push_outputs(self, slaves: list[Any]) -> None:
        """After a frame: the complete SM2 buffers it brought to the workers (SM2 event)."""
        notify = self._notify
        for k, s in enumerate(slaves):
            out = s.take_outputs()
            if out is not None:
                self.slots[k].put_outputs(out)
                notify[self.worker_of[k]] = True
        for w, flag in enumerate(notify):
            if flag:
                notify[w] = False
                with contextlib.suppress(OSError):
                    os.eventfd_write(self._efds[w], 1)

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                ready = mpc.wait(self._conns, timeout=0.2)
            except OSError:
                return
            for c in ready:
                try:
                    msg = c.recv()
                except (EOFError, OSError):
                    self._conns = [x for x in self._conns if x is not c]
                    continue
                if msg[0] == "mbx":
                    self._on_mailbox(msg[1], msg[2])
                elif msg[0] == "status":
                    self._status.put(msg[1])

    def status(self, timeout_s: float = 10.0) -> dict[int, dict[str, Any]]:
        """Every application's status (slow path)."""
        while not self._status.empty():
            self._status.get_nowait()
        for w in range(len(self._conns)):
            with self._send_locks[w], contextlib.suppress(OSError, ValueError):
                self._conns[w].send(("status",))
        out: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout_s
        for _ in range(len(self._conns)):
            try:
                out.update(self._status.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return out

    def close(self) -> None:
        self._stop.set()
        for w in range(len(self._conns)):
            with self._send_locks[w], contextlib.suppress(OSError, ValueError):
                self._conns[w].send(("quit",))
        for p in self._procs:
            p.join(timeout=3.0)
            if p.is_alive():
                p.kill()
                p.join()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        for efd in self._efds:
            with contextlib.suppress(OSError):
                os.close(efd)
        self._procs, self._efds = [], []


# ---------------------------------------------------------------------- worker side
def _worker_main(conn: mpc.Connection, efd: int, pool: WorkerPool, mine: list[int]) -> None:
    from cerebellum_rt.drivers.ethercat.slave_app import make_app

    with contextlib.suppress(OSError):
        os.nice(WORKER_NICE)
    apps = {k: make_app(kind, node, preset, storage, key, slot)
            for k in mine for kind, preset, node, storage, key, slot in [pool.specs[k]]}
    import gc

    gc.collect()
    gc.freeze()
    conn.send(("ready",))
    _Worker(conn, efd, pool.slots, apps).run()


class _Worker:
    def __init__(self, conn: mpc.Connection, efd: int, slots: list[Slot], apps: dict[int, Any]) -> None:
        self.conn, self.efd, self.slots, self.apps = conn, efd, slots, apps
        self.seq = dict.fromkeys(apps, 0)
        self.latest = {k: bytes(slots[k].out_bytes) for k in apps}
        self.fresh = dict.fromkeys(apps, False)
        self.sampled = dict.fromkeys(apps, 0.0)
        self.serviced = dict.fromkeys(apps, 0.0)

    def run(self) -> None:
        while True:
            timeout = SERVICE_S
            now_ns = time.monotonic_ns()
            for app in self.apps.values():
                nxt = app.next_sync0_monotonic_ns()
                if nxt is not None:
                    timeout = min(timeout, max(0.0, (nxt - now_ns) / 1e9))
            try:
                r, _w, _x = select.select([self.conn, self.efd], [], [], timeout)
            except InterruptedError:
                continue
            if self.efd in r:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self.efd)
            while self.conn.poll():
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    return
                if msg[0] == "quit":
                    return
                self._message(msg)
            self._step()

    def _message(self, msg: tuple) -> None:
        what = msg[0]
        if what == "status":
            self.conn.send(("status", {k: app.status() for k, app in self.apps.items()}))
            return
        app = self.apps.get(msg[1])
        if app is None:
            return
        if what == "al":
            app.set_al_state(msg[2])
            if msg[2] in (AL_SAFEOP, AL_OP):
                self.slots[msg[1]].put_inputs(app.sample())
                self.sampled[msg[1]] = time.monotonic()
        elif what == "mbx":
            replies = app.mailbox(msg[2])
            self.conn.send(("mbx", msg[1], replies + app.emergency_frames()))
        elif what == "sync0":
            app.set_sync0(*msg[2:])

    def _step(self) -> None:
        now = time.monotonic()
        now_ns = time.monotonic_ns()
        for k, app in self.apps.items():
            seq, out = self.slots[k].take_outputs(self.seq[k])
            if out is not None:
                self.seq[k], self.latest[k], self.fresh[k] = seq, out, True
            state = app.al_state
            if state == AL_OP:
                if app.sync0_active:
                    event = app.take_sync0(now_ns)
                    if event is not None:
                        self.slots[k].put_inputs(app.cycle(self.latest[k], fresh=self.fresh[k], sync0_event=event))
                        self.fresh[k] = False
                    elif now - self.serviced[k] >= SERVICE_S:
                        self.serviced[k] = now
                        app.service()
                elif out is not None:
                    self.slots[k].put_inputs(app.cycle(out))
                    self.fresh[k] = False
                elif now - self.serviced[k] >= SERVICE_S:
                    self.serviced[k] = now
                    app.service()
            else:
                if state == AL_SAFEOP and now - self.sampled[k] >= SAFEOP_SAMPLE_S:
                    self.sampled[k] = now
                    self.slots[k].put_inputs(app.sample())
                if now - self.serviced[k] >= SERVICE_S:
                    self.serviced[k] = now
                    app.service()
            frames = app.emergency_frames()
            if frames and state >= 0x02:
                self.conn.send(("mbx", k, frames))
