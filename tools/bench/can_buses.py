"""Bus-side figures of `cbl bench can`: joints per bus (virtual time) and the SLCAN pty chain."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import can


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _remap(host: Any, boards: list, clock: _Clock, n: int, kind: str, fd: bool) -> None:
    """Write the ``kind`` ('packed': CANopen FD packing, 'compact': classic one 8-byte PDO each
    way) mapping into the boards by SDO through CanTransport, with the virtual clock following
    the wall clock meanwhile (boards polled by a helper thread). The compact RPDO does not carry
    modes_of_operation, so 0x6060 = 8 (CSP) is written by SDO here, once, before any enabling.
    Heartbeats (0x1017) are switched off so that the measured ticks hold process data only."""
    import threading

    from cerebellum_rt.drivers.can import CanTransport
    from cerebellum_rt.drivers.can.layout import board_layout, compact, packed

    lay = packed(board_layout("joint")) if kind == "packed" else compact(board_layout("joint"))
    live = threading.Event()
    live.set()
    t0 = time.monotonic() - clock.t

    def pump() -> None:
        while live.is_set():
            clock.t = time.monotonic() - t0
            for b in boards:
                b.poll()
            time.sleep(0.0001)

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    try:
        with CanTransport(host, nodes=range(1, n + 1), board=lay, fd=fd) as t:
            for nid in range(1, n + 1):
                t.configure_pdos(nid, timeout_s=1.0)
                if kind == "compact":
                    t.sdo_write(nid, 0x6060, 0, 8, timeout_s=1.0)
                # heartbeats off: the SDO phase ran in wall time, so their phase against the measured
                # ticks would vary run to run; the boards measured right after boot have none in them either
                t.sdo_write(nid, 0x1017, 0, 0, timeout_s=1.0)
                count = int(t.sdo_read(nid, 0x1A00, 0, timeout_s=1.0))
                if count != len(lay.tpdos[0].fields) or not int(t.sdo_read(nid, 0x1801, 1, timeout_s=1.0)) >> 31:
                    raise RuntimeError(f"bench: node {nid} did not take the {kind} mapping (TPDO1 maps {count})")
    finally:
        live.clear()
        th.join(2.0)


def tick_time(n: int, bitrate: int, fd: bool, data_bitrate: int | None, ticks: int = 3,
              packed: bool = False, compact: bool = False) -> float:
    """Longest wire time of one tick (RPDOs + SYNC sent, every TPDO received) with n real joint
    boards on the emulated medium, in virtual time (no host or board processing delay).
    ``packed``: CANopen FD packing (one 15-byte RPDO and one 23-byte TPDO per joint);
    ``compact``: classic-CAN compact layout (one 8-byte RPDO and one 8-byte TPDO per joint,
    :func:`cerebellum_rt.drivers.can.layout.compact`), written into the boards by SDO like ``packed``."""
    import struct

    from cerebellum_rt.drivers.board import JointBoard
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium

    clock = _Clock()
    m = Medium("bench", bitrate, fd, data_bitrate, clock=clock)
    host = EmulatedBus(medium_=m, name="host")
    buses = [EmulatedBus(medium_=m, name=f"n{k}") for k in range(1, n + 1)]
    boards = [JointBoard(k, b, None, fd=fd, threaded=False, clock=clock) for k, b in enumerate(buses, 1)]

    got: list[int] = []

    def run_until(n_tpdos: int, horizon: float) -> None:
        """Advance virtual time event by event until the host has n_tpdos TPDOs or the horizon."""
        for _ in range(100_000):
            for b in boards:
                b.poll()
            while (r := host.recv(0.0)) is not None:
                if 0x181 <= r.arbitration_id < 0x400:
                    got.append(r.arbitration_id)
            if n_tpdos and len(got) >= n_tpdos:
                return
            nxt = m.next_event_time()
            if nxt is None or nxt > horizon:
                return
            clock.t = max(clock.t, nxt)

    def msg(cid: int, data: bytes) -> can.Message:
        return can.Message(arbitration_id=cid, data=data, is_extended_id=False, is_fd=fd, bitrate_switch=fd)

    try:
        if packed or compact:
            _remap(host, boards, clock, n, "packed" if packed else "compact", fd)
        host.send(msg(0x000, b"\x01\x00"))  # NMT start all
        run_until(0, clock.t + 0.005)
        worst = 0.0
        for k in range(ticks):
            t0 = clock.t = clock.t + 0.01
            got.clear()
            for nid in range(1, n + 1):
                rpdo1 = bytes([0x0F, 0, 8]) + (1000 * k).to_bytes(4, "little")
                if packed:
                    host.send(msg(0x200 + nid, rpdo1 + bytes(8) + b"\x00"))  # 15 B, padded to 16
                elif compact:  # controlword, target_position, torque_offset
                    host.send(msg(0x200 + nid, struct.pack("<HiH", 0x0F, 1000 * k, 0)))
                else:
                    host.send(msg(0x200 + nid, rpdo1))
                    host.send(msg(0x300 + nid, bytes(8)))
            host.send(msg(0x080, b""))
            want = n if packed or compact else 3 * n
            run_until(want, t0 + 1.0)
            if len(got) < want:
                raise RuntimeError(f"bench: only {len(got)} of {want} TPDOs in virtual time")
            worst = max(worst, clock.t - t0)
        return worst
    finally:
        for b in boards:
            b.close()
        for b in [host, *buses]:
            b.shutdown()


def joints_per_bus(bus_types: dict[str, dict], rate_hz: float) -> tuple[dict, dict, dict, dict]:
    """(measured, theoretical without stuffing, guaranteed with worst-case stuffing, tick µs at the measured count)."""
    from cerebellum_rt.drivers.can import timing

    period = 1.0 / rate_hz
    measured, theory, guaranteed, tick_us = {}, {}, {}, {}
    for name, bt in bus_types.items():
        br, fd, dbr = bt["bitrate"], bt["fd"], bt["data_bitrate"]
        pk, cp = bt.get("packed", False), bt.get("compact", False)
        rs, ts = ((15,), (23,)) if pk else ((8,), (8,)) if cp else ((7, 8), (7, 8, 8))
        per_joint = sum(timing.frame_time_min(s, br, fd, dbr) for s in (*rs, *ts))
        theory[name] = int((period - timing.frame_time_min(0, br, fd, dbr)) // per_joint)
        guaranteed[name] = timing.theoretical_joints(rate_hz, br, fd, dbr, rs, ts)
        n, last = 0, 0.0
        while True:
            t = tick_time(n + 1, br, fd, dbr, packed=pk, compact=cp)
            if t > period:
                break
            n, last = n + 1, t
        measured[name], tick_us[name] = n, round(last * 1e6, 1)
    return measured, theory, guaranteed, tick_us


def slcan_chain(joints: int = 5, ticks: int = 200, ideal_bus: bool = False) -> dict[str, Any]:
    """Ticks per second and host CPU per tick against a real emulator process over an SLCAN pty."""
    from cerebellum_rt.drivers.can import CanTransport, open_bus
    from cerebellum_rt.drivers.cia402 import next_controlword
    from cerebellum_rt.hil_tests.emulator import bus_to_json
    from cerebellum_rt.hil_tests.rig import BoardSpec, BusSpec

    spec = BusSpec("bench", boards=tuple(BoardSpec(n, "joint", "knee") for n in range(1, joints + 1)))
    proc = subprocess.Popen([sys.executable, "-m", "cerebellum_rt.hil_tests.emulator", "--bus", bus_to_json(spec),
                             "--report-s", "0", *(["--ideal-bus"] if ideal_bus else [])],
                            stdout=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        bus = open_bus("slcan", info["channel"])
        try:
            with CanTransport(bus, nodes=info["nodes"], timeout_s=0.1) as t:
                t.start(period_us=1000)
                tx, rx = t.tx_array(), t.rx_array()
                tx["modes_of_operation"] = 8
                for _ in range(20):
                    t.cycle(tx, rx)
                    tx["controlword"] = [next_controlword(int(s), "operation_enabled") for s in rx["statusword"]]
                    tx["target_position"] = rx["position_actual"]
                missed0 = t.stats.missed
                w0, c0 = time.perf_counter(), time.thread_time()
                for _ in range(ticks):
                    t.cycle(tx, rx)
                wall, cpu = time.perf_counter() - w0, time.thread_time() - c0
                missed = t.stats.missed - missed0
        finally:
            bus.shutdown()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"joints": joints, "ticks": ticks, "ticks_per_s": round(ticks / wall, 1),
            "host_cpu_us_per_tick": round(cpu / ticks * 1e6, 1), "missed": int(missed),
            "bus_limited_hz": info["max_rate_hz"], "cycle_wire_time_us": info["cycle_wire_time_us"]}
