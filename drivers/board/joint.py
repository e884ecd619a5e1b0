"""The emulated CANopen joint board: CiA 402 drive in front of an ``actuators.joint`` module.

One cycle per SYNC (CiA 301 synchronous semantics, pdo.md):

1. sample the module's measurements into the object dictionary (0x6064, 0x606C, 0x6077,
   0x6078, 0x6074, 0x2001, 0x2002) and send the synchronous TPDOs;
2. apply the RPDO data received before this SYNC;
3. run the CiA 402 state machine law (:func:`drivers.cia402.cia402_step`, compiled by numba)
   with the controlword and the fault / connection-loss inputs;
4. command the module (the mode's targets clamped to the board's limits, or the stop ramp of
   the quick-stop / halt / fault-reaction option) and advance it by 0x1006 µs.

So the reply to SYNC k carries the state at time k, produced by the targets sent with SYNC k-1.
Without a module (``module=None``) the measurements are held at zero: the protocol, the state
machine and the limits are still fully served.

Connection loss (first rung of the safety ladder): in NMT operational with the power stage on,
monitoring starts with the first SYNC/RPDO; no SYNC or RPDO for 0x2031 ms (default 100 ms, as
moteus' default watchdog), a heartbeat-consumer timeout (0x1016), or NMT leaving operational
marks the connection lost and the law applies 0x6007 (default 3: quick stop per 0x605A, then
switch-on disabled). While SYNC is missing, the board runs the cycle on its own clock so the
reaction completes. Fault causes: 0x2040 fault injection, winding temperature above 0x2020:3
(EMCY 0x4310), a module fault (EMCY 0x7122); each sends its EMCY, enters fault reaction
(0x605E), and is cleared by a fault reset once the cause is gone.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import can

from drivers import cia402
from drivers.board.node import NMT_OPERATIONAL, BoardNode
from drivers.od import (
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
MODE_CSP, MODE_CSV, MODE_CST = 8, 9, 10
MAX_CATCH_UP_CYCLES = 500
# actuators.joint fault word bits -> CiA 402 error codes (CANOPEN.md §3)
MODULE_FAULT_CODES = ((1, 0x2310), (2, 0x4310), (4, 0x3220), (8, 0x3210), (16, 0x8400), (32, 0x8612), (64, 0x7300))
_GAIN_FIELDS = {1: "kp_pos", 2: "kp_vel", 3: "ki_vel"}
_law = None


def _compiled_law() -> Callable[..., None]:
    global _law
    if _law is None:
        from rtcore.jit import njit

        _law = njit(cia402.cia402_step)
    return _law


def _clip(v: float, lo: int, hi: int) -> int:
    if not math.isfinite(v):
        return 0
    return int(min(max(round(v), lo), hi))


def _meas(m: Any, name: str) -> float:
    """A field of the module's read() result, by attribute or key."""
    v = m[name] if isinstance(m, dict) else getattr(m, name)
    return float(v)


class JointBoard(BoardNode):
    """Emulated joint board (see module doc). ``close()`` is idempotent; usable as a context manager."""

    def __init__(self, node_id: int, bus: can.BusABC, module: Any | None = None, *, fd: bool = False,
                 storage_path: str | os.PathLike | None = None, serial_number: int = 0,
                 clock: Callable[[], float] = time.monotonic, threaded: bool = True,
                 table: Table | None = None) -> None:
        self.module = module
        if table is None:
            ratings = None
            if module is not None and hasattr(module, "preset"):
                gains = {}
                recs = getattr(module, "law_records", {})
                if "cascade_config" in recs:
                    cc = recs["cascade_config"][0]
                    gains = dict(position_kp=float(cc["kp_pos"]), velocity_kp=float(cc["kp_vel"]),
                                 velocity_ki=float(cc["ki_vel"]))
                ratings = JointRatings.from_preset(module.preset, **gains)
            table = build_table("joint", fd=fd, ratings=ratings)
        super().__init__(node_id, bus, table, fd=fd, storage_path=storage_path,
                         serial_number=serial_number, clock=clock, threaded=threaded)

    # ------------------------------------------------------------------ set-up
    def _setup_app(self) -> None:
        self._step = _compiled_law()
        self.cfg = cia402.Cia402Config.new()
        self.st = cia402.Cia402State.new()
        self.inp = cia402.Cia402Input.new()
        self.out = cia402.Cia402Output.new()
        self.store.on_write[0x6040] = lambda *_: self._step_law()
        self.store.on_write[0x2040] = lambda *_: self._step_law()
        self.store.on_write[0x2010] = self._gain_written
        self.cycles = 0
        self._ramp_v = 0.0
        self._ramp_active = False
        self._module_reset_pending = False
        self._last_cycle_t = self.clock()

    def _reset_app(self) -> None:
        self.st["state"] = cia402.NOT_READY
        self.st["last_controlword"] = 0
        self._watch_t: float | None = None
        self._comm_lost = False
        self._nmt_lost = False
        self._fault_codes: set[int] = set()
        self._meas = self._sample()
        self._step_law()

    # ------------------------------------------------------------------ the cycle
    @property
    def state(self) -> str:
        """The CiA 402 state name (e.g. 'operation_enabled')."""
        return cia402.STATE_NAMES[int(self.st["state"])]

    @property
    def period_s(self) -> float:
        return int(self.store.get(0x1006, 0)) * 1e-6

    def _on_sync(self, now: float) -> None:
        self._meas = self._sample()
        self.send_sync_tpdos()
        self.apply_pending_rpdos()
        self._watch_t = now
        if self._comm_lost:
            self._comm_lost = False
            self.clear_error(0x8250)
        self._cycle(now, sampled=True)

    def _on_rpdo_applied(self, ch: Any) -> None:
        if ch.trans_type > 240:
            self._step_law()

    def _cycle(self, now: float, sampled: bool = False) -> None:
        if not sampled:
            self._meas = self._sample()
        self._step_law()
        self._command_module()
        self._module_reset_pending = False
        self._last_cycle_t = now
        self.cycles += 1

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
            if self._module_reset_pending:
                m["fault"] = 0.0  # a fault reset was sent: the module clears its latch at the next advance
        rated_t = int(s.get(0x6076, 0)) / 1000.0  # N·m
        rated_i = int(s.get(0x6075, 0)) / 1000.0  # A
        s.set(0x6064, 0, _clip(m["position_rad"] * POSITION_COUNTS_PER_RAD, *_I32))
        s.set(0x606C, 0, _clip(m["velocity_rad_s"] * VELOCITY_COUNTS_PER_RAD_S, *_I32))
        s.set(0x6077, 0, _clip(m["torque_sensor_nm"] / rated_t * TORQUE_PERMILLE, *_I16))
        s.set(0x6074, 0, _clip(m["torque_cmd_nm"] / rated_t * TORQUE_PERMILLE, *_I16))
        s.set(0x6078, 0, _clip(m["iq_a"] / rated_i * CURRENT_PERMILLE, *_I16))
        s.set(0x2001, 0, _clip(m["torque_sensor_nm"] * TORQUE_SENSOR_MNM_PER_NM, *_I32))
        s.set(0x2002, 0, _clip(m["winding_temp_c"] * TEMPERATURE_PER_DEGC, *_I16))
        return m

    def _fault_causes(self) -> set[int]:
        s = self.store
        causes = set()
        inj = int(s.get(0x2040, 0))
        if inj:
            causes.add(inj)
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
        recs = getattr(self.module, "law_records", {}) if self.module is not None else {}
        if sub in _GAIN_FIELDS and "cascade_config" in recs:
            recs["cascade_config"][0][_GAIN_FIELDS[sub]] = float(value)  # type: ignore[arg-type]

    def _connection_lost(self) -> bool:
        return self._comm_lost or self._nmt_lost or self.heartbeat_lost

    def _step_law(self) -> None:
        """One step of the CiA 402 law (also on an SDO write of 0x6040, without advancing the plant)."""
        s, cfg, inp, out = self.store, self.cfg, self.inp, self.out
        cw = int(s.get(0x6040, 0))
        if (self.state == "fault" and cw & 0x80 and not int(self.st["last_controlword"]) & 0x80
                and self.module is not None and int(self._meas.get("fault", 0.0))):
            self.module.reset_fault()  # the module's latch clears now; a persisting cause re-latches
            self._module_reset_pending = True
            self._meas["fault"] = 0.0
        cfg["quick_stop_option"] = int(s.get(0x605A, 0))
        cfg["halt_option"] = int(s.get(0x605D, 0))
        cfg["fault_reaction_option"] = int(s.get(0x605E, 0))
        cfg["abort_connection_option"] = int(s.get(0x6007, 0))
        causes = self._fault_causes()
        for code in causes - self._fault_codes:
            self.emcy(code)
            s.set(0x603F, 0, code)
        self._fault_codes |= causes
        standstill = abs(int(s.get(0x606C, 0))) < int(s.get(0x2030, 0))
        mode = int(s.get(0x6061, 0))
        follow_err = False
        if mode == MODE_CSP and self.state == "operation_enabled":
            follow_err = abs(int(s.get(0x607A, 0)) - int(s.get(0x6064, 0))) > int(s.get(0x6065, 0))
        inp["controlword"] = cw
        inp["fault"] = bool(causes)
        inp["connection_lost"] = self._connection_lost()
        inp["standstill"] = standstill
        inp["following_error"] = follow_err
        inp["target_reached"] = (mode == MODE_CSP and not follow_err) or (mode != MODE_CSP and standstill)
        inp["warning"] = bool(self.active_errors) and not causes
        inp["limit_active"] = False
        before = self.state
        self._step(cfg, self.st, inp, out)
        s.set(0x6041, 0, int(out["statusword"]))
        if self.state == "switch_on_disabled" and before == "fault":  # transition 15: fault reset
            for code in self._fault_codes:
                self.clear_error(code)
            self._fault_codes = set()
            s.set(0x603F, 0, 0)
        if self._nmt_lost and not out["power_enabled"]:
            self._nmt_lost = False  # the reaction to leaving operational is complete
        req = int(s.get(0x6060, 0))
        if req in (0, MODE_CSP, MODE_CSV, MODE_CST):
            s.set(0x6061, 0, req)

    # ------------------------------------------------------------------ motion
    def _command_module(self) -> None:
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
        if enable and out["follow_targets"]:
            self._ramp_active = False
            mode = int(s.get(0x6061, 0))
            tau = (int(s.get(0x60B2, 0)) / TORQUE_PERMILLE) * rated_t
            if mode == MODE_CSP:
                lo, hi = int(s.get(0x607D, 1)), int(s.get(0x607D, 2))
                pos = min(max(int(s.get(0x607A, 0)), lo), hi) / POSITION_COUNTS_PER_RAD
                vel = int(s.get(0x60B1, 0)) / VELOCITY_COUNTS_PER_RAD_S
            elif mode == MODE_CSV:
                vel = (int(s.get(0x60FF, 0)) + int(s.get(0x60B1, 0))) / VELOCITY_COUNTS_PER_RAD_S
            elif mode == MODE_CST:
                tau = tau + int(s.get(0x6071, 0)) / TORQUE_PERMILLE * rated_t
            else:
                enable = False  # no mode: the power stage stays off
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

    # ------------------------------------------------------------------ connection monitoring
    def _left_operational(self) -> None:
        if self.out["power_enabled"]:
            self._nmt_lost = True
        self._watch_t = None

    def _entered_operational(self) -> None:
        self._nmt_lost = False
        self._watch_t = None

    def _rpdo_rx(self, ch: Any, data: bytes, now: float) -> None:
        super()._rpdo_rx(ch, data, now)
        self._watch_t = now

    def _periodic_app(self, now: float) -> None:
        timeout_ms = int(self.store.get(0x2031, 0))
        if (self.nmt_state == NMT_OPERATIONAL and timeout_ms and self._watch_t is not None
                and not self._comm_lost and self.out["power_enabled"]
                and now - self._watch_t > timeout_ms / 1000.0):
            self._comm_lost = True
            self.emcy(0x8250)
        period = self.period_s
        if (self._connection_lost() and self.out["power_enabled"]
                and now - self._last_cycle_t > 2.0 * period):  # SYNC is missing too: own clock
            missed = int((now - self._last_cycle_t) / period)
            if missed > MAX_CATCH_UP_CYCLES:  # far behind (a stalled thread): resume from now
                self._last_cycle_t = now - MAX_CATCH_UP_CYCLES * period
                missed = MAX_CATCH_UP_CYCLES
            t = self._last_cycle_t
            for _ in range(missed):
                t += period
                self._cycle(t)
                if not self.out["power_enabled"]:
                    break
        elif not self.out["power_enabled"]:
            self._last_cycle_t = now
