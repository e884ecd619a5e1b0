"""The vertical slice end to end: `cbl demo` in lockstep, its JSON contract and its bad-input errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cerebellum_rt.hil_tests.joint_demo import LOG_COLUMNS, DemoConfig, run_demo

PHASE = LOG_COLUMNS.index("phase")


@pytest.fixture(scope="module")
def lockstep_run(tmp_path_factory):
    plot = tmp_path_factory.mktemp("demo") / "demo.png"
    return run_demo(DemoConfig(seconds=2.0, lockstep=True, channel="test-demo-lockstep", plot=str(plot)))


def test_lockstep_tracks_within_one_milliradian(lockstep_run):
    f = lockstep_run.figures
    assert f["tracking_cycles"] == 2000
    assert f["tracking_rms_rad"] < 1e-3
    assert f["tracking_max_rad"] < 2.5e-3
    assert f["missed_replies"] == 0
    assert f["overruns"] == 0  # virtual time: a tick can never be late


def test_lockstep_walks_enable_track_disable(lockstep_run):
    phases = lockstep_run.log[:, PHASE]
    used = phases[: lockstep_run.figures["cycles"]]
    # enable first, then one contiguous tracking block, then disable
    first_track = int(np.argmax(used == 1))
    assert 0 < first_track < 20
    assert np.all(used[first_track : first_track + 2000] == 1)
    assert np.all(used[first_track + 2000 :] == 2)
    assert lockstep_run.figures["final_state"] == "switch_on_disabled"


def test_lockstep_torque_sensor_follows_demand(lockstep_run):
    f = lockstep_run.figures
    # the move needs torque: the sensor must see it, and agree with the drive's demand
    assert f["torque_sensor_rms_nm"] > 0.05
    log = lockstep_run.log
    track = log[log[:, PHASE] == 1]
    # 100 ms means: the sensor's torque has the demand's sign (friction + inertia of the move)
    win = np.ones(100) / 100
    sensor = np.convolve(track[:, LOG_COLUMNS.index("torque_sensor_nm")], win, "valid")
    demand = np.convolve(track[:, LOG_COLUMNS.index("torque_demand_nm")], win, "valid")
    big = np.abs(demand) > 0.1
    assert big.mean() > 0.5
    assert np.mean(np.sign(sensor[big]) == np.sign(demand[big])) > 0.9


def test_lockstep_plot_written(lockstep_run):
    p = Path(lockstep_run.figures["plot"])
    assert p.is_file() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_lockstep_is_deterministic(lockstep_run, tmp_path):
    again = run_demo(DemoConfig(seconds=2.0, lockstep=True, channel="test-demo-lockstep-2",
                                plot=str(tmp_path / "p.png")))
    a, b = lockstep_run.log, again.log
    assert np.array_equal(a[:, 1:], b[:, 1:])  # column 0 is the clock, virtual in both but offset


def _cbl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def test_cli_json_contract(tmp_path):
    r = _cbl("demo", "--json", "--lockstep", "--seconds", "0.5", "--channel", "test-demo-cli",
             "--plot", str(tmp_path / "d.png"))
    assert r.returncode == 0, r.stderr
    f = json.loads(r.stdout.strip().splitlines()[-1])
    for key in ("tracking_rms_rad", "tracking_max_rad", "wake_p50_us", "wake_p99_us", "wake_max_us",
                "overruns", "cycles", "frames", "plot"):
        assert key in f
    assert f["frames"] >= 2 * f["cycles"]
    assert Path(f["plot"]).is_file()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--seconds", "-1"], "--seconds = -1.0 s is out of range"),
        (["--node", "200"], "--node = 200 is out of range [1, 127]"),
        (["--interface", "nosuchbus"], "nosuchbus"),
        (["--no-emulate", "--channel", "test-demo-empty"], "node 1"),
        (["--trajectory", "/nonexistent.csv"], "/nonexistent.csv does not exist"),
    ],
)
def test_cli_bad_input_is_one_clear_line(args, needle):
    r = _cbl("demo", "--lockstep", "--seconds", "0.2", *args)
    assert r.returncode == 2
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_bad_trajectory_file_names_line(tmp_path):
    bad = tmp_path / "t.csv"
    bad.write_text("t_s,position_rad\n0,0\n0.5,0.1\n0.4,0.2\n")
    r = _cbl("demo", "--lockstep", "--trajectory", str(bad))
    assert r.returncode == 2
    assert f"{bad}, line 4" in r.stderr and "does not increase" in r.stderr


def test_trajectory_file_outside_limits_is_refused_before_moving(tmp_path):
    far = tmp_path / "far.csv"
    far.write_text("t_s,position_rad\n0,0\n1,0.5\n2,1000\n")
    r = _cbl("demo", "--lockstep", "--trajectory", str(far), "--channel", "test-demo-far")
    assert r.returncode == 2
    assert "outside node 1's position limits" in r.stderr


def test_real_time_smoke(tmp_path):
    """Real time runs end to end (no timing asserted: that is `cbl demo`'s report and the benchmarks)."""
    r = run_demo(DemoConfig(seconds=0.3, channel="test-demo-rt", plot=str(tmp_path / "rt.png")))
    f = r.figures
    assert f["tracking_cycles"] == 300
    assert f["cycles"] == len(r.log)
    assert f["final_state"] == "switch_on_disabled"
    assert f["wake_p50_us"] >= 0.0 and f["wake_max_us"] >= f["wake_p99_us"] >= f["wake_p50_us"]
