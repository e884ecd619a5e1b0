"""Joint presets: every shipped file loads, its derived figures match the datasheet figures it
cites (DATASHEETS.md, S-mjlab: G1 reflected inertias and torque limits), and bad files are
refused with the file, key, value and limit in the message."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cerebellum_rt.actuators.joint import load_preset, preset_names
from cerebellum_rt.actuators.joint.preset import PRESET_DIR
from cerebellum_rt.rtcore.errors import ConfigError

# S-mjlab (DATASHEETS.md section 1a): reflected inertia [kg m^2], peak torque [N m], velocity [rad/s]
G1 = {
    "hip": (0.010177520, 88.0, 32.0),
    "knee": (0.025101925, 139.0, 20.0),
    "arm": (0.003609725, 25.0, 37.0),
    "wrist": (0.00425, 5.0, 22.0),
    "ankle": (2 * 0.003609725, 50.0, 37.0),
}


def test_every_shipped_preset_loads_and_is_consistent():
    names = preset_names()
    assert {"knee", "hip", "ankle", "arm", "wrist", "arm_hd"} <= set(names)
    for name in names:
        p = load_preset(name)
        assert p.peak_current_a >= p.rated_current_a > 0
        assert 0 < p.rated_torque_nm <= p.peak_torque_nm
        # the back-EMF at the velocity limit fits in the SVPWM voltage V_bus / sqrt(3)
        bemf = p.motor.flux_linkage_wb * p.motor.pole_pairs * p.max_velocity_rad_s * p.gear_ratio
        assert bemf < p.supply.bus_voltage_v / math.sqrt(3)
        # the figures cite their sources (DATASHEETS.md keys) or say they are assumed
        text = (PRESET_DIR / f"{name}.toml").read_text()
        assert "S-mjlab" in text and "assumed" in text


@pytest.mark.parametrize("name", sorted(G1))
def test_g1_class_presets_match_their_datasheet_figures(name: str):
    j_refl, peak, vmax = G1[name]
    p = load_preset(name)
    assert p.reflected_inertia_kg_m2 == pytest.approx(j_refl, rel=0.01)
    assert p.peak_torque_nm == peak
    assert p.max_velocity_rad_s == vmax
    # the peak current through Kt, less the motor's Coulomb friction, through the ratio and the
    # efficiency gives the peak torque back
    fc = p.motor.coulomb_friction_nm
    assert (p.kt_nm_per_a * p.peak_current_a - fc) * p.gear_ratio * p.reducer.efficiency_forward == pytest.approx(
        peak
    )


def test_knee_figures():
    p = load_preset("knee")
    assert p.gear_ratio == 22.5
    assert p.kt_nm_per_a == pytest.approx(1.5 * 21 * 0.00264)
    assert p.position_limits_rad == (0.0, pytest.approx(math.radians(165), abs=1e-4))


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            ("bus_voltage_v = 48.0", "bus_voltage_v = 480.0"),
            r"supply.bus_voltage_v = 480.0 V is out of range \[5.0, 200.0\]",
        ),
        (("pole_pairs = 21", "pole_pairs = 21.5"), r"motor.pole_pairs = 21.5 must be an integer"),
        (("ratio = 22.5", 'ratio = "x"'), r"reducer.ratio = 'x' must be a number"),
        (("ratio = 22.5", "ratio = 22.5\nratio_typo = 1.0"), r"unknown key\(s\) \['ratio_typo'\]"),
        (("ratio = 22.5", ""), r"missing key\(s\) \['ratio'\]"),
        (("position_min_rad = 0.0", "position_min_rad = 3.0"), r"position_min_rad = 3.0 must be below"),
        (("[load]", "[loads]"), r"unknown table\(s\) \['loads'\]"),
    ],
)
def test_bad_preset_files_are_refused(tmp_path: Path, edit: tuple[str, str], match: str):
    text = (PRESET_DIR / "knee.toml").read_text()
    old, new = edit
    assert old in text
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError, match=match) as exc:
        load_preset(path)
    assert "bad.toml" in str(exc.value)


def test_unknown_or_malformed_names(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"joint preset 'elbow' not found.*knee"):
        load_preset("elbow")
    with pytest.raises(ConfigError, match="not a plain name"):
        load_preset("../knee")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_preset(_write(tmp_path, "[supply\nbus_voltage_v = 1"))


def test_with_load_is_validated():
    p = load_preset("knee").with_load(inertia_kg_m2=0.1, gravity_torque_nm=20.0)
    assert p.load.inertia_kg_m2 == 0.1 and p.load.gravity_torque_nm == 20.0
    with pytest.raises(ConfigError, match=r"load.inertia_kg_m2 = -1.0"):
        load_preset("knee").with_load(inertia_kg_m2=-1.0)
