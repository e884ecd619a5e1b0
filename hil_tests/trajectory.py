"""Joint trajectories for HIL scenarios: the default smooth move, and CSV files, resampled to the loop rate.

A trajectory is sampled at the loop period ``dt`` into preallocated float64 arrays
(position [rad], velocity [rad/s], both at the joint output), so that the real-time tick only
indexes arrays. CSV files have a header and columns ``t_s,position_rad`` and optionally
``velocity_rad_s``; time must start at 0 and strictly increase; missing velocities are the
central finite difference of the resampled positions.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError


@dataclass(frozen=True)
class Trajectory:
    """Setpoints at the loop rate: ``position[k]`` and ``velocity[k]`` for tick ``k`` (t = k*dt)."""

    dt: float
    position: np.ndarray
    velocity: np.ndarray
    source: str

    @property
    def cycles(self) -> int:
        return int(self.position.shape[0])

    def check_limits(self, lo: float, hi: float, vmax: float, what: str) -> None:
        """Raise ConfigError if any setpoint leaves [lo, hi] rad or exceeds vmax rad/s (board limits)."""
        k = int(np.argmax((self.position < lo) | (self.position > hi)))
        if self.position[k] < lo or self.position[k] > hi:
            raise ConfigError(
                f"trajectory {self.source}: position {self.position[k]:.4f} rad at t={k * self.dt:.3f} s "
                f"is outside {what}'s position limits [{lo:.4f}, {hi:.4f}] rad"
            )
        k = int(np.argmax(np.abs(self.velocity)))
        if abs(self.velocity[k]) > vmax:
            raise ConfigError(
                f"trajectory {self.source}: velocity {self.velocity[k]:.3f} rad/s at t={k * self.dt:.3f} s "
                f"exceeds {what}'s velocity limit {vmax:.3f} rad/s"
            )


def default_move(seconds: float, dt: float, amplitude: float = 0.3, freq_hz: float = 0.5) -> Trajectory:
    """q(t) = A (1 - cos(2 pi f t)) [rad]: starts at rest at 0, peaks at 2A; qd = 2 pi f A sin(2 pi f t)."""
    n = round(seconds / dt)
    t = np.arange(n) * dt
    w = 2.0 * math.pi * freq_hz
    return Trajectory(dt, amplitude * (1.0 - np.cos(w * t)), amplitude * w * np.sin(w * t), "default")


def load_csv(path: str | Path, dt: float, seconds: float | None = None) -> Trajectory:
    """Read a CSV trajectory and resample it to ``dt`` (linear interpolation), optionally cut to ``seconds``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"trajectory file {p} does not exist")
    try:
        with p.open(newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"trajectory file {p}: cannot be read as text CSV ({exc})") from None
    if len(rows) < 3:
        raise ConfigError(f"trajectory file {p}: needs a header and at least 2 rows, has {len(rows)} lines")
    header = [h.strip() for h in rows[0]]
    for col in ("t_s", "position_rad"):
        if col not in header:
            raise ConfigError(f"trajectory file {p}: header {header} lacks column '{col}'")
    it, ip = header.index("t_s"), header.index("position_rad")
    iv = header.index("velocity_rad_s") if "velocity_rad_s" in header else None
    data = np.empty((len(rows) - 1, 3))
    for n, row in enumerate(rows[1:], start=2):
        try:
            vals = [float(row[it]), float(row[ip]), float(row[iv]) if iv is not None else 0.0]
        except (ValueError, IndexError):
            raise ConfigError(f"trajectory file {p}, line {n}: expected numbers in {header}, got {row}") from None
        if not all(math.isfinite(v) for v in vals):
            raise ConfigError(f"trajectory file {p}, line {n}: non-finite value in {row}")
        data[n - 2] = vals
    t = data[:, 0]
    if t[0] != 0.0:
        raise ConfigError(f"trajectory file {p}, line 2: time must start at 0 s, got {t[0]}")
    bad = np.nonzero(np.diff(t) <= 0.0)[0]
    if bad.size:
        k = int(bad[0])
        raise ConfigError(
            f"trajectory file {p}, line {k + 3}: time {t[k + 1]} s does not increase (previous {t[k]} s)"
        )
    end = t[-1] if seconds is None else min(t[-1], seconds)
    n = math.floor(end / dt + 1e-9) + 1
    tk = np.arange(n) * dt
    pos = np.interp(tk, t, data[:, 1])
    if iv is not None:
        vel = np.interp(tk, t, data[:, 2])
    else:
        vel = np.gradient(pos, dt) if n > 1 else np.zeros(n)
    return Trajectory(dt, pos, vel, str(p))
