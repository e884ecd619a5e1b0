"""The UR5 example laws against an independent float64 DH chain (numpy, 4x4 matrices) and a
finite-difference Jacobian."""

from __future__ import annotations

import numpy as np
from numba import njit

from cerebellum_rt.codegen.examples.ur5 import (
    UR5_DH,
    UR5Input,
    UR5Pose,
    UR5PoseJac,
    ur5_fk_jac_step,
    ur5_fk_step,
)


def _fk64(q: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    for (a, d, k), th in zip(UR5_DH, q):
        al = k * np.pi / 2
        ca, sa = round(np.cos(al)), round(np.sin(al))
        c, s = np.cos(th), np.sin(th)
        T = T @ np.array([[c, -s * ca, s * sa, a * c], [s, c * ca, -c * sa, a * s], [0, sa, ca, d], [0, 0, 0, 1]])
    return T


def test_fk_and_jacobian_match_float64_dh():
    fk, fkj = njit(ur5_fk_step), njit(ur5_fk_jac_step)
    rng = np.random.default_rng(5)
    for _ in range(200):
        q = rng.uniform(-np.pi, np.pi, 6)
        inp, out, outj = UR5Input.new(q=q), UR5Pose.new(), UR5PoseJac.new()
        fk(inp, out)
        fkj(inp, outj)
        T = _fk64(q.astype(np.float32).astype(np.float64))
        assert np.max(np.abs(out["p"] - T[:3, 3])) < 2e-6
        assert np.max(np.abs(out["R"].reshape(3, 3) - T[:3, :3])) < 2e-6
        assert np.array_equal(outj["p"], out["p"]) and np.array_equal(outj["R"], out["R"])
        J = np.empty((3, 6))
        for i in range(6):
            dq = np.zeros(6)
            dq[i] = 1e-6
            J[:, i] = (_fk64(q + dq)[:3, 3] - _fk64(q - dq)[:3, 3]) / 2e-6
        assert np.max(np.abs(outj["J"].reshape(3, 6) - J)) < 1e-5
