"""Lockstep is deterministic: the same rig and seed give the same telemetry and bus traffic bit for
bit, whether numba compiles its kernels (a fresh NUMBA_CACHE_DIR) or loads them from its cache;
another seed gives other traffic (the digests do see the run). Also ``cbl demo --lockstep``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _cbl(*args: str, cache: Path | None = None) -> dict:
    env = dict(os.environ)
    if cache is not None:
        env["NUMBA_CACHE_DIR"] = str(cache)
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", *args], capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def test_same_rig_and_seed_same_logs_cold_or_warm_cache(tmp_path: Path) -> None:
    run = ("hil", "run", "single_joint", "fault:frame_loss", "--seed", "5", "--ticks", "300", "--json")
    cold = _cbl(*run, cache=tmp_path / "numba-cold")
    warm = _cbl(*run)
    assert cold["telemetry_sha256"] == warm["telemetry_sha256"]
    assert cold["traffic_sha256"] == warm["traffic_sha256"]
    assert cold["frames"] == warm["frames"] and cold["lost"] == warm["lost"]
    from cerebellum_rt.tools.hil_run import run_scenario

    again = run_scenario("single_joint", "fault:frame_loss", seed=5, ticks=300)  # in this process
    other = run_scenario("single_joint", "fault:frame_loss", seed=6, ticks=300)
    assert again["traffic_sha256"] == warm["traffic_sha256"]
    assert other["traffic_sha256"] != warm["traffic_sha256"]


def test_demo_lockstep_same_figures_and_frames_twice() -> None:
    """Two identical lockstep demos: identical figures, frame counts included (the boards' heartbeats
    and watchdog run on the virtual clock, not on the wall clock)."""
    from cerebellum_rt.hil_tests.joint_demo import DemoConfig, run_demo

    keys = ("tracking_rms_rad", "tracking_max_rad", "torque_sensor_rms_nm", "frames", "missed_replies", "cycles")
    figs = [run_demo(DemoConfig(seconds=0.3, lockstep=True, channel=f"det-{i}")).figures for i in range(2)]
    assert {k: figs[0][k] for k in keys} == {k: figs[1][k] for k in keys}
