"""Bus load of a rig at its cycle rate (`cbl plan`), from the timing model and the OD's PDO layouts.

Per bus and cycle (period T = 1 / rate_hz): every board's enabled RPDOs and TPDOs (sizes from
its board type's OD table) plus one SYNC, and each board's heartbeat spread over the cycles
(one 1-byte frame per producer-heartbeat period, 0x1017 default):

    busy_worst = sum(frame_time_worst(size)) + T / heartbeat_period * frame_time_worst(1) * boards
    load = busy_worst / T          fits when load <= max_load
    max_rate = (max_load - boards * frame_time_worst(1) / heartbeat_period) / sum(frame_time_worst(size))

``typical`` uses the exact stuffing of all-zero payloads (drivers.can.timing.frame_time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.hil_tests.rig import BusSpec, Rig

HEARTBEAT_PERIOD_S = 0.1


@dataclass(frozen=True)
class BusPlan:
    bus: str
    boards: int
    frames_per_cycle: int
    period_ms: float
    busy_worst_ms: float
    busy_typical_ms: float
    load_worst: float
    load_typical: float
    max_rate_hz: float
    fits: bool

    def as_dict(self) -> dict:
        return asdict(self)


def pdo_sizes(board_type: str, packing: bool = False, compact: bool = False) -> list[int]:
    """Payload sizes of a board type's enabled PDOs (from its OD table; ``packing``: CANopen FD
    packing, ``compact``: the classic-CAN one-frame-each-way layout of joint boards)."""
    from cerebellum_rt.drivers.can.layout import board_layout, packed
    from cerebellum_rt.drivers.can.layout import compact as compact_layout

    lay = board_layout(board_type)
    if packing:
        lay = packed(lay)
    elif compact and board_type == "joint":
        lay = compact_layout(lay)
    return [p.size for p in lay.rpdos + lay.tpdos if p.enabled and p.fields]


def plan_bus(bus: BusSpec, rate_hz: float, max_load: float = 1.0) -> BusPlan:
    fd, br, dbr = bus.fd, bus.bitrate, bus.data_bitrate
    period = 1.0 / rate_hz
    worst = timing.frame_time_worst(0, br, fd, dbr)
    typ = timing.frame_time(0x080, b"", br, fd, dbr)
    frames = 1
    for b in bus.boards:
        for size in pdo_sizes(b.type, bus.pdo_packing, bus.pdo_compact):
            worst += timing.frame_time_worst(size, br, fd, dbr)
            typ += timing.frame_time(0x181, bytes(size), br, fd, dbr)
            frames += 1
    hb_load = len(bus.boards) * timing.frame_time_worst(1, br, fd, dbr) / HEARTBEAT_PERIOD_S
    max_rate = max(0.0, max_load - hb_load) / worst
    worst += hb_load * period
    typ += len(bus.boards) * timing.frame_time(0x701, b"\x05", br, fd, dbr) / HEARTBEAT_PERIOD_S * period
    return BusPlan(bus.name, len(bus.boards), frames, period * 1e3, worst * 1e3, typ * 1e3, worst / period,
                   typ / period, max_rate, worst / period <= max_load)


def plan_rig(rig: Rig, max_load: float = 1.0) -> list[BusPlan]:
    """One BusPlan per bus of ``rig`` at ``rig.rate_hz``."""
    return [plan_bus(b, rig.rate_hz, max_load) for b in rig.buses]
