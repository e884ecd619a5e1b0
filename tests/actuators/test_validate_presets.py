"""`cbl validate presets`: every sourced datasheet figure of every preset is reproduced by its
bench experiment on the emulated module within 2 %, and the experiments can fail."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from cerebellum_rt.actuators.hand.experiments import index_tip_force, motor_stall_torque
from cerebellum_rt.actuators.hand.plant import A_IMAX
from cerebellum_rt.actuators.hand.preset import load_preset as load_hand
from cerebellum_rt.actuators.hand.preset import preset_names as hand_preset_names
from cerebellum_rt.actuators.joint import experiments as E
from cerebellum_rt.actuators.joint import load_preset, preset_names
from cerebellum_rt.actuators.validate import validate
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.tools.cli import main


@pytest.fixture(scope="module")
def result():
    return validate()


def test_every_sourced_figure_within_two_percent(result):
    assert set(result["presets"]) == set(preset_names()) | set(hand_preset_names())
    for name, figs in result["presets"].items():
        assert figs, f"preset {name} names no datasheet figure"
        for fig, r in figs.items():
            assert set(r) >= {"source", "model", "error_pct"}
            assert abs(r["error_pct"]) <= 2.0, (name, fig, r)
    assert result["max_error_pct"] <= 2.0


def test_mini_cheetah_reference_checks_the_whole_motor_model(result):
    figs = result["presets"]["mini_cheetah"]
    assert {"torque_constant_nm_per_a", "phase_resistance_ohm", "thermal_resistance_k_per_w",
            "thermal_time_constant_s", "peak_torque_nm"} <= set(figs)


def test_experiments_fail_on_a_wrong_plant():
    """Negative controls: the calibration error used as noise, a sensor flexure added in series
    to the actuator-level stiffness and a lossless gear are each caught (> 2 % off)."""
    knee = load_preset("knee")
    bad = replace(knee, torque_sensor=replace(knee.torque_sensor, noise_nm_rms=0.0266))
    assert abs(E.torque_sensor_noise(bad) / 0.00747 - 1.0) > 0.02
    hd = load_preset("arm_hd")
    flex = replace(hd, torque_sensor=replace(hd.torque_sensor, stiffness_nm_per_rad=6.8e4))
    assert abs(E.deflection_t1(flex) / 5.8e-4 - 1.0) > 0.02
    ideal = replace(knee, reducer=replace(knee.reducer, efficiency_forward=1.0, efficiency_backward=1.0))
    assert abs(E.efficiency_forward(ideal) / 0.85 - 1.0) > 0.02
    # the hand's old 0.5 A current limit gives 17 % less than the datasheet stall torque
    hand = load_hand("hand_prs6")
    raw = copy.deepcopy(hand.raw)
    raw["motor"]["current_max_a"] = 0.5
    low = replace(hand, act=hand.act.copy(), raw=raw)
    low.act[:, A_IMAX] = 0.5
    assert motor_stall_torque(low) / 6.92e-3 - 1.0 < -0.1
    # the fingertip experiment measures the hand, not the figure: a 9 N force limit gives ~9 N
    raw = copy.deepcopy(hand.raw)
    raw["grasp"]["max_force_n"][0] = 9.0
    assert index_tip_force(replace(hand, raw=raw)) / 7.06 - 1.0 > 0.1


def test_cli_json(capsys):
    assert main(["validate", "presets", "knee", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["presets"]) == {"knee"} and out["max_error_pct"] <= 2.0
    assert out["presets"]["knee"]["peak_torque_nm"]["source"] == 139.0


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="nope"):
        validate(["nope"])
