"""Tendon-hand presets: TOML files ``actuators/presets/hand*.toml`` -> :class:`HandPreset`.

Every figure carries its unit in its key (``_m``, ``_kg``, ``_kg_m2``, ``_nm``, ``_n``, ``_pa``,
``_ohm``, ``_h``, ``_a``, ``_hz``, ``_rad``...) and a source comment in the file. The loader
checks each value against a physical range and rejects unknown or missing keys, naming the
file, the key, the value and the limit.

Derived figures (all SI)::

    K_F   = k_t * N * 2 pi / lead                  [N/A]  ideal axial force per motor amp
    m_eq  = J_rotor * (2 pi N / lead)^2 + m_nut    [kg]   rotor inertia reflected to the nut
    tan(lambda) = lead / (pi d)                    lead angle of the screw
    eta_s,f = tan(lambda) / tan(lambda + phi)  ->  friction angle phi
    eta_s,b = tan(lambda - phi) / tan(lambda)      back-drive efficiency (<= 0: self-locking)
    eta_f = eta_g,f * eta_s,f ; eta_b = eta_g,b * eta_s,b          whole drive train
    F_c0  = max(eta_b * T_bd, tau_fric * N * 2 pi / lead)          [N]  constant nut drag
    k_t   = E * pi d_t^2 / 4 / L_t                 [N/m]  tendon axial stiffness

Back-driving the unpowered screw needs eta_b * T > F_c0 (see :mod:`cerebellum_rt.actuators.hand.plant`), so
it happens exactly above T_bd whenever T_bd dominates the motor's own friction.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
MAX_FLEX = 3  # flexion joints per finger chain (plus one optional rotation joint)
OBJECT_KINDS = {"cylinder": 1, "sphere": 2, "box": 3}

# section -> key -> (lo, hi) ranges; every key is required.
_SCALARS: dict[str, dict[str, tuple[float, float]]] = {
    "supply": {"bus_voltage_v": (1.0, 100.0)},
    "motor": {
        "phase_resistance_ohm": (1e-3, 1e3), "inductance_h": (1e-7, 1e-1),
        "torque_constant_nm_per_a": (1e-4, 1.0), "rotor_inertia_kg_m2": (1e-10, 1e-3),
        "friction_nm": (0.0, 0.1), "current_max_a": (1e-3, 100.0), "current_bandwidth_hz": (10.0, 2e4),
        "resistance_tempco_per_k": (0.0, 0.01), "r_th_winding_k_per_w": (0.01, 1e3),
        "r_th_housing_k_per_w": (0.01, 1e3), "tau_winding_s": (0.01, 1e4), "tau_housing_s": (0.1, 1e5),
        "derate_start_c": (20.0, 250.0), "temperature_max_c": (20.0, 250.0), "ambient_c": (-40.0, 80.0),
    },
    "gearhead": {"ratio": (1.0, 1000.0), "efficiency_forward": (0.1, 1.0), "efficiency_backward": (0.05, 1.0)},
    "screw": {
        "lead_m": (1e-4, 0.02), "pitch_diameter_m": (1e-3, 0.1), "efficiency_forward": (0.1, 0.99),
        "backdrive_threshold_n": (0.0, 1e4), "nut_mass_kg": (1e-4, 1.0),
        "stroke_min_m": (-0.1, 0.0), "stroke_max_m": (1e-3, 0.5),
    },
    "tendon": {
        "modulus_pa": (1e8, 1e12), "diameter_m": (1e-4, 5e-3), "length_m": (0.01, 2.0),
        "damping_n_s_per_m": (0.0, 1e4), "capstan_mu": (0.0, 1.0), "slide_velocity_eps_m_s": (1e-5, 1.0),
        "slack_m": (0.0, 0.01), "strength_n": (1.0, 1e5), "creep_limit_n": (0.1, 1e5), "creep_time_s": (0.01, 1e5),
    },
    "contact": {
        "pad_radius_m": (1e-4, 0.05), "stiffness_n_per_m": (10.0, 1e6), "damping_n_s_per_m": (0.0, 1e3),
        "friction_mu": (0.0, 3.0), "tangential_stiffness_n_per_m": (10.0, 1e6),
        "tangential_damping_n_s_per_m": (0.0, 1e3),
    },
    "grasp": {
        "thumb_rot_target_rad": (-3.2, 3.2), "touch_force_n": (0.01, 100.0),
        "approach_speed_m_s": (1e-4, 1.0), "tension_per_force": (0.01, 100.0),
        "block_tension_n": (0.1, 1e3), "rotate_first_s": (0.0, 5.0),
    },
    "firmware": {
        "loop_hz": (50.0, 2e4), "plant_hz": (500.0, 1e5), "position_bandwidth_hz": (0.1, 500.0),
        "position_damping": (0.1, 3.0), "tension_bandwidth_hz": (0.1, 500.0), "tension_damping": (0.1, 3.0),
        "tension_integral_hz": (0.0, 100.0), "force_integral_hz": (0.0, 100.0),
        "slack_tension_n": (0.0, 100.0), "slack_margin_m": (0.0, 0.01), "slack_debounce_ticks": (1, 1000),
    },
}
# per-tendon arrays (one value per [coupling] tendon): section -> key -> (lo, hi)
_TENDON_ARRAYS: dict[str, dict[str, tuple[float, float]]] = {
    "firmware": {"tension_design_stiffness_n_per_m": (10.0, 1e7)},
}
_JOINT_ARRAYS: dict[str, tuple[float, float]] = {
    "inertia_kg_m2": (1e-9, 1e-2), "damping_nm_s_per_rad": (0.0, 1.0), "spring_nm_per_rad": (0.0, 10.0),
    "spring_preload_nm": (0.0, 10.0), "min_rad": (-3.2, 3.2), "max_rad": (-3.2, 3.2),
}


@dataclass(frozen=True)
class HandPreset:
    """A validated hand: raw sections plus packed numpy arrays for the compiled plant.

    ``act`` (n_act, 16) columns: see ``A_*`` in :mod:`cerebellum_rt.actuators.hand.plant`; ``jnt`` (n_joints, 9):
    ``J_*``; ``coupling`` (n_act, n_joints) moment arms [m]; finger chains in ``fing_i``/``fing_f``;
    contact points in ``cpt_i``/``cpt_f``; ``contact`` (6,) pad parameters
    (radius, normal stiffness, normal damping, mu, tangential stiffness, tangential damping).
    """

    name: str
    path: Path
    raw: dict[str, Any]
    tendons: tuple[str, ...]
    joints: tuple[str, ...]
    fingers: tuple[str, ...]
    coupling: np.ndarray
    act: np.ndarray
    jnt: np.ndarray
    fing_i: np.ndarray
    fing_f: np.ndarray
    cpt_i: np.ndarray
    cpt_f: np.ndarray
    contact: np.ndarray
    finger_of_tendon: np.ndarray
    objects: dict[str, np.ndarray]

    @property
    def datasheet(self) -> tuple[tuple[str, float, str], ...]:
        """``[datasheet]`` figures the hand must reproduce: (figure, value, source)."""
        return tuple((k, float(v["value"]), str(v["source"])) for k, v in self.raw.get("datasheet", {}).items())

    @property
    def n_act(self) -> int:
        return len(self.tendons)

    @property
    def n_joints(self) -> int:
        return len(self.joints)

    def get(self, section: str, key: str) -> Any:
        return self.raw[section][key]


def _num(where: str, v: Any, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not (lo <= v <= hi):
        raise ConfigError(f"{where} = {v!r} is out of range [{lo}, {hi}]")
    return float(v)


def _vec(where: str, v: Any, n: int, lo: float = -10.0, hi: float = 10.0) -> np.ndarray:
    if not isinstance(v, list) or len(v) != n:
        raise ConfigError(f"{where} = {v!r} must be a list of {n} numbers")
    return np.array([_num(f"{where}[{i}]", x, lo, hi) for i, x in enumerate(v)])


def _unit(where: str, v: Any) -> np.ndarray:
    a = _vec(where, v, 3)
    n = float(np.linalg.norm(a))
    if n < 1e-9:
        raise ConfigError(f"{where} = {v!r} has zero length (limit: a unit direction)")
    return a / n


def drive_figures(raw: dict[str, Any]) -> dict[str, float]:
    """The derived drive-train figures of the module docstring, from the raw sections."""
    m, g, s, t = raw["motor"], raw["gearhead"], raw["screw"], raw["tendon"]
    n, lead = g["ratio"], s["lead_m"]
    k_rot = 2.0 * math.pi * n / lead  # motor rad per nut metre
    lam = math.atan(lead / (math.pi * s["pitch_diameter_m"]))
    phi = math.atan(math.tan(lam) / s["efficiency_forward"]) - lam
    eta_sb = math.tan(lam - phi) / math.tan(lam)
    eta_f = g["efficiency_forward"] * s["efficiency_forward"]
    eta_b = g["efficiency_backward"] * eta_sb
    fc0 = max(max(eta_b, 0.0) * s["backdrive_threshold_n"], m["friction_nm"] * k_rot)
    return {
        "k_rot": k_rot, "k_force": m["torque_constant_nm_per_a"] * k_rot, "eta_f": eta_f,
        "eta_b": eta_b, "eta_screw_b": eta_sb, "lead_angle_rad": lam, "friction_angle_rad": phi,
        "f_c0": fc0, "m_eq": m["rotor_inertia_kg_m2"] * k_rot**2 + s["nut_mass_kg"],
        "k_tendon": t["modulus_pa"] * math.pi * t["diameter_m"] ** 2 / 4.0 / t["length_m"],
    }


def load_preset(name_or_path: str | Path = "hand_prs6") -> HandPreset:
    """Load and validate a hand preset (a name in actuators/presets/ or a path)."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = PRESET_DIR / f"{name_or_path}.toml"
    if not p.is_file():
        known = sorted(q.stem for q in PRESET_DIR.glob("hand*.toml"))
        raise ConfigError(f"hand preset '{name_or_path}' not found (known: {known})")
    try:
        raw = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"hand preset {p}: {exc}") from exc
    return _build(p, raw)


DATASHEET_FIGURES = ("motor_stall_torque_nm", "index_tip_force_n", "middle_tip_force_n", "thumb_tip_force_n")


def _check_datasheet(f: str, table: Any) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{f}: [datasheet] must be a table")
    for fig, e in table.items():
        if fig not in DATASHEET_FIGURES:
            raise ConfigError(f"{f}: datasheet.{fig} is not a known figure; figures are {list(DATASHEET_FIGURES)}")
        ok = isinstance(e, dict) and set(e) == {"value", "source"} and isinstance(e["source"], str) and e["source"]
        if not ok or isinstance(e["value"], bool) or not isinstance(e["value"], int | float):
            raise ConfigError(f"{f}: datasheet.{fig} = {e!r} must be {{ value = <number>, source = \"...\" }}")


def preset_names() -> list[str]:
    """Names of the hand presets shipped in actuators/presets (hand*.toml)."""
    return sorted(q.stem for q in PRESET_DIR.glob("hand*.toml"))


def _build(p: Path, raw: dict[str, Any]) -> HandPreset:
    f = p.name
    _check_datasheet(f, raw.get("datasheet", {}))
    for sec, keys in _SCALARS.items():
        d = raw.get(sec)
        if not isinstance(d, dict):
            raise ConfigError(f"{f}: missing section [{sec}]")
        extra = set(d) - set(keys) - set(_TENDON_ARRAYS.get(sec, {})) - {"force_target_n", "tension_sensor", "max_force_n"}
        if extra:
            raise ConfigError(f"{f}: [{sec}] unknown key(s) {sorted(extra)}; known: {sorted(keys)}")
        for k, (lo, hi) in keys.items():
            if k not in d:
                raise ConfigError(f"{f}: [{sec}] missing key '{k}'")
            _num(f"{f} [{sec}] {k}", d[k], lo, hi)
    jd = raw.get("joints", {})
    names = tuple(jd.get("names", ()))
    nj = len(names)
    if not 1 <= nj <= 64 or len(set(names)) != nj:
        raise ConfigError(f"{f}: [joints] names must be 1..64 unique names, got {nj}")
    jcols = [_vec(f"{f} [joints] {k}", jd.get(k), nj, lo, hi) for k, (lo, hi) in _JOINT_ARRAYS.items()]
    jnt = np.zeros((nj, 9))
    for c, col in enumerate(jcols):
        jnt[:, c] = col
    jnt[:, 6] = _num(f"{f} [joints] limit_stiffness_nm_per_rad", jd.get("limit_stiffness_nm_per_rad"), 0.0, 1e4)
    jnt[:, 7] = _num(f"{f} [joints] limit_damping_nm_s_per_rad", jd.get("limit_damping_nm_s_per_rad"), 0.0, 10.0)
    bad = np.nonzero(jnt[:, 4] >= jnt[:, 5])[0]
    if len(bad):
        raise ConfigError(f"{f}: joint '{names[bad[0]]}' min_rad {jnt[bad[0], 4]} >= max_rad {jnt[bad[0], 5]}")

    cd = raw.get("coupling", {})
    tendons = tuple(cd.get("tendons", ()))
    na = len(tendons)
    if not 1 <= na <= 16:
        raise ConfigError(f"{f}: [coupling] tendons must list 1..16 tendons, got {na}")
    rows = cd.get("moment_arms_m")
    if not isinstance(rows, list) or len(rows) != na:
        raise ConfigError(f"{f}: [coupling] moment_arms_m must have {na} rows (one per tendon)")
    coupling = np.array([_vec(f"{f} [coupling] moment_arms_m[{k}]", r, nj, -0.05, 0.05) for k, r in enumerate(rows)])
    wrap = _vec(f"{f} [coupling] wrap_rad", cd.get("wrap_rad"), na, 0.0, 50.0)
    for sec, keys in _TENDON_ARRAYS.items():
        for k, (lo, hi) in keys.items():
            _vec(f"{f} [{sec}] {k}", raw[sec].get(k), na, lo, hi)

    fings = raw.get("finger", [])
    nf = len(fings)
    if not 1 <= nf <= 8:
        raise ConfigError(f"{f}: needs 1..8 [[finger]] tables, got {nf}")
    # fing_i: [rot_joint or -1, n_flex, flex joints x3, first contact, n contacts]
    fing_i = np.full((nf, 7), -1, np.int64)
    fing_f = np.zeros((nf, 15 + MAX_FLEX))  # base 3, dir 3, flex 3, rot axis 3, pad 3 spare, lengths
    cpts_i: list[list[int]] = []
    cpts_f: list[float] = []
    owner = np.full(nj, -1)
    fnames = []
    for fi, fg in enumerate(fings):
        w = f"{f} [[finger]] {fg.get('name', fi)}"
        fnames.append(str(fg.get("name", fi)))
        a, b = _unit(f"{w} dir", fg.get("dir")), _unit(f"{w} flex", fg.get("flex"))
        if abs(float(a @ b)) > 1e-6:
            raise ConfigError(f"{w}: dir . flex = {a @ b:.3g}, limit 0 (must be orthogonal)")
        fj = fg.get("joints", [])
        if not 1 <= len(fj) <= MAX_FLEX:
            raise ConfigError(f"{w}: {len(fj)} flexion joints, limit 1..{MAX_FLEX}")
        chain = []
        if "rot_joint" in fg:
            chain.append(fg["rot_joint"])
            fing_f[fi, 9:12] = _unit(f"{w} rot_axis", fg.get("rot_axis"))
        chain += list(fj)
        idx = []
        for jn in chain:
            if jn not in names:
                raise ConfigError(f"{w}: joint '{jn}' is not in [joints] names")
            j = names.index(jn)
            if owner[j] >= 0:
                raise ConfigError(f"{w}: joint '{jn}' already belongs to another finger")
            owner[j] = fi
            idx.append(j)
        if "rot_joint" in fg:
            fing_i[fi, 0] = idx.pop(0)
        fing_i[fi, 1] = len(idx)
        fing_i[fi, 2 : 2 + len(idx)] = idx
        fing_f[fi, 0:3] = _vec(f"{w} base_m", fg.get("base_m"), 3, -1.0, 1.0)
        fing_f[fi, 3:6], fing_f[fi, 6:9] = a, b
        fing_f[fi, 15 : 15 + len(idx)] = _vec(f"{w} link_lengths_m", fg.get("link_lengths_m"), len(idx), 1e-3, 0.3)
        cl = fg.get("contacts", [])
        fing_i[fi, 5], fing_i[fi, 6] = len(cpts_i), len(cl)
        for ci, c in enumerate(cl):
            if not (isinstance(c, list) and len(c) == 2 and isinstance(c[0], int) and 0 <= c[0] < len(idx)):
                raise ConfigError(f"{w} contacts[{ci}] = {c!r}: need [link 0..{len(idx) - 1}, fraction]")
            cpts_i.append([fi, c[0]])
            cpts_f.append(_num(f"{w} contacts[{ci}] fraction", c[1], 0.0, 1.0))
    mf = raw["grasp"].get("max_force_n")
    if mf is not None:
        _vec(f"{f} [grasp] max_force_n", mf, nf, 0.01, 1000.0)
    if (owner < 0).any():
        raise ConfigError(f"{f}: joint '{names[int(np.argmin(owner))]}' belongs to no [[finger]]")
    fot = np.full(na, -1, np.int64)
    for k in range(na):
        nz = np.nonzero(coupling[k])[0]
        fs = set(owner[nz].tolist())
        if len(fs) != 1:
            raise ConfigError(f"{f}: tendon '{tendons[k]}' spans fingers {sorted(fs)}; limit: exactly one finger")
        fot[k] = fs.pop()
    return HandPreset(
        name=p.stem, path=p, raw=raw, tendons=tendons, joints=names, fingers=tuple(fnames),
        coupling=coupling, act=_pack_act(raw, wrap), jnt=jnt, fing_i=fing_i, fing_f=fing_f,
        cpt_i=np.array(cpts_i, np.int64).reshape(-1, 2), cpt_f=np.array(cpts_f),
        contact=np.array([raw["contact"][k] for k in _SCALARS["contact"]]),
        finger_of_tendon=fot, objects=_objects(f, raw),
    )


def _pack_act(raw: dict[str, Any], wrap: np.ndarray) -> np.ndarray:
    d = drive_figures(raw)
    m, t = raw["motor"], raw["tendon"]
    row = [
        m["phase_resistance_ohm"], m["inductance_h"], m["torque_constant_nm_per_a"], d["k_rot"],
        d["eta_f"], d["eta_b"], d["f_c0"], d["m_eq"], 1.0 / (2.0 * math.pi * m["current_bandwidth_hz"]),
        raw["supply"]["bus_voltage_v"], d["k_tendon"], t["damping_n_s_per_m"], 0.0,
        t["slack_m"], t["slide_velocity_eps_m_s"], m["current_max_a"],
    ]
    act = np.tile(np.array(row), (len(wrap), 1))
    act[:, 12] = t["capstan_mu"] * wrap
    return act


def _objects(f: str, raw: dict[str, Any]) -> dict[str, np.ndarray]:
    """Object parameters: [kind, center xyz, axis xyz, radius, half extents xyz] (11 floats)."""
    out: dict[str, np.ndarray] = {}
    for name, d in raw.get("objects", {}).items():
        w = f"{f} [objects.{name}]"
        kind = OBJECT_KINDS.get(name)
        if kind is None:
            raise ConfigError(f"{w}: unknown object kind; known: {sorted(OBJECT_KINDS)}")
        o = np.zeros(11)
        o[0] = kind
        o[1:4] = _vec(f"{w} center_m", d.get("center_m"), 3, -1.0, 1.0)
        if kind == 1:
            o[4:7] = _unit(f"{w} axis", d.get("axis"))
        if kind in (1, 2):
            o[7] = _num(f"{w} radius_m", d.get("radius_m"), 1e-3, 0.5)
        else:
            o[8:11] = _vec(f"{w} half_extents_m", d.get("half_extents_m"), 3, 1e-3, 0.5)
        out[name] = o
    return out


def coupling_matrix(preset: HandPreset | str | Path = "hand_prs6") -> np.ndarray:
    """The hand's physical coupling matrix R, shape (n_tendons, n_joints), moment arms in m.

    Tendon excursion toward the actuator is ``dl = R @ dq`` [m] and the joint torques from
    tendon tensions are ``tau = R.T @ T`` [N m]; both use the same R (virtual work).
    """
    p = preset if isinstance(preset, HandPreset) else load_preset(preset)
    return p.coupling.copy()
