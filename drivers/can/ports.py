"""Batched raw frame I/O on a python-can bus: one adapter per backend, chosen from a table.

A port moves whole :class:`~drivers.can.codec.FrameBuffer` batches:

* ``send_batch(fb, n)``: send frames 0..n-1 in order.
* ``recv_batch(fb, timeout_s) -> int``: wait up to ``timeout_s`` for the first frame, then take
  every frame already waiting (up to ``fb.cap``) without blocking; returns the count.

Adapters (STYLE.md 2: looked up in a table, lazily imported; unknown buses use the generic one):

* ``slcan``: the whole batch is one ASCII write, encoded by compiled code; replies are read in
  bulk from the serial file descriptor and parsed by compiled code. No ``can.Message`` at all.
* ``socketcan``: frames are written as ``struct can_frame`` / ``canfd_frame`` bytes straight to
  the bus's raw socket (one ``send`` per frame, no ``Message``); reads with ``recv_into``.
* emulated buses of this project (:mod:`cerebellum_rt.drivers.can.emulated`) expose ``raw_port()``.
* anything else: python-can ``Message`` objects, preallocated once per frame slot and updated
  in place (the per-message path python-can requires).
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any, Protocol

import can
import numpy as np

from cerebellum_rt.drivers.can import codec
from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_ERR, FLAG_EXT, FLAG_FD, FLAG_RTR, FrameBuffer


class RawPort(Protocol):
    def send_batch(self, fb: FrameBuffer, n: int) -> None: ...

    def recv_batch(self, fb: FrameBuffer, timeout_s: float) -> int: ...


class MessagePort:
    """Generic adapter: python-can ``Message`` per frame, as python-can requires to send.

    One Message per frame slot is preallocated; a tick only touches the fields that changed
    since the slot's last frame (ids, flags and lengths of a tick's frames are usually the same
    every tick) and copies the payload into the Message's own bytearray.
    """

    def __init__(self, bus: can.BusABC, cap: int, fd: bool) -> None:
        self.bus = bus
        self._msgs = [can.Message(data=bytearray(), is_fd=fd, is_extended_id=False) for _ in range(cap)]
        self._key = [(-1, -1, -1)] * cap
        self._width = 64 if fd else 8

    def send_batch(self, fb: FrameBuffer, n: int) -> None:
        flat = memoryview(fb.data.reshape(-1))
        w = fb.width
        ids, lens, flags = fb.ids.tolist(), fb.lens.tolist(), fb.flags.tolist()
        send = self.bus.send
        for k in range(n):
            m = self._msgs[k]
            cid, ln, f = ids[k], lens[k], flags[k]
            if self._key[k] != (cid, ln, f):
                self._key[k] = (cid, ln, f)
                m.arbitration_id = cid
                m.is_extended_id = bool(f & FLAG_EXT)
                m.is_fd = bool(f & FLAG_FD)
                m.bitrate_switch = bool(f & FLAG_BRS)
                m.is_remote_frame = bool(f & FLAG_RTR)
                m.data = bytearray(ln)
                m.dlc = ln
            m.data[:] = flat[k * w : k * w + ln]
            send(m)

    def recv_batch(self, fb: FrameBuffer, timeout_s: float) -> int:
        k = 0
        flat = memoryview(fb.data.reshape(-1))
        w = fb.width
        ids, lens, flags = fb.ids, fb.lens, fb.flags
        recv = self.bus.recv
        msg = recv(max(timeout_s, 0.0))
        while msg is not None:
            data = msg.data
            ln = min(len(data), w)
            ids[k] = msg.arbitration_id
            lens[k] = ln
            flags[k] = (
                (FLAG_EXT if msg.is_extended_id else 0)
                | (FLAG_FD if msg.is_fd else 0)
                | (FLAG_BRS if msg.bitrate_switch else 0)
                | (FLAG_RTR if msg.is_remote_frame else 0)
                | (FLAG_ERR if msg.is_error_frame else 0)
            )
            if ln:
                flat[k * w : k * w + ln] = data[:ln]
            k += 1
            if k >= fb.cap:
                break
            msg = recv(0.0)
        return k


class SlcanPort:
    """python-can ``slcan`` bus: one ASCII write per batch, bulk reads, compiled codec."""

    def __init__(self, bus: Any, cap: int, fd: bool) -> None:
        from cerebellum_rt.drivers.can import slcan_codec

        self._codec = slcan_codec
        slcan_codec.warm_up()
        self.bus = bus
        self.ser = bus.serialPortOrig
        self.fd = self.ser.fileno()
        os.set_blocking(self.fd, False)
        line = slcan_codec.max_line_bytes(fd)
        self._out = np.zeros(cap * line, dtype=np.uint8)
        self._in = np.zeros(max(65536, 4 * cap * line), dtype=np.uint8)
        self._fill = 0
        self._spans = np.zeros((64, 2), dtype=np.int64)
        # bytes python-can already buffered for a partial line belong to us now
        if getattr(bus, "_buffer", None):
            pending = bytes(bus._buffer)
            bus._buffer.clear()
            self._in[: len(pending)] = np.frombuffer(pending, np.uint8)
            self._fill = len(pending)

    def send_batch(self, fb: FrameBuffer, n: int) -> None:
        nbytes = self._codec.encode_frames(fb, n, self._out)
        view = memoryview(self._out)[:nbytes]
        while view:
            sent = os.write(self.fd, view)
            view = view[sent:]

    def _read_some(self) -> int:
        room = memoryview(self._in)[self._fill :]
        if len(room) == 0:
            self._fill = 0  # garbage without a line end: drop it
            room = memoryview(self._in)
        try:
            got = os.readv(self.fd, [room])
        except BlockingIOError:
            got = 0
        self._fill += got
        return got

    def recv_batch(self, fb: FrameBuffer, timeout_s: float) -> int:
        deadline = time.perf_counter() + max(timeout_s, 0.0)
        while True:
            self._read_some()  # the descriptor is non-blocking (pyserial opens it O_NONBLOCK)
            n, _, used = self._codec.decode_frames(self._in, self._fill, fb, self._spans)
            self._consume(used)
            if n:
                return n
            left = deadline - time.perf_counter()
            if left <= 0 or not self._ready(left):
                return 0

    def release(self) -> None:
        """Hand a partial line back to python-can's slcan reader (the caller drained whole lines)."""
        if self._fill:
            self.bus._buffer[:0] = self._in[: self._fill].tobytes()
            self._fill = 0

    def _ready(self, timeout_s: float) -> bool:
        r, _, _ = select.select([self.fd], [], [], timeout_s)
        return bool(r)

    def _consume(self, used: int) -> None:
        if used:
            tail = self._fill - used
            if tail:
                self._in[:tail] = self._in[used : self._fill].copy()
            self._fill = tail


class SocketcanPort:
    """python-can ``socketcan`` bus: raw ``struct can_frame``/``canfd_frame`` on its socket."""

    CAN_EFF_FLAG = 0x80000000
    CAN_RTR_FLAG = 0x40000000
    CAN_ERR_FLAG = 0x20000000

    def __init__(self, bus: Any, cap: int, fd: bool) -> None:
        self.sock: socket.socket = bus.socket
        self.size = 72 if fd else 16
        self._tx = np.zeros((cap, self.size), dtype=np.uint8)
        self._rx = np.zeros(72, dtype=np.uint8)
        self._rx_mv = memoryview(self._rx)
        # every buffer a tick touches exists already: send_batch allocates nothing that outlives it
        self._ids = np.zeros(cap, dtype=np.uint32)
        self._ids_bytes = self._ids.view(np.uint8).reshape(cap, 4)
        self._flags = np.zeros(cap, dtype=np.uint32)
        self._bit = np.zeros(cap, dtype=np.uint32)
        self._brs = np.zeros(cap, dtype=np.uint8)
        self._rows = [(memoryview(self._tx[k])[:16], memoryview(self._tx[k])[: self.size]) for k in range(cap)]

    def send_batch(self, fb: FrameBuffer, n: int) -> None:
        """Frames 0..n-1 as ``struct can_frame`` (16 bytes) / ``canfd_frame`` (72 bytes), one
        ``send`` each, built in preallocated buffers (no per-tick allocation)."""
        t, ids, fl, bit, brs = self._tx, self._ids[:n], self._flags[:n], self._bit[:n], self._brs[:n]
        np.copyto(ids, fb.ids[:n], casting="unsafe")
        np.copyto(fl, fb.flags[:n], casting="unsafe")
        np.bitwise_and(fl, FLAG_EXT, out=bit)
        np.multiply(bit, self.CAN_EFF_FLAG // FLAG_EXT, out=bit)
        np.bitwise_or(ids, bit, out=ids)
        np.bitwise_and(fl, FLAG_RTR, out=bit)
        np.multiply(bit, self.CAN_RTR_FLAG // FLAG_RTR, out=bit)
        np.bitwise_or(ids, bit, out=ids)
        t[:n, 0:4] = self._ids_bytes[:n]
        t[:n, 4] = fb.lens[:n]
        np.bitwise_and(fb.flags[:n], FLAG_BRS, out=brs)
        np.right_shift(brs, 2, out=brs)  # CANFD_BRS = 0x01
        t[:n, 5] = brs
        w = min(fb.width, self.size - 8)
        t[:n, 8 : 8 + w] = fb.data[:n, :w]
        flags, rows, send = fb.flags, self._rows, self.sock.send
        for k in range(n):
            send(rows[k][1] if flags[k] & FLAG_FD else rows[k][0])

    def recv_batch(self, fb: FrameBuffer, timeout_s: float) -> int:
        k = 0
        r, _, _ = select.select([self.sock], [], [], max(timeout_s, 0.0))
        if not r:
            return 0
        while k < fb.cap:
            try:
                got = self.sock.recv_into(self._rx_mv, 72, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            raw = int(self._rx[0:4].view(np.uint32)[0])
            ln = int(self._rx[4])
            fb.ids[k] = raw & (0x1FFFFFFF if raw & self.CAN_EFF_FLAG else 0x7FF)
            fb.lens[k] = ln
            fb.flags[k] = (
                (FLAG_EXT if raw & self.CAN_EFF_FLAG else 0)
                | (FLAG_RTR if raw & self.CAN_RTR_FLAG else 0)
                | (FLAG_ERR if raw & self.CAN_ERR_FLAG else 0)
                | ((FLAG_FD | (FLAG_BRS if self._rx[5] & 1 else 0)) if got == 72 else 0)
            )
            fb.data[k, : min(ln, fb.width)] = self._rx[8 : 8 + min(ln, fb.width)]
            k += 1
        return k


#: bus class (module, name) -> adapter; looked up by isinstance, modules imported lazily.
_PORTS: list[tuple[str, str, type]] = [
    ("can.interfaces.slcan", "slcanBus", SlcanPort),
    ("can.interfaces.socketcan", "SocketcanBus", SocketcanPort),
]


def port_for(bus: can.BusABC, cap: int, fd: bool, generic: bool = False) -> RawPort:
    """The fastest batched adapter for ``bus`` (``generic=True`` forces python-can Messages)."""
    if not generic:
        raw = getattr(bus, "raw_port", None)
        if callable(raw):
            return raw(cap, fd)
        import importlib

        for module, name, adapter in _PORTS:
            try:
                cls = getattr(importlib.import_module(module), name)
            except (ImportError, AttributeError):
                continue
            if isinstance(bus, cls):
                return adapter(bus, cap, fd)
    return MessagePort(bus, cap, fd)


__all__ = ["MessagePort", "RawPort", "SlcanPort", "SocketcanPort", "codec", "port_for"]
