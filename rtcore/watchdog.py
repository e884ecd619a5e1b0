"""Software watchdog: trips the safety ladder when the loop stops feeding it.

The loop *feeds* the watchdog every tick (``heartbeat[0]`` += 1, ``heartbeat[1]`` = time [ns]);
compiled runners write the same int64[2] array. :meth:`Watchdog.check` decides, from the time
of the last feed and ``now``, whether the loop has stalled for longer than ``timeout_ns``:

- first trip: rung 0 of the safety ladder is called with a reason (DESIGN.md: quick stop ->
  damping -> safe torque off); the rungs are user callbacks, rtcore knows no device;
- a rung that returns ``False`` or raises counts as failed: the next rung is called at once;
- while the stall goes on, one more rung fires every ``escalate_ns``;
- the trip is latched: feeding again does not un-trip; :meth:`reset` does (after recovery).

In real-time mode a daemon thread calls ``check`` every ``timeout_ns / 4`` (the runner starts
and stops it); in lockstep mode the runner calls :meth:`check` with virtual time at the end of
each tick, before feeding, so a tick whose step took too long trips it deterministically.
The thread needs the GIL to run: a Python-runner step stuck in C code that holds the GIL stalls
the watchdog too (the Cython runner releases the GIL; a separate process can watch
``heartbeat`` through shared memory for the strongest guarantee).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError, check_range

Rung = Callable[[str], object]


class Watchdog:
    """Stall detector over a heartbeat, escalating through ``rungs`` (at least one).

    ``heartbeat``: an int64[2] to feed (default: a private one); pass one backed by shared
    memory to let another process watch the loop. ``thread``: check from a daemon thread in
    real-time mode."""

    def __init__(self, timeout_ns: int, rungs: Sequence[Rung], escalate_ns: int | None = None,
                 thread: bool = True, heartbeat: np.ndarray | None = None) -> None:
        self.timeout_ns = int(check_range("Watchdog.timeout_ns", timeout_ns, 100_000, 60_000_000_000, "ns"))
        if not rungs or not all(callable(r) for r in rungs):
            raise ConfigError(f"Watchdog.rungs = {rungs!r}: need at least one callable safety rung")
        self.rungs = list(rungs)
        self.escalate_ns = int(escalate_ns if escalate_ns is not None else self.timeout_ns)
        check_range("Watchdog.escalate_ns", self.escalate_ns, 100_000, 60_000_000_000, "ns")
        if heartbeat is None:
            heartbeat = np.full(2, 0, dtype=np.int64)
        elif heartbeat.dtype != np.int64 or heartbeat.shape != (2,) or not heartbeat.flags.c_contiguous:
            raise ConfigError(f"Watchdog.heartbeat: {heartbeat.dtype}{list(heartbeat.shape)} is not a contiguous int64[2]")
        self.heartbeat = heartbeat  # [feeds, time of last feed ns]; may live in shared memory
        self.use_thread = thread
        self.tripped_rung = -1  # highest rung fired, -1 = not tripped
        self.failed_rungs: list[int] = []
        self.events: list[tuple[int, int, str]] = []  # (time ns, rung, reason)
        self._last_fire_ns = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def feed(self, now_ns: int) -> None:
        """Tell the watchdog the loop is alive at ``now_ns``. Real-time safe."""
        hb = self.heartbeat
        hb[1] = now_ns
        hb[0] += 1

    @property
    def tripped(self) -> bool:
        return self.tripped_rung >= 0

    def check(self, now_ns: int) -> int:
        """Trip or escalate if the last feed is older than the timeout; return the highest rung
        fired so far (-1: not tripped). Not for the tick itself (it may call the rungs)."""
        with self._lock:
            stalled_ns = now_ns - int(self.heartbeat[1])
            if not self.tripped:
                if stalled_ns > self.timeout_ns:
                    self._fire(0, now_ns, f"watchdog: loop stalled {stalled_ns / 1e6:.3f} ms "
                               f"(timeout {self.timeout_ns / 1e6:.3f} ms)")
            elif (self.tripped_rung < len(self.rungs) - 1 and stalled_ns > self.timeout_ns
                  and now_ns - self._last_fire_ns >= self.escalate_ns):
                self._fire(self.tripped_rung + 1, now_ns,
                           f"watchdog: loop still stalled {stalled_ns / 1e6:.3f} ms, escalating")
            return self.tripped_rung

    def _fire(self, rung: int, now_ns: int, reason: str) -> None:
        while True:
            self.tripped_rung = rung
            self._last_fire_ns = now_ns
            self.events.append((now_ns, rung, reason))
            try:
                ok = self.rungs[rung](reason)
            except Exception as exc:  # a failed rung must never stop the ladder
                ok = False
                reason = f"{reason}; rung {rung} raised {type(exc).__name__}: {exc}"
            if ok is not False or rung + 1 >= len(self.rungs):
                return
            self.failed_rungs.append(rung)
            rung += 1
            reason = f"{reason}; rung {rung - 1} failed"

    def reset(self) -> None:
        """Clear a trip after the cause is fixed (the heartbeat keeps counting)."""
        with self._lock:
            self.tripped_rung = -1
            self.failed_rungs.clear()

    # -- real-time mode ------------------------------------------------------------------
    def start(self, now_ns: int, lockstep: bool = False) -> None:
        """Arm: treat ``now_ns`` as a feed; in real-time mode start the checking thread (if
        configured). In lockstep mode the runner calls :meth:`check` before each feed."""
        self.feed(now_ns)
        if self.use_thread and not lockstep and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cbl-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Disarm (stop the thread; a trip stays latched)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        interval = self.timeout_ns / 4e9
        while not self._stop.wait(interval):
            self.check(time.clock_gettime_ns(time.CLOCK_MONOTONIC))
