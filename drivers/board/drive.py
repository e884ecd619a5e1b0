"""A CiA 402 drive board: the cycle, the state-machine law, faults and connection monitoring.

Shared by every board type (joint, hand); a subclass supplies the plant side through four hooks:
``_sample()`` (measurements into the object dictionary), ``_command_plant()`` (targets or stop
ramp -> plant, then advance one communication cycle), ``_standstill()`` and ``_plant_faults()``.

One cycle per SYNC (CiA 301 synchronous semantics, pdo.md):

1. sample the plant into the object dictionary and send the synchronous TPDOs;
2. apply the RPDO data received before this SYNC;
3. run the CiA 402 law (:func:`cerebellum_rt.drivers.cia402.cia402_step`, compiled by numba) with the
   controlword and the fault / connection-loss inputs;
4. command the plant and advance it by 0x1006 µs.

So the reply to SYNC k carries the state at time k, produced by the targets sent with SYNC k-1.
An SDO write of 0x6040 (or of 0x2040) also steps the law, without advancing the plant, so an
SDO-only master can walk the state machine.

Connection loss (first rung of the safety ladder). The armed-watchdog rule: **a drive with its
power stage on always has an armed command watchdog**, whatever the NMT state and however it
was enabled (RPDO, SDO in pre-operational or operational, before or after the first SYNC).
The watchdog arms when the power stage comes on and is refreshed by every command: a SYNC, a
processed RPDO (not one refused for its length or its values), or an accepted SDO download to
this node (SDO uploads are not commands: a monitor that
only reads does not keep a drive alive). No command for 0x2031 ms (default 100 ms, as moteus'
default watchdog; range 1-10000 ms: it cannot be switched off) raises EMCY 0x8100; an RPDO
event-timer deadline (EMCY 0x8250), a heartbeat-consumer timeout (0x1016; EMCY 0x8130), or NMT
leaving operational marks the connection lost and the law applies 0x6007 (default 3: quick
stop per 0x605A, then switch-on disabled). While SYNC is missing too, the board runs the cycle
on its own clock so that the reaction completes. Fault causes (0x2040 fault injection, the
plant's faults) send their EMCY, enter fault reaction (0x605E), and are cleared by a fault reset
once the cause is gone.

Application failure: an exception in the board's own code (plant, law) is the board's fault
cause 0x6100 (internal software; EMCY 0x6100): the drive enters fault reaction and fault like
any other fault, the exception is kept in ``crashes``; a fault reset clears the cause (it comes
back at the next failure). The process and the other boards on the bus carry on.

No mode (0x6060 = 0, CiA 402 "no mode assigned"): accepted in every state; in operation enabled
with 0x6061 = 0 the drive follows no target and holds (the board type says how, e.g. the joint
holds its position); statusword bit 12 (drive follows the command value) is clear.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from typing import Any

from cerebellum_rt.drivers import cia402
from cerebellum_rt.drivers.board.node import BoardNode
from cerebellum_rt.drivers.board.store import ABORT_VALUE, SdoAbort
from cerebellum_rt.rtcore.errors import ConfigError

MAX_CATCH_UP_CYCLES = 500
_law = None


_kernel = None


def _tick(c: Any, s: Any, i: Any, o: Any) -> None:
    _kernel(c[0], s[0], i[0], o[0])  # type: ignore[misc]


def compiled_law() -> Callable[..., None]:
    """The CiA 402 law compiled by numba (cached on disk), called on the records' 1-element
    arrays (numba dispatches arrays several times faster than ``numpy.void`` records)."""
    global _law, _kernel
    if _law is None:
        from cerebellum_rt.codegen import host_law
        from cerebellum_rt.rtcore.jit import njit

        _kernel = host_law(cia402.cia402_step)
        _law = njit(_tick)
    return _law


def c_firmware_law(recs: tuple) -> Callable[..., None]:
    """The CiA 402 law as generated C (codegen, host build through cffi), bound to ``recs`` (the
    four 1-element record arrays): what a real board's bus stack calls. Built once per source
    (cached under the temp directory)."""
    import tempfile
    from pathlib import Path

    from cerebellum_rt.codegen import build

    out = Path(tempfile.gettempdir()) / "cerebellum-firmware" / "cia402"
    out.mkdir(parents=True, exist_ok=True)
    sil = build.build_host(build.generate(cia402.cia402_step, str(out), reference=False))
    ffi, fn = sil.ffi, getattr(sil.lib, f"{sil.gen.name}_step_r")
    names = ("Cia402Config *", "Cia402State *", "Cia402Input *", "Cia402Output *")
    ptrs = [ffi.cast(t, ffi.from_buffer(a)) for t, a in zip(names, recs)]

    def step(*_recs: Any) -> None:
        fn(*ptrs)

    step._keep = (sil, recs)  # type: ignore[attr-defined]  # the library and buffers live as long as the board
    return step


def clip_int(v: float, lo: int, hi: int) -> int:
    """Round and saturate to [lo, hi]; NaN gives 0 (as the generated C's conversion does)."""
    if not math.isfinite(v):
        return 0 if math.isnan(v) else (hi if v > 0 else lo)
    return int(min(max(round(v), lo), hi))


class DriveBoard(BoardNode, abc.ABC):
    """CiA 402 application on top of :class:`BoardNode` (see module doc). A board type implements
    the three abstract plant hooks; the others have defaults."""

    modes: tuple[int, ...] = (0,)
    firmware: str = "numba"
    on_cycle: Callable[[float, str], None] | None = None  # observer of every cycle (time, CiA 402 state)  # how the CiA 402 law runs: "numba" or "c" (generated C through cffi)

    # ------------------------------------------------------------------ hooks for the plant side
    @abc.abstractmethod
    def _sample(self) -> dict[str, float]:
        """The plant's measurements for this cycle, keyed by the CiA 402 input names."""

    @abc.abstractmethod
    def _command_plant(self) -> None:
        """Hand the law's outputs (mode, targets, power stage) to the plant."""

    @abc.abstractmethod
    def _standstill(self) -> bool:
        """True when the plant is at rest (quick stop / disable may complete)."""

    def _plant_faults(self) -> set[int]:
        """CiA 402 error codes of the faults the plant reports now."""
        return set()

    def _reset_plant_fault(self) -> bool:
        """Fault reset edge: clear the plant's latched faults; True if there was one."""
        return False

    def _period_ok(self, period_us: int) -> bool:
        """Can the plant advance by a communication cycle of ``period_us``? (0x1006 writes)"""
        return True

    def _status_inputs(self, standstill: bool) -> tuple[bool, bool]:
        """(target_reached, following_error) for the statusword."""
        return standstill, False

    # ------------------------------------------------------------------ set-up
    def _setup_app(self) -> None:
        self._recs = (cia402.Cia402Config.array(1), cia402.Cia402State.array(1), cia402.Cia402Input.array(1),
                      cia402.Cia402Output.array(1))
        if self.firmware == "numba":
            self._step = compiled_law()
        elif self.firmware == "c":
            self._step = c_firmware_law(self._recs)
        else:
            raise ConfigError(f"board firmware = {self.firmware!r} is not one of 'numba', 'c'")
        self.cfg, self.st, self.inp, self.out = (r[0] for r in self._recs)  # views: writes go through
        for index in (0x605A, 0x605D, 0x605E, 0x6007):
            self.store.on_write[index] = lambda *_: self._load_options()
        self.store.on_write[0x6040] = lambda *_: self._step_law()
        self.store.on_write[0x2040] = lambda *_: self._step_law()
        self.store.validators[0x1006] = self._check_period
        self.cycles = 0
        self._plant_reset_pending = False
        self._last_cycle_t = self.clock()

    def _check_period(self, index: int, sub: int, value: object) -> None:
        if not self._period_ok(int(value)):  # type: ignore[call-overload]
            raise SdoAbort(ABORT_VALUE, f"communication cycle {value} us does not fit the plant's steps")

    def _load_options(self) -> None:
        self._recs[0][0] = (self._opt(0x605A, 2), self._opt(0x605D, 1), self._opt(0x605E, 2), self._opt(0x6007, 3))

    def _reset_app(self) -> None:
        self._load_options()
        self.st["state"] = cia402.NOT_READY
        self.st["last_controlword"] = 0
        self._watch_t: float | None = None
        self._comm_lost = False
        self._nmt_lost = False
        self._app_fault = False
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

    def _opt(self, index: int, default: int) -> int:
        return int(self.store.get(index, 0)) if index in self.table.objects else default

    def _on_sync(self, now: float) -> None:
        self._meas = self._sample()
        self.send_sync_tpdos()
        self.apply_pending_rpdos()
        self._command_seen(now)
        self._cycle(now, sampled=True)

    def _command_seen(self, now: float) -> None:
        """A command arrived (SYNC, RPDO, SDO download): refresh the watchdog, end a loss."""
        self._watch_t = now
        if self._comm_lost:
            self._comm_lost = False
            self.clear_error(0x8100)

    def _on_sdo_download(self, now: float) -> None:
        lost = self._comm_lost
        self._command_seen(now)
        if lost:  # the write was judged while the loss overrode the controlword: judge it again
            self._step_law()

    def _app_failed(self, exc: BaseException) -> None:
        """Fault cause 0x6100 latched until a fault reset; the law steps now (fault reaction)."""
        self._app_fault = True
        self._step_law()

    def _on_rpdo_applied(self, ch: Any) -> None:
        if ch.trans_type > 240:
            self._step_law()

    def _cycle(self, now: float, sampled: bool = False) -> None:
        if not sampled:
            self._meas = self._sample()
        self._step_law()
        self._command_plant()
        self._plant_reset_pending = False
        self._last_cycle_t = now
        self.cycles += 1
        if self.on_cycle is not None:
            self.on_cycle(now, self.state)

    def _connection_lost(self) -> bool:
        return self._comm_lost or self._nmt_lost or self.heartbeat_lost or bool(self.rpdo_timeouts)

    def _fault_causes(self) -> set[int]:
        causes = set() if self._plant_reset_pending else self._plant_faults()
        inj = self._opt(0x2040, 0)
        if inj:
            causes.add(inj)
        if self._app_fault:
            causes.add(0x6100)
        return causes

    def _step_law(self) -> None:
        """One step of the CiA 402 law (real-time: no allocation beyond small sets)."""
        s, out = self.store, self.out
        cw = int(s.get(0x6040, 0))
        if self.state == "fault" and cw & 0x80 and not int(self.st["last_controlword"]) & 0x80:
            self._app_fault = False  # a lasting failure latches again at its next occurrence
            if self._reset_plant_fault():
                self._plant_reset_pending = True  # the latch clears at the next advance; a lasting cause re-latches
        causes = self._fault_causes()
        for code in causes - self._fault_codes:
            self.emcy(code)
            s.set(0x603F, 0, code)
        self._fault_codes |= causes
        standstill = self._standstill()
        reached, follow_err = self._status_inputs(standstill)
        # Cia402Input fields in declaration order (one structured write)
        self._recs[2][0] = (cw, bool(causes), self._connection_lost(), standstill, reached, follow_err, False,
                            bool(self.active_errors) and not causes)
        before = self.state
        self._step(*self._recs)
        if self.state == "switch_on_disabled" and before == "fault":  # transition 15: fault reset
            for code in self._fault_codes:
                self.clear_error(code)
            self._fault_codes = set()
            s.set(0x603F, 0, 0)
        if self._nmt_lost and not out["power_enabled"]:
            self._nmt_lost = False  # the reaction to leaving operational is complete
        req = int(s.get(0x6060, 0))
        if req in self.modes:
            s.set(0x6061, 0, req)
        sw = int(out["statusword"])
        if int(s.get(0x6061, 0)) == 0:
            sw &= ~0x1000  # no mode: the drive follows no command value (bit 12 clear)
        s.set(0x6041, 0, sw)

    # ------------------------------------------------------------------ connection monitoring
    def _left_operational(self) -> None:
        if self.out["power_enabled"]:
            self._nmt_lost = True
        self._watch_t = None

    def _entered_operational(self) -> None:
        self._nmt_lost = False
        self._watch_t = None

    def _rpdo_rx(self, ch: Any, data: bytes, now: float) -> bool:
        processed = super()._rpdo_rx(ch, data, now)
        if processed:  # an RPDO that is not processed is not a command
            self._command_seen(now)
        return processed

    def _periodic_app(self, now: float) -> None:
        timeout_ms = self._opt(0x2031, 0)
        if not self.out["power_enabled"]:
            self._watch_t = None  # disarmed with the power stage off
        elif self._watch_t is None:
            self._watch_t = now  # the power stage is on: the watchdog is armed from now
        if (timeout_ms and self._watch_t is not None and not self._comm_lost
                and now - self._watch_t > timeout_ms / 1000.0):
            self._comm_lost = True
            self.emcy(0x8100)  # communication: command watchdog (0x2031)
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
