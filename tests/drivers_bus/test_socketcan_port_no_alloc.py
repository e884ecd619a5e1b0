"""SocketcanPort.send_batch: exact ``struct can_frame`` / ``canfd_frame`` bytes, and no allocation
per tick after warm-up (the method of tests/rtcore/test_rtcore_no_alloc.py: traced Python heap
and allocated blocks unchanged over 300 ticks; transient peak below one batch-sized array). The socket is a
real AF_UNIX datagram pair standing in for the CAN_RAW socket (same send() per frame)."""

from __future__ import annotations

import socket
import struct
import sys
import tracemalloc

from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_EXT, FLAG_FD, FLAG_RTR, FrameBuffer
from cerebellum_rt.drivers.can.ports import SocketcanPort


class _Bus:
    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock


def _frames(fd: bool) -> FrameBuffer:
    fb = FrameBuffer(4, fd=fd)
    fb.put(0, 0x201, b"\x0f\x00\x08\x00\x00\x10\x00\x00")
    fb.put(1, 0x12345, b"\x01\x02", flags=FLAG_EXT)
    fb.put(2, 0x601, b"", flags=FLAG_RTR)
    if fd:
        fb.put(3, 0x301, bytes(range(12)), flags=FLAG_FD | FLAG_BRS)
    else:
        fb.put(3, 0x080, b"")
    return fb


def test_send_batch_writes_exact_frames():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    try:
        for fd in (False, True):
            port = SocketcanPort(_Bus(a), 4, fd)
            fb = _frames(fd)
            port.send_batch(fb, 4)
            got = [b.recv(128) for _ in range(4)]
            raw = [struct.unpack_from("<IB", g) for g in got]
            assert raw[0] == (0x201, 8) and got[0][8:16] == bytes(fb.data[0, :8]) and len(got[0]) == 16
            assert raw[1] == (0x12345 | 0x80000000, 2)
            assert raw[2] == (0x601 | 0x40000000, 0)
            if fd:
                assert len(got[3]) == 72 and raw[3] == (0x301, 12) and got[3][5] == 1
                assert got[3][8:20] == bytes(range(12))
            else:
                assert raw[3] == (0x080, 0) and len(got[3]) == 16
    finally:
        a.close()
        b.close()


def test_send_batch_allocates_nothing_per_tick():
    """256 frames per tick: a temporary array of the batch (ids as uint32 alone: 1 KiB) would
    show in the transient peak; views of the preallocated buffers stay far below it."""
    n = 256
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    try:
        port = SocketcanPort(_Bus(a), n, False)
        fb = FrameBuffer(n)
        for k in range(n):
            fb.put(k, 0x200 + k % 100, bytes(8), flags=FLAG_EXT if k % 2 else 0)
        rx = bytearray(128)

        def tick() -> None:
            port.send_batch(fb, n)
            for _ in range(n):
                b.recv_into(rx)

        for _ in range(30):  # warm-up
            tick()
        tracemalloc.start()
        try:
            for _ in range(100):
                tick()
            tracemalloc.reset_peak()
            before, blocks = tracemalloc.get_traced_memory()[0], sys.getallocatedblocks()
            for _ in range(300):
                tick()
            cur, peak = tracemalloc.get_traced_memory()
            blocks_after = sys.getallocatedblocks()
        finally:
            tracemalloc.stop()
        assert cur - before < 256, f"Python heap grew by {cur - before} bytes over 300 ticks"
        assert blocks_after - blocks < 4, f"{blocks_after - blocks} object blocks retained"
        assert peak - cur < 1024, f"a tick's transient allocations peaked at {peak - cur} bytes"
    finally:
        a.close()
        b.close()
