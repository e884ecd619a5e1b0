"""Joint-module parameter presets: TOML data files in ``actuators/presets/<name>.toml``.

Every figure carries its unit in its name (``_v``, ``_ohm``, ``_h``, ``_wb``, ``_kg_m2``,
``_nm``, ``_rad``, ``_rad_s``, ``_c``, ``_k_per_w``, ``_j_per_k``, ``_s``, ``_hz``) and, in the
file, a comment naming its source in /work/shared/DATASHEETS.md (key ``S-...``) or saying that it
is an assumption / an inference. The loader checks every value against a physical range and
rejects unknown or missing keys, naming the file, the key, the value and the limit.

Derived figures (properties of :class:`JointPreset`)::

    Kt   = 3/2 * p * lambda                     [N m/A]  motor torque constant (amplitude-invariant dq)
    I_pk = (T_pk / (N eta_f) + F_c) / Kt      [A]      peak phase current that gives the peak output torque
    I_r  = min(sqrt((T_derate - T_amb) / (R_th * 3/2 * R(T_derate))), I_pk)   [A]  continuous current,
           with the resistance at the derating start R(T) = R_0 (1 + alpha (T - 25 degC))
    T_r  = (Kt * I_r - F_c) * N * eta_f         [N m]    rated (continuous) output torque
    J_refl = J_rotor * N^2 + J_out              [kg m^2] inertia seen at the output
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from cerebellum_rt.rtcore.errors import ConfigError, check_range

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"


def _r(lo: float, hi: float, unit: str = "") -> Any:
    return field(metadata={"range": (lo, hi), "unit": unit})


@dataclass(frozen=True)
class Supply:
    bus_voltage_v: float = _r(5.0, 200.0, "V")


@dataclass(frozen=True)
class Motor:
    """PMSM in the dq frame (motor side)."""

    pole_pairs: int = _r(1, 64)
    phase_resistance_ohm: float = _r(1e-4, 100.0, "ohm")
    ld_h: float = _r(1e-7, 1e-1, "H")
    lq_h: float = _r(1e-7, 1e-1, "H")
    flux_linkage_wb: float = _r(1e-5, 1.0, "Wb")
    rotor_inertia_kg_m2: float = _r(1e-9, 1.0, "kg m^2")
    coulomb_friction_nm: float = _r(0.0, 10.0, "N m")
    viscous_friction_nm_s_per_rad: float = _r(0.0, 1.0, "N m s/rad")
    cogging_torque_nm: float = _r(0.0, 10.0, "N m")
    cogging_periods_per_rev: int = _r(1, 1000)
    resistance_tempco_per_k: float = _r(0.0, 0.01, "1/K")


@dataclass(frozen=True)
class Reducer:
    """Gear: ratio, direction-dependent efficiency, backlash, piecewise torsional stiffness."""

    ratio: float = _r(1.0, 1000.0)
    efficiency_forward: float = _r(0.3, 1.0)
    efficiency_backward: float = _r(0.1, 1.0)
    backlash_rad: float = _r(0.0, 0.05, "rad")
    stiffness_t1_nm: float = _r(0.0, 1e5, "N m")
    stiffness_t2_nm: float = _r(0.0, 1e5, "N m")
    stiffness_k1_nm_per_rad: float = _r(10.0, 1e8, "N m/rad")
    stiffness_k2_nm_per_rad: float = _r(10.0, 1e8, "N m/rad")
    stiffness_k3_nm_per_rad: float = _r(10.0, 1e8, "N m/rad")
    damping_nm_s_per_rad: float = _r(0.0, 1e4, "N m s/rad")
    output_friction_nm: float = _r(0.0, 100.0, "N m")
    output_inertia_kg_m2: float = _r(1e-8, 10.0, "kg m^2")


@dataclass(frozen=True)
class Limits:
    peak_torque_nm: float = _r(0.01, 5000.0, "N m")
    max_velocity_rad_s: float = _r(0.01, 500.0, "rad/s")
    position_min_rad: float = _r(-1000.0, 1000.0, "rad")
    position_max_rad: float = _r(-1000.0, 1000.0, "rad")
    derate_start_c: float = _r(20.0, 250.0, "degC")
    temperature_max_c: float = _r(20.0, 250.0, "degC")


@dataclass(frozen=True)
class Thermal:
    """First-order winding-to-ambient model."""

    r_th_k_per_w: float = _r(1e-3, 1000.0, "K/W")
    c_th_j_per_k: float = _r(1e-3, 1e5, "J/K")
    ambient_c: float = _r(-40.0, 80.0, "degC")


@dataclass(frozen=True)
class MotorEncoder:
    bits: int = _r(8, 24)
    incremental: int = _r(0, 1)  # 0: absolute single-turn; 1: incremental (aligned at first enable)
    noise_counts_rms: float = _r(0.0, 100.0, "counts")
    latency_s: float = _r(0.0, 0.01, "s")


@dataclass(frozen=True)
class OutputEncoder:
    bits: int = _r(8, 24)
    turn_bits: int = _r(0, 24)
    noise_counts_rms: float = _r(0.0, 100.0, "counts")
    latency_s: float = _r(0.0, 0.01, "s")


@dataclass(frozen=True)
class TorqueSensor:
    # 0: the flexure is already inside the reducer's (actuator-level) stiffness figures
    stiffness_nm_per_rad: float = _r(0.0, 1e8, "N m/rad")
    range_nm: float = _r(0.01, 1e4, "N m")
    noise_nm_rms: float = _r(0.0, 100.0, "N m")
    bias_drift_nm_per_sqrt_s: float = _r(0.0, 10.0, "N m/sqrt(s)")
    latency_s: float = _r(0.0, 0.01, "s")


@dataclass(frozen=True)
class CurrentSense:
    noise_a_rms: float = _r(0.0, 10.0, "A")
    adc_bits: int = _r(8, 20)


@dataclass(frozen=True)
class Firmware:
    """Gains are derived from these bandwidths and the plant figures (see actuators.joint.gains)."""

    loop_hz: float = _r(1000.0, 10000.0, "Hz")
    current_bandwidth_hz: float = _r(50.0, 5000.0, "Hz")
    velocity_bandwidth_hz: float = _r(1.0, 1000.0, "Hz")
    position_bandwidth_hz: float = _r(0.1, 500.0, "Hz")
    pll_bandwidth_hz: float = _r(10.0, 10000.0, "Hz")
    torque_filter_hz: float = _r(10.0, 10000.0, "Hz")
    torque_feedback_gain: float = _r(0.0, 20.0)
    friction_comp_fraction: float = _r(0.0, 1.0)
    overspeed_factor: float = _r(1.0, 5.0)
    position_fault_margin_rad: float = _r(0.0, 10.0, "rad")


@dataclass(frozen=True)
class Load:
    """What hangs on the output: extra inertia and a pendulum torque T = -m g l sin(q)."""

    inertia_kg_m2: float = _r(0.0, 100.0, "kg m^2")
    gravity_torque_nm: float = _r(0.0, 5000.0, "N m")


SECTIONS: dict[str, type] = {
    "supply": Supply,
    "motor": Motor,
    "reducer": Reducer,
    "limits": Limits,
    "thermal": Thermal,
    "encoder_motor": MotorEncoder,
    "encoder_output": OutputEncoder,
    "torque_sensor": TorqueSensor,
    "current_sense": CurrentSense,
    "firmware": Firmware,
    "load": Load,
}


@dataclass(frozen=True)
class JointPreset:
    """One joint module's parameters (all SI, output side unless named motor side)."""

    name: str
    description: str
    supply: Supply
    motor: Motor
    reducer: Reducer
    limits: Limits
    thermal: Thermal
    encoder_motor: MotorEncoder
    encoder_output: OutputEncoder
    torque_sensor: TorqueSensor
    current_sense: CurrentSense
    firmware: Firmware
    load: Load
    # datasheet figures the module must reproduce: figure -> (value, source key and note);
    # checked by the experiments of actuators.joint.experiments (`cbl validate presets`)
    datasheet: tuple[tuple[str, float, str], ...] = ()

    # --- derived figures --------------------------------------------------------------
    @property
    def gear_ratio(self) -> float:
        return self.reducer.ratio

    @property
    def kt_nm_per_a(self) -> float:
        """Motor torque constant Kt = 3/2 p lambda [N m/A] (dq amplitude-invariant)."""
        return 1.5 * self.motor.pole_pairs * self.motor.flux_linkage_wb

    @property
    def peak_torque_nm(self) -> float:
        return self.limits.peak_torque_nm

    @property
    def peak_current_a(self) -> float:
        """I_pk = (T_pk / (N eta_f) + F_c) / Kt [A]: the current whose torque, less the motor's
        Coulomb friction, delivers the peak torque through the gear at stall."""
        red = self.reducer
        return (
            self.limits.peak_torque_nm / (red.ratio * red.efficiency_forward) + self.motor.coulomb_friction_nm
        ) / self.kt_nm_per_a

    @property
    def rated_current_a(self) -> float:
        """Continuous current: the one that holds the winding at the derating start,
        sqrt(dT / (R_th 3/2 R)), or the peak current if that is lower [A]."""
        dt = self.limits.derate_start_c - self.thermal.ambient_c
        thermal = math.sqrt(dt / (self.thermal.r_th_k_per_w * 1.5 * self.resistance_at(self.limits.derate_start_c)))
        return min(thermal, self.peak_current_a)

    def resistance_at(self, temp_c: float) -> float:
        """Phase resistance at winding temperature ``temp_c``: R_0 (1 + alpha (T - 25 degC)) [ohm]."""
        m = self.motor
        return m.phase_resistance_ohm * (1.0 + m.resistance_tempco_per_k * (temp_c - 25.0))

    @property
    def rated_torque_nm(self) -> float:
        """(Kt I_r - F_c) N eta_f, at most the peak torque [N m]."""
        red = self.reducer
        t = (self.kt_nm_per_a * self.rated_current_a - self.motor.coulomb_friction_nm) * red.ratio * red.efficiency_forward
        return min(self.peak_torque_nm, t)

    @property
    def max_velocity_rad_s(self) -> float:
        return self.limits.max_velocity_rad_s

    @property
    def position_limits_rad(self) -> tuple[float, float]:
        return (self.limits.position_min_rad, self.limits.position_max_rad)

    @property
    def reflected_inertia_kg_m2(self) -> float:
        """J_rotor N^2 + J_out [kg m^2] (without the load)."""
        return self.motor.rotor_inertia_kg_m2 * self.reducer.ratio**2 + self.reducer.output_inertia_kg_m2

    def with_load(
        self, inertia_kg_m2: float | None = None, gravity_torque_nm: float | None = None
    ) -> JointPreset:
        """A copy with another load on the output (values checked like the file's)."""
        vals = {
            "inertia_kg_m2": self.load.inertia_kg_m2 if inertia_kg_m2 is None else inertia_kg_m2,
            "gravity_torque_nm": self.load.gravity_torque_nm
            if gravity_torque_nm is None
            else gravity_torque_nm,
        }
        return replace(self, load=_section(f"preset '{self.name}'", "load", Load, vals))


def _section(where: str, name: str, cls: type, table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [{name}] must be a table, got {type(table).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = set(table) - names
    if unknown:
        raise ConfigError(f"{where}: [{name}] unknown key(s) {sorted(unknown)}; keys are {sorted(names)}")
    missing = names - set(table)
    if missing:
        raise ConfigError(f"{where}: [{name}] missing key(s) {sorted(missing)}")
    vals: dict[str, Any] = {}
    for f in fields(cls):
        v = table[f.name]
        want_int = f.type in ("int", int)
        if isinstance(v, bool) or not isinstance(v, int | float) or (want_int and not isinstance(v, int)):
            kind = "an integer" if want_int else "a number"
            raise ConfigError(f"{where}: {name}.{f.name} = {v!r} must be {kind}")
        lo, hi = f.metadata["range"]
        check_range(f"{where}: {name}.{f.name}", float(v), lo, hi, f.metadata.get("unit", ""))
        vals[f.name] = int(v) if want_int else float(v)
    return cls(**vals)


# figures a [datasheet] table may name (each has an experiment in actuators.joint.experiments)
DATASHEET_FIGURES = (
    "peak_torque_nm", "max_velocity_rad_s", "gear_efficiency_forward", "gear_efficiency_backward",
    "torque_sensor_noise_nm", "deflection_at_t1_rad", "deflection_at_t2_rad", "torque_constant_nm_per_a",
    "phase_resistance_ohm", "thermal_resistance_k_per_w", "thermal_time_constant_s",
)


def _datasheet(where: str, table: Any) -> tuple[tuple[str, float, str], ...]:
    """``[datasheet]`` entries ``figure = { value = x, source = "S-..." }`` (figure in DATASHEET_FIGURES)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [datasheet] must be a table, got {type(table).__name__}")
    out = []
    for fig, entry in table.items():
        if fig not in DATASHEET_FIGURES:
            raise ConfigError(f"{where}: datasheet.{fig} is not a known figure; figures are {list(DATASHEET_FIGURES)}")
        ok = isinstance(entry, dict) and set(entry) == {"value", "source"}
        if not ok or isinstance(entry["value"], bool) or not isinstance(entry["value"], int | float):
            raise ConfigError(f"{where}: datasheet.{fig} = {entry!r} must be {{ value = <number>, source = \"...\" }}")
        if not (isinstance(entry["source"], str) and entry["source"].strip()):
            raise ConfigError(f"{where}: datasheet.{fig}.source = {entry['source']!r} must name its source")
        out.append((fig, float(entry["value"]), entry["source"]))
    return tuple(out)


def parse_preset(data: dict[str, Any], name: str, where: str) -> JointPreset:
    """Build and cross-check a preset from a parsed TOML document."""
    meta = data.get("meta", {})
    extra = set(data) - set(SECTIONS) - {"meta", "datasheet"}
    if extra:
        raise ConfigError(
            f"{where}: unknown table(s) {sorted(extra)}; tables are {['meta', *SECTIONS, 'datasheet']}"
        )
    secs = {k: _section(where, k, cls, data.get(k)) for k, cls in SECTIONS.items()}
    sheet = _datasheet(where, data.get("datasheet", {}))
    p = JointPreset(name=name, description=str(meta.get("description", "")), **secs, datasheet=sheet)
    lim, red = p.limits, p.reducer
    if lim.position_min_rad >= lim.position_max_rad:
        raise ConfigError(
            f"{where}: limits.position_min_rad = {lim.position_min_rad} must be below position_max_rad = {lim.position_max_rad}"
        )
    if lim.derate_start_c >= lim.temperature_max_c:
        raise ConfigError(
            f"{where}: limits.derate_start_c = {lim.derate_start_c} must be below temperature_max_c = {lim.temperature_max_c}"
        )
    if red.stiffness_t1_nm > red.stiffness_t2_nm:
        raise ConfigError(
            f"{where}: reducer.stiffness_t1_nm = {red.stiffness_t1_nm} exceeds stiffness_t2_nm = {red.stiffness_t2_nm}"
        )
    if p.firmware.position_bandwidth_hz > p.firmware.velocity_bandwidth_hz:
        raise ConfigError(
            f"{where}: firmware.position_bandwidth_hz = {p.firmware.position_bandwidth_hz} exceeds "
            f"velocity_bandwidth_hz = {p.firmware.velocity_bandwidth_hz}"
        )
    return p


def preset_names() -> list[str]:
    """Names of the joint presets shipped in actuators/presets (hand presets excluded)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml") if not p.stem.startswith("hand"))


def load_preset(name: str) -> JointPreset:
    """Load ``actuators/presets/<name>.toml`` (or a path to a .toml file) and validate it.

    Raises ConfigError naming the file, key, value and limit on any bad entry.
    """
    path = Path(name)
    if path.suffix != ".toml":
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"joint preset name {name!r} is not a plain name; presets are {preset_names()}")
        path = PRESET_DIR / f"{name}.toml"
        if not path.is_file():
            raise ConfigError(
                f"joint preset '{name}' not found in {PRESET_DIR}; presets are {preset_names()}"
            )
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"joint preset file {path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"joint preset file {path}: {exc}") from exc
    return parse_preset(data, path.stem, str(path))
