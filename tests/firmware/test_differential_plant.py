"""The C image and the Python board, each in front of its own JointModule (same preset and seed),
driven through a motion in lockstep: the TPDOs they send (positions, velocities, torques,
currents, temperatures measured on the plant that each one commands) must be identical frame
for frame, so the C plant side computes the same demands, bit for bit, as the specification."""

from __future__ import annotations

import math
import struct

from cerebellum_rt.actuators.joint import JointModule, load_preset
from cerebellum_rt.drivers.board.cfirmware import joint_table
from cerebellum_rt.drivers.firmware.differential import compare
from cerebellum_rt.drivers.od import POSITION_COUNTS_PER_RAD

NODE = 3


def _module() -> JointModule:
    return JointModule(load_preset("knee"), seed=7)


def _sync_cycle(events: list, cw: int, mode: int, target: int, tau_ff: int = 0) -> None:
    events.append(("frame", 0x200 + NODE, struct.pack("<HbI", cw, mode, target & 0xFFFFFFFF), 0))
    events.append(("frame", 0x300 + NODE, struct.pack("<ihh", 0, tau_ff, 0), 0))
    events.append(("wait", 1001))  # odd: never exactly on a heartbeat deadline (see test_differential_fuzz)
    events.append(("frame", 0x080, b"", 0))


def motion() -> list:
    ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
    for cw in (0x06, 0x07, 0x0F):
        _sync_cycle(ev, cw, 8, 0)
    for k in range(150):  # CSP: a 0.3 rad cosine step
        _sync_cycle(ev, 0x0F, 8, round(0.3 * (1 - math.cos(math.pi * min(k, 100) / 100)) / 2 * POSITION_COUNTS_PER_RAD))
    for _ in range(40):  # quick stop (option 2: ramp, then switch on disabled)
        _sync_cycle(ev, 0x02, 8, 0)
    for cw in (0x06, 0x07, 0x0F):
        _sync_cycle(ev, cw, 10, 0)
    for _ in range(30):  # CST with a torque offset
        _sync_cycle(ev, 0x0F, 10, 0, tau_ff=50)
    ev.append(("frame", 0x600 + NODE, bytes([0x2B, 0x40, 0x20, 0x00, 0x10, 0x23, 0, 0]), 0))  # inject 0x2310
    for _ in range(30):
        _sync_cycle(ev, 0x0F, 10, 0)
    ev.append(("wait", 250_007))  # no SYNC: the 0x2031 watchdog (the drive is in fault: no reaction)
    return ev


def test_joint_motion_on_the_plant_is_identical():
    table = joint_table(_module())
    res = compare(motion(), NODE, table, module_factory=_module)
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} c {res['c'][k]}"
    assert res["od_difference"] == []
    tpdo1 = [d for rep in res["python"] for cob, d in rep if cob == 0x180 + NODE]
    positions = [struct.unpack_from("<i", d, 3)[0] for d in tpdo1]
    assert max(positions) > 0.25 * POSITION_COUNTS_PER_RAD  # the joint moved: the comparison saw real motion
    print(f"\nplant differential: {res['frames_in']} frames in, {res['frames_out']} replies, identical")


def test_negative_control_another_seed_differs():
    """Boards on plants with other sensor noise (seed) send other TPDOs: the check can fail."""
    table = joint_table(_module())
    seeds = iter([7, 8])
    res = compare(motion()[:40], NODE, table, module_factory=lambda: JointModule(load_preset("knee"), seed=next(seeds)))
    assert res["first_reply_difference"] is not None


def impedance_motion() -> list:
    """Impedance mode (-1): K, D from the defaults, then a new K by SDO (0x2011:1) mid-motion."""
    ev: list = [("frame", 0, bytes([0x01, NODE]), 0)]
    for cw in (0x06, 0x07, 0x0F):
        _sync_cycle(ev, cw, -1, 0)
    target = round(0.2 * POSITION_COUNTS_PER_RAD)
    for _ in range(60):  # a 0.2 rad step of q* on the default impedance, with a torque offset
        _sync_cycle(ev, 0x0F, -1, target, tau_ff=20)
    ev.append(("frame", 0x600 + NODE, bytes([0x23, 0x11, 0x20, 0x01]) + struct.pack("<f", 900.0), 0))
    for _ in range(60):
        _sync_cycle(ev, 0x0F, -1, target)
    return ev


def test_joint_impedance_mode_on_the_plant_is_identical():
    table = joint_table(_module())
    res = compare(impedance_motion(), NODE, table, module_factory=_module)
    k = res["first_reply_difference"]
    assert k is None, f"reply {k}: python {res['python'][k]} c {res['c'][k]}"
    assert res["od_difference"] == []
    tpdo1 = [d for rep in res["python"] for cob, d in rep if cob == 0x180 + NODE]
    positions = [struct.unpack_from("<i", d, 3)[0] for d in tpdo1]
    assert max(positions) > 0.1 * POSITION_COUNTS_PER_RAD  # the impedance pulled the joint towards q*
    modes = [d[2] for rep in res["python"] for cob, d in rep if cob == 0x180 + NODE]
    assert modes[-1] == 0xFF  # 0x6061 = -1 (impedance) is displayed
