"""`cbl bench tune --json`: its contract on one joint (the full run covers every preset)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CBL = str(Path(sys.executable).parent / "cbl")


def test_bench_tune_json_contract():
    out = subprocess.run([CBL, "bench", "tune", "--json", "--joints", "knee", "--telemetry-s", "0.3"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    d = json.loads(out)
    knee = d["joints"]["knee"]
    for side in ("before", "after"):
        assert {"overshoot_pct", "settling_time_s", "bandwidth_hz"} <= set(knee[side])
        assert knee[side]["stopped"] == ""
    imp = knee["impedance"]  # the impedance loop: default K, D, then autotune impedance (critically damped)
    for side in ("before", "after"):
        assert {"overshoot_pct", "settling_time_s", "stiffness_nm_per_rad"} <= set(imp[side]) and imp[side]["stopped"] == ""
    assert imp["after"]["overshoot_pct"] < imp["before"]["overshoot_pct"]
    assert imp["after"]["gains"]["impedance_stiffness"] > imp["before"]["gains"]["impedance_stiffness"]
    assert abs(imp["stiffness_error"]) < 0.03 and abs(imp["overshoot_error_pp"]) < 6.0
    assert knee["after"]["bandwidth_hz"] > knee["before"]["bandwidth_hz"]  # auto-tune widened the loop
    # the preset's gains are the compliance-aware design (no longer poor): the tune must widen the
    # loop and keep the overshoot at its 2 % target. Its 2 % settling is not asserted: with the
    # stick/slip gear the position sticks ~1.5 mrad short for ~40 ms until the velocity integrator
    # breaks the gear free (a tail the auto-tune's rigid-body model does not predict)
    assert knee["after"]["overshoot_pct"] <= 2.0 + 0.5
    assert knee["after"]["rise_time_s"] < knee["before"]["rise_time_s"]
    assert d["telemetry_hz"] > 0 and d["telemetry"]["samples"] > 0


def test_bench_tune_refuses_an_unknown_joint():
    r = subprocess.run([CBL, "bench", "tune", "--joints", "elbow"], capture_output=True, text=True)
    assert r.returncode == 2 and "'elbow' is not one of" in r.stderr
