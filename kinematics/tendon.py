"""Joint <-> tendon <-> screw maps of a tendon-driven hand, for any coupling matrix.

With ``R`` (n_tendons, n_joints) the moment arms [m] (``cerebellum_rt.actuators.hand.coupling_matrix``):

    tendon excursion toward the actuator   e   = R q                [m]      (q [rad])
    joint torques from tendon tensions     tau = R^T f              [N m]    (f [N])
    minimum-norm joints for an excursion   q   = R^+ e              (R^+ computed once, at init;
                                                                  singular values < 1e-12 m dropped)

Each tendon is pulled by the nut of a planetary roller screw of lead ``lead`` [m/rev] behind a
gearhead of ratio ``N`` (motor turns per screw turn), nut travel = tendon excursion:

    motor angle    theta = k e,   k = 2 pi N / lead                 [rad/m]
    motor torque   T     = f / k  (ideal, lossless)                 [N m]

Both pairs are dual by virtual work: ``tau . dq = f . de`` and ``T . dtheta = f . de``.
All ``*_into`` methods write into caller-provided arrays, allocate nothing and may run in the
real-time tick.
"""

from __future__ import annotations

import math

import numpy as np

from cerebellum_rt.kinematics._kernels import _NJIT
from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.rtcore.jit import njit


@njit(**_NJIT)
def _matvec(a: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = a @ x."""
    for i in range(a.shape[0]):
        s = 0.0
        for j in range(a.shape[1]):
            s += a[i, j] * x[j]
        out[i] = s


@njit(**_NJIT)
def _matvec_t(a: np.ndarray, x: np.ndarray, out: np.ndarray) -> None:
    """out = a.T @ x."""
    for j in range(a.shape[1]):
        out[j] = 0.0
    for i in range(a.shape[0]):
        xi = x[i]
        for j in range(a.shape[1]):
            out[j] += a[i, j] * xi


@njit(**_NJIT)
def _scale(x: np.ndarray, k: np.ndarray, out: np.ndarray, inverse: bool) -> None:
    for i in range(x.shape[0]):
        out[i] = x[i] / k[i] if inverse else x[i] * k[i]


class TendonMap:
    """The maps of one hand: ``R`` (n_tendons, n_joints) [m], per-tendon screw ``lead`` [m/rev]
    and gearhead ``ratio`` (scalars or one per tendon)."""

    def __init__(
        self, coupling: np.ndarray, lead: float | np.ndarray, ratio: float | np.ndarray = 1.0
    ) -> None:
        r = np.array(coupling, dtype=np.float64)
        if r.ndim != 2 or r.size == 0:
            raise ConfigError(f"tendon coupling matrix has shape {r.shape}; expected (n_tendons, n_joints)")
        if not np.all(np.isfinite(r)):
            raise ConfigError("tendon coupling matrix has non-finite entries")
        self.R = np.ascontiguousarray(r)
        self.n_tendons, self.n_joints = r.shape
        lead_a = np.broadcast_to(np.asarray(lead, dtype=np.float64), (self.n_tendons,)).copy()
        ratio_a = np.broadcast_to(np.asarray(ratio, dtype=np.float64), (self.n_tendons,)).copy()
        for i in range(self.n_tendons):
            if not (1e-6 <= lead_a[i] <= 0.1):
                raise ConfigError(f"tendon {i}: screw lead = {lead_a[i]} m is out of range [1e-06, 0.1] m")
            if not (1e-3 <= ratio_a[i] <= 1e4):
                raise ConfigError(f"tendon {i}: gear ratio = {ratio_a[i]} is out of range [0.001, 10000]")
        self.lead = lead_a
        self.ratio = ratio_a
        self.k = 2.0 * math.pi * ratio_a / lead_a  # motor rad per metre of excursion
        # pseudo-inverse, singular values under 1e-12 m (or 1e-12 of the largest) treated as zero
        u, sv, vt = np.linalg.svd(self.R, full_matrices=False)
        keep = sv > max(1e-12, 1e-12 * (sv.max() if sv.size else 0.0))
        inv = np.zeros_like(sv)
        inv[keep] = 1.0 / sv[keep]
        self.R_pinv = np.ascontiguousarray((vt.T * inv) @ u.T)

    @classmethod
    def from_hand_preset(cls, preset: str = "hand_prs6") -> TendonMap:
        """The maps of a hand preset of :mod:`cerebellum_rt.actuators.hand.preset` (coupling, screw lead, gear ratio)."""
        from cerebellum_rt.actuators.hand.preset import coupling_matrix, load_preset

        p = load_preset(preset)
        return cls(coupling_matrix(p), p.raw["screw"]["lead_m"], p.raw["gearhead"]["ratio"])

    def _check(self, x: np.ndarray, n: int, what: str) -> np.ndarray:
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.shape != (n,):
            raise ConfigError(f"{what} has shape {x.shape}; expected ({n},)")
        return x

    # ---------------------------------------------------------------- joint <-> tendon
    def excursion(self, q: np.ndarray) -> np.ndarray:
        """Tendon excursions ``R q`` [m] for joint angles q [rad]."""
        out = np.empty(self.n_tendons)
        _matvec(self.R, self._check(q, self.n_joints, "joint angles q"), out)
        return out

    def excursion_into(self, q: np.ndarray, out: np.ndarray) -> None:
        """RT-safe :meth:`excursion`."""
        _matvec(self.R, q, out)

    def joint_torque(self, tension: np.ndarray) -> np.ndarray:
        """Joint torques ``R^T f`` [N m] for tendon tensions f [N]."""
        out = np.empty(self.n_joints)
        _matvec_t(self.R, self._check(tension, self.n_tendons, "tendon tensions"), out)
        return out

    def joint_torque_into(self, tension: np.ndarray, out: np.ndarray) -> None:
        """RT-safe :meth:`joint_torque`."""
        _matvec_t(self.R, tension, out)

    def joints_min_norm(self, excursion: np.ndarray) -> np.ndarray:
        """Minimum-norm joint angles ``R^+ e`` [rad] producing excursions e (least squares)."""
        out = np.empty(self.n_joints)
        _matvec(self.R_pinv, self._check(excursion, self.n_tendons, "tendon excursions"), out)
        return out

    # ---------------------------------------------------------------- tendon <-> screw / motor
    def motor_angle(self, excursion: np.ndarray) -> np.ndarray:
        """Motor angles ``k e`` [rad] (nut travel = excursion)."""
        out = np.empty(self.n_tendons)
        _scale(self._check(excursion, self.n_tendons, "tendon excursions"), self.k, out, False)
        return out

    def excursion_from_motor(self, theta: np.ndarray) -> np.ndarray:
        """Tendon excursions ``theta / k`` [m] from motor angles [rad]."""
        out = np.empty(self.n_tendons)
        _scale(self._check(theta, self.n_tendons, "motor angles"), self.k, out, True)
        return out

    def screw_travel(self, theta: np.ndarray) -> np.ndarray:
        """Nut travel [m] = ``lead * theta / (2 pi N)`` (equal to the tendon excursion)."""
        return self.excursion_from_motor(theta)

    def motor_torque(self, tension: np.ndarray) -> np.ndarray:
        """Ideal motor torques ``f / k`` [N m] that hold tendon tensions f [N]."""
        out = np.empty(self.n_tendons)
        _scale(self._check(tension, self.n_tendons, "tendon tensions"), self.k, out, True)
        return out

    def tension_from_motor(self, torque: np.ndarray) -> np.ndarray:
        """Ideal tendon tensions ``k T`` [N] from motor torques [N m]."""
        out = np.empty(self.n_tendons)
        _scale(self._check(torque, self.n_tendons, "motor torques"), self.k, out, False)
        return out
