"""`cbl sim joint` and `cbl bench actuators` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

from cerebellum_rt.tools.cli import main


def test_sim_joint_json_metrics_and_png(tmp_path: Path, capsys):
    rc = main(["sim", "joint", "--preset", "knee", "--step", "0.2", "--json", "-o", str(tmp_path)])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["preset"] == "knee" and doc["mode"] == "csp" and doc["unit"] == "rad"
    for key in ("rise_time_s", "overshoot_pct", "settling_time_s", "steady_state_error", "peak_current_a",
                "peak_torque_nm"):  # fmt: skip
        assert isinstance(doc[key], float)
    assert 0.0 < doc["rise_time_s"] < 0.05 and doc["overshoot_pct"] < 5.0
    assert doc["peak_torque_nm"] <= 139.0 + 1e-3
    png = Path(doc["plot"])
    assert png.parent == tmp_path and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sim_joint_text_output_prints_the_plot_path(tmp_path: Path, capsys):
    assert (
        main(["sim", "joint", "--preset", "wrist", "--mode", "current", "--step", "1.5", "-o", str(tmp_path)])
        == 0
    )
    out = capsys.readouterr().out
    assert "rise time" in out and "overshoot" in out and "peak current" in out
    assert f"plot: {tmp_path / 'joint_wrist_current.png'}" in out


def test_sim_joint_refuses_bad_input_in_one_line(tmp_path: Path, capsys):
    assert (
        main(["sim", "joint", "--preset", "knee", "--mode", "csv", "--step", "50", "-o", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == "cbl sim: error: sim joint --step = 50.0 rad/s exceeds the velocity limit 20.0 rad/s"
    assert main(["sim", "joint", "--preset", "nope", "-o", str(tmp_path)]) == 2
    assert "joint preset 'nope' not found" in capsys.readouterr().err


def test_bench_actuators_json(capsys):
    assert main(["bench", "actuators", "--json", "--seconds", "0.2", "--rounds", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["joint_realtime_factor"] > 0 and doc["joint_tick_realtime_factor"] > 0
    assert doc["joint_fault_word"] == 0
    assert doc["humanoid_bank_realtime_factor"] > 0 and doc["humanoid_bank_cpu_fraction"] > 0
    assert doc["hand_realtime_factor"] > 0
    assert doc["targets"]["joint_realtime_factor"] == 200.0
