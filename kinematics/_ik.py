"""Private numba kernel: damped least-squares inverse kinematics for several end effectors.

One iteration, with ``e`` the stacked task error and ``J`` the stacked LOCAL_WORLD_ALIGNED
frame Jacobians (3 rows per position task, 6 per pose task; masked dofs zeroed):

    E = 0.5 e^T e,   lambda = damping * E + bias           (Sugihara's Levenberg-Marquardt rule)
    dq = J^T (J J^T + lambda I)^-1 e                        (m x m Cholesky, m = rows)
    q <- integrate(q, dq), then clamp to the position limits

A dof resting on a limit whose error gradient ``(J^T e)_v`` points outward is frozen for that
iteration (its column zeroed), so the others take up the motion instead of pushing into it.

Position error ``p* - p`` [m]; orientation error ``log3(R* R^T)`` [rad] (world axis). Free-flyer
and spherical joints integrate on the quaternion. Status codes (no exception in the tick):
CONVERGED 0, MAX_ITER 1 (still improving when the bound was hit), STALLED 2 (the error stopped
decreasing: unreachable target, joint limits, or a singular configuration).
"""

from __future__ import annotations

import math

import numpy as np

from cerebellum_rt.kinematics._kernels import _NJIT, FREE, REVOLUTE_UNBOUNDED, SPHERICAL, _nv_of, fk_joints
from cerebellum_rt.kinematics._kernels import joint_jacobians_from_fk as _jac_from_fk
from cerebellum_rt.rtcore.jit import njit

CONVERGED = 0
MAX_ITER = 1
STALLED = 2
STATUS_NAMES = ("converged", "max_iterations", "stalled")

# params layout
P_MAX_ITER = 0
P_TOL_POS = 1
P_TOL_ROT = 2
P_DAMPING = 3
P_BIAS = 4
P_MAX_STEP = 5
P_STALL_WINDOW = 6
P_STALL_RATIO = 7
N_PARAMS = 8


@njit(**_NJIT)
def _log3(r: np.ndarray, out: np.ndarray) -> float:
    """Rotation vector of a row-major rotation ``r[0:9]`` into out[0:3]; returns the angle [rad]."""
    tr = r[0] + r[4] + r[8]
    c = min(1.0, max(-1.0, 0.5 * (tr - 1.0)))
    th = math.acos(c)
    wx = r[7] - r[5]
    wy = r[2] - r[6]
    wz = r[3] - r[1]
    if th < 1e-4:
        f = 0.5 + th * th / 12.0
    elif th < math.pi - 1e-4:
        f = th / (2.0 * math.sin(th))
    else:  # near pi: axis from the symmetric part, sign from the antisymmetric part
        ax = math.sqrt(max(0.0, 0.5 * (r[0] + 1.0)))
        ay = math.sqrt(max(0.0, 0.5 * (r[4] + 1.0)))
        az = math.sqrt(max(0.0, 0.5 * (r[8] + 1.0)))
        if ax >= ay and ax >= az:
            ay = math.copysign(ay, r[1] + r[3])
            az = math.copysign(az, r[2] + r[6])
            ax = math.copysign(ax, wx if wx != 0.0 else 1.0)
            ay *= 1.0 if ax >= 0.0 else -1.0
            az *= 1.0 if ax >= 0.0 else -1.0
        elif ay >= az:
            ax = math.copysign(ax, r[1] + r[3])
            az = math.copysign(az, r[5] + r[7])
            ay = math.copysign(ay, wy if wy != 0.0 else 1.0)
            ax *= 1.0 if ay >= 0.0 else -1.0
            az *= 1.0 if ay >= 0.0 else -1.0
        else:
            ax = math.copysign(ax, r[2] + r[6])
            ay = math.copysign(ay, r[5] + r[7])
            az = math.copysign(az, wz if wz != 0.0 else 1.0)
            ax *= 1.0 if az >= 0.0 else -1.0
            ay *= 1.0 if az >= 0.0 else -1.0
        out[0] = th * ax
        out[1] = th * ay
        out[2] = th * az
        return th
    out[0] = f * wx
    out[1] = f * wy
    out[2] = f * wz
    return th


@njit(**_NJIT)
def _frame_pose(omi: np.ndarray, fint: np.ndarray, freal: np.ndarray, f: int, out: np.ndarray) -> int:
    """World placement (12 values) of frame ``f`` into out; returns its parent joint (-1: world)."""
    par = fint[f, 0]
    if par < 0:
        for k in range(12):
            out[k] = freal[f, k]
        return par
    for r in range(3):
        a0 = omi[par, 3 * r]
        a1 = omi[par, 3 * r + 1]
        a2 = omi[par, 3 * r + 2]
        out[3 * r] = a0 * freal[f, 0] + a1 * freal[f, 3] + a2 * freal[f, 6]
        out[3 * r + 1] = a0 * freal[f, 1] + a1 * freal[f, 4] + a2 * freal[f, 7]
        out[3 * r + 2] = a0 * freal[f, 2] + a1 * freal[f, 5] + a2 * freal[f, 8]
        out[9 + r] = a0 * freal[f, 9] + a1 * freal[f, 10] + a2 * freal[f, 11] + omi[par, 9 + r]
    return par


@njit(**_NJIT)
def _quat_step(q: np.ndarray, i: int, wx: float, wy: float, wz: float) -> None:
    """q[i:i+4] (x, y, z, w) <- normalize(q * exp(w / 2)), w a local rotation vector [rad]."""
    th = math.sqrt(wx * wx + wy * wy + wz * wz)
    if th < 1e-12:
        s = 0.5
        c = 1.0
    else:
        s = math.sin(0.5 * th) / th
        c = math.cos(0.5 * th)
    bx = wx * s
    by = wy * s
    bz = wz * s
    x = q[i]
    y = q[i + 1]
    z = q[i + 2]
    w = q[i + 3]
    nx = w * bx + x * c + y * bz - z * by
    ny = w * by - x * bz + y * c + z * bx
    nz = w * bz + x * by - y * bx + z * c
    nw = w * c - x * bx - y * by - z * bz
    n = 1.0 / math.sqrt(nx * nx + ny * ny + nz * nz + nw * nw)
    q[i] = nx * n
    q[i + 1] = ny * n
    q[i + 2] = nz * n
    q[i + 3] = nw * n


@njit(**_NJIT)
def _integrate(q, dq, jint, omi, lower, upper, mask) -> None:  # type: ignore[no-untyped-def]
    """q <- q (+) dq joint by joint (masked joints untouched, bit for bit), then clamp every 1-dof
    coordinate to [lower, upper]."""
    for j in range(jint.shape[0]):
        typ = jint[j, 1]
        iq = jint[j, 2]
        iv = jint[j, 3]
        if mask[iv] == 0.0:
            continue
        if typ == FREE:
            # linear velocity is in the base frame: p += R v (R of the current base placement)
            for r in range(3):
                q[iq + r] += (
                    omi[j, 3 * r] * dq[iv] + omi[j, 3 * r + 1] * dq[iv + 1] + omi[j, 3 * r + 2] * dq[iv + 2]
                )
            _quat_step(q, iq + 3, dq[iv + 3], dq[iv + 4], dq[iv + 5])
        elif typ == SPHERICAL:
            _quat_step(q, iq, dq[iv], dq[iv + 1], dq[iv + 2])
        elif typ == REVOLUTE_UNBOUNDED:
            c = math.cos(dq[iv])
            s = math.sin(dq[iv])
            c0 = q[iq]
            s0 = q[iq + 1]
            q[iq] = c0 * c - s0 * s
            q[iq + 1] = s0 * c + c0 * s
        else:
            x = q[iq] + dq[iv]
            q[iq] = min(upper[iq], max(lower[iq], x))


@njit(**_NJIT)
def _cholesky_solve(a: np.ndarray, m: int, b: np.ndarray, y: np.ndarray) -> bool:
    """Solve a[0:m, 0:m] y = b in place (a is overwritten by its Cholesky factor). False if not SPD."""
    for j in range(m):
        d = a[j, j]
        for k in range(j):
            d -= a[j, k] * a[j, k]
        if d <= 0.0:
            return False
        d = math.sqrt(d)
        a[j, j] = d
        for i in range(j + 1, m):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(m):
        s = b[i]
        for k in range(i):
            s -= a[i, k] * y[k]
        y[i] = s / a[i, i]
    for i in range(m - 1, -1, -1):
        s = y[i]
        for k in range(i + 1, m):
            s -= a[k, i] * y[k]
        y[i] = s / a[i, i]
    return True


@njit(**_NJIT)
def ik_solve(q, jint, jreal, fint, freal, omi, tmp, jac, tframe, tmode, targets, mask, lower, upper,
             params, jt, err, amat, y, dq, hist, result) -> int:  # type: ignore[no-untyped-def]  # fmt: skip
    """Damped least-squares IK (see module doc); ``q`` is the start and receives the solution.

    Effector k: frame ``tframe[k]``, ``tmode[k]`` 0 = position (3 rows) or 1 = pose (6 rows),
    target ``targets[k]`` (12 values R row-major, p). ``mask (nv,)``: 1.0 for dofs the solver
    may move. Scratch: ``jt (m, nv)``, ``err (m,)``, ``amat (m, m)``, ``y (m,)``, ``dq (nv,)``,
    ``hist (window + 1,)``. ``result`` receives (iterations, position error [m], rotation
    error [rad]). Returns a status code. Allocation-free; RT-safe for a bounded ``max_iter``.
    """
    nv = jac.shape[1]
    ne = tframe.shape[0]
    max_iter = int(params[P_MAX_ITER])
    window = int(params[P_STALL_WINDOW])
    pose = tmp[0:12]
    rel = tmp[12:21]
    w = tmp[21:24]
    status = MAX_ITER
    it = 0
    perr = 0.0
    rerr = 0.0
    m = 0
    while True:
        fk_joints(q, jint, jreal, omi, tmp)
        _jac_from_fk(jint, jreal, omi, jac)
        row = 0
        perr = 0.0
        rerr = 0.0
        enorm2 = 0.0
        for k in range(ne):
            par = _frame_pose(omi, fint, freal, tframe[k], pose)
            px = pose[9]
            py = pose[10]
            pz = pose[11]
            ex = targets[k, 9] - px
            ey = targets[k, 10] - py
            ez = targets[k, 11] - pz
            perr = max(perr, math.sqrt(ex * ex + ey * ey + ez * ez))
            err[row] = ex
            err[row + 1] = ey
            err[row + 2] = ez
            nrows = 3
            if tmode[k] == 1:
                for a in range(3):  # rel = R* R^T
                    for b in range(3):
                        rel[3 * a + b] = (
                            targets[k, 3 * a] * pose[3 * b]
                            + targets[k, 3 * a + 1] * pose[3 * b + 1]
                            + targets[k, 3 * a + 2] * pose[3 * b + 2]
                        )
                rerr = max(rerr, _log3(rel, w))
                err[row + 3] = w[0]
                err[row + 4] = w[1]
                err[row + 5] = w[2]
                nrows = 6
            for r in range(nrows):
                enorm2 += err[row + r] * err[row + r]
                for v in range(nv):
                    jt[row + r, v] = 0.0
            j = par
            while j >= 0:
                v0 = jint[j, 3]
                for v in range(v0, v0 + _nv_of(jint[j, 1])):
                    if mask[v] != 0.0:
                        wx = jac[3, v]
                        wy = jac[4, v]
                        wz = jac[5, v]
                        jt[row, v] = jac[0, v] + wy * pz - wz * py
                        jt[row + 1, v] = jac[1, v] + wz * px - wx * pz
                        jt[row + 2, v] = jac[2, v] + wx * py - wy * px
                        if nrows == 6:
                            jt[row + 3, v] = wx
                            jt[row + 4, v] = wy
                            jt[row + 5, v] = wz
                j = jint[j, 0]
            row += nrows
        m = row
        # active set: a dof resting on a limit, with the error gradient J^T e pushing outward, is frozen
        for j in range(jint.shape[0]):
            typ = jint[j, 1]
            v = jint[j, 3]
            iq = jint[j, 2]
            if typ in (FREE, SPHERICAL, REVOLUTE_UNBOUNDED) or mask[v] == 0.0:
                continue
            at_lo = q[iq] <= lower[iq]
            at_hi = q[iq] >= upper[iq]
            if at_lo or at_hi:
                g = 0.0
                for r in range(m):
                    g += jt[r, v] * err[r]
                if (at_hi and g > 0.0) or (at_lo and g < 0.0):
                    for r in range(m):
                        jt[r, v] = 0.0
        enorm = math.sqrt(enorm2)
        if perr <= params[P_TOL_POS] and rerr <= params[P_TOL_ROT]:
            status = CONVERGED
            break
        if it >= max_iter:
            status = MAX_ITER
            break
        hist[it % (window + 1)] = enorm
        if it >= window and enorm > params[P_STALL_RATIO] * hist[(it - window) % (window + 1)]:
            status = STALLED
            break
        lam = params[P_DAMPING] * 0.5 * enorm2 + params[P_BIAS]
        for a in range(m):
            for b in range(a + 1):
                s = 0.0
                for v in range(nv):
                    s += jt[a, v] * jt[b, v]
                amat[a, b] = s
                amat[b, a] = s
            amat[a, a] += lam
        if not _cholesky_solve(amat, m, err, y):
            status = STALLED
            break
        big = 0.0
        for v in range(nv):
            s = 0.0
            for a in range(m):
                s += jt[a, v] * y[a]
            dq[v] = s
            big = max(big, abs(s))
        if big > params[P_MAX_STEP]:
            scale = params[P_MAX_STEP] / big
            for v in range(nv):
                dq[v] *= scale
        _integrate(q, dq, jint, omi, lower, upper, mask)
        it += 1
    result[0] = it
    result[1] = perr
    result[2] = rerr
    return status


__all__ = ["CONVERGED", "MAX_ITER", "STALLED", "ik_solve"]
