"""The G1 walking scenario: the MuJoCo-only baseline, the walk through the boards, the console verb."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from cerebellum_rt.hil_tests.g1_walk import walk_mujoco
from cerebellum_rt.tools.cli import main


def _cbl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", *args], capture_output=True, text=True,
                          timeout=600)


def test_baseline_walks_as_the_data_says(robot_dir):
    """The data's README: 4.59 m in 10 s at 0.5 m/s, no fall (policy.onnx in MuJoCo, PD at 500 Hz)."""
    w = walk_mujoco(robot_dir, seconds=10.0, command=0.5)
    assert not w.fell and w.min_height_m > 0.75
    assert w.distance_m == pytest.approx(4.59, abs=0.02)
    # negative control: a zero command walks in place
    still = walk_mujoco(robot_dir, seconds=3.0, command=0.0)
    assert not still.fell and abs(still.distance_m) < 0.3


def test_walk_through_the_boards_enables_exchanges_and_disables(robot_dir):
    """Short run of the full stack: every drive enabled through CiA 402 (CSP, the joint PD on the
    boards), no reply missed, the body moved by the modules' torques within the actuators' range,
    every drive off at the end."""
    from cerebellum_rt.hil_tests.g1_rig import walk_boards

    b = walk_boards(robot_dir, seconds=0.1)
    assert b.enable_ticks < 50 and b.missed_replies == 0
    assert len(b.final_states) == 12 and "operation_enabled" not in b.final_states
    assert 0.0 < b.max_torque_nm < 1000.0
    assert b.walk.seconds == pytest.approx(0.1) and not b.walk.fell


def test_cli_runs_the_baseline_and_writes_the_plot(robot_dir, tmp_path):
    png = tmp_path / "walk.png"
    r = _cbl("hil", "run", "--scenario", "g1-walk", "--through", "mujoco", "--seconds", "1", "--robot-dir",
             str(robot_dir), "--plot", str(png), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["baseline"]["distance_m"] > 0.1 and not doc["baseline"]["fell"]
    assert png.stat().st_size > 10_000


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    assert main(["hil", "run", "--scenario", "g1-walk", "--robot-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing scene.xml" in err
    assert main(["hil", "run", "--scenario", "g1-walk", "--seconds", "-1"]) == 2
    assert "--seconds = -1.0 s is out of range" in capsys.readouterr().err


def test_bench_policy_json(robot_dir):
    r = _cbl("bench", "policy", "--json", "--no-boards", "--steps", "50", "--rounds", "1", "--walk-seconds", "1",
             "--robot-dir", str(robot_dir))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ours_us"] > 0 and doc["onnxruntime_us"] > 0 and doc["baseline_walk_speed_mps"] > 0.3
