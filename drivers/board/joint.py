"""The emulated CANopen joint board: a CiA 402 drive in front of an ``cerebellum_rt.actuators.joint`` module.

The cycle, the state machine, faults and connection monitoring are :class:`DriveBoard`'s
(:mod:`cerebellum_rt.drivers.board.drive`); this module maps the module's measurements onto the CiA 402
objects and the mode's targets (CSP 8, CSV 9, CST 10, impedance -1) or the stop ramp onto
``module.command(mode, position_rad, velocity_rad_s, torque_nm, enable)``, clamped to the
board's limits (0x6072 max torque, 0x6080 max speed, 0x607D software position limits).
Stop ramps: 1 slow-down (0x6084) and 2 quick-stop (0x6085) ramp the velocity to zero in CSV;
3 brakes at the max torque against the velocity until standstill (|v| < 0x2030).

Impedance (-1, manufacturer-specific): the module's impedance law with K, D from 0x2011 (written
into the module on each write and at boot), q* = 0x607A (clamped to 0x607D), w_ff = 0x60B1,
tau_ff = 0x60B2.

``firmware="c"`` runs the CiA 402 law as the C that codegen generates from it (host build
through cffi), as a real board's bus stack would call it; the default ``"numba"`` runs the same
law compiled by numba. Both give bit-identical behaviour (tested).

No mode (0x6061 = 0) in operation enabled: the joint holds the position measured when it
entered the hold (CSP, no feed-forward, clamped to 0x607D), with the power stage on; it never
passes mode 0 to the module. 0x607D: a write that would make min > max aborts 0x06090036.

Without a module (``module=None``) the measurements are held at zero: the protocol, the state
machine and the limits are still fully served. The module's fault word maps onto CiA 402 error
codes (:data:`MODULE_FAULT_CODES`); a fault reset calls ``module.reset_fault()``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import can

from cerebellum_rt.drivers.board.drive import DriveBoard, clip_int
from cerebellum_rt.drivers.board.flashing import FlashOptions
from cerebellum_rt.drivers.board.store import ABORT_MAX_LT_MIN, SdoAbort
from cerebellum_rt.drivers.od import (
    CURRENT_PERMILLE,
    POSITION_COUNTS_PER_RAD,
    TEMPERATURE_PER_DEGC,
    TORQUE_PERMILLE,
    TORQUE_SENSOR_MNM_PER_NM,
    VELOCITY_COUNTS_PER_RAD_S,
    JointRatings,
    Table,
    build_table,
)

_I32 = (-(2**31), 2**31 - 1)
_I16 = (-(2**15), 2**15 - 1)
MODE_CSP, MODE_CSV, MODE_CST, MODE_IMPEDANCE = 8, 9, 10, -1
FOLLOW_MODES = (MODE_CSP, MODE_CSV, MODE_CST, MODE_IMPEDANCE)
# actuators.joint fault word bits -> CiA 402 error codes (CANOPEN.md §3)
MODULE_FAULT_CODES = ((1, 0x2310), (2, 0x4310), (4, 0x3220), (8, 0x3210), (16, 0x8400), (32, 0x8612), (64, 0x7300))
_GAIN_FIELDS = {1: "kp_pos", 2: "kp_vel", 3: "ki_vel"}


def joint_table(preset: Any | None = None, *, fd: bool = False) -> Table:
    """The object dictionary a joint board serves in front of a module of ``preset`` (its ratings
    and its firmware cascade gains; None: the default ratings). ``cbl eds --preset`` writes the
    EDS from this same table, so the file describes the board that answers."""
    if preset is None:
        return build_table("joint", fd=fd)
    from cerebellum_rt.actuators.joint.gains import cascade_config, impedance_limits

    cc = cascade_config(preset)
    ratings = JointRatings.from_preset(preset, position_kp=float(cc["kp_pos"]), velocity_kp=float(cc["kp_vel"]),
                                       velocity_ki=float(cc["ki_vel"]), **impedance_limits(preset))
    return build_table("joint", fd=fd, ratings=ratings)


def plant_param(module: Any, index: int, sub: int, value: float) -> None:
    """A gain written on the board into the module's firmware law: 0x2010 the cascade gains,
    0x2011 the impedance K (sub 1) / D (sub 2); the Python board and the C firmware's
    ``plant_param`` callback (host build and QEMU) both call this."""
    recs = getattr(module, "law_records", {})
    if index == 0x2010 and sub in _GAIN_FIELDS and "cascade_config" in recs:
        recs["cascade_config"][0][_GAIN_FIELDS[sub]] = value
    elif index == 0x2011 and sub in (1, 2) and hasattr(module, "set_impedance"):
        k, d = module.impedance()
        module.set_impedance(value if sub == 1 else k, value if sub == 2 else d)


def _meas(m: Any, name: str) -> float:
    """A field of the module's read() result, by attribute or key."""
    v = m[name] if isinstance(m, dict) else getattr(m, name)
    return float(v)


class JointBoard(DriveBoard):
    """Emulated joint board (see module doc). ``close()`` is idempotent; usable as a context manager."""

    modes = (0, *FOLLOW_MODES)

    def __init__(self, node_id: int, bus: can.BusABC, module: Any | None = None, *, fd: bool = False,
                 storage_path: str | os.PathLike | None = None, serial_number: int = 0,
                 clock: Callable[[], float] = time.monotonic, threaded: bool = True,
                 table: Table | None = None, firmware: str = "numba", flash: FlashOptions | None = None) -> None:
        self.firmware = firmware
        self.module = module
        if table is None:
            preset = getattr(module, "preset", None) if module is not None else None
            table = joint_table(preset, fd=fd)
        super().__init__(node_id, bus, table, fd=fd, storage_path=storage_path,
                         serial_number=serial_number, clock=clock, threaded=threaded, flash=flash)

    # ------------------------------------------------------------------ set-up
    def _setup_app(self) -> None:
        super()._setup_app()
        self.store.on_write[0x2010] = self._gain_written
        self.store.on_write[0x2011] = self._impedance_written
        self._ramp_v = 0.0
        self._ramp_active = False
        self._hold_pos = 0.0
        self._holding = False
        self.store.validators[0x607D] = self._check_position_limits

    def _check_position_limits(self, index: int, sub: int, value: object) -> None:
        lo = int(value) if sub == 1 else int(self.store.get(0x607D, 1))  # type: ignore[call-overload]
        hi = int(value) if sub == 2 else int(self.store.get(0x607D, 2))  # type: ignore[call-overload]
        if lo > hi:
            raise SdoAbort(ABORT_MAX_LT_MIN, f"0x607D: min {lo} > max {hi}")

    def _reset_app(self) -> None:
        super()._reset_app()
        for sub in _GAIN_FIELDS:  # boot / NMT reset: the firmware runs the gains the OD now holds (saved set or defaults)
            self._gain_written(0x2010, sub, self.store.get(0x2010, sub))
        for sub in (1, 2):
            self._impedance_written(0x2011, sub, self.store.get(0x2011, sub))

    def _sample(self) -> dict[str, float]:
        """Measurements into the object dictionary; returns them in SI units."""
        s = self.store
        if self.module is None:
            m = dict.fromkeys(("position_rad", "velocity_rad_s", "torque_sensor_nm", "torque_cmd_nm", "iq_a",
                               "winding_temp_c"), 0.0)
            m["fault"] = 0.0
        else:
            r = self.module.read()
            m = {k: _meas(r, k) for k in ("position_rad", "velocity_rad_s", "torque_sensor_nm", "torque_cmd_nm",
                                          "iq_a", "winding_temp_c")}
            m["fault"] = _meas(r, "fault") if (hasattr(r, "fault") or (isinstance(r, dict) and "fault" in r)) else 0.0
        rated_t = int(s.get(0x6076, 0)) / 1000.0  # N·m
        rated_i = int(s.get(0x6075, 0)) / 1000.0  # A
        s.set(0x6064, 0, clip_int(m["position_rad"] * POSITION_COUNTS_PER_RAD, *_I32))
        s.set(0x606C, 0, clip_int(m["velocity_rad_s"] * VELOCITY_COUNTS_PER_RAD_S, *_I32))
        s.set(0x6077, 0, clip_int(m["torque_sensor_nm"] / rated_t * TORQUE_PERMILLE, *_I16))
        s.set(0x6074, 0, clip_int(m["torque_cmd_nm"] / rated_t * TORQUE_PERMILLE, *_I16))
        s.set(0x6078, 0, clip_int(m["iq_a"] / rated_i * CURRENT_PERMILLE, *_I16))
        s.set(0x2001, 0, clip_int(m["torque_sensor_nm"] * TORQUE_SENSOR_MNM_PER_NM, *_I32))
        s.set(0x2002, 0, clip_int(m["winding_temp_c"] * TEMPERATURE_PER_DEGC, *_I16))
        return m

    def _plant_faults(self) -> set[int]:
        s = self.store
        causes = set()
        if int(s.get(0x2002, 0)) > int(s.get(0x2020, 3)):
            causes.add(0x4310)
        word = int(self._meas.get("fault", 0.0))
        for bit, code in MODULE_FAULT_CODES:
            if word & bit:
                causes.add(code)
        if word & ~0x7F:
            causes.add(0x7122)  # any other module fault: motor error
        return causes

    def _gain_written(self, index: int, sub: int, value: object) -> None:
        if self.module is not None:
            plant_param(self.module, 0x2010, sub, float(value))  # type: ignore[arg-type]

    def _impedance_written(self, index: int, sub: int, value: object) -> None:
        if self.module is not None:
            plant_param(self.module, 0x2011, sub, float(value))  # type: ignore[arg-type]

    def _period_ok(self, period_us: int) -> bool:
        hz = getattr(self.module, "current_loop_hz", None)
        if hz is None:
            return True
        n = period_us * 1e-6 * hz  # the module advances whole PWM periods
        return round(n) >= 1 and abs(n - round(n)) < 1e-6

    def _reset_plant_fault(self) -> bool:
        if self.module is not None and int(self._meas.get("fault", 0.0)):
            self.module.reset_fault()
            return True
        return False

    def _standstill(self) -> bool:
        return abs(int(self.store.get(0x606C, 0))) < int(self.store.get(0x2030, 0))

    def _status_inputs(self, standstill: bool) -> tuple[bool, bool]:
        s = self.store
        if int(s.get(0x6061, 0)) != MODE_CSP:
            return standstill, False
        follow_err = self.state == "operation_enabled" and (
            abs(int(s.get(0x607A, 0)) - int(s.get(0x6064, 0))) > int(s.get(0x6065, 0)))
        return not follow_err, follow_err

    # ------------------------------------------------------------------ motion
    def _command_plant(self) -> None:
        """Targets (or the stop ramp) -> module.command(); then module.advance(0x1006)."""
        s, out = self.store, self.out
        dt = self.period_s
        v_meas = self._meas["velocity_rad_s"]
        max_v = int(s.get(0x6080, 0)) / VELOCITY_COUNTS_PER_RAD_S
        rated_t = int(s.get(0x6076, 0)) / 1000.0
        max_t = int(s.get(0x6072, 0)) / TORQUE_PERMILLE * rated_t
        enable = bool(out["power_enabled"])
        ramp = int(out["stop_ramp"])
        mode, pos, vel, tau = MODE_CSV, self._meas["position_rad"], 0.0, 0.0
        if not enable or ramp == 0:
            self._ramp_active = False  # the next stop ramp starts from the velocity measured then
        follow = enable and bool(out["follow_targets"])
        no_mode = follow and int(s.get(0x6061, 0)) not in FOLLOW_MODES
        if no_mode and not self._holding:
            self._hold_pos = self._meas["position_rad"]
        self._holding = no_mode
        if no_mode:  # no mode: hold where the hold began (see module doc)
            lo, hi = int(s.get(0x607D, 1)), int(s.get(0x607D, 2))
            mode = MODE_CSP
            pos = min(max(self._hold_pos * POSITION_COUNTS_PER_RAD, lo), hi) / POSITION_COUNTS_PER_RAD
        elif follow:
            mode = int(s.get(0x6061, 0))
            tau = (int(s.get(0x60B2, 0)) / TORQUE_PERMILLE) * rated_t
            if mode in (MODE_CSP, MODE_IMPEDANCE):
                lo, hi = int(s.get(0x607D, 1)), int(s.get(0x607D, 2))
                pos = min(max(int(s.get(0x607A, 0)), lo), hi) / POSITION_COUNTS_PER_RAD
                vel = int(s.get(0x60B1, 0)) / VELOCITY_COUNTS_PER_RAD_S
            elif mode == MODE_CSV:
                vel = (int(s.get(0x60FF, 0)) + int(s.get(0x60B1, 0))) / VELOCITY_COUNTS_PER_RAD_S
            else:  # MODE_CST
                tau = tau + int(s.get(0x6071, 0)) / TORQUE_PERMILLE * rated_t
        elif enable and ramp in (1, 2):
            if not self._ramp_active:
                self._ramp_v, self._ramp_active = v_meas, True
            dec = int(s.get(0x6084 if ramp == 1 else 0x6085, 0)) / VELOCITY_COUNTS_PER_RAD_S * dt
            self._ramp_v = math.copysign(max(abs(self._ramp_v) - dec, 0.0), self._ramp_v)
            vel = self._ramp_v
        elif enable and ramp == 3:
            standstill = abs(v_meas) * VELOCITY_COUNTS_PER_RAD_S < int(s.get(0x2030, 0))
            mode, tau = (MODE_CSV, 0.0) if standstill else (MODE_CST, -math.copysign(max_t, v_meas))
        vel = min(max(vel, -max_v), max_v)
        tau = min(max(tau, -max_t), max_t)
        if self.module is not None:
            self.module.command(mode, pos, vel, tau, enable)
            self.module.advance(dt)
