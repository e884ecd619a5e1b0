"""The joint board in lockstep (virtual clock, ``threaded=False``) in front of a real
``cerebellum_rt.actuators.joint`` module: SYNC timing of pdo.md, CSP tracking, board-side limits, the quick-stop
ramp, and the connection-loss reactions (heartbeat consumer, SYNC/RPDO loss, NMT) of 0x6007."""

from __future__ import annotations

import math
import struct

import pytest

from cerebellum_rt.actuators.joint.module import JointModule
from cerebellum_rt.actuators.joint.preset import load_preset
from cerebellum_rt.drivers.cia402 import decode_state, next_controlword
from cerebellum_rt.drivers.od import POSITION_COUNTS_PER_RAD, VELOCITY_COUNTS_PER_RAD_S

from .conftest import NODE, Lockstep

DT = 0.001


@pytest.fixture
def joint(channel):
    module = JointModule(load_preset("knee"), seed=1)
    ls = Lockstep(channel, module=module)
    ls.module = module
    ls.exchange(0x000, bytes([0x01, NODE]))  # operational
    yield ls
    ls.close()


def cycle(ls: Lockstep, cw: int, mode: int = 8, pos: int | None = None, tau: int = 0) -> dict:
    """Host side of one tick: RPDO1/RPDO2 then SYNC; returns the TPDO data of the reply."""
    if pos is None:
        pos = ls.board.store.get(0x6064)
    ls.send(0x200 + NODE, struct.pack("<HbI", cw, mode, pos & 0xFFFFFFFF))
    ls.send(0x300 + NODE, struct.pack("<ihh", 0, 0, tau))
    ls.send(0x080, b"")
    ls.board.poll()
    ls.advance(DT)
    got = {}
    for m in ls.drain():
        d = bytes(m.data)
        if m.arbitration_id == 0x180 + NODE:
            got["sw"], got["mode"], got["pos"] = struct.unpack("<HbI", d)
            got["pos"] = struct.unpack("<i", struct.pack("<I", got["pos"]))[0]
        elif m.arbitration_id == 0x280 + NODE:
            got["vel"], got["tau"], got["cur"] = struct.unpack("<ihh", d)
        elif m.arbitration_id == 0x380 + NODE:
            got["ts"], got["tdem"], got["temp"] = struct.unpack("<ihh", d)
        elif m.arbitration_id == 0x80 + NODE:
            got.setdefault("emcy", []).append(struct.unpack_from("<H", d)[0])
    return got


def enable(ls: Lockstep, target: str = "operation_enabled") -> dict:
    r = cycle(ls, 0)
    for _ in range(10):
        if decode_state(r["sw"]) == target:
            return r
        r = cycle(ls, next_controlword(r["sw"], target))
    raise AssertionError(f"stuck in {decode_state(r['sw'])}")


def test_sync_reply_carries_the_state_before_the_new_targets(joint):
    r = cycle(joint, 0x00)
    assert set(r) >= {"sw", "pos", "vel", "tau", "ts", "temp"}
    assert decode_state(r["sw"]) == "switch_on_disabled"
    r = cycle(joint, 0x06)  # shutdown sent with SYNC k ...
    assert decode_state(r["sw"]) == "switch_on_disabled"  # ... the reply to SYNC k is still the old state
    r = cycle(joint, 0x06)
    assert decode_state(r["sw"]) == "ready_to_switch_on"  # the reply to SYNC k+1 shows it
    assert r["temp"] > 0  # winding temperature in 0.1 degC from the module


def test_csp_tracks_a_target_and_quick_stop_ramps_to_standstill(joint):
    r = enable(joint)
    q0 = r["pos"]
    target = q0 + int(0.3 * POSITION_COUNTS_PER_RAD)
    for k in range(400):
        ref = q0 + (target - q0) * min(1.0, k / 200)
        r = cycle(joint, 0x0F, 8, int(ref))
    assert abs(r["pos"] - target) < 0.01 * POSITION_COUNTS_PER_RAD
    # a velocity move in CSV, then quick stop (0x605A = 2: quick-stop ramp, then switch on disabled)
    joint.board.store.set(0x60FF, 0, int(3.0 * VELOCITY_COUNTS_PER_RAD_S))
    for _ in range(150):
        r = cycle(joint, 0x0F, 9)
    assert r["vel"] > 2.0 * VELOCITY_COUNTS_PER_RAD_S
    states = []
    for _ in range(300):
        r = cycle(joint, 0x02, 9)
        states.append(decode_state(r["sw"]))
    assert "quick_stop_active" in states
    assert states[-1] == "switch_on_disabled"
    assert abs(r["vel"]) < 0.1 * VELOCITY_COUNTS_PER_RAD_S
    n_qs = states.count("quick_stop_active")
    # quick-stop deceleration 0x6085 = 200 rad/s^2 from ~3 rad/s: ~15 ms, not an instant cut
    assert 5 <= n_qs <= 100


def test_torque_target_is_clamped_to_max_torque_on_the_board(joint):
    store = joint.board.store
    store.write(0x6072, 0, struct.pack("<H", 100))  # 10 % of rated
    enable(joint)
    for _ in range(30):
        r = cycle(joint, 0x0F, 10, tau=3000)  # asks for 300 % of rated
    rated = store.get(0x6076) / 1000.0
    assert r["tdem"] <= 101  # torque demand held at the 0x6072 clamp
    assert abs(joint.module.read().torque_cmd_nm) <= 0.1 * rated * 1.01


def test_heartbeat_loss_quick_stops_then_disables(joint):
    store = joint.board.store
    store.write(0x1016, 1, struct.pack("<I", (0x01 << 16) | 50))  # watch node 1, 50 ms
    joint.send(0x701, b"\x05")  # the host's heartbeat
    enable(joint)
    for _ in range(100):  # no more host heartbeats, SYNC keeps running
        r = cycle(joint, 0x0F)
        if "emcy" in r:
            break
    assert r.get("emcy") == [0x8130]
    states = [decode_state(cycle(joint, 0x0F)["sw"]) for _ in range(20)]
    assert states[-1] == "switch_on_disabled"  # 0x6007 = 3: quick stop, then (0x605A = 2) disabled
    assert "operation_enabled" not in states[2:]  # the host cannot re-enable while the loss lasts
    joint.send(0x701, b"\x05")  # the host is back: EMCY "error reset", and it may enable again
    assert enable(joint)["sw"] & 0x6F == 0x27


def test_sync_loss_runs_the_reaction_on_the_board_clock(joint):
    joint.board.store.write(0x6007, 0, struct.pack("<h", 1))  # abort connection -> fault
    enable(joint)
    joint.advance(0.2)  # no SYNC, no RPDO for 200 ms > 0x2031 = 100 ms
    joint.board.poll()
    frames = joint.drain()
    emcy = [struct.unpack_from("<H", bytes(m.data))[0] for m in frames if m.arbitration_id == 0x80 + NODE]
    assert emcy == [0x8100]
    assert joint.board.state == "fault"
    assert not joint.board.out["power_enabled"]


def test_nmt_stop_while_enabled_applies_0x6007(joint):
    enable(joint)
    joint.exchange(0x000, bytes([0x80, NODE]))  # pre-operational while the drive is enabled
    joint.advance(0.05)
    joint.board.poll()
    assert joint.board.state == "switch_on_disabled"


def test_module_fault_reaction_and_reset(joint):
    enable(joint)
    joint.module.set_external_torque(0.0)
    joint.board.store.write(0x2040, 0, struct.pack("<H", 0x4310))  # injected over-temperature
    r = cycle(joint, 0x0F)
    assert r.get("emcy") == [0x4310]
    for _ in range(100):
        r = cycle(joint, 0x0F)
    assert decode_state(r["sw"]) == "fault"
    store = joint.board.store
    assert store.get(0x1003, 0) == 1 and store.get(0x1003, 1) & 0xFFFF == 0x4310  # error history
    store.write(0x1003, 0, b"\0")
    assert store.get(0x1003, 0) == 0 and store.get(0x1003, 1) == 0
    store.write(0x2040, 0, b"\0\0")
    cycle(joint, 0x00)
    r = cycle(joint, 0x80)
    r = cycle(joint, 0x80)
    assert decode_state(r["sw"]) == "switch_on_disabled"
    assert math.isfinite(joint.module.read().position_rad)


def test_rpdo_event_timer_deadline(joint):
    store = joint.board.store
    store.write(0x6007, 0, struct.pack("<h", 2))  # abort connection -> disable voltage
    joint.exchange(0x000, bytes([0x80, NODE]))
    store.write(0x1400, 5, struct.pack("<H", 20))  # RPDO1 deadline 20 ms
    joint.exchange(0x000, bytes([0x01, NODE]))
    enable(joint)
    emcy = []
    for _ in range(40):  # SYNC keeps coming, RPDO1 stops
        joint.send(0x080, b"")
        joint.board.poll()
        joint.advance(DT)
        emcy += [struct.unpack_from("<H", bytes(m.data))[0] for m in joint.drain() if m.arbitration_id == 0x80 + NODE]
    assert emcy == [0x8250]
    assert joint.board.state == "switch_on_disabled"
    r = cycle(joint, 0x00)  # RPDO1 again: EMCY "error reset"
    assert r.get("emcy") == [0x0000]


def test_heartbeat_producer_and_nmt_states(joint):
    joint.drain()
    hb = []
    for _ in range(10):
        joint.advance(0.1)
        joint.board.poll()
        hb += [bytes(m.data) for m in joint.drain() if m.arbitration_id == 0x700 + NODE]
    assert hb == [b"\x05"] * 10  # 0x1017 = 100 ms, operational
    joint.exchange(0x000, bytes([0x02, NODE]))  # stopped: no SDO, no PDO, heartbeat 0x04
    req = struct.pack("<BHB4x", 0x40, 0x1000, 0)
    assert [m for m in joint.exchange(0x600 + NODE, req) if m.arbitration_id == 0x580 + NODE] == []
    joint.advance(0.1)
    joint.board.poll()
    assert [bytes(m.data) for m in joint.drain() if m.arbitration_id == 0x700 + NODE] == [b"\x04"]
    boot = joint.exchange(0x000, bytes([0x82, 0]))  # reset communication, broadcast
    assert next(bytes(m.data) for m in boot if m.arbitration_id == 0x700 + NODE) == b"\x00"
    assert joint.board.nmt_state == 0x7F


def _scenario(channel: str, firmware: str) -> list[tuple]:
    ls = Lockstep(channel, module=JointModule(load_preset("knee"), seed=3), firmware=firmware)
    try:
        ls.exchange(0x000, bytes([0x01, NODE]))
        trace = []
        r = cycle(ls, 0)
        q0 = r["pos"]
        for k in range(260):
            if k < 120:
                cw = next_controlword(r["sw"], "operation_enabled")
            elif k < 170:
                cw = 0x02  # quick stop
            elif k == 170:
                ls.board.store.write(0x2040, 0, struct.pack("<H", 0x2310))  # injected fault
                cw = 0x0F
            elif k == 200:
                ls.board.store.write(0x2040, 0, b"\0\0")
                cw = 0x00
            else:
                cw = next_controlword(r["sw"], "fault_reset" if k < 220 else "operation_enabled")
            r = cycle(ls, cw, 8, q0 + 40 * k * k)
            trace.append((r["sw"], r["pos"], r["vel"], r["tdem"], tuple(r.get("emcy", ()))))
        return trace
    finally:
        ls.close()


def test_generated_c_firmware_behaves_bit_identically_to_numba(channel):
    a = _scenario(channel + "-numba", "numba")
    b = _scenario(channel + "-c", "c")
    states = {decode_state(t[0]) for t in a}
    assert {"operation_enabled", "quick_stop_active", "switch_on_disabled", "fault"} <= states
    assert a == b
