"""CanTransport: the batched PDO exchange on a python-can bus, its status codes and counters."""

from __future__ import annotations

import struct

import can
import numpy as np
import pytest

from cerebellum_rt.drivers.can import CanTransport, open_bus
from cerebellum_rt.drivers.can.layout import board_layout
from cerebellum_rt.drivers.transport import Transport
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout


def test_arrays_come_from_the_od_table():
    lay = board_layout("joint")
    t_fields = [f.name for p in lay.rpdos if p.enabled for f in p.fields]
    assert t_fields == ["controlword", "modes_of_operation", "target_position",
                        "velocity_offset", "torque_offset", "target_torque"]
    r_fields = [f.name for p in lay.tpdos if p.enabled for f in p.fields]
    assert r_fields[:3] == ["statusword", "modes_of_operation_display", "position_actual"]
    assert [p.size for p in lay.rpdos if p.enabled] == [7, 8]
    assert [p.size for p in lay.tpdos if p.enabled] == [7, 8, 8]


def test_cycle_sends_rpdos_then_sync_and_unpacks_every_tpdo(virtual_pair, responder_factory):
    host, dev = virtual_pair
    resp = responder_factory(dev, [3, 9])
    with CanTransport(host, nodes=[3, 9], timeout_s=1.0) as t:
        assert isinstance(t, Transport)
        tx, rx = t.tx_array(), t.rx_array()
        tx["controlword"] = [0x0F, 0x06]
        tx["modes_of_operation"] = 8
        tx["target_position"] = [-123456, 7]
        tx["torque_offset"] = [-5, 6]
        for k in range(4):
            assert t.cycle(tx, rx) == 0
            for i, n in enumerate((3, 9)):
                want1 = struct.unpack("<HbI", resp.tpdos(n, k)[0][1])
                assert rx["statusword"][i] == want1[0]
                assert rx["position_actual"][i] == np.int32(np.uint32(want1[2]))
                v, tq, cur = struct.unpack("<ihh", resp.tpdos(n, k)[1][1])
                assert (rx["velocity_actual"][i], rx["torque_actual"][i], rx["current_actual"][i]) == (v, tq, cur)
                s, d, w = struct.unpack("<ihh", resp.tpdos(n, k)[2][1])
                assert (rx["torque_sensor"][i], rx["torque_demand"][i], rx["winding_temperature"][i]) == (s, d, w)
            assert list(rx["fresh"]) == [t.fresh_all] * 2
        assert resp.rpdos[0x203] == struct.pack("<HbI", 0x0F, 8, (-123456) & 0xFFFFFFFF)
        assert resp.rpdos[0x303] == struct.pack("<ihh", 0, -5, 0)
        assert resp.rpdos[0x209] == struct.pack("<HbI", 0x06, 8, 7)
        assert t.stats.cycles == 4
        assert t.stats.frames_tx == 4 * (2 * 2 + 1)
        assert t.stats.frames_rx == 4 * 6
        assert t.stats.missed == 0


def test_missing_node_gives_a_status_code_not_an_exception(virtual_pair, responder_factory):
    host, dev = virtual_pair
    responder_factory(dev, [1, 2], silent=(2,))
    with CanTransport(host, nodes=[1, 2], timeout_s=0.05) as t:
        tx, rx = t.tx_array(), t.rx_array()
        assert t.cycle(tx, rx) == 3  # node 2's TPDO1..3
        assert rx["fresh"][0] == t.fresh_all and rx["fresh"][1] == 0
        assert t.stats.missed == 3


def test_frames_from_an_earlier_tick_count_as_late_not_fresh(virtual_pair):
    host, dev = virtual_pair
    with CanTransport(host, nodes=[5], timeout_s=0.05) as t:
        tx, rx = t.tx_array(), t.rx_array()
        t.cycle(tx, rx)  # enters cyclic mode; nobody answers
        dev.send(can.Message(arbitration_id=0x185, data=struct.pack("<HbI", 0x40, 0, 99), is_extended_id=False))
        assert t.cycle(tx, rx) == 3
        assert t.stats.late == 1
        assert rx["position_actual"][0] == 99 and rx["fresh"][0] == 0


def test_other_frames_reach_the_slow_path(virtual_pair, responder_factory):
    host, dev = virtual_pair
    responder_factory(dev, [4])
    with CanTransport(host, nodes=[4], timeout_s=1.0) as t:
        tx, rx = t.tx_array(), t.rx_array()
        t.cycle(tx, rx)
        dev.send(can.Message(arbitration_id=0x704, data=b"\x05", is_extended_id=False))  # heartbeat
        t.cycle(tx, rx)
        msg = t.recv(1.0)
        assert msg is not None and msg.arbitration_id == 0x704 and bytes(msg.data) == b"\x05"
        assert t.stats.other >= 1
        assert 4 in t.network.scanner.nodes  # canopen saw it too


def test_wrong_length_pdo_is_counted_bad(virtual_pair):
    host, dev = virtual_pair
    with CanTransport(host, nodes=[6], timeout_s=0.05) as t:
        tx, rx = t.tx_array(), t.rx_array()
        t.cycle(tx, rx)
        dev.send(can.Message(arbitration_id=0x186, data=b"\x01\x02", is_extended_id=False))
        t.cycle(tx, rx)
        assert t.stats.bad == 1


def test_generic_message_path_gives_the_same_rows(channel_name, responder_factory):
    rows = []
    for generic in (False, True):
        host = open_bus("virtual", channel_name + str(generic))
        dev = open_bus("virtual", channel_name + str(generic))
        r = responder_factory(dev, [1, 2, 3])
        try:
            with CanTransport(host, nodes=[1, 2, 3], timeout_s=1.0, generic=generic) as t:
                tx, rx = t.tx_array(), t.rx_array()
                for _ in range(3):
                    assert t.cycle(tx, rx) == 0
                rows.append(rx.copy())
        finally:
            r.close()
            host.shutdown()
            dev.shutdown()
    assert np.array_equal(rows[0], rows[1])


def test_bad_arrays_and_options_are_refused(virtual_pair):
    host, _ = virtual_pair
    with pytest.raises(ConfigError, match="node id 128"):
        CanTransport(host, nodes=[128])
    with pytest.raises(ConfigError, match="duplicates"):
        CanTransport(host, nodes=[1, 1])
    with pytest.raises(ConfigError, match="RPDO4 is not mapped"):
        CanTransport(host, nodes=[1], rpdos=(1, 4))
    with CanTransport(host, nodes=[1, 2]) as t, pytest.raises(ConfigError, match="tx array"):
        t.cycle(np.zeros(3, t.tx_dtype), t.rx_array())


def test_close_is_idempotent_and_blocks_use(virtual_pair):
    host, _ = virtual_pair
    t = CanTransport(host, nodes=[1])
    t.close()
    t.close()
    with pytest.raises(DeviceError, match="closed"):
        t.cycle(t.tx_array(), t.rx_array())


def test_absent_board_gives_device_timeout_naming_node_and_timeout(virtual_pair):
    host, _ = virtual_pair
    with CanTransport(host, nodes=[42]) as t, pytest.raises(DeviceTimeout, match=r"node 42 .*0\.05 s"):
        t.start(timeout_s=0.05)


def test_open_bus_errors_name_the_choices():
    with pytest.raises(ConfigError, match=r"'nosuchbus' is unknown; valid interfaces: .*slcan.*virtual"):
        open_bus("nosuchbus", "x")
    with pytest.raises(DeviceError, match=r"slcan.*'/dev/does-not-exist' is unreachable"):
        open_bus("slcan", "/dev/does-not-exist")
    with pytest.raises(ConfigError, match="bitrate 12345"):
        open_bus("virtual", "x", bitrate=12345)
