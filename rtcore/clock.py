"""Clocks for the loop: wall-clock (real-time mode) and virtual time (lockstep mode).

Both expose ``now_ns()`` (CLOCK_MONOTONIC nanoseconds, or virtual nanoseconds) and
``sleep_until(deadline_ns)``. The real-time clock sleeps on an *absolute* deadline
(``clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)``) so that the time spent computing a tick
never shifts the next one, optionally wakes ``spin_ns`` early and busy-waits the tail (trading
one core's idle time for lower wake-up jitter). The lockstep clock never sleeps: its time jumps
to each deadline, so a loop driven by it is deterministic; code can also ``advance(ns)`` it to
model compute time.

The lockstep clock keeps its time in a 1-element int64 array (``cell``) so compiled runners
(the Cython loop) read and advance the same time as the Python side.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import time

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError, check_range

CLOCK_MONOTONIC = 1
TIMER_ABSTIME = 1
_NS = 1_000_000_000


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_clock_nanosleep = _libc.clock_nanosleep
_clock_nanosleep.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Timespec), ctypes.c_void_p]
_clock_nanosleep.restype = ctypes.c_int


class RealTimeClock:
    """CLOCK_MONOTONIC with absolute-deadline sleep and an optional spin tail.

    ``spin_ns``: wake this long before each deadline, then busy-wait until it (0 = no spin).
    ``now_ns`` and ``sleep_until`` are callable inside the real-time tick (no allocation that
    survives the call; the timespec is preallocated).
    """

    lockstep = False

    def __init__(self, spin_ns: int = 0) -> None:
        self.spin_ns = int(check_range("RealTimeClock.spin_ns", spin_ns, 0, 10_000_000, "ns"))
        self._ts = _Timespec()
        self._ts_ref = ctypes.byref(self._ts)

    @staticmethod
    def now_ns() -> int:
        """Monotonic time [ns]. Real-time safe."""
        return time.clock_gettime_ns(time.CLOCK_MONOTONIC)

    def sleep_until(self, deadline_ns: int) -> None:
        """Sleep until the absolute monotonic time ``deadline_ns`` (spinning the last
        ``spin_ns``); return at once if it has passed. Real-time safe."""
        wake = deadline_ns - self.spin_ns
        ts = self._ts
        ts.tv_sec, ts.tv_nsec = divmod(wake, _NS)
        while True:
            rc = _clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, self._ts_ref, None)
            if rc != errno.EINTR:  # absolute sleep: simply retry after a signal
                break
        if rc != 0:
            raise OSError(rc, f"clock_nanosleep: {os.strerror(rc)}")
        if self.spin_ns:
            now = time.clock_gettime_ns
            mono = time.CLOCK_MONOTONIC
            while now(mono) < deadline_ns:
                pass


class LockstepClock:
    """Virtual time for lockstep mode: ``sleep_until`` jumps to the deadline, never sleeps.

    A deadline in the past leaves time where it is (time never goes back). ``advance(ns)``
    moves time forward, e.g. to model a step's compute time in tests. Real-time safe.
    """

    lockstep = True

    def __init__(self, start_ns: int = 0) -> None:
        if start_ns < 0:
            raise ConfigError(f"LockstepClock.start_ns = {start_ns} ns is out of range [0, 2**62] ns")
        self.cell = np.full(1, start_ns, dtype=np.int64)

    def now_ns(self) -> int:
        """Virtual time [ns]."""
        return int(self.cell[0])

    def sleep_until(self, deadline_ns: int) -> None:
        """Jump virtual time to ``deadline_ns`` if it is ahead."""
        if deadline_ns > self.cell[0]:
            self.cell[0] = deadline_ns

    def advance(self, ns: int) -> None:
        """Move virtual time forward by ``ns`` >= 0 (models compute or bus time)."""
        if ns < 0:
            raise ConfigError(f"LockstepClock.advance(ns = {ns}) is out of range [0, inf) ns")
        self.cell[0] += ns


Clock = RealTimeClock | LockstepClock
