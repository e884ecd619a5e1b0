"""Compact classic-CAN layout: one 8-byte RPDO and one 8-byte TPDO per joint, written into real
emulated joint boards by SDO and exchanged tick by tick (the boards' clock is the tick count)."""

from __future__ import annotations

import can
import numpy as np
import pytest

from cerebellum_rt.drivers.can import CanTransport
from cerebellum_rt.drivers.can.layout import board_layout, compact, rx_dtype, tx_dtype
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.drivers.od import POSITION_COUNTS_PER_RAD
from cerebellum_rt.rtcore.errors import ConfigError

NODES = [1, 2, 3, 4]


def test_default_compact_layout_is_one_8_byte_pdo_each_way():
    lay = compact(board_layout("joint"))
    assert lay.board == "joint/compact"
    r1, t1 = lay.rpdos[0], lay.tpdos[0]
    assert [f.name for f in r1.fields] == ["controlword", "target_position", "torque_offset"]
    assert [f.name for f in t1.fields] == ["statusword", "position_actual", "torque_actual"]
    assert [(f.index, f.dtype.str) for f in r1.fields] == [(0x6040, "<u2"), (0x607A, "<i4"), (0x60B2, "<i2")]
    assert [(f.index, f.dtype.str) for f in t1.fields] == [(0x6041, "<u2"), (0x6064, "<i4"), (0x6077, "<i2")]
    assert (r1.size, t1.size) == (8, 8) and (r1.cob_base, t1.cob_base) == (0x200, 0x180)
    assert all(not p.enabled and not p.fields for p in (*lay.rpdos[1:], *lay.tpdos[1:]))
    assert lay.select(False, None) == (r1,) and lay.select(True, None) == (t1,)
    assert tx_dtype(lay, (r1,)).itemsize == 8 and rx_dtype(lay, (t1,)).names[-1] == "fresh"
    assert "modes_of_operation" not in tx_dtype(lay, (r1,)).names  # set by SDO instead


def test_compact_layout_takes_other_fields_in_the_given_order():
    lay = compact(board_layout("joint"), ("target_velocity", "controlword"), ("position_actual",))
    assert [f.name for f in lay.rpdos[0].fields] == ["target_velocity", "controlword"]
    assert (lay.rpdos[0].size, lay.tpdos[0].size) == (6, 4)


@pytest.mark.parametrize(("kw", "match"), [
    ({"rpdo_fields": ("controlword", "target_position", "velocity_offset")},
     r"RPDO1 fields \(controlword 2 \+ target_position 4 \+ velocity_offset 4\) take 10 bytes.*8-byte limit"),
    ({"tpdo_fields": ("statusword", "position_actual", "velocity_actual")}, r"TPDO1 .*take 10 bytes.*8-byte"),
    ({"rpdo_fields": ("controlword", "target_positoin")}, r"RPDO1 field 'target_positoin' is not a PDO-mappable"),
    ({"rpdo_fields": ("max_torque",)}, r"field 'max_torque' is not a PDO-mappable object of the joint board"),
    ({"rpdo_fields": ("statusword",)}, r"field 'statusword' \(0x6041, access 'ro'\) cannot be mapped into an RPDO"),
    ({"tpdo_fields": ("statusword", "statusword")}, r"TPDO1 field 'statusword' is given twice"),
    ({"tpdo_fields": ()}, r"TPDO1 has no fields"),
])
def test_bad_compact_fields_are_refused(kw, match):
    with pytest.raises(ConfigError, match=match):
        compact(board_layout("joint"), **kw)


class _Clock:
    """The boards' clock: advanced by the test, one period per tick (lockstep)."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_compact_pdos_are_written_by_sdo_and_track_a_position_step(channel_name):
    from cerebellum_rt.actuators.joint import JointModule, load_preset
    from cerebellum_rt.drivers.board import JointBoard

    clock = _Clock()
    buses = [can.Bus(interface="virtual", channel=channel_name) for _ in NODES]
    boards = [JointBoard(n, b, JointModule(load_preset("knee"), seed=n), clock=clock, serial_number=n)
              for n, b in zip(NODES, buses)]
    host = can.Bus(interface="virtual", channel=channel_name)
    try:
        with CanTransport(host, nodes=NODES, board=compact(board_layout("joint")), timeout_s=1.0) as t:
            t.start(period_us=1000, timeout_s=1.0, mode=8)
            for n in NODES:  # the boards really carry the compact mapping now
                assert t.sdo_read(n, 0x1600, 0, timeout_s=1.0) == 3
                assert t.sdo_read(n, 0x1600, 2, timeout_s=1.0) == 0x607A0020
                assert t.sdo_read(n, 0x1A00, 3, timeout_s=1.0) == 0x60770010
                assert t.sdo_read(n, 0x1401, 1, timeout_s=1.0) & 0x80000000  # RPDO2 off
                assert t.sdo_read(n, 0x1801, 1, timeout_s=1.0) & 0x80000000  # TPDO2 off
                assert t.sdo_read(n, 0x6060, 0, timeout_s=1.0) == 8
            tx, rx = t.tx_array(), t.rx_array()
            assert tx.dtype.itemsize == 8 and rx.dtype.names == ("statusword", "position_actual", "torque_actual",
                                                                 "fresh")

            def tick() -> None:
                clock.t += 0.001
                assert t.cycle(tx, rx) == 0

            tick()
            tx["target_position"] = rx["position_actual"]
            for _ in range(10):
                tx["controlword"] = [next_controlword(int(s), "operation_enabled") for s in rx["statusword"]]
                tick()
            assert [decode_state(int(s)) for s in rx["statusword"]] == ["operation_enabled"] * len(NODES)
            assert [b.state for b in boards] == ["operation_enabled"] * len(NODES)
            start = rx["position_actual"].astype(np.int64)
            for frac in (1.0, 0.5):  # the knee's range starts at 0 rad: a step up, then half of it back
                step = frac * np.array([0.02, 0.03, 0.04, 0.05]) * POSITION_COUNTS_PER_RAD
                before = rx["position_actual"].astype(np.int64)
                tx["target_position"] = (start + np.round(step)).astype(np.int32)
                for _ in range(300):
                    tick()
                moved = rx["position_actual"].astype(np.int64) - before
                assert np.all(np.sign(moved) == np.sign(tx["target_position"] - before)), moved
                err = np.abs(rx["position_actual"].astype(np.int64) - tx["target_position"]) / POSITION_COUNTS_PER_RAD
                assert np.all(err < 1e-3), err  # rad, after 0.3 s
            assert (rx["fresh"] == 1).all() and t.fresh_all == 1
            assert t.stats.frames_tx == t.stats.cycles * (len(NODES) + 1)  # 1 RPDO per joint + SYNC
            assert t.stats.missed == 0 and t.stats.bad == 0
            assert all(not b.crashes for b in boards)
    finally:
        host.shutdown()
        for b in boards:
            b.close()
        for b in buses:
            b.shutdown()


def test_bench_compact_bus_fits_three_to_four_joints_at_1khz():
    """`cbl bench can`'s can_1m_compact figure, measured with remapped emulated boards in virtual time:
    within the 3-4 joints per 1 Mbit/s bus of classic-CAN humanoids, and between its two bounds."""
    from cerebellum_rt.tools.bench.can import BUS_TYPES
    from cerebellum_rt.tools.bench.can_buses import joints_per_bus, tick_time

    types = {k: BUS_TYPES[k] for k in ("can_1m", "can_1m_compact")}
    measured, theory, guaranteed, tick_us = joints_per_bus(types, 1000.0)
    assert measured["can_1m"] == 1 and 3 <= measured["can_1m_compact"] <= 4
    assert guaranteed["can_1m_compact"] <= measured["can_1m_compact"] <= theory["can_1m_compact"]
    assert 0 < tick_us["can_1m_compact"] <= 1000.0
    # two 8-byte frames per joint: under half the wire time of the default 2 + 3 PDOs
    assert tick_time(2, 1_000_000, False, None, ticks=1, compact=True) < 0.5 * tick_time(2, 1_000_000, False, None,
                                                                                          ticks=1)
