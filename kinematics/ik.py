"""Inverse kinematics for several end effectors: a preallocated solver around :mod:`cerebellum_rt.kinematics._ik`.

    solver = IKSolver(model, [("left_ankle_roll_link", "pose"), ("left_wrist_yaw_link", "position")],
                      fixed_base=True)
    res = solver.solve(q0, [T_foot, p_hand])    # 4x4 placements or 3-vectors, world frame [m]
    res.converged, res.status, res.iterations, res.position_error, res.q
    res.raise_if_failed()                        # IKError naming the residual and the bound

``solve_into`` is the allocation-free variant for the real-time tick (status code returned).
An unreachable target is never reported as success: the solver stops with ``stalled`` (the
error stopped decreasing) or ``max_iterations`` and reports the residual it reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cerebellum_rt.kinematics import _ik
from cerebellum_rt.kinematics import _kernels as K
from cerebellum_rt.rtcore.errors import CblError, ConfigError, check_range

MODES = {"position": 0, "pose": 1}


class IKError(CblError):
    """Operation phase: inverse kinematics did not reach its targets within tolerance."""


@dataclass(frozen=True)
class IKResult:
    """Outcome of one solve: ``q`` (nq,), ``status`` (converged / max_iterations / stalled),
    ``iterations``, worst effector ``position_error`` [m] and ``rotation_error`` [rad]."""

    q: np.ndarray
    status: str
    iterations: int
    position_error: float
    rotation_error: float
    tol_pos: float
    tol_rot: float
    max_iter: int

    @property
    def converged(self) -> bool:
        return self.status == "converged"

    def raise_if_failed(self) -> IKResult:
        if not self.converged:
            raise IKError(
                f"IK {self.status} after {self.iterations} iterations (bound {self.max_iter}): "
                f"position error {self.position_error:.3g} m (tolerance {self.tol_pos:g} m), "
                f"rotation error {self.rotation_error:.3g} rad (tolerance {self.tol_rot:g} rad)"
            )
        return self


class IKSolver:
    """Damped least-squares IK of ``model`` for a fixed list of ``(frame, mode)`` effectors.

    ``mode``: "position" (3 task rows) or "pose" (6 rows). ``fixed_base``: the free-flyer dofs
    stay where ``q0`` puts them. ``max_iter`` is the stated iteration bound; ``tol_pos`` [m] and
    ``tol_rot`` [rad] the convergence test on every effector. The error must shrink by at least
    ``1 - stall_ratio`` every ``stall_window`` iterations or the solve stops as stalled.
    """

    def __init__(
        self,
        model,  # type: ignore[no-untyped-def]
        effectors: Sequence[tuple[str, str]],
        *,
        fixed_base: bool = False,
        max_iter: int = 100,
        tol_pos: float = 1e-7,
        tol_rot: float = 1e-6,
        damping: float = 1.0,
        bias: float = 1e-6,
        max_step: float = 0.5,
        stall_window: int = 10,
        stall_ratio: float = 0.98,
    ) -> None:
        if not effectors:
            raise ConfigError("IKSolver: effectors is empty; give at least one (frame, mode)")
        self.model = model
        frames, modes = [], []
        for frame, mode in effectors:
            if mode not in MODES:
                raise ConfigError(f"IK effector {frame!r}: mode {mode!r} is not one of {sorted(MODES)}")
            frames.append(model.frame_index(frame))
            modes.append(MODES[mode])
        self.effectors = [(f, m) for f, m in effectors]
        check_range("IKSolver max_iter", max_iter, 1, 100_000)
        check_range("IKSolver tol_pos", tol_pos, 1e-15, 1.0, "m")
        check_range("IKSolver tol_rot", tol_rot, 1e-15, 1.0, "rad")
        check_range("IKSolver damping", damping, 0.0, 1e6)
        check_range("IKSolver bias", bias, 1e-15, 1e3)
        check_range("IKSolver max_step", max_step, 1e-6, 10.0, "rad")
        check_range("IKSolver stall_window", stall_window, 1, 10_000)
        check_range("IKSolver stall_ratio", stall_ratio, 0.0, 1.0)
        self.max_iter, self.tol_pos, self.tol_rot = int(max_iter), float(tol_pos), float(tol_rot)
        self.tframe = np.array(frames, np.int64)
        self.tmode = np.array(modes, np.int64)
        m = int(sum(3 + 3 * md for md in modes))
        nv = model.nv
        self.targets = np.zeros((len(frames), 12))
        self.mask = np.ones(nv)
        if fixed_base:
            for j in range(model.flat.jint.shape[0]):
                if model.flat.jint[j, 1] == K.FREE:
                    iv = int(model.flat.jint[j, 3])
                    self.mask[iv : iv + 6] = 0.0
        self.params = np.zeros(_ik.N_PARAMS)
        self.params[_ik.P_MAX_ITER] = max_iter
        self.params[_ik.P_TOL_POS] = tol_pos
        self.params[_ik.P_TOL_ROT] = tol_rot
        self.params[_ik.P_DAMPING] = damping
        self.params[_ik.P_BIAS] = bias
        self.params[_ik.P_MAX_STEP] = max_step
        self.params[_ik.P_STALL_WINDOW] = stall_window
        self.params[_ik.P_STALL_RATIO] = stall_ratio
        self._jac = np.zeros((6, nv))
        self._jt = np.zeros((m, nv))
        self._err = np.zeros(m)
        self._amat = np.zeros((m, m))
        self._y = np.zeros(m)
        self._dq = np.zeros(nv)
        self._hist = np.zeros(stall_window + 1)
        self.result = np.zeros(3)

    def set_target(self, k: int, target: np.ndarray) -> None:
        """Effector ``k``'s target: a 4x4 world placement, or a 3-vector (position tasks)."""
        t = np.asarray(target, dtype=np.float64)
        if t.shape == (4, 4):
            self.targets[k, :9] = t[:3, :3].reshape(9)
            self.targets[k, 9:] = t[:3, 3]
        elif t.shape == (3,) and self.tmode[k] == 0:
            self.targets[k, :9] = np.eye(3).reshape(9)
            self.targets[k, 9:] = t
        else:
            raise ConfigError(
                f"IK target for effector {self.effectors[k][0]!r} has shape {t.shape}; expected (4, 4)"
                + (" or (3,)" if self.tmode[k] == 0 else "")
            )
        if not np.all(np.isfinite(t)):
            raise ConfigError(f"IK target for effector {self.effectors[k][0]!r} is not finite: {t.tolist()}")

    def solve_into(self, q: np.ndarray) -> int:
        """Solve in place from ``q`` (nq,) to the targets already set; returns the status code
        (``_ik.CONVERGED`` / ``MAX_ITER`` / ``STALLED``); ``self.result`` = (iterations, position
        error, rotation error). Allocation-free: callable in the tick (bounded by max_iter)."""
        f = self.model.flat
        w = self.model.work
        return int(
            _ik.ik_solve(q, f.jint, f.jreal, f.fint, f.freal, w.omi, w.tmp, self._jac, self.tframe, self.tmode,
                         self.targets, self.mask, f.lower, f.upper, self.params, self._jt, self._err,
                         self._amat, self._y, self._dq, self._hist, self.result)
        )  # fmt: skip

    def solve(self, q0: np.ndarray, targets: Sequence[np.ndarray]) -> IKResult:
        """Solve from ``q0`` (left untouched) to ``targets`` (one per effector)."""
        if len(targets) != len(self.effectors):
            raise ConfigError(f"IK: {len(targets)} targets given for {len(self.effectors)} effectors")
        for k, t in enumerate(targets):
            self.set_target(k, t)
        q = np.array(q0, dtype=np.float64)
        if q.shape != (self.model.nq,):
            raise ConfigError(
                f"IK q0 has shape {q.shape}; model {self.model.name!r} needs ({self.model.nq},)"
            )
        if not np.all(np.isfinite(q)):
            bad = int(np.flatnonzero(~np.isfinite(q))[0])
            raise ConfigError(f"IK q0[{bad}] = {q[bad]} is not finite")
        status = self.solve_into(q)
        return IKResult(
            q=q,
            status=_ik.STATUS_NAMES[status],
            iterations=int(self.result[0]),
            position_error=float(self.result[1]),
            rotation_error=float(self.result[2]),
            tol_pos=self.tol_pos,
            tol_rot=self.tol_rot,
            max_iter=self.max_iter,
        )
