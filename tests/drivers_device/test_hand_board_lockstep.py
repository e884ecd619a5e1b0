"""The tendon-hand board (six actuators behind one node) in lockstep in front of the real
``cerebellum_rt.actuators.hand`` plant: tension control over the default PDOs, the quick stop holding the
nuts, per-axis limits, and the hand EDS read by python canopen."""

from __future__ import annotations

import struct

import can
import canopen
import pytest

from cerebellum_rt.actuators.hand import HandSim
from cerebellum_rt.drivers.board import HandBoard
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.drivers.eds import write_eds
from cerebellum_rt.drivers.od import build_table
from cerebellum_rt.rtcore.clock import LockstepClock

HAND = 9


class HandRig:
    def __init__(self, channel: str) -> None:
        self.clock = LockstepClock()
        self.b_board = can.Bus(interface="virtual", channel=channel)
        self.bus = can.Bus(interface="virtual", channel=channel)
        self.sim = HandSim("hand_prs6", obj=None)
        self.board = HandBoard(HAND, self.b_board, self.sim, clock=lambda: self.clock.now_ns() * 1e-9,
                               threaded=False)
        self.tx(0x000, bytes([0x01, HAND]))
        self.board.poll()
        self.sw = 0

    def tx(self, cob: int, data: bytes) -> None:
        self.bus.send(can.Message(arbitration_id=cob, data=data, is_extended_id=False))

    def cycle(self, cw: int, tension_cn: int) -> dict[int, bytes]:
        self.tx(0x200 + HAND, struct.pack("<Hhhh", cw, tension_cn, tension_cn, tension_cn))
        self.tx(0x300 + HAND, struct.pack("<hhh", tension_cn, tension_cn, tension_cn))
        self.tx(0x080, b"")
        self.board.poll()
        self.clock.advance(1_000_000)
        got = {}
        while (m := self.bus.recv(0.0)) is not None:
            got.setdefault(m.arbitration_id, []).append(bytes(m.data))
        if 0x180 + HAND in got:
            self.sw = struct.unpack_from("<H", got[0x180 + HAND][-1])[0]
        return got

    def close(self) -> None:
        self.board.close()
        self.b_board.shutdown()
        self.bus.shutdown()


@pytest.fixture
def rig(channel):
    r = HandRig(channel)
    yield r
    r.close()


def tensions(got: dict[int, list[bytes]]) -> list[float]:
    t = list(struct.unpack("<hhh", got[0x180 + HAND][-1][2:8])) + list(struct.unpack("<hhh", got[0x280 + HAND][-1]))
    return [v / 100.0 for v in t]


def test_tension_control_over_default_pdos_then_quick_stop_holds(rig):
    """3 N on every tendon of the free hand: each finger flexes onto its end stops (until then
    the tension is only its return springs' load at the nut speed the loop allows: 2.1-2.9 N at
    1.2 s, the thumb's long moment arms slowest), then the tension law holds the target."""
    for _ in range(3000):
        got = rig.cycle(next_controlword(rig.sw, "operation_enabled"), 300)  # 3.00 N on every tendon
    assert decode_state(rig.sw) == "operation_enabled"
    assert all(abs(rig.sim.xs[:, 1]) < 1e-4)  # every nut stands: the fingers are on their stops
    assert all(abs(t - 3.0) < 0.3 for t in tensions(got)), tensions(got)  # tension law: +-10 %
    x_before = [rig.board.store.get(0x2110, k) for k in range(1, 7)]
    states = [decode_state(rig.cycle(0x02, 300) and rig.sw) for _ in range(300)]
    assert "quick_stop_active" in states and states[-1] == "switch_on_disabled"
    x_after = [rig.board.store.get(0x2110, k) for k in range(1, 7)]
    assert all(abs(a - b) < 2000 for a, b in zip(x_after, x_before))  # nuts held within 2 mm


def test_tension_targets_clamped_per_axis_and_cycle_period_checked(rig):
    st = rig.board.store
    st.write(0x2120, 1, struct.pack("<H", 100))  # axis 1: at most 1 N
    for _ in range(800):
        rig.cycle(next_controlword(rig.sw, "operation_enabled"), 400)
    assert rig.sim.t_cmd[0] == pytest.approx(1.0) and rig.sim.t_cmd[1] == pytest.approx(4.0)
    from cerebellum_rt.drivers.board import SdoAbort

    with pytest.raises(SdoAbort) as exc:
        st.write(0x1006, 0, struct.pack("<I", 1500))  # 1.5 hand control ticks
    assert exc.value.code == 0x06090030
    with pytest.raises(SdoAbort) as exc:
        st.write(0x2102, 1, struct.pack("<h", 20001))
    assert exc.value.code == 0x06090031


def test_hand_eds_loads_and_serves_over_sdo(channel, tmp_path):
    eds = write_eds(build_table("hand"), tmp_path / "hand.eds")
    bus = can.Bus(interface="virtual", channel=channel)
    board = HandBoard(HAND, bus)  # no plant: measurements held at zero, protocol fully served
    net = canopen.Network()
    net.connect(interface="virtual", channel=channel)
    try:
        node = net.add_node(HAND, str(eds))
        assert node.sdo["axis_mode"][3].raw == 2
        node.sdo["target_tension"][6].raw = 1234
        assert board.store.get(0x2102, 6) == 1234
        assert node.sdo["supported_drive_modes"].raw == 0x00010000
        node.tpdo.read()
        assert [v.name for v in node.tpdo[2].map] == ["tension_actual.tension_actual_4",
                                                       "tension_actual.tension_actual_5",
                                                       "tension_actual.tension_actual_6"]
    finally:
        net.disconnect()
        board.close()
        bus.shutdown()
