"""Real-time set-up with graceful degradation.

Steps, each optional: SCHED_FIFO priority, mlockall(MCL_CURRENT | MCL_FUTURE), CPU affinity,
timer slack (prctl PR_SET_TIMERSLACK, default 1 ns instead of the kernel's 50 µs), a
/dev/cpu_dma_latency hold (keeps the CPU out of deep C-states while the file stays open), and a
gc policy ('freeze': move every object to the permanent generation and disable the collector,
so no collection runs inside a tick; 'disable'; 'keep').

Every step the OS refuses is reported once per process as an :class:`RtWarning` and the loop
goes on, unless ``strict=True`` (the ``--strict-rt`` flag), where the first refusal raises
:class:`~rtcore.errors.RtSetupError`. Scheduling, affinity and timer slack apply to the
*calling thread* (Linux semantics of pid 0), so call :meth:`RtConfig.apply` from the loop's
thread; :meth:`RtSession.restore` undoes what was done.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import os
import struct
import warnings
from dataclasses import dataclass, field

from cerebellum_rt.rtcore.errors import ConfigError, RtSetupError

MCL_CURRENT = 1
MCL_FUTURE = 2
PR_SET_TIMERSLACK = 29
PR_GET_TIMERSLACK = 30
GC_POLICIES = ("freeze", "disable", "keep")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_reported: set[str] = set()


class RtWarning(RuntimeWarning):
    """A real-time set-up step was refused by the OS; the loop runs with less determinism."""


@dataclass
class RtSession:
    """What :meth:`RtConfig.apply` did: ``applied`` and ``refused`` step names, and what
    :meth:`restore` needs to undo it."""

    applied: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    _old_sched: tuple[int, int] | None = None
    _old_affinity: set[int] | None = None
    _old_slack: int | None = None
    _dma_fd: int | None = None
    _gc_was_enabled: bool = True
    _gc_frozen: bool = False
    _locked: bool = False

    def restore(self) -> None:
        """Undo every applied step (idempotent)."""
        if self._old_sched is not None:
            pol, prio = self._old_sched
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, pol, os.sched_param(prio))
            self._old_sched = None
        if self._old_affinity is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, self._old_affinity)
            self._old_affinity = None
        if self._old_slack is not None:
            _libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(self._old_slack), 0, 0, 0)
            self._old_slack = None
        if self._dma_fd is not None:
            os.close(self._dma_fd)
            self._dma_fd = None
        if self._locked:
            _libc.munlockall()
            self._locked = False
        if self._gc_frozen:
            gc.unfreeze()
            self._gc_frozen = False
        if self._gc_was_enabled and not gc.isenabled():
            gc.enable()

    def __enter__(self) -> RtSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()


@dataclass
class RtConfig:
    """Real-time options of a loop. ``priority`` 0 keeps the current policy; ``cpus`` None
    keeps the affinity; ``timer_slack_ns`` None keeps it; ``dma_latency_us`` None skips the
    /dev/cpu_dma_latency hold; ``lock_memory`` calls mlockall; ``gc`` is 'freeze', 'disable'
    or 'keep'; ``strict`` turns any refusal into an error."""

    priority: int = 80
    cpus: tuple[int, ...] | None = None
    lock_memory: bool = True
    timer_slack_ns: int | None = 1
    dma_latency_us: int | None = None
    gc: str = "freeze"
    strict: bool = False

    def __post_init__(self) -> None:
        lo, hi = os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)
        if self.priority != 0 and not (lo <= self.priority <= hi):
            raise ConfigError(f"RtConfig.priority = {self.priority} is out of range [{lo}, {hi}] (0 = keep)")
        if self.gc not in GC_POLICIES:
            raise ConfigError(f"RtConfig.gc = {self.gc!r} is not one of {list(GC_POLICIES)}")
        if self.timer_slack_ns is not None and not (1 <= self.timer_slack_ns <= 10_000_000):
            raise ConfigError(f"RtConfig.timer_slack_ns = {self.timer_slack_ns} ns is out of range [1, 1e7] ns")
        if self.dma_latency_us is not None and not (0 <= self.dma_latency_us <= 1_000_000):
            raise ConfigError(f"RtConfig.dma_latency_us = {self.dma_latency_us} µs is out of range [0, 1e6] µs")
        if self.cpus is not None:
            ncpu = os.cpu_count() or 1
            self.cpus = tuple(int(c) for c in self.cpus)
            bad = [c for c in self.cpus if not (0 <= c < ncpu)]
            if bad or not self.cpus:
                raise ConfigError(f"RtConfig.cpus = {list(self.cpus)} must be CPUs in [0, {ncpu - 1}]")

    @classmethod
    def off(cls) -> RtConfig:
        """No real-time set-up at all (tests, lockstep runs)."""
        return cls(priority=0, lock_memory=False, timer_slack_ns=None, gc="keep")

    def _refuse(self, session: RtSession, step: str, why: str) -> None:
        session.refused[step] = why
        if self.strict:
            raise RtSetupError(f"--strict-rt: real-time step '{step}' was refused: {why}")
        if step not in _reported:
            _reported.add(step)
            warnings.warn(f"real-time step '{step}' refused ({why}); running without it", RtWarning, stacklevel=3)

    def apply(self) -> RtSession:
        """Apply every configured step to the calling thread and process; return the session."""
        s = RtSession()
        if self.priority:
            try:
                old = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(self.priority))
                s._old_sched = old
                s.applied.append("sched_fifo")
            except OSError as exc:
                self._refuse(s, "sched_fifo", f"SCHED_FIFO priority {self.priority}: {exc.strerror}")
        if self.cpus is not None:
            try:
                old_aff = os.sched_getaffinity(0)
                os.sched_setaffinity(0, self.cpus)
                s._old_affinity = old_aff
                s.applied.append("affinity")
            except OSError as exc:
                self._refuse(s, "affinity", f"CPUs {list(self.cpus)}: {exc.strerror}")
        if self.lock_memory:
            if _libc.mlockall(MCL_CURRENT | MCL_FUTURE) == 0:
                s._locked = True
                s.applied.append("mlockall")
            else:
                self._refuse(s, "mlockall", os.strerror(ctypes.get_errno()))
        if self.timer_slack_ns is not None:
            old_slack = _libc.prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)
            if old_slack >= 0 and _libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(self.timer_slack_ns), 0, 0, 0) == 0:
                s._old_slack = old_slack
                s.applied.append("timer_slack")
            else:
                self._refuse(s, "timer_slack", os.strerror(ctypes.get_errno()))
        if self.dma_latency_us is not None:
            try:
                fd = os.open("/dev/cpu_dma_latency", os.O_WRONLY)
                try:
                    os.write(fd, struct.pack("i", self.dma_latency_us))
                except OSError:
                    os.close(fd)
                    raise
                s._dma_fd = fd
                s.applied.append("cpu_dma_latency")
            except OSError as exc:
                self._refuse(s, "cpu_dma_latency", f"/dev/cpu_dma_latency: {exc.strerror}")
        s._gc_was_enabled = gc.isenabled()
        if self.gc in ("freeze", "disable"):
            gc.collect()
            if self.gc == "freeze":
                gc.freeze()
                s._gc_frozen = True
            gc.disable()
            s.applied.append(f"gc_{self.gc}")
        return s


def raise_thread_priority(native_id: int, priority: int, name: str, strict: bool = False) -> bool:
    """Put another thread of this process (``threading.Thread.native_id``) under SCHED_FIFO
    ``priority``: e.g. an emulated device's service thread, which on real hardware would have a
    CPU of its own, just below the loop that waits for it. A refusal warns once per ``name``
    (``strict``: raises RtSetupError). Returns True when applied. Not for the tick."""
    lo, hi = os.sched_get_priority_min(os.SCHED_FIFO), os.sched_get_priority_max(os.SCHED_FIFO)
    if not lo <= priority <= hi:
        raise ConfigError(f"{name} thread priority = {priority} is out of range [{lo}, {hi}]")
    try:
        os.sched_setscheduler(native_id, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except OSError as exc:
        step = f"sched_fifo:{name}"
        why = f"SCHED_FIFO priority {priority} for thread {native_id} ({name}): {exc.strerror}"
        if strict:
            raise RtSetupError(f"--strict-rt: real-time step '{step}' was refused: {why}") from None
        if step not in _reported:
            _reported.add(step)
            warnings.warn(f"real-time step '{step}' refused ({why}); running without it", RtWarning, stacklevel=2)
        return False
