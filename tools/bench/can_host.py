"""Host-side figures of `cbl bench can`: the batched exchange vs the python-can per-message path."""

from __future__ import annotations

import struct
import time
from collections import deque
from typing import Any

import can


class ReplayBus(can.BusABC):
    """A bus whose far side answers instantly: the recorded replies are queued when SYNC is sent."""

    def __init__(self, replies: list[tuple[int, bytes]]) -> None:
        self._replies = replies
        self._msgs = [can.Message(arbitration_id=c, data=d, is_extended_id=False) for c, d in replies]
        self._q: deque[can.Message] = deque()
        self._port_q: deque[int] = deque()
        self.channel_info = "replay"
        super().__init__(channel="replay")

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if msg.arbitration_id == 0x080:
            self._q.extend(self._msgs)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return (self._q.popleft() if self._q else None), False

    def raw_port(self, cap: int, fd: bool) -> _ReplayPort:
        return _ReplayPort(self._replies, cap, fd)


class _ReplayPort:
    def __init__(self, replies: list[tuple[int, bytes]], cap: int, fd: bool) -> None:
        from cerebellum_rt.drivers.can.codec import FrameBuffer

        self.fb = FrameBuffer(len(replies), fd)
        for k, (c, d) in enumerate(replies):
            self.fb.put(k, c, d)
        self.pending = 0

    def send_batch(self, fb: Any, n: int) -> None:
        if n and fb.ids[n - 1] == 0x080:
            self.pending = self.fb.n = len(self.fb.ids)

    def recv_batch(self, fb: Any, timeout_s: float) -> int:
        n, self.pending = self.pending, 0
        if n:
            fb.ids[:n] = self.fb.ids
            fb.lens[:n] = self.fb.lens
            fb.flags[:n] = self.fb.flags
            fb.data[:n, : self.fb.width] = self.fb.data
        return n


def _recorded_replies(nodes: list[int]) -> list[tuple[int, bytes]]:
    """TPDO1..3 of real emulated joint boards (knee preset) after one SYNC in operation."""
    from cerebellum_rt.actuators.joint import JointModule, load_preset
    from cerebellum_rt.drivers.board import JointBoard
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium

    m = Medium("record")
    host = EmulatedBus(medium_=m, name="host")
    buses = [EmulatedBus(medium_=m, name=f"n{n}") for n in nodes]
    boards = [JointBoard(n, b, JointModule(load_preset("knee"), seed=n), threaded=False) for n, b in zip(nodes, buses)]
    try:
        host.send(can.Message(arbitration_id=0x000, data=b"\x01\x00", is_extended_id=False))
        for _ in range(3):
            host.send(can.Message(arbitration_id=0x080, data=b"", is_extended_id=False))
            time.sleep(0.01)
            for b in boards:
                b.poll()
        time.sleep(0.02)
        got = {}
        while (msg := host.recv(0.0)) is not None:
            if 0x181 <= msg.arbitration_id < 0x400:
                got[msg.arbitration_id] = bytes(msg.data)
        return sorted(got.items(), key=lambda kv: (kv[0] & 0x7F, kv[0]))
    finally:
        for b in boards:
            b.close()
        for b in [host, *buses]:
            b.shutdown()


def _pythoncan_tick(buses: list[ReplayBus], cmds: list[list[tuple]], state: list[dict]) -> None:
    """One tick the python-can way: Message per frame, struct per PDO."""
    r1, r2, t1, t2, t3 = struct.Struct("<HbI"), struct.Struct("<ihh"), struct.Struct("<HbI"), \
        struct.Struct("<ihh"), struct.Struct("<ihh")
    for bus, nodes, st in zip(buses, cmds, state):
        for nid, cw, mode, pos, vel, toff, tq in nodes:
            bus.send(can.Message(arbitration_id=0x200 + nid, data=r1.pack(cw, mode, pos), is_extended_id=False))
            bus.send(can.Message(arbitration_id=0x300 + nid, data=r2.pack(vel, toff, tq), is_extended_id=False))
        bus.send(can.Message(arbitration_id=0x080, data=b"", is_extended_id=False))
        while (msg := bus.recv(0.0)) is not None:
            cid = msg.arbitration_id
            base, nid = cid & 0x780, cid & 0x7F
            if base == 0x180:
                st[nid][0:3] = t1.unpack(msg.data)
            elif base == 0x280:
                st[nid][3:6] = t2.unpack(msg.data)
            elif base == 0x380:
                st[nid][6:9] = t3.unpack(msg.data)


def _timed(fn: Any, ticks: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.thread_time()
        for _ in range(ticks):
            fn()
        best = min(best, (time.thread_time() - t0) / ticks)
    return best * 1e6


def host_cost(ticks: int, repeats: int, n_buses: int = 6, joints: int = 5) -> dict[str, Any]:
    from cerebellum_rt.drivers.can import CanTransport

    nodes = list(range(1, joints + 1))
    replies = _recorded_replies(nodes)
    assert len(replies) == 3 * joints, replies
    buses = [ReplayBus(replies) for _ in range(n_buses)]
    ts = [CanTransport(b, nodes=nodes, timeout_s=0.01) for b in buses]
    try:
        txs = [t.tx_array() for t in ts]
        rxs = [t.rx_array() for t in ts]
        for tx in txs:
            tx["controlword"], tx["modes_of_operation"], tx["target_position"] = 0x0F, 8, 12345

        def batched() -> None:
            for t, tx, rx in zip(ts, txs, rxs):
                t.cycle(tx, rx)

        batched()
        assert all(int(t.stats.missed) == 0 for t in ts) and all((rx["fresh"] == 7).all() for rx in rxs)
        host_us = _timed(batched, ticks, repeats)
        frames = sum(t.stats.frames_tx + t.stats.frames_rx for t in ts) / ts[0].stats.cycles
        gen = [CanTransport(b, nodes=nodes, timeout_s=0.01, generic=True) for b in buses]
        grx = [t.rx_array() for t in gen]

        def generic() -> None:
            for t, tx, rx in zip(gen, txs, grx):
                t.cycle(tx, rx)

        generic()
        generic_us = _timed(generic, ticks, repeats)
        for t in gen:
            t.close()
        cmds = [[(n, 0x0F, 8, 12345, 0, 0, 0) for n in nodes] for _ in buses]
        state = [{n: [0] * 9 for n in nodes} for _ in buses]
        py_us = _timed(lambda: _pythoncan_tick(buses, cmds, state), ticks, repeats)
        # both paths decoded the same values
        for rx, st in zip(rxs, state):
            for i, n in enumerate(nodes):
                assert int(rx["position_actual"][i]) == st[n][2] and int(rx["torque_sensor"][i]) == st[n][6]
    finally:
        for t in ts:
            t.close()
        for b in buses:
            b.shutdown()
    return {"host_us_per_tick": round(host_us, 2), "pythoncan_us_per_tick": round(py_us, 2),
            "batched_with_messages_us_per_tick": round(generic_us, 2),
            "frames_per_tick": round(frames), "joints": n_buses * joints, "buses": n_buses,
            "speedup_vs_pythoncan": round(py_us / host_us, 1), "host_share_of_1ms_tick": round(host_us / 1000.0, 4)}
