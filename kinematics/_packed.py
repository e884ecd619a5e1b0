"""Private numba entry points on the packed model: the kernels of :mod:`cerebellum_rt.kinematics._kernels`
behind fewer arguments, because each array argument costs ~65 ns of dispatch when called from
Python. Layout (built by :func:`cerebellum_rt.kinematics.api.pack`), two 2-D arrays whose row blocks are the
kernels' arrays (row slices are free in numba; reshapes are not)::

    ints (1 + nj + nf, 5) int64:  row 0 = (nj, nf, 0, 0, 0), then jint rows, then fint rows
                                  (columns 0-1 used)
    buf (3 nj + nf + 1, 15) float64:  jreal rows, freal rows (columns 0-11), inertia rows
                                  (0-3), then the scratch: omi rows (0-11), one tmp row

All entry points are allocation-free and RT-safe.
"""

from __future__ import annotations

from cerebellum_rt.kinematics._kernels import (
    _NJIT,
    com_from_fk,
    fk_joints,
    frame_jacobian_lwa,
    frames_from_joints,
    joint_jacobians_from_fk,
)
from cerebellum_rt.rtcore.jit import njit

LOCAL_WORLD_ALIGNED = 0
LOCAL = 1
WORLD = 2


@njit(**_NJIT)
def _unpack(ints, buf):  # type: ignore[no-untyped-def]
    nj = ints[0, 0]
    nf = ints[0, 1]
    jint = ints[1 : 1 + nj]
    fint = ints[1 + nj : 1 + nj + nf]
    jreal = buf[0:nj]
    freal = buf[nj : nj + nf]
    inertia = buf[nj + nf : 2 * nj + nf]
    omi = buf[2 * nj + nf : 3 * nj + nf]
    tmp = buf[3 * nj + nf]
    return jint, fint, jreal, freal, inertia, omi, tmp


@njit(**_NJIT)
def forward_packed(q, ints, buf, out) -> None:  # type: ignore[no-untyped-def]
    """:func:`forward` on the packed model. RT-safe."""
    jint, fint, jreal, freal, _inertia, omi, tmp = _unpack(ints, buf)
    fk_joints(q, jint, jreal, omi, tmp)
    frames_from_joints(omi, fint, freal, out)


@njit(**_NJIT)
def fk_joints_packed(q, ints, buf) -> None:  # type: ignore[no-untyped-def]
    """:func:`fk_joints` on the packed model (joint placements into the packed scratch). RT-safe."""
    jint, _fint, jreal, _freal, _inertia, omi, tmp = _unpack(ints, buf)
    fk_joints(q, jint, jreal, omi, tmp)


@njit(**_NJIT)
def joint_jacobians_packed(q, ints, buf, jac) -> None:  # type: ignore[no-untyped-def]
    """:func:`joint_jacobians` on the packed model. RT-safe."""
    jint, _fint, jreal, _freal, _inertia, omi, tmp = _unpack(ints, buf)
    fk_joints(q, jint, jreal, omi, tmp)
    joint_jacobians_from_fk(jint, jreal, omi, jac)


@njit(**_NJIT)
def center_of_mass_packed(q, ints, buf, com) -> float:  # type: ignore[no-untyped-def]
    """:func:`center_of_mass` on the packed model. RT-safe."""
    jint, _fint, jreal, _freal, inertia, omi, tmp = _unpack(ints, buf)
    fk_joints(q, jint, jreal, omi, tmp)
    return com_from_fk(inertia, omi, com)


@njit(**_NJIT)
def frame_jacobian_packed(q, ints, buf, jac, frame, ref, out) -> None:  # type: ignore[no-untyped-def]
    """FK, every joint column into ``jac`` (6, nv), then the Jacobian of ``frame`` into ``out``
    (6, nv), linear rows first, in ``ref``: LOCAL_WORLD_ALIGNED (world axes, at the frame
    origin), LOCAL (the frame's own axes, at its origin: ``R^T`` times the former) or WORLD
    (world axes, velocity of the point at the world origin). RT-safe."""
    jint, fint, jreal, freal, _inertia, omi, tmp = _unpack(ints, buf)
    fk_joints(q, jint, jreal, omi, tmp)
    joint_jacobians_from_fk(jint, jreal, omi, jac)
    par = fint[frame, 0]
    if ref == WORLD:
        frame_jacobian_lwa(jint, jac, par, 0.0, 0.0, 0.0, out)
        return
    if par < 0:
        px, py, pz = freal[frame, 9], freal[frame, 10], freal[frame, 11]
    else:
        fx, fy, fz = freal[frame, 9], freal[frame, 10], freal[frame, 11]
        px = omi[par, 0] * fx + omi[par, 1] * fy + omi[par, 2] * fz + omi[par, 9]
        py = omi[par, 3] * fx + omi[par, 4] * fy + omi[par, 5] * fz + omi[par, 10]
        pz = omi[par, 6] * fx + omi[par, 7] * fy + omi[par, 8] * fz + omi[par, 11]
    frame_jacobian_lwa(jint, jac, par, px, py, pz, out)
    if ref == LOCAL:
        # frame rotation R = R_par * R_f (row-major into tmp[0:9]); out <- blockdiag(R^T, R^T) out
        for r in range(3):
            for c in range(3):
                if par < 0:
                    tmp[3 * r + c] = freal[frame, 3 * r + c]
                else:
                    tmp[3 * r + c] = (
                        omi[par, 3 * r] * freal[frame, c]
                        + omi[par, 3 * r + 1] * freal[frame, 3 + c]
                        + omi[par, 3 * r + 2] * freal[frame, 6 + c]
                    )
        for v in range(out.shape[1]):
            for blk in range(0, 6, 3):
                x = out[blk, v]
                y = out[blk + 1, v]
                z = out[blk + 2, v]
                out[blk, v] = tmp[0] * x + tmp[3] * y + tmp[6] * z
                out[blk + 1, v] = tmp[1] * x + tmp[4] * y + tmp[7] * z
                out[blk + 2, v] = tmp[2] * x + tmp[5] * y + tmp[8] * z
