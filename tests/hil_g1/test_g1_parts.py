"""Parts the G1 rig adds: batched load coupling, CAN acceptance filters in the emulated medium, postures."""

from __future__ import annotations

import can
import numpy as np
import pytest

from cerebellum_rt.actuators.joint import JointModule, load_preset
from cerebellum_rt.actuators.joint.bank import JointBank
from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
from cerebellum_rt.rtcore.errors import ConfigError


def test_bank_couple_loads_equals_module_by_module():
    presets = [load_preset(n) for n in ("hip", "knee", "ankle")]
    bank = JointBank(presets, seeds=[1, 2, 3])
    mods = [JointModule(p, seed=s) for p, s in zip(presets, (1, 2, 3))]
    rng = np.random.default_rng(0)
    for _ in range(20):
        th, w, inertia, tq = rng.normal(size=3), rng.normal(size=3), rng.uniform(0.01, 1, 3), rng.normal(size=3) * 5
        bank.couple_loads(th, w, inertia, tq)
        for i, m in enumerate(mods):
            m.couple_load(th[i], w[i], inertia[i], tq[i])
            m.command(8, 0.2, 0.0, 0.0, True)
            bank[i].command(8, 0.2, 0.0, 0.0, True)
            m.advance(0.001)
        bank.advance(0.001)
    assert [m.read() for m in mods] == [m.read() for m in bank.modules]
    assert bank.output_velocities().tolist() == [m.output_velocity_rad_s for m in mods]
    with pytest.raises(ConfigError, match="must be finite"):
        bank.couple_loads(np.array([np.nan, 0, 0]), w, inertia, tq)
    with pytest.raises(ConfigError, match="shape"):
        bank.couple_loads(np.zeros(2), w, inertia, tq)


def test_emulated_acceptance_filter():
    t = {"now": 0.0}
    med = Medium("filters", 1_000_000, clock=lambda: t["now"])
    a, b, host = (EmulatedBus(medium_=med, name=n) for n in ("a", "b", "host"))
    try:
        a.set_filters([{"can_id": 0x201, "can_mask": 0x7FF, "extended": False}])
        b.set_filters([{"can_id": 0x200, "can_mask": 0x700}])  # a mask: the generic path
        for cid in (0x201, 0x202, 0x181):
            host.send(can.Message(arbitration_id=cid, data=b"\x01", is_extended_id=False))
        host.send(can.Message(arbitration_id=0x201, data=b"\x02", is_extended_id=True))
        t["now"] = 1.0

        def ids(bus):
            out = []
            while (m := bus.recv(0.0)) is not None:
                out.append((m.arbitration_id, m.is_extended_id))
            return out

        assert ids(a) == [(0x201, False)]
        # no "extended" key: the extended 0x201 matches too (python-can semantics); 0x181 does not
        assert ids(b) == [(0x201, False), (0x202, False), (0x201, True)]
        b.set_filters(None)
        host.send(can.Message(arbitration_id=0x181, data=b"", is_extended_id=False))
        t["now"] = 2.0
        assert ids(b) == [(0x181, False)]
    finally:
        for bus in (a, b, host):
            bus.shutdown()


def test_postures_are_balanced_and_drop_as_asked(robot_dir):
    from cerebellum_rt.hil_tests.g1_posture import _com_offset, pelvis_height, posture
    from cerebellum_rt.hil_tests.g1_walk import load_model

    model, _ = load_model(robot_dir, 0.001)
    stand, deep = posture(model), posture(model, 0.10)
    assert pelvis_height(model, stand) - pelvis_height(model, deep) == pytest.approx(0.10, abs=1e-6)
    for q in (stand, deep):
        assert abs(_com_offset(model, q)) < 1e-6
        left, right = q[:6], q[6:]
        assert np.array_equal(left, right) and abs(left[0] + left[3] + left[4]) < 1e-9  # feet parallel to the pelvis
    with pytest.raises(ConfigError, match="drop"):
        posture(model, 0.5)


def test_bench_hil_json(robot_dir):
    import json
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "bench", "hil", "--json", "--seconds", "0.2",
                        "--bank-seconds", "0.1", "--rounds", "1", "--robot-dir", str(robot_dir)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["realtime_factor"] > 0 and doc["reference_realtime_factor"] > 0 and doc["bank_realtime_factor"] > 0
    assert doc["bank_realtime_factor_2_threads"] > 0
    assert set(doc["split"]) == {"host", "bus", "boards", "physics"} and all(v > 0 for v in doc["split"].values())
    assert doc["speedup"] == pytest.approx(doc["realtime_factor"] / doc["reference_realtime_factor"], rel=0.02)
    assert doc["python_boards_realtime_factor"] > 0 and set(doc["python_boards_split"]) == set(doc["split"])


def test_walk_through_the_boards_keeps_the_baselines_speed(robot_dir):
    """Issue 19's criterion on the 10 s walk: no fall, mean speed within 25 % of the MuJoCo-only baseline's
    (the joint PD on the boards; with it on the host, sent as CST torque, the robot fell within 1 s)."""
    from cerebellum_rt.hil_tests.g1_rig import walk_boards
    from cerebellum_rt.hil_tests.g1_walk import walk_mujoco

    base = walk_mujoco(robot_dir, seconds=10.0, command=0.5)
    b = walk_boards(robot_dir, seconds=10.0, command=0.5)
    assert not b.walk.fell and b.missed_replies == 0
    assert abs(b.walk.mean_speed_mps - base.mean_speed_mps) <= 0.25 * base.mean_speed_mps
    assert b.walk.mean_speed_mps > 0.3


def test_lockstep_runs_are_identical(robot_dir):
    from cerebellum_rt.hil_tests import g1_stand

    a = g1_stand.stand(robot_dir, seconds=0.6)
    b = g1_stand.stand(robot_dir, seconds=0.6)
    assert np.array_equal(a.trace, b.trace) and np.array_equal(a.final_q, b.final_q)


def test_the_c_image_and_the_python_board_move_the_body_identically(robot_dir):
    """The rig's boards run the C image by default; the Python board (the specification) in the
    same stand gives the same trace to the last bit (frames, laws and plant in lockstep)."""
    from cerebellum_rt.hil_tests import g1_stand

    c = g1_stand.stand(robot_dir, seconds=0.6)
    py = g1_stand.stand(robot_dir, seconds=0.6, firmware="python")
    assert np.array_equal(c.trace, py.trace) and np.array_equal(c.final_q, py.final_q)
    with pytest.raises(ConfigError, match="firmware 'rust' is not one of"):
        g1_stand.stand(robot_dir, seconds=0.6, firmware="rust")
