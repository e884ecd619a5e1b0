"""The board under hostile input (issue 11): a legal write never takes the process down, an
application failure is that board's fault, out-of-limit process data is refused, restricted
COB-IDs are refused, and a drive with its power stage on always has an armed watchdog."""

from __future__ import annotations

import struct

import can
import pytest

from cerebellum_rt.actuators.joint.module import JointModule
from cerebellum_rt.actuators.joint.preset import load_preset
from cerebellum_rt.drivers.board import JointBoard
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.rtcore.clock import LockstepClock

from .conftest import NODE, Lockstep
from .test_joint_board_lockstep_with_module import cycle, enable

_CMD = {1: 0x2F, 2: 0x2B, 4: 0x23}


def sdo_write(ls: Lockstep, index: int, sub: int, value: int, size: int) -> int | None:
    """Expedited download; None when acknowledged, else the abort code."""
    fmt = {1: "<B", 2: "<H", 4: "<I"}[size]
    data = struct.pack(fmt, value & ((1 << (8 * size)) - 1)).ljust(4, b"\0")
    (reply,) = ls.sdo(struct.pack("<BHB", _CMD[size], index, sub) + data)
    if reply[0] == 0x60:
        return None
    assert reply[0] == 0x80, reply.hex()
    return struct.unpack_from("<I", reply, 4)[0]


def sdo_read(ls: Lockstep, index: int, sub: int = 0) -> bytes:
    (reply,) = ls.sdo(struct.pack("<BHB4x", 0x40, index, sub))
    assert reply[0] & 0xE0 == 0x40, reply.hex()
    n = 4 - ((reply[0] >> 2) & 3)
    return reply[4 : 4 + n]


@pytest.fixture
def joint(channel):
    module = JointModule(load_preset("knee"), seed=1)
    ls = Lockstep(channel, module=module)
    ls.module = module
    ls.exchange(0x000, bytes([0x01, NODE]))
    yield ls
    ls.close()


def test_mode_0_in_operation_enabled_holds_and_never_crashes(joint):
    enable(joint)
    assert sdo_write(joint, 0x6060, 0, 0, 1) is None  # 0 is an allowed value: acknowledged
    q0 = joint.board.store.get(0x6064)
    for _ in range(300):
        r = cycle(joint, 0x0F, mode=0, pos=q0 + 100_000)  # the target is ignored: no mode
    assert joint.board.crash_count == 0 and joint.board.crashes == []
    assert decode_state(r["sw"]) == "operation_enabled"
    assert r["mode"] == 0 and not r["sw"] & 0x1000  # no command value followed
    assert abs(r["pos"] - q0) < 2000  # held where it was (2**20 counts per rev)
    r = cycle(joint, 0x0F, mode=8, pos=q0 + 20_000)
    for _ in range(300):
        r = cycle(joint, 0x0F, mode=8, pos=q0 + 20_000)
    assert r["sw"] & 0x1000 and abs(r["pos"] - (q0 + 20_000)) < 2000  # CSP again


class FailingModule:
    """A module whose command() raises once ``fail`` is set (an application bug on the board)."""

    def __init__(self, module: JointModule) -> None:
        self._m, self.fail = module, False

    def __getattr__(self, name: str):
        return getattr(self._m, name)

    def command(self, *args):
        if self.fail:
            raise RuntimeError("plant model broke")
        return self._m.command(*args)


def test_an_application_failure_is_that_boards_fault_only(channel):
    clock = LockstepClock()
    buses = [can.Bus(interface="virtual", channel=channel) for _ in range(3)]
    bad = FailingModule(JointModule(load_preset("knee"), seed=1))
    boards = [JointBoard(n, b, m, clock=lambda: clock.now_ns() * 1e-9, threaded=False)
              for n, b, m in ((1, buses[0], bad), (2, buses[1], JointModule(load_preset("knee"), seed=2)))]
    host = buses[2]
    try:
        host.send(can.Message(arbitration_id=0, data=[1, 0], is_extended_id=False))
        sw = {1: 0, 2: 0}
        for _ in range(8):  # walk both to operation enabled over RPDO1 + SYNC
            for n in (1, 2):
                cw = next_controlword(sw[n], "operation_enabled") if sw[n] else 0
                host.send(can.Message(arbitration_id=0x200 + n, data=struct.pack("<HbI", cw, 8, 0),
                                      is_extended_id=False))
            host.send(can.Message(arbitration_id=0x80, data=b"", is_extended_id=False))
            for b in boards:
                b.poll()
            clock.advance(1_000_000)
            sw = {b.node_id: int(b.store.get(0x6041)) for b in boards}
        assert all(b.state == "operation_enabled" for b in boards)
        while host.recv(0.0) is not None:
            pass
        bad.fail = True
        emcy = []
        for _ in range(5):
            host.send(can.Message(arbitration_id=0x80, data=b"", is_extended_id=False))
            for b in boards:
                b.poll()  # must not raise
            clock.advance(1_000_000)
            while (m := host.recv(0.0)) is not None:
                if m.arbitration_id == 0x81:
                    emcy.append(struct.unpack_from("<H", m.data)[0])
        assert 0x6100 in emcy
        assert boards[0].state in ("fault", "fault_reaction_active")
        assert boards[0].crash_count >= 1 and isinstance(boards[0].crashes[0], RuntimeError)
        assert boards[1].state == "operation_enabled" and boards[1].crash_count == 0
        assert int(boards[0].store.get(0x603F)) == 0x6100
        bad.fail = False  # the cause is gone: a fault reset recovers the board
        for cw in (0x00, 0x80, 0x00):
            host.send(can.Message(arbitration_id=0x201, data=struct.pack("<HbI", cw, 8, 0), is_extended_id=False))
            host.send(can.Message(arbitration_id=0x80, data=b"", is_extended_id=False))
            boards[0].poll()
            clock.advance(1_000_000)
        assert boards[0].state == "switch_on_disabled"
    finally:
        for b in boards:
            b.close()
        for bus in buses:
            bus.shutdown()


def test_rpdo_values_outside_the_limits_are_not_applied(joint):
    enable(joint)
    max_t = int(joint.board.store.get(0x6072))
    before = sdo_read(joint, 0x6071)
    r = cycle(joint, 0x0F, tau=32767)  # RPDO2 target torque far above the board's limit
    assert 0x8200 in r.get("emcy", [])
    assert sdo_read(joint, 0x6071) == before
    r = cycle(joint, 0x0F, mode=42)  # RPDO1 with a mode that does not exist
    assert struct.unpack("<b", sdo_read(joint, 0x6060))[0] == 8
    r = cycle(joint, 0x0F, tau=max_t)  # both RPDOs good again: applied, the error clears
    assert 0x0000 in r.get("emcy", [])
    assert struct.unpack("<h", sdo_read(joint, 0x6071))[0] == max_t
    assert joint.board.rpdo_rejected == set()


def test_position_limit_min_above_max_is_refused(joint):
    hi = struct.unpack("<i", sdo_read(joint, 0x607D, 2))[0]
    assert sdo_write(joint, 0x607D, 1, hi + 1, 4) == 0x06090036 or hi + 1 > 480598
    assert sdo_write(joint, 0x607D, 2, 1000, 4) is None
    assert sdo_write(joint, 0x607D, 1, 1001, 4) == 0x06090036
    assert sdo_write(joint, 0x607D, 1, 1000, 4) is None  # min == max is a valid (if odd) range


@pytest.mark.parametrize(("index", "value", "ok"), [
    (0x1005, 0x000, False),  # NMT: SYNC would be handled as NMT
    (0x1005, 0x600 + NODE, False),  # the node's own SDO request id
    (0x1005, 0x40000080, False),  # SYNC producer: not supported
    (0x1005, 0x085, True),
    (0x1014, 0x580 + NODE, False),  # the node's own SDO response id
    (0x1014, 0x000, False),
    (0x1014, 0x20000085, False),  # 29-bit
    (0x1014, 0x00010085, False),  # reserved bits
    (0x1014, 0x80000085, True),  # EMCY not valid
    (0x1014, 0x0A0, True),
])
def test_sync_and_emcy_cob_ids_follow_the_pdo_restrictions(lockstep, index, value, ok):
    got = sdo_write(lockstep, index, 0, value, 4)
    assert (got is None) == ok, hex(got or 0)
    if not ok:
        assert got in (0x06090030, 0x06090031)  # restricted, or above the table limit


def test_consumer_heartbeat_refuses_duplicates_and_reserved_bits(lockstep):
    assert sdo_write(lockstep, 0x1016, 1, (3 << 16) | 100, 4) is None
    assert sdo_write(lockstep, 0x1016, 2, (3 << 16) | 200, 4) == 0x06040043  # node 3 again
    assert sdo_write(lockstep, 0x1016, 2, (1 << 24) | (4 << 16) | 200, 4) == 0x06090030  # reserved
    assert sdo_write(lockstep, 0x1016, 2, (200 << 16) | 200, 4) == 0x06090030  # node-ID > 127
    assert sdo_write(lockstep, 0x1016, 2, (4 << 16) | 200, 4) is None
    assert sdo_write(lockstep, 0x1016, 1, 0, 4) is None  # unused again
    assert sdo_write(lockstep, 0x1016, 3, (3 << 16) | 50, 4) is None  # node 3 is free now


def test_segmented_download_without_size_stops_at_the_objects_size(lockstep):
    (r,) = lockstep.sdo(struct.pack("<BHB4x", 0x20, 0x2050, 0))  # calibration blob, no size indicated
    assert r[0] == 0x60
    aborted_at = None
    for k in range(2000):
        (r,) = lockstep.sdo(bytes([(k & 1) << 4]) + bytes(7))
        if r[0] == 0x80:
            aborted_at = k
            break
    assert aborted_at is not None and aborted_at * 7 <= 4096 + 7
    assert struct.unpack_from("<I", r, 4)[0] == 0x06070012
    (r,) = lockstep.sdo(struct.pack("<BHBI", 0x21, 0x2050, 0, 5000))  # announced too large
    assert r[0] == 0x80 and struct.unpack_from("<I", r, 4)[0] == 0x06070012
    (r,) = lockstep.sdo(struct.pack("<BHBI", 0x21, 0x6040, 0, 0))  # numeric, no size
    (r,) = lockstep.sdo(bytes([0x00]) + bytes(7))  # 7 bytes into a 2-byte object
    assert r[0] == 0x80 and struct.unpack_from("<I", r, 4)[0] == 0x06070012


def _walk_by_sdo(ls: Lockstep) -> None:
    for _ in range(6):
        sw = struct.unpack("<H", sdo_read(ls, 0x6041))[0]
        if decode_state(sw) == "operation_enabled":
            return
        assert sdo_write(ls, 0x6040, 0, next_controlword(sw, "operation_enabled"), 2) is None
    raise AssertionError("not enabled")


@pytest.mark.parametrize("nmt", ["pre-operational", "operational before the first SYNC"])
def test_enabled_over_sdo_the_watchdog_is_armed(channel, nmt):
    ls = Lockstep(channel, module=JointModule(load_preset("knee"), seed=1))
    try:
        if nmt.startswith("operational"):
            ls.exchange(0x000, bytes([0x01, NODE]))
        _walk_by_sdo(ls)
        timeout_ms = int(ls.board.store.get(0x2031))
        ls.drain()
        t_emcy = None
        for ms in range(1, 400):
            ls.advance(0.001)
            ls.board.poll()
            for m in ls.drain():
                if m.arbitration_id == 0x80 + NODE and struct.unpack_from("<H", m.data)[0] == 0x8100:
                    t_emcy = ms
            if t_emcy is not None and not ls.board.out["power_enabled"]:
                break
        assert t_emcy is not None, "no reaction to command loss"
        assert timeout_ms < t_emcy <= timeout_ms + 2
        assert ls.board.state == "switch_on_disabled"  # 0x6007 = 3: quick stop, then disabled
        _walk_by_sdo(ls)  # an SDO command ends the loss: the drive can be enabled again
        assert ls.board.state == "operation_enabled"
    finally:
        ls.close()


def test_sdo_reads_do_not_feed_the_watchdog(lockstep):
    _walk_by_sdo(lockstep)
    for _ in range(200):
        lockstep.advance(0.001)
        sdo_read(lockstep, 0x6041)  # a monitor reading is not a command
    assert lockstep.board.state != "operation_enabled"


def test_identifiers_above_11_bits_are_ignored(lockstep):
    lockstep.exchange(0x000, bytes([0x01, NODE]))
    msg = can.Message(arbitration_id=0xF00 + NODE, data=b"\x05", is_extended_id=False, check=False)
    lockstep.board.handle(msg)  # 0xF05 & 0x780 == 0x700: would pass as node 5's heartbeat
    assert lockstep.board._hb_seen == {}
    assert lockstep.board.crash_count == 0


def test_hand_mode_0_holds_every_nut(channel):
    from cerebellum_rt.actuators.hand import HandSim
    from cerebellum_rt.drivers.board import HandBoard

    from .test_hand_board_lockstep import HAND, HandRig

    rig = HandRig(channel)
    try:
        assert isinstance(rig.board, HandBoard) and isinstance(rig.sim, HandSim)
        for _ in range(6):
            rig.cycle(next_controlword(rig.sw, "operation_enabled") if rig.sw else 0, 300)
        rig.cycle(0x0F, 1500)  # tension on every tendon: the nuts move
        assert rig.board.state == "operation_enabled" and (rig.sim.mode == 2).all()
        rig.tx(0x600 + HAND, struct.pack("<BHBB3x", 0x2F, 0x6060, 0, 0))  # no mode
        rig.cycle(0x0F, 1500)
        held = rig.sim.x_cmd.copy()
        for _ in range(2):
            rig.cycle(0x0F, 1500)  # the tension targets are not followed
            assert (rig.sim.mode == 1).all()  # screw-position mode ...
            assert (rig.sim.x_cmd == held).all()  # ... at the positions sampled when the hold began
        assert rig.board.crash_count == 0 and rig.board.state == "operation_enabled"
        assert int(rig.board.store.get(0x6061)) == 0 and not rig.sw & 0x1000
    finally:
        rig.close()


def test_the_command_watchdog_cannot_be_switched_off(lockstep):
    assert sdo_write(lockstep, 0x2031, 0, 0, 2) == 0x06090032  # below the low limit 1 ms
    assert sdo_write(lockstep, 0x2031, 0, 1, 2) is None


def test_a_flash_file_with_restricted_cob_ids_falls_back_to_defaults(channel, tmp_path):
    import json

    flash = tmp_path / "node5.json"
    flash.write_text(json.dumps({"1005sub0": 0, "1014sub0": 0x585, "1016sub1": (3 << 16) | 100,
                                 "1016sub2": (3 << 16) | 200, "2031sub0": 250}))
    bus = can.Bus(interface="virtual", channel=channel)
    board = JointBoard(NODE, bus, storage_path=flash, threaded=False)
    try:
        assert int(board.store.get(0x1005)) == 0x080 and int(board.store.get(0x1014)) == 0x80 + NODE
        watched = [int(board.store.get(0x1016, k)) for k in (1, 2)]
        assert sorted(watched) == [0, (3 << 16) | 200]  # node 3 watched once (the first falls back)
        assert int(board.store.get(0x2031)) == 250  # a valid stored value is kept
    finally:
        board.close()
        bus.shutdown()


def test_refused_rpdos_do_not_feed_the_watchdog(joint):
    enable(joint)
    emcy = []
    for _ in range(150):  # only out-of-limit RPDO2s, no SYNC: the master sends garbage
        joint.send(0x300 + NODE, struct.pack("<ihh", 0, 0, 32767))
        joint.board.poll()
        joint.advance(0.001)
        emcy += [struct.unpack_from("<H", m.data)[0] for m in joint.drain() if m.arbitration_id == 0x80 + NODE]
    assert 0x8200 in emcy and 0x8100 in emcy
    assert joint.board.state != "operation_enabled"
