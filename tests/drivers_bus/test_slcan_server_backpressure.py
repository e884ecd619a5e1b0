"""The SLCAN server's buffers are bounded (issue 11): a client flood is dropped and counted
beyond ``tx_queue`` frames, a client that does not read loses frames beyond ``out_limit`` bytes;
a frame after a flood reaches the wire once one queue's worth of wire time has passed (not the
whole flood's)."""

from __future__ import annotations

import os

import can

from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
from cerebellum_rt.drivers.can.slcan_server import SlcanServer


def _client(server: SlcanServer) -> int:
    fd = os.open(server.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    os.write(fd, b"O\r")
    server.service()
    return fd


def _write_all(fd: int, server: SlcanServer, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view[:4096])
        except BlockingIOError:
            n = 0
        view = view[n:]
        server.service()
        assert len(server.bus.endpoint.tx) <= server.tx_queue
    for _ in range(20):  # what is still in the pty
        server.service()


def test_a_client_flood_is_bounded_and_counted():
    t = [0.0]
    medium = Medium("flood", 1_000_000, clock=lambda: t[0])
    peer = EmulatedBus(medium_=medium, name="peer")
    server = SlcanServer(medium, tx_queue=64)
    fd = _client(server)
    try:
        flood = 20_000
        _write_all(fd, server, b"t60580011223344556677\r" * flood)  # time stands still: nothing drains
        queued = len(server.bus.endpoint.tx)
        assert queued <= 64 and server.dropped_in >= flood - 64
        assert server.frames_in + server.dropped_in == flood
        t[0] += 0.01  # 10 ms of wire: the 64 queued frames (<= 130 bits each at 1 Mbit/s) are gone
        server.service()
        _write_all(fd, server, b"t705105\r")  # the frame after the flood waits for nothing
        t[0] += 0.001
        server.service()
        got = []
        while (m := peer.recv(0.0)) is not None:
            got.append(m)
        assert got and got[-1].arbitration_id == 0x705 and bytes(got[-1].data) == b"\x05"
    finally:
        os.close(fd)
        server.close()
        peer.shutdown()


def test_a_client_that_does_not_read_loses_frames_not_memory():
    t = [0.0]
    medium = Medium("deaf", 1_000_000, clock=lambda: t[0])
    peer = EmulatedBus(medium_=medium, name="peer")
    server = SlcanServer(medium, out_limit=4096)
    fd = _client(server)
    try:
        msg = can.Message(arbitration_id=0x185, data=bytes(8), is_extended_id=False)
        for _ in range(20):
            for _ in range(500):
                peer.send(msg)
            t[0] += 0.1
            server.service()
            assert len(server._pending_out) < 4096 + 512 * 22  # at most one batch beyond the limit
        assert server.dropped_out > 0 and server.frames_out + server.dropped_out == 10_000
    finally:
        os.close(fd)
        server.close()
        peer.shutdown()
