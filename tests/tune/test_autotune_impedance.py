"""Impedance auto-tune in lockstep on an emulated knee: the proposal is shown before anything is
applied, and once applied a torque perturbation in impedance mode shows the predicted stiffness
and overshoot; out-of-range targets are refused and never reach the board (hypothesis); the
``--exec ... --yes --json`` form."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cerebellum_rt.drivers.tune import impedance
from cerebellum_rt.drivers.tune.emulated import board_value
from cerebellum_rt.rtcore.errors import ConfigError

CBL = str(Path(sys.executable).parent / "cbl")
# percentage points between the measured and the predicted overshoot: the rigid inertia + delay
# model leaves out the Coulomb residual (~0.1 N*m), the reducer compliance (K <= K_r / 5) and
# the output encoder's quantisation (~1 % of the perturbation's deflection); measured on the
# presets: |difference| <= 5 pp at damping ratios 0.5-1
OVERSHOOT_TOLERANCE_PP = 6.0
STIFFNESS_TOLERANCE = 0.03  # relative: torque / steady-state deflection against the K applied


def _impedance(emu) -> tuple[float, float]:
    return board_value(emu.board, 0x2011, 1), board_value(emu.board, 0x2011, 2)


@pytest.mark.parametrize("target", ["zeta 0.5", ""], ids=["zeta-0.5", "default-critically-damped"])
def test_autotuned_impedance_gives_its_predicted_stiffness_and_overshoot(tune, target, tmp_path):
    console, s, emu = tune
    before = _impedance(emu)
    r, text = console.execute(f"autotune impedance {target}")
    pred = r["predicted"]
    assert not r["applied"] and _impedance(emu) == before, text  # proposed, not applied
    assert "natural frequency" in text and "phase margin" in text and "overshoot" in text
    assert pred["damping_ratio"] == pytest.approx(0.5 if target else 1.0, rel=1e-6)
    assert pred["phase_margin_deg"] >= 30.0 and pred["gain_margin_db"] >= 6.0
    k_max = s.objs.resolve("impedance_stiffness").si_limits()[1]
    assert 0.0 < r["gains"]["impedance_stiffness"] <= k_max
    console.execute("apply")
    k, d = _impedance(emu)
    assert (k, d) == pytest.approx((r["gains"]["impedance_stiffness"], r["gains"]["impedance_damping"]), rel=1e-6)
    meas = console.execute(f"step impedance {pred['perturbation_torque_nm']} N*m")[0]
    m = meas["metrics"]
    assert meas["stopped"] == "" and meas["final"].startswith("switch_on_disabled")
    assert m["stiffness_nm_per_rad"] == pytest.approx(k, rel=STIFFNESS_TOLERANCE), (m, pred)
    assert abs(m["overshoot_pct"] - pred["overshoot_pct"]) <= OVERSHOOT_TOLERANCE_PP, (m, pred)
    print(f"\nimpedance {target or 'default'}: K {k:.5g} N*m/rad, D {d:.4g} N*m*s/rad; perturbation "
          f"{pred['perturbation_torque_nm']:.4g} N*m: stiffness {m['stiffness_nm_per_rad']:.5g} measured; overshoot "
          f"{pred['overshoot_pct']:.2f} % predicted, {m['overshoot_pct']:.2f} % measured")
    if target:
        console.execute(f"plot {tmp_path / 'perturbation.png'}")  # deflection against torque / K
        assert (tmp_path / "perturbation.png").stat().st_size > 10_000
        # negative control: half the damping predicts an overshoot the joint does not show
        half = impedance.ImpedanceGains(k, d / 2.0)
        wrong = impedance.predict(console.model, half, pred["perturbation_torque_nm"])
        assert abs(m["overshoot_pct"] - wrong["overshoot_pct"]) > OVERSHOOT_TOLERANCE_PP
    console.execute("revert board")
    assert _impedance(emu) == before


def test_damping_beyond_the_boards_limit_is_refused_with_the_limit_named(tune):
    console, s, emu = tune
    before = _impedance(emu)
    k_max = s.objs.resolve("impedance_stiffness").si_limits()[1]
    with pytest.raises(ConfigError, match=r"impedance_damping \(0x2011:2\) = .* out of the board's limits \[0, "):
        console.execute(f"autotune impedance {k_max} N*m/rad zeta 2")  # D = 2 D_max
    assert _impedance(emu) == before and console.proposal is None
    with pytest.raises(ConfigError, match="no auto-tune proposal"):
        console.execute("apply")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.one_of(st.floats(max_value=0.0, allow_nan=False), st.floats(min_value=1.0001, max_value=1e9),
                   st.just(float("nan")), st.just(float("inf"))),
       unit=st.sampled_from(["", " N*m/rad", " N*m/deg"]), zeta=st.one_of(st.none(), st.floats(0.05, 5.0)))
def test_out_of_range_stiffness_is_refused_and_never_applied(tune, k, unit, zeta):
    console, s, emu = tune
    k_max = s.objs.resolve("impedance_stiffness").si_limits()[1]
    value = k * k_max if 0.0 < k < float("inf") else k  # > the limit, <= 0, nan, inf
    if unit == " N*m/deg":
        value = value * 3.141592653589793 / 180.0  # the same stiffness typed per degree
    before, ticks, last = _impedance(emu), emu.clock.now_ns(), console.last
    line = f"autotune impedance {value!r}{unit}" + (f" zeta {zeta!r}" if zeta is not None else "")
    with pytest.raises(ConfigError, match=r"impedance_stiffness \(0x2011:1\) = .* out of the board's limits|"
                                          r"is not a number"):
        console.execute(line)
    assert _impedance(emu) == before and emu.clock.now_ns() == ticks and console.last is last  # nothing ran


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(zeta=st.one_of(st.floats(max_value=0.0499), st.floats(min_value=5.0001), st.just(float("nan"))))
def test_out_of_range_damping_ratio_is_refused(tune, zeta):
    console, _s, emu = tune
    before, ticks = _impedance(emu), emu.clock.now_ns()
    with pytest.raises(ConfigError, match=r"damping ratio .* out of range \[0.05, 5.0\]"):
        console.execute(f"autotune impedance zeta {zeta!r}")
    assert _impedance(emu) == before and emu.clock.now_ns() == ticks


def test_exec_autotune_impedance_yes_json(tmp_path):
    r = subprocess.run([CBL, "tune", "--emulate", "--flash", str(tmp_path / "f.json"), "--yes", "--exec",
                        "autotune impedance zeta 0.7", "--exec", "get impedance_stiffness impedance_damping",
                        "--json"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["results"]
    tuned, read = res[0], res[1]["values"]
    assert tuned["applied"] and tuned["loop"] == "impedance"
    assert [v["value"] for v in read] == pytest.approx([tuned["gains"]["impedance_stiffness"],
                                                        tuned["gains"]["impedance_damping"]], rel=1e-6)
