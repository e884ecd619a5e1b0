"""A deterministic world: emulated buses and boards advancing in virtual time, driven by the host.

Lockstep, as the HIL rigs run it: one virtual clock (integer nanoseconds) is the time of every
emulated :class:`~cerebellum_rt.drivers.can.emulated.Medium` and every board (``threaded=False``,
polled by the world), and it moves only when the host waits: for a tick's start
(:meth:`World.advance_to`), for its replies (the batched port of :class:`LockstepBus`, i.e.
``CanTransport.cycle`` unchanged), or for an SDO answer (:class:`SdoClient`). Nothing reads the
wall clock, no thread races another, random faults draw from seeded generators: the same rig and
seed give the same frames at the same virtual times, whether numba compiled its kernels in this
process or loaded them from its cache.

Frames stay the medium's records (id, flags, data) on the way: the host's transport reads and
writes them in batches (:class:`LockstepPort`), the C boards take and queue them without a
``can.Message`` (``FirmwareBoard``'s record path), the session's sniffer keeps them as they are;
only a python-can reader (a Python board, the SDO client, a log writer) makes Messages.

Why the older lockstep was not deterministic (``cbl demo --lockstep``): its boards ran threads on
``time.monotonic`` (heartbeats, the command watchdog and the catch-up cycles counted wall time,
so a run that compiled its kernels saw other board cycles than a warm one), and python-canopen's
receive thread read the host bus until the first ``cycle`` (taking a varying number of boot-up and
heartbeat frames away from the transport's counters).

Real time (``World(lockstep=False)``): the same objects on ``time.monotonic``, boards threaded;
:meth:`World.advance_to` sleeps and the ports wait for frames as python-can does.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import can

from cerebellum_rt.drivers.can.codec import FrameBuffer
from cerebellum_rt.drivers.can.emulated import EmulatedBus, EmulatedPort, Faults, Medium
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout

BOARD_TIMER_NS = 1_000_000  # boards without frames still run their timers (heartbeat, watchdog) every 1 ms


class VirtualClock:
    """Virtual time in integer nanoseconds; calling it gives seconds (what media and boards read)."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> float:
        return self.ns * 1e-9


class World:
    """The emulated side of a rig: media, boards, and the host's endpoints (see module doc)."""

    def __init__(self, lockstep: bool = True) -> None:
        self.lockstep = bool(lockstep)
        self.vclock = VirtualClock()
        self.clock: Callable[[], float] = self.vclock if lockstep else time.monotonic
        self.media: dict[str, Medium] = {}
        self.boards: list[tuple[Any, EmulatedBus]] = []
        self.host_buses: list[LockstepBus] = []
        self._owner = threading.get_ident()
        self._next_timer_ns = 0
        self.on_advance: list[Callable[[float], None]] = []  # called with the time after each step
        self.state_log: dict[int, list[tuple[float, str]]] = {}  # per board (id): state changes seen at polls
        self.cycle_log: dict[int, list[tuple[float, str]]] = {}  # per board (id): state changes, every cycle

    # -- building ----------------------------------------------------------------------------
    def add_bus(self, name: str, bitrate: int, fd: bool = False, data_bitrate: int | None = None,
                faults: Faults | None = None) -> Medium:
        if name in self.media:
            raise ConfigError(f"world: bus '{name}' exists already")
        m = Medium(name, bitrate, fd, data_bitrate, faults, clock=self.clock)
        self.media[name] = m
        return m

    def board_bus(self, medium: Medium, name: str) -> EmulatedBus:
        return EmulatedBus(medium.name, int(medium.bitrate), medium.fd, medium_=medium, name=name)

    def add_board(self, board: Any, bus: EmulatedBus) -> None:
        self.boards.append((board, bus))
        log = self.cycle_log.setdefault(id(board), [])
        if hasattr(board, "on_cycle"):  # the Python boards and the C image report every cycle
            def seen(t: float, state: str, log: list = log) -> None:
                if not log or log[-1][1] != state:
                    log.append((t, state))

            board.on_cycle = seen

    def host_bus(self, medium: Medium, name: str = "host") -> LockstepBus:
        bus = LockstepBus(self, medium, name)
        self.host_buses.append(bus)
        return bus

    @property
    def now_ns(self) -> int:
        return self.vclock.ns if self.lockstep else time.monotonic_ns()

    # -- running -----------------------------------------------------------------------------
    def service(self) -> None:
        """Let every board handle the frames delivered by now, and its timers when due (lockstep)."""
        if not self.lockstep:
            return
        timers = self.vclock.ns >= self._next_timer_ns
        if timers:
            self._next_timer_ns = (self.vclock.ns // BOARD_TIMER_NS + 1) * BOARD_TIMER_NS
        for board, bus in self.boards:
            if timers or bus.medium.has_rx(bus.endpoint):
                board.poll()
                self._log_state(board)

    def _log_state(self, board: Any) -> None:
        log = self.state_log.setdefault(id(board), [])
        st = str(getattr(board, "state", ""))
        if not log or log[-1][1] != st:
            log.append((self.clock(), st))

    def _next_event_ns(self) -> int:
        now = self.vclock()
        ts = [m.next_change_after(now) for m in self.media.values()]
        nxt = min([t for t in ts if t is not None], default=None)
        cand = self._next_timer_ns
        if nxt is not None:
            ns = int(nxt * 1e9)
            if ns * 1e-9 < nxt:
                ns += 1  # round up: the event is due at ns
            cand = min(cand, max(ns, self.vclock.ns + 1))
        return cand

    def run_until(self, done: Callable[[], bool], t_end_ns: int) -> bool:
        """Advance virtual time event by event until ``done()`` or ``t_end_ns``; True when done.
        Real time: wait (in slices) until done or the deadline."""
        if not self.lockstep:
            while not done():
                left = t_end_ns - time.monotonic_ns()
                if left <= 0:
                    return False
                time.sleep(min(left * 1e-9, 2e-4))
            return True
        if threading.get_ident() != self._owner:
            raise DeviceError("lockstep world: only the thread that built it may advance its time")
        while True:
            self.service()
            if done():
                return True
            if self.vclock.ns >= t_end_ns:
                return False
            self.vclock.ns = min(self._next_event_ns(), t_end_ns)
            for f in self.on_advance:
                f(self.vclock())

    def advance_to(self, t_ns: int) -> None:
        """Run the world up to ``t_ns`` (lockstep) or sleep until then (real time)."""
        if not self.lockstep:
            left = t_ns - time.monotonic_ns()
            if left > 0:
                time.sleep(left * 1e-9)
            return
        self.run_until(lambda: False, max(t_ns, self.vclock.ns))

    def close(self) -> None:
        for board, _ in self.boards:
            board.close()
        for _, bus in self.boards:
            bus.shutdown()
        for bus in self.host_buses:
            bus.shutdown()
        self.boards, self.host_buses = [], []


class LockstepBus(EmulatedBus):
    """The host's endpoint on a world's medium: waiting for a frame runs the world (lockstep)."""

    def __init__(self, world: World, medium: Medium, name: str = "host") -> None:
        self.world = world
        self.reply_window_ns = 1_000_000  # how far a batched exchange waits for its replies (virtual)
        super().__init__(medium.name, int(medium.bitrate), medium.fd, medium_=medium, name=name)

    def _has_rx(self) -> bool:
        return self.medium.has_rx(self.endpoint)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if self.world.lockstep and timeout:
            self.world.run_until(self._has_rx, self.world.now_ns + round(timeout * 1e9))
            return super()._recv_internal(0.0)
        return super()._recv_internal(timeout)

    def raw_port(self, cap: int, fd: bool) -> EmulatedPort:
        return LockstepPort(self) if self.world.lockstep else EmulatedPort(self)


class LockstepPort(EmulatedPort):
    """Batched I/O of :class:`LockstepBus`: after a send, receiving runs the world until a frame
    arrives or the bus's reply window (virtual) has passed, whatever timeout the caller gives
    (the transport's real-time timeout must not decide what a lockstep run sees)."""

    def __init__(self, bus: LockstepBus) -> None:
        super().__init__(bus)
        self.bus = bus
        self.await_until_ns: int | None = None

    def send_batch(self, fb: FrameBuffer, n: int) -> None:
        super().send_batch(fb, n)
        self.await_until_ns = self.bus.world.now_ns + self.bus.reply_window_ns

    def recv_batch(self, fb: FrameBuffer, timeout_s: float) -> int:
        until = self.await_until_ns
        if until is not None and not self.bus.world.run_until(self.bus._has_rx, until):
            self.await_until_ns = None  # the window is over: report nothing more this tick
        return super().recv_batch(fb, 0.0)


def _sdo_size(table: Any, index: int, sub: int) -> int:
    return max(1, table.entry(index, sub).bits // 8)


class SdoClient:
    """Expedited SDO upload / download through a :class:`LockstepBus` (what the host's slow path
    needs to bring boards up in a lockstep world: identity, limits, 0x1006, modes, 0x2031, ...)."""

    def __init__(self, bus: LockstepBus, table_for: Callable[[int], Any], timeout_s: float = 0.05) -> None:
        self.bus, self.table_for, self.timeout_s = bus, table_for, timeout_s

    def _request(self, node: int, payload: bytes, what: str) -> bytes:
        self.bus.send(can.Message(arbitration_id=0x600 + node, data=payload, is_extended_id=False))
        deadline = self.bus.world.now_ns + round(self.timeout_s * 1e9)
        while self.bus.world.now_ns < deadline or not self.bus.world.lockstep:
            left = (deadline - self.bus.world.now_ns) * 1e-9
            if left <= 0:
                break
            msg = self.bus.recv(left)
            if msg is not None and msg.arbitration_id == 0x580 + node and len(msg.data) == 8:
                data = bytes(msg.data)
                if data[0] == 0x80:
                    code = struct.unpack_from("<I", data, 4)[0]
                    raise DeviceError(f"node {node}: SDO {what} aborted with 0x{code:08X}")
                return data
        raise DeviceTimeout(f"node {node}: no SDO answer to {what} within {self.timeout_s} s")

    def read(self, node: int, index: int, sub: int = 0) -> int | float:
        what = f"upload 0x{index:04X}sub{sub}"
        d = self._request(node, struct.pack("<BHB4x", 0x40, index, sub), what)
        if d[0] & 0xE2 != 0x42:
            raise DeviceError(f"node {node}: SDO {what} answered 0x{d[0]:02X} (only expedited uploads are read here)")
        size = 4 - ((d[0] >> 2) & 3) if d[0] & 1 else 4
        e = self.table_for(node).entry(index, sub)
        if e.dtype == "REAL32":
            return struct.unpack_from("<f", d, 4)[0]
        signed = e.dtype.startswith("INTEGER")
        return int.from_bytes(d[4:4 + size], "little", signed=signed)

    def write(self, node: int, index: int, sub: int, value: int | float) -> None:
        size = _sdo_size(self.table_for(node), index, sub)
        e = self.table_for(node).entry(index, sub)
        if e.dtype == "REAL32":
            raw = struct.pack("<f", float(value))
        else:
            raw = int(value).to_bytes(size, "little", signed=e.dtype.startswith("INTEGER"))
        cs = 0x23 | ((4 - size) << 2)
        d = self._request(node, struct.pack("<BHB", cs, index, sub) + raw.ljust(4, b"\0"),
                          f"download 0x{index:04X}sub{sub} = {value}")
        if d[0] != 0x60:
            raise DeviceError(f"node {node}: SDO download 0x{index:04X}sub{sub} answered 0x{d[0]:02X}")

    def nmt(self, command: int, node: int = 0) -> None:
        self.bus.send(can.Message(arbitration_id=0x000, data=bytes((command, node)), is_extended_id=False))
