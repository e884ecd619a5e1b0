"""JointModule: one integrated joint actuator (plant + firmware laws), advanced in lockstep.

The board-side view: ``command()`` latches the CiA 402 targets (mode 0x6060, target position
0x607A, velocity/torque offsets 0x60B1/0x60B2 in CSP, target velocity 0x60FF in CSV, target
torque 0x6071 in CST, enable = state machine in OPERATION ENABLED); ``advance(period_s)`` runs
the firmware and the physics for one communication period; ``read()`` returns what the firmware
measures (never ground truth); ``truth`` is the plant state for tests.

One ``advance`` is a single numba call looping over the PWM periods: each period samples the
phase currents and the motor encoder, runs ``foc_step`` and advances the plant; every
``current_loop_hz / loop_hz`` periods it first samples the output encoder and the torque sensor
and runs ``cascade_step``. In CSP the position target is interpolated linearly over the
communication period from the previous target (CiA 402 linear interpolation), so the reference
reaches the new target at the end of the period; this interpolation (and the sampling order) is
the emulated board's glue around the two laws, not part of the generated C.

The firmware runs the laws as numba functions (float32 records, float64 literals promoted):
within float32 rounding of the code generator's reference, which the generated C matches bit
for bit (tests/actuators/test_joint_laws_codegen.py).

Behind a board running the C image (drivers/board/cfirmware.py) the laws are the image's own:
:meth:`JointModule.bind_laws` gives the kernel the image's two interrupt entry points (control
loop, current loop: ``cbl_joint_ctl.h``), which it calls through their addresses at the same
places with the same samples (no Python per PWM period); the image then also latches the
targets and interpolates the CSP position. The laws' C is bit-identical to their numba IR, so
both give the same run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from cerebellum_rt import codegen
from cerebellum_rt.actuators.joint.cascade import (
    CascadeConfig,
    CascadeInput,
    CascadeOutput,
    CascadeState,
    cascade_step,
)
from cerebellum_rt.actuators.joint.foc import FocConfig, FocInput, FocOutput, FocState, foc_step
from cerebellum_rt.actuators.joint.gains import cascade_config, foc_config, plant_params
from cerebellum_rt.actuators.joint.plant import (
    RING,
    STATE_DTYPE,
    elec_sin_cos,
    plant_step,
    record_ring,
    sample_currents,
    sample_motor_encoder,
    sample_output_encoder,
    sample_torque_sensor,
)
from cerebellum_rt.actuators.joint.preset import JointPreset
from cerebellum_rt.rtcore.errors import ConfigError, check_range
from cerebellum_rt.rtcore.jit import call_c, njit
from cerebellum_rt.rtcore.jitcache import drop_stale_cache

# numba caches per source file: drop this package's cached kernels when any source they
# compile in changed (its own kernels, and the codegen float32 kernels the laws call)
_HERE = Path(__file__).resolve().parent
drop_stale_cache(_HERE, [*(_HERE / n for n in ("plant.py", "foc.py", "cascade.py", "module.py", "response.py", "bank.py")), Path(codegen.__file__).parent / "mathf32.py"], "joint_kernels")

MODE_CSP = 8
MODE_CSV = 9
MODE_CST = 10
MODE_IMPEDANCE = -1  # manufacturer-specific (negative codes are reserved for it in CiA 402)
MODES = (MODE_CSP, MODE_CSV, MODE_CST, MODE_IMPEDANCE)

FAULT_OVERCURRENT = 1
FAULT_OVERTEMPERATURE = 2
FAULT_UNDERVOLTAGE = 4
FAULT_OVERVOLTAGE = 8
FAULT_OVERSPEED = 16
FAULT_POSITION_LIMIT = 32
FAULT_TORQUE_SENSOR = 64

# the per-module arrays (attribute "_" + key); a JointBank stacks them, one row per module
STORAGE_KEYS = ("p", "s", "ring", "rng", "fc", "fs", "fi", "fo", "cc", "cs", "ci", "co", "cmd", "meas", "hook")

# The hook to a firmware image's laws: the entry points' addresses, the image's context and the
# interrupts' records, laid out as cbl_joint_ctl.h's cbl_loop_in_t (at HOOK_LOOP_IN), cbl_loop_out_t,
# cbl_pwm_in_t and cbl_pwm_out_t (the board checks the offsets against the image's). ctx 0: the
# module's own laws run.
HOOK_DTYPE = np.dtype([
    ("loop_fn", "i8"), ("pwm_fn", "i8"), ("ctx", "i8"),
    ("pos", "f8"), ("ts", "f4"), ("temp", "f4"), ("vbus", "f4"), ("pad0", "i4"),
    ("tau_cmd", "f4"), ("ilim", "f4"), ("fault", "i4"), ("pad1", "i4"),
    ("ia", "f4"), ("ib", "f4"), ("pvbus", "f4"), ("enc", "i4"),
    ("duty_a", "f4"), ("duty_b", "f4"), ("duty_c", "f4"), ("iq", "f4"), ("id", "f4"), ("mvel", "f4"),
    ("pwm_on", "i4"), ("pad2", "i4"),
], align=True)  # fmt: skip
HOOK_LOOP_IN, HOOK_LOOP_OUT, HOOK_PWM_IN, HOOK_PWM_OUT = (HOOK_DTYPE.fields[k][1] for k in ("pos", "tau_cmd", "ia", "duty_a"))

# command slots
C_MODE, C_P0, C_P1, C_VEL, C_TAU, C_EN, C_RESET, C_STIFF, C_DAMP, C_PREV_EN = range(10)
# measurement slots
M_POS, M_VEL, M_TS, M_TCMD, M_IQ, M_ID, M_VBUS, M_TEMP, M_FAULT, M_OC, M_ILIM = range(11)
N_MEAS = 11

_foc = codegen.host_law(foc_step)  # the law's IR with the C's semantics (same bits as the firmware)
_cascade = codegen.host_law(cascade_step)


@njit(cache=True, inline="always", error_model="numpy")
def _advance(n_cur, n_per_outer, pa, sa, ring, rng, fca, fsa, fia, foa, cca, csa, cia, coa, cmd, meas, hka):
    if hka[0].ctx != 0:  # the firmware image's laws (JointModule.bind_laws) instead of the numba ones
        _periods(n_cur, n_per_outer, pa, sa, ring, rng, fca, fsa, fia, foa, cca, csa, cia, coa, cmd, meas, hka)
    else:  # None: a specialisation without the hook's branches (numba prunes them)
        _periods(n_cur, n_per_outer, pa, sa, ring, rng, fca, fsa, fia, foa, cca, csa, cia, coa, cmd, meas, None)


@njit(cache=True, inline="always", error_model="numpy")
def _periods(n_cur, n_per_outer, pa, sa, ring, rng, fca, fsa, fia, foa, cca, csa, cia, coa, cmd, meas, hka):
    p = pa[0]
    s = sa[0]
    fc = fca[0]
    fs = fsa[0]
    fi = fia[0]
    fo = foa[0]
    cc = cca[0]
    cs = csa[0]
    ci = cia[0]
    co = coa[0]
    n_outer = max(1, n_cur // n_per_outer)
    enable = cmd[C_EN] > 0.5
    if enable and cmd[C_PREV_EN] < 0.5:
        cmd[C_P0] = meas[M_POS]
    cmd[C_PREV_EN] = 1.0 if enable else 0.0
    j = 0
    for _ in range(n_cur):
        record_ring(p, s, ring)
        if np.int64(s.step) % n_per_outer == 0:
            j += 1
            frac = min(1.0, j / n_outer)
            pos = sample_output_encoder(p, s, ring, rng)
            ts = sample_torque_sensor(p, s, ring, rng)
            temp = np.floor(s.temp * 10.0 + 0.5) / 10.0
            if hka is None:
                ci.mode = np.int32(cmd[C_MODE])
                ci.enable = enable
                ci.fault_reset = cmd[C_RESET] > 0.5
                cmd[C_RESET] = 0.0
                ci.pos_ref = cmd[C_P0] + (cmd[C_P1] - cmd[C_P0]) * frac
                ci.vel_ref = cmd[C_VEL]
                ci.tau_ref = cmd[C_TAU]
                ci.stiffness = cmd[C_STIFF]
                ci.damping = cmd[C_DAMP]
                ci.pos = pos
                ci.vel = fs.pll_vel / p.ratio
                ci.tau_meas = ts
                ci.temp = temp
                ci.vbus = p.vbus
                ci.overcurrent = meas[M_OC] > 0.5
                ci.volt_sat = fo.saturated
                ci.aligning = fo.aligning
                meas[M_OC] = 0.0
                _cascade(cc, cs, ci, co)
                fi.iq_ref = co.iq_ref
                fi.id_ref = co.id_ref
                fi.enable = co.power_on
                meas[M_TCMD] = co.tau_cmd
                meas[M_FAULT] = co.fault
                meas[M_ILIM] = co.current_limit
            else:
                hk = hka[0]
                hk.pos = pos
                hk.ts = ts
                hk.temp = temp
                hk.vbus = p.vbus
                call_c(hk.loop_fn, hk.ctx, hka, HOOK_LOOP_IN, HOOK_LOOP_OUT)
                meas[M_TCMD] = hk.tau_cmd
                meas[M_FAULT] = hk.fault
                meas[M_ILIM] = hk.ilim
            meas[M_POS] = pos
            meas[M_TS] = ts
            meas[M_TEMP] = temp
        sn, cs_ = elec_sin_cos(p, s)
        ia, ib = sample_currents(p, s, rng, sn, cs_)
        enc = sample_motor_encoder(p, s, ring, rng)
        if hka is None:
            fi.ia = ia
            fi.ib = ib
            fi.enc_count = enc
            fi.vbus = p.vbus
            _foc(fc, fs, fi, fo)
            if fo.overcurrent:
                meas[M_OC] = 1.0
            plant_step(p, s, sn, cs_)
            s.duty_a = fo.duty_a
            s.duty_b = fo.duty_b
            s.duty_c = fo.duty_c
            s.pwm_on = 1.0 if fo.pwm_on else 0.0
        else:
            hk = hka[0]
            hk.ia = ia
            hk.ib = ib
            hk.enc = enc
            hk.pvbus = p.vbus
            call_c(hk.pwm_fn, hk.ctx, hka, HOOK_PWM_IN, HOOK_PWM_OUT)
            plant_step(p, s, sn, cs_)
            s.duty_a = hk.duty_a
            s.duty_b = hk.duty_b
            s.duty_c = hk.duty_c
            s.pwm_on = 1.0 if hk.pwm_on != 0 else 0.0
    cmd[C_P0] = cmd[C_P1]
    if hka is None:
        meas[M_VEL] = fs.pll_vel / p.ratio
        meas[M_IQ] = fo.iq
        meas[M_ID] = fo.id
    else:
        hk = hka[0]
        meas[M_VEL] = hk.mvel / p.ratio
        meas[M_IQ] = hk.iq
        meas[M_ID] = hk.id
    meas[M_VBUS] = p.vbus


class JointMeasurement(NamedTuple):
    """What the board's firmware measures (output side unless named otherwise)."""

    position_rad: float  # output absolute encoder, quantised, delayed
    velocity_rad_s: float  # motor PLL estimate / N
    torque_sensor_nm: float
    torque_cmd_nm: float  # torque command after limits
    iq_a: float
    id_a: float
    bus_voltage_v: float
    winding_temp_c: float  # 0.1 degC resolution
    fault: int  # fault word: FAULT_* bits
    current_limit_a: float  # after thermal derating


@dataclass(frozen=True, slots=True)
class JointTruth:
    """Ground-truth plant state (tests only) and energy accounts [J]."""

    time_s: float
    output_angle_rad: float
    output_velocity_rad_s: float
    motor_angle_rad: float
    motor_velocity_rad_s: float
    id_a: float
    iq_a: float
    electromagnetic_torque_nm: float  # motor side
    shaft_torque_nm: float  # output side, what the torque sensor measures (before its errors)
    winding_temp_c: float
    torque_sensor_bias_nm: float
    power_stage_on: bool
    e_electrical_in_j: float
    e_copper_j: float
    e_friction_j: float
    e_gear_j: float
    e_damping_j: float
    e_load_j: float  # work done on the load (incl. against gravity)
    e_stored_j: float  # kinetic + spring + magnetic + cogging potential now


def pwm_periods(who: str, period_s: float, current_loop_hz: float) -> int:
    """The whole number of PWM periods in ``period_s`` (ConfigError naming ``who`` otherwise)."""
    n = round(period_s * current_loop_hz)
    if n < 1 or abs(n - period_s * current_loop_hz) > 1e-6:
        raise ConfigError(
            f"{who} advance period_s = {period_s} is not a whole number of {1.0 / current_loop_hz} s PWM periods"
        )
    return n


def _seed_state(seed: int) -> np.ndarray:
    z = (seed * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z ^= z >> 31
    return np.array([z or 1], dtype=np.uint64)


class JointModule:
    """An emulated integrated joint module: PMSM + reducer + sensors + firmware (FOC + cascade).

    ``current_loop_hz`` is the PWM/current-loop rate (10-40 kHz); the velocity/position loop runs
    at the preset's ``firmware.loop_hz``, which must divide it. ``seed`` fixes all sensor noise.
    ``initial_position_rad`` defaults to 0 clamped into the preset's position range.
    """

    def __init__(
        self,
        preset: JointPreset,
        current_loop_hz: float = 20_000,
        seed: int = 0,
        initial_position_rad: float | None = None,
        *,
        _storage: dict[str, np.ndarray] | None = None,
    ) -> None:
        check_range("JointModule current_loop_hz", float(current_loop_hz), 10_000.0, 40_000.0, "Hz")
        ratio = current_loop_hz / preset.firmware.loop_hz
        n = round(ratio)
        if n < 1 or abs(ratio - n) > 1e-9:
            raise ConfigError(
                f"JointModule current_loop_hz = {current_loop_hz} Hz is not a multiple of the preset's "
                f"firmware.loop_hz = {preset.firmware.loop_hz} Hz"
            )
        self.preset = preset
        self.current_loop_hz = float(current_loop_hz)
        self._n_per_outer = n
        lo, hi = preset.position_limits_rad
        q0 = min(max(0.0, lo), hi) if initial_position_rad is None else float(initial_position_rad)
        if not math.isfinite(q0):
            raise ConfigError(f"JointModule initial_position_rad = {q0} must be finite")
        self._p = plant_params(preset, current_loop_hz)
        self._s = np.zeros(1, STATE_DTYPE)
        s = self._s[0]
        s["theta_o"] = q0
        s["theta_m"] = q0 * preset.reducer.ratio
        s["temp"] = preset.thermal.ambient_c
        # an incremental motor encoder counts from where the rotor is at power-up
        self._p[0]["enc_m_zero"] = s["theta_m"] if preset.encoder_motor.incremental else 0.0
        self._ring = np.zeros((3, RING))
        self._ring[0, :] = q0
        self._ring[2, :] = q0 * preset.reducer.ratio
        self._rng = _seed_state(int(seed))
        self._fc = np.zeros(1, FocConfig.dtype())
        self._fc[0] = foc_config(preset, current_loop_hz)
        self._fs = FocState.array(1)
        self._fi = FocInput.array(1)
        self._fo = FocOutput.array(1)
        self._cc = np.zeros(1, CascadeConfig.dtype())
        self._cc[0] = cascade_config(preset)
        self._cs = CascadeState.array(1)
        self._ci = CascadeInput.array(1)
        self._co = CascadeOutput.array(1)
        self._cmd = np.zeros(10)
        self._cmd[C_MODE] = MODE_CSP
        self._cmd[C_P0] = self._cmd[C_P1] = q0
        self._meas = np.zeros(N_MEAS)
        self._meas[M_POS] = q0
        self._meas[M_TEMP] = preset.thermal.ambient_c
        self._meas[M_VBUS] = preset.supply.bus_voltage_v
        self._meas[M_ILIM] = preset.peak_current_a
        self._hook = np.zeros(1, HOOK_DTYPE)
        self._image_records: Mapping[str, np.ndarray] | None = None
        if _storage is not None:  # live inside a JointBank's arrays (views), advanced with them
            for key in STORAGE_KEYS:
                view = _storage[key]
                view[...] = getattr(self, f"_{key}")
                setattr(self, f"_{key}", view)
        self._period_s = -1.0
        self._args: tuple = ()
        self._entry = None

    # --- tick-callable API ---------------------------------------------------------------
    def command(
        self, mode: int, position_rad: float, velocity_rad_s: float, torque_nm: float, enable: bool
    ) -> None:
        """Latch the targets for the next ``advance`` (output side). Callable in the tick.

        CSP: position target, velocity and torque offsets (feed-forward). CSV: velocity target and
        torque offset. CST: torque target. MODE_IMPEDANCE: see ``set_impedance``.
        """
        if mode not in MODES:
            raise ConfigError(f"JointModule mode = {mode} is not one of {MODES} (CSP, CSV, CST, impedance)")
        if not (math.isfinite(position_rad) and math.isfinite(velocity_rad_s) and math.isfinite(torque_nm)):
            raise ConfigError(
                f"JointModule command ({position_rad}, {velocity_rad_s}, {torque_nm}) must be finite"
            )
        c = self._cmd
        c[C_MODE] = mode
        c[C_P1] = position_rad
        c[C_VEL] = velocity_rad_s
        c[C_TAU] = torque_nm
        c[C_EN] = 1.0 if enable else 0.0

    def set_impedance(self, stiffness_nm_per_rad: float, damping_nm_s_per_rad: float) -> None:
        """Stiffness K and damping D of MODE_IMPEDANCE (tau = tau_ff + K (q* - q) + D (w* - w))."""
        check_range("JointModule impedance stiffness", stiffness_nm_per_rad, 0.0, 1e5, "N m/rad")
        check_range("JointModule impedance damping", damping_nm_s_per_rad, 0.0, 1e4, "N m s/rad")
        self._cmd[C_STIFF] = stiffness_nm_per_rad
        self._cmd[C_DAMP] = damping_nm_s_per_rad

    def impedance(self) -> tuple[float, float]:
        """(K, D) of MODE_IMPEDANCE as last set."""
        return float(self._cmd[C_STIFF]), float(self._cmd[C_DAMP])

    def reset_fault(self) -> None:
        """Clear the latched faults at the next loop period (CiA 402 fault reset). Callable in the tick."""
        self._cmd[C_RESET] = 1.0

    def lock_output(self, locked: bool = True) -> None:
        """Test rig: bolt the output flange to a rigid frame (``locked``) or release it. Locked,
        the output's inertia is 1e12 kg m^2 (it cannot move; the reducer and the sensor still
        deflect), as in a locked-rotor or stiffness test of a datasheet."""
        r = self._p[0]
        jo = 1e12 if locked else self.preset.reducer.output_inertia_kg_m2 + self.preset.load.inertia_kg_m2
        r["jo"] = jo
        r["inv_jo"] = 1.0 / jo
        if locked:
            self._s[0]["omega_o"] = 0.0

    def set_external_torque(self, torque_nm: float) -> None:
        """External torque applied to the output by the environment [N m] (held until changed)."""
        self._s[0]["tau_ext"] = torque_nm

    def couple_load(self, theta_rad: float, omega_rad_s: float, inertia_kg_m2: float, torque_nm: float) -> None:
        """Co-simulation port for a multibody simulator that owns the load (MuJoCo in the HIL rigs).

        Call before each ``advance``: the output takes the simulator's joint angle and velocity,
        the load inertia becomes the joint's effective inertia there (added to the reducer's own
        output inertia; the preset's [load] is replaced, its gravity term dropped) and
        ``torque_nm`` is the simulator's torque on the joint other than this actuator's (gravity,
        Coriolis, contacts, the rest of the body), held over the period. The output moves with
        this single-joint model during the period; the torque to give the simulator for the same
        period is the one that made that motion, ``inertia * (output_velocity_rad_s - omega) /
        period - torque_nm`` (the actuator's impulse on the load, free of the stiff shaft's
        oscillation), and the next call re-synchronises the output (explicit co-simulation at the
        communication period).
        Callable in the tick."""
        s, p = self._s[0], self._p[0]
        for name, v in (("theta", theta_rad), ("omega", omega_rad_s), ("inertia", inertia_kg_m2), ("torque", torque_nm)):
            if not math.isfinite(v):
                raise ConfigError(f"JointModule couple_load {name} = {v} must be finite")
        if inertia_kg_m2 < 0.0:
            raise ConfigError(f"JointModule couple_load inertia = {inertia_kg_m2} kg m^2 must be >= 0")
        jo = self.preset.reducer.output_inertia_kg_m2 + inertia_kg_m2
        p["jo"] = jo
        p["inv_jo"] = 1.0 / jo
        p["gravity"] = 0.0
        # The whole drive train follows the output to the simulator's state: the rotor moves by
        # the same correction (times the ratio), so the gear deflection and slip that this model
        # integrated are kept and only the absolute motion comes from the simulator (otherwise
        # each period's mismatch would wind up in the shaft spring).
        shift = theta_rad - s["theta_o"]
        s["theta_m"] += p["ratio"] * shift
        s["omega_m"] += p["ratio"] * (omega_rad_s - s["omega_o"])
        self._ring[0] += shift  # the sensors' latency history moves with the state
        self._ring[2] += p["ratio"] * shift
        s["theta_o"] = theta_rad
        s["omega_o"] = omega_rad_s
        s["tau_ext"] = torque_nm

    @property
    def shaft_torque_nm(self) -> float:
        """Torque the reducer applies to the output at the end of the last ``advance`` [N m]."""
        return float(self._s[0]["tau_s"])

    @property
    def output_velocity_rad_s(self) -> float:
        """The output's velocity at the end of the last ``advance`` [rad/s] (ground truth)."""
        return float(self._s[0]["omega_o"])

    def advance(self, period_s: float = 0.001) -> None:
        """Run firmware + plant for ``period_s`` (a whole number of PWM periods). Callable in the tick;
        the inner loop is one numba call without allocation."""
        if period_s != self._period_s:
            n = pwm_periods("JointModule", period_s, self.current_loop_hz)
            self._period_s = period_s
            self._args = (
                n, self._n_per_outer, self._p, self._s, self._ring, self._rng,
                self._fc, self._fs, self._fi, self._fo, self._cc, self._cs, self._ci, self._co,
                self._cmd, self._meas, self._hook,
            )  # fmt: skip
        if self._entry is not None:
            self._entry(*self._args)
            return
        _advance(*self._args)
        # Later calls go straight to the compiled entry point of these (fixed) argument types,
        # skipping the dispatcher's type resolution (~2 us of a ~4 us call).
        try:
            self._entry = _advance.overloads[tuple(_advance.typeof_pyval(a) for a in self._args)].entry_point
        except (KeyError, AttributeError):
            self._entry = None

    def read_into(self, out: np.ndarray) -> np.ndarray:
        """Copy the firmware's measurements after the last ``advance`` into ``out`` (float64,
        ``N_MEAS`` slots, indexed by ``M_POS`` ... ``M_ILIM``; the fault word as a float) and
        return it. Allocation-free: the per-tick path of a board."""
        np.copyto(out, self._meas)
        return out

    def read(self) -> JointMeasurement:
        """The firmware's measurements after the last ``advance`` as a named tuple (allocates
        one tuple per call; a per-tick caller uses ``read_into``)."""
        v = self._meas.tolist()
        return JointMeasurement(
            v[M_POS],
            v[M_VEL],
            v[M_TS],
            v[M_TCMD],
            v[M_IQ],
            v[M_ID],
            v[M_VBUS],
            v[M_TEMP],
            int(v[M_FAULT]),
            v[M_ILIM],
        )

    # --- the firmware image's laws -----------------------------------------------------------
    def calibration(self) -> dict[str, object]:
        """What a firmware image needs to run this module's laws: the current loop's and the
        cascade's config records (as the module runs them now), the gear ratio, the PWM rate and
        the PWM periods per control-loop period."""
        return {"foc": self._fc[0].copy(), "cascade": self._cc[0].copy(), "ratio": float(self._p[0]["ratio"]),
                "pwm_hz": self.current_loop_hz, "pwm_per_loop": self._n_per_outer}

    def bind_laws(self, loop_fn: int, pwm_fn: int, ctx: int, records: Mapping[str, np.ndarray] | None = None) -> None:
        """From the next ``advance`` the kernel calls a firmware image's interrupts instead of its
        own laws: ``loop_fn(ctx, loop_in, loop_out)`` once per control-loop period and
        ``pwm_fn(ctx, pwm_in, pwm_out)`` once per PWM period (addresses of C functions with
        ``HOOK_DTYPE``'s records; the image then owns the targets, see the module doc).
        ``records``: the image's law records (views of its memory, or a mapping that reads them
        from the image on each lookup), shown by :attr:`law_records` meanwhile.
        The caller keeps the image alive until :meth:`unbind_laws`. ``ctx = 0`` unbinds."""
        if ctx and not (loop_fn and pwm_fn):
            raise ConfigError(f"JointModule bind_laws: entry points {loop_fn:#x}, {pwm_fn:#x} must both be set")
        h = self._hook[0]
        h["loop_fn"], h["pwm_fn"], h["ctx"] = (loop_fn, pwm_fn, ctx) if ctx else (0, 0, 0)
        self._image_records = records if ctx and records is not None else None

    def unbind_laws(self) -> None:
        """The module's own (numba) laws run again from the next ``advance``."""
        self.bind_laws(0, 0, 0)

    @property
    def law_context(self) -> int:
        """The context of the firmware image whose laws run this module (:meth:`bind_laws`), 0
        while the module runs its own."""
        return int(self._hook[0]["ctx"])

    # --- ground truth ---------------------------------------------------------------------
    @property
    def truth(self) -> JointTruth:
        """Ground-truth plant state and energy accounts (not for the firmware)."""
        s, p = self._s[0], self._p[0]
        from cerebellum_rt.actuators.joint.energy import stored_energy

        return JointTruth(
            time_s=float(s["time"]),
            output_angle_rad=float(s["theta_o"]),
            output_velocity_rad_s=float(s["omega_o"]),
            motor_angle_rad=float(s["theta_m"]),
            motor_velocity_rad_s=float(s["omega_m"]),
            id_a=float(s["i_d"]),
            iq_a=float(s["i_q"]),
            electromagnetic_torque_nm=float(s["tau_e"]),
            shaft_torque_nm=float(s["tau_s"]),
            winding_temp_c=float(s["temp"]),
            torque_sensor_bias_nm=float(s["ts_bias"]),
            power_stage_on=bool(s["pwm_on"] > 0.5),
            e_electrical_in_j=float(s["e_elec"]),
            e_copper_j=float(s["e_copper"]),
            e_friction_j=float(s["e_friction"]),
            e_gear_j=float(s["e_gear"]),
            e_damping_j=float(s["e_damping"]),
            e_load_j=float(s["e_load"]),
            e_stored_j=stored_energy(p, s),
        )

    @property
    def law_records(self) -> Mapping[str, np.ndarray]:
        """The firmware's law records (1-element structured arrays, live views): config, state and
        the last input/output of each law, for gain inspection, logging and codegen checks; the
        image's own while a firmware image's laws run the module (:meth:`bind_laws`)."""
        if self._image_records is not None:
            return self._image_records
        return {
            "foc_config": self._fc, "foc_state": self._fs, "foc_input": self._fi, "foc_output": self._fo,
            "cascade_config": self._cc, "cascade_state": self._cs, "cascade_input": self._ci,
            "cascade_output": self._co,
        }  # fmt: skip
