"""Per-cycle loop statistics in preallocated arrays, plus a wake-up latency histogram.

For tick ``i`` (deadline ``d_i``, woke at ``w_i``, read started at ``w_i``, write ended at ``e_i``):

- wake-up latency ``L_i = w_i - d_i``   [ns] (how late the OS woke the loop)
- step time       ``S_i = e_i - w_i``   [ns] (read + update + write compute)
- period          ``P_i = w_i - w_{i-1}`` [ns] (``P_0`` = the nominal period)
- overrun         ``e_i > d_i + T``

The arrays are allocated and pre-faulted once (every page written) so recording a tick never
page-faults. ``record`` is the one call the Python runner makes per tick; compiled runners
write the same arrays directly.
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError

HIST_BIN_NS = 1_000  # histogram bin width: 1 µs
HIST_BINS = 2_001  # 0..1999 µs, last bin counts everything >= 2 ms


class LoopStats:
    """Statistics of one run of up to ``capacity`` ticks (arrays indexed by tick number)."""

    def __init__(self, capacity: int, period_ns: int) -> None:
        if not (1 <= capacity <= 1 << 31):
            raise ConfigError(f"LoopStats.capacity = {capacity} cycles is out of range [1, 2**31]")
        self.period_nominal_ns = int(period_ns)
        self.wake_latency_ns = np.full(capacity, 0, dtype=np.int64)
        self.step_ns = np.full(capacity, 0, dtype=np.int64)
        self.period_ns = np.full(capacity, 0, dtype=np.int64)
        self.overrun = np.full(capacity, 0, dtype=np.uint8)
        self.histogram = np.full(HIST_BINS, 0, dtype=np.int64)  # wake latency, 1 µs bins
        self.cycles = 0  # ticks recorded
        self.overruns = 0  # ticks that ended after the next deadline
        self.skipped = 0  # deadlines dropped by the SKIP policy
        self.max_consecutive_overruns = 0
        self.faulted = False  # stopped by the fault_after policy
        self.watchdog_tripped = False  # stopped by a watchdog trip in lockstep mode
        self.status = 0  # nonzero: a compiled step returned this status and stopped the loop
        self.minor_faults = -1  # page faults of the loop thread during the run (-1: not measured)
        self.heap_delta_bytes: int | None = None  # malloc'd bytes gained during a C loop (None: not measured)

    def record(self, i: int, latency_ns: int, step_ns: int, period_ns: int, overrun: bool) -> None:
        """Store tick ``i``. Real-time safe (writes preallocated arrays only)."""
        self.wake_latency_ns[i] = latency_ns
        self.step_ns[i] = step_ns
        self.period_ns[i] = period_ns
        self.overrun[i] = overrun
        b = latency_ns // HIST_BIN_NS
        self.histogram[b if 0 <= b < HIST_BINS else (HIST_BINS - 1 if b > 0 else 0)] += 1

    @classmethod
    def concat(cls, parts: list[LoopStats]) -> LoopStats:
        """One LoopStats holding the recorded ticks of ``parts`` in order (runs of the same
        period, e.g. interleaved benchmark rounds); counters add, maxima take the max."""
        if not parts:
            raise ConfigError("LoopStats.concat: no runs to join")
        out = cls(max(1, sum(p.cycles for p in parts)), parts[0].period_nominal_ns)
        i = 0
        for p in parts:
            n = p.cycles
            out.wake_latency_ns[i:i + n] = p.wake_latency_ns[:n]
            out.step_ns[i:i + n] = p.step_ns[:n]
            out.period_ns[i:i + n] = p.period_ns[:n]
            out.overrun[i:i + n] = p.overrun[:n]
            out.histogram += p.histogram
            i += n
        out.cycles = i
        out.overruns = sum(p.overruns for p in parts)
        out.skipped = sum(p.skipped for p in parts)
        out.max_consecutive_overruns = max(p.max_consecutive_overruns for p in parts)
        out.faulted = any(p.faulted for p in parts)
        out.watchdog_tripped = any(p.watchdog_tripped for p in parts)
        out.status = next((p.status for p in parts if p.status), 0)
        out.minor_faults = -1 if any(p.minor_faults < 0 for p in parts) else sum(p.minor_faults for p in parts)
        return out

    def summary(self) -> dict[str, float | int]:
        """Percentiles over the recorded ticks, in µs (JSON-friendly)."""
        n = self.cycles
        lat = self.wake_latency_ns[:n] / 1e3
        step = self.step_ns[:n] / 1e3
        per = self.period_ns[:n] / 1e3

        def pct(a: np.ndarray, q: float) -> float:
            return round(float(np.percentile(a, q)), 3) if n else 0.0

        return {
            "cycles": n,
            "overruns": int(self.overruns),
            "skipped": int(self.skipped),
            "max_consecutive_overruns": int(self.max_consecutive_overruns),
            "faulted": bool(self.faulted),
            "watchdog_tripped": bool(self.watchdog_tripped),
            "status": int(self.status),
            "wake_p50_us": pct(lat, 50),
            "wake_p99_us": pct(lat, 99),
            "wake_p999_us": pct(lat, 99.9),
            "wake_max_us": round(float(lat.max()), 3) if n else 0.0,
            "step_p50_us": pct(step, 50),
            "step_p99_us": pct(step, 99),
            "step_max_us": round(float(step.max()), 3) if n else 0.0,
            "period_p50_us": pct(per, 50),
            "minor_faults": int(self.minor_faults),
        }
