"""Private numba kernels: forward kinematics, joint Jacobians, frame Jacobians, centre of mass.

Every kernel is allocation-free and writes into caller-provided arrays; all of them may be
called inside the real-time tick (from compiled code, or from Python through the thin
validating wrappers of :mod:`cerebellum_rt.kinematics.api`). numba is imported only by the kernel modules
(``_kernels``, ``_packed``, ``_ik``, ``tendon``).

Flattened model (see :class:`cerebellum_rt.kinematics.model.FlatModel`), ``nj`` joints without the universe:

``jint[j] = (parent, type, idx_q, idx_v, flag)``  parent = -1 for the universe (world);
    flag = 1 where the fixed placement has no rotation (a cheaper composition)
``jreal[j] = (R_00..R_22, p_x, p_y, p_z, u_x, u_y, u_z)``  fixed placement parent -> joint
    (rotation row-major, translation [m]) and the unit joint axis ``u`` in the joint frame
``fint[f] = (parent joint, identity flag)``; ``freal[f]`` = placement joint -> frame (12 values)
``inertia[j] = (m, c_x, c_y, c_z)``  body mass [kg] and its centre of mass in the joint frame [m]

Joint placement in the world (``oMi``, rows of 12: R row-major then p):

    oMi[j] = oMi[parent] * jplace[j] * X_j(q),

with ``X_j`` the joint motion: a rotation ``Rot(u, q)`` (revolute; Rodrigues
``R = c I + s [u]x + (1 - c) u u^T``), a translation ``u q`` (prismatic), or a full placement
from ``(x, y, z, qx, qy, qz, qw)`` (free flyer, pinocchio's order and local velocity).

Joint Jacobian columns are stored as pinocchio's ``data.J`` (WORLD convention): for a
rotation axis ``a`` (world) through ``o`` the spatial column is ``[o x a ; a]`` (linear
velocity of the body point at the world origin, then angular velocity); for a translation
axis ``a`` it is ``[a ; 0]``. A frame at ``p`` in the world-aligned frame at its origin
(LOCAL_WORLD_ALIGNED) has ``v_p = v_0 + w x p``.
"""

from __future__ import annotations

import math

import numpy as np

from cerebellum_rt.rtcore.jit import njit

FREE = 0
RX = 1
RY = 2
RZ = 3
REVOLUTE = 4
PRISMATIC = 5
REVOLUTE_UNBOUNDED = 6
SPHERICAL = 7

_NJIT = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}

# fdlibm's __kernel_sin / __kernel_cos minimax coefficients on [-pi/4, pi/4] and a two-part
# Cody-Waite pi/2 for the argument reduction.
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11
_PIO2_1 = 1.57079632673412561417e00
_PIO2_1T = 6.07710050650619224932e-11
_INVPIO2 = 6.36619772367581382433e-01


@njit(**_NJIT)
def _sincos(x: float) -> tuple[float, float]:
    """(sin x, cos x) in one call, within 1 ulp of libm for |x| <= 1e5 rad (libm beyond).

    ``x = k pi/2 + r``, |r| <= pi/4, then degree-13 / degree-12 polynomials in r and the
    quadrant swap; about 40 % faster than separate ``math.sin`` / ``math.cos`` calls.
    """
    if abs(x) > 1.0e5:
        return math.sin(x), math.cos(x)
    k = math.floor(x * _INVPIO2 + 0.5)
    r = (x - k * _PIO2_1) - k * _PIO2_1T
    z = r * r
    s = r + r * z * (_S1 + z * (_S2 + z * (_S3 + z * (_S4 + z * (_S5 + z * _S6)))))
    c = 1.0 - 0.5 * z + z * z * (_C1 + z * (_C2 + z * (_C3 + z * (_C4 + z * (_C5 + z * _C6)))))
    n = int(k) & 3
    if n == 0:
        return s, c
    if n == 1:
        return c, -s
    if n == 2:
        return -s, -c
    return -c, s


@njit(**_NJIT)
def _quat_to_rot(x: float, y: float, z: float, w: float, out: np.ndarray) -> None:
    """Unit quaternion (x, y, z, w) -> row-major 3x3 rotation into out[0:9] (Eigen's formula)."""
    tx = 2.0 * x
    ty = 2.0 * y
    tz = 2.0 * z
    twx = tx * w
    twy = ty * w
    twz = tz * w
    txx = tx * x
    txy = ty * x
    txz = tz * x
    tyy = ty * y
    tyz = tz * y
    tzz = tz * z
    out[0] = 1.0 - (tyy + tzz)
    out[1] = txy - twz
    out[2] = txz + twy
    out[3] = txy + twz
    out[4] = 1.0 - (txx + tzz)
    out[5] = tyz - twx
    out[6] = txz - twy
    out[7] = tyz + twx
    out[8] = 1.0 - (txx + tyy)


@njit(**_NJIT)
def _axis_rot(ux: float, uy: float, uz: float, c: float, s: float, out: np.ndarray) -> None:
    """Rodrigues rotation about unit axis u with cos c and sin s, row-major into out[0:9]."""
    t = 1.0 - c
    out[0] = c + t * ux * ux
    out[1] = t * ux * uy - s * uz
    out[2] = t * ux * uz + s * uy
    out[3] = t * ux * uy + s * uz
    out[4] = c + t * uy * uy
    out[5] = t * uy * uz - s * ux
    out[6] = t * ux * uz - s * uy
    out[7] = t * uy * uz + s * ux
    out[8] = c + t * uz * uz


@njit(**_NJIT)
def fk_joints(q: np.ndarray, jint: np.ndarray, jreal: np.ndarray, omi: np.ndarray, tmp: np.ndarray) -> None:
    """World placement of every joint, ``omi[j, 0:12]`` (R row-major, p [m]). ``tmp``: >= 9 floats.

    Joints are stored parents-first (pinocchio's order), so one forward pass suffices:
    ``A = oMi[parent] * jplace`` then ``oMi = A * X_j(q)``; A lives in registers. RT-safe.
    """
    nj = jint.shape[0]
    for j in range(nj):
        par = jint[j, 0]
        typ = jint[j, 1]
        iq = jint[j, 2]
        # A = oMi[parent] * jplace (rotation a_rc, translation a_r)
        if par < 0:
            a00, a01, a02 = jreal[j, 0], jreal[j, 1], jreal[j, 2]
            a10, a11, a12 = jreal[j, 3], jreal[j, 4], jreal[j, 5]
            a20, a21, a22 = jreal[j, 6], jreal[j, 7], jreal[j, 8]
            ax, ay, az = jreal[j, 9], jreal[j, 10], jreal[j, 11]
        else:
            b00, b01, b02 = omi[par, 0], omi[par, 1], omi[par, 2]
            b10, b11, b12 = omi[par, 3], omi[par, 4], omi[par, 5]
            b20, b21, b22 = omi[par, 6], omi[par, 7], omi[par, 8]
            px, py, pz = jreal[j, 9], jreal[j, 10], jreal[j, 11]
            ax = b00 * px + b01 * py + b02 * pz + omi[par, 9]
            ay = b10 * px + b11 * py + b12 * pz + omi[par, 10]
            az = b20 * px + b21 * py + b22 * pz + omi[par, 11]
            if jint[j, 4] == 1:  # placement without rotation
                a00, a01, a02 = b00, b01, b02
                a10, a11, a12 = b10, b11, b12
                a20, a21, a22 = b20, b21, b22
            else:
                c00, c01, c02 = jreal[j, 0], jreal[j, 1], jreal[j, 2]
                c10, c11, c12 = jreal[j, 3], jreal[j, 4], jreal[j, 5]
                c20, c21, c22 = jreal[j, 6], jreal[j, 7], jreal[j, 8]
                a00 = b00 * c00 + b01 * c10 + b02 * c20
                a01 = b00 * c01 + b01 * c11 + b02 * c21
                a02 = b00 * c02 + b01 * c12 + b02 * c22
                a10 = b10 * c00 + b11 * c10 + b12 * c20
                a11 = b10 * c01 + b11 * c11 + b12 * c21
                a12 = b10 * c02 + b11 * c12 + b12 * c22
                a20 = b20 * c00 + b21 * c10 + b22 * c20
                a21 = b20 * c01 + b21 * c11 + b22 * c21
                a22 = b20 * c02 + b21 * c12 + b22 * c22
        # oMi = A * X_j(q)
        if typ == RX:
            s, c = _sincos(q[iq])
            omi[j, 0], omi[j, 1], omi[j, 2] = a00, c * a01 + s * a02, c * a02 - s * a01
            omi[j, 3], omi[j, 4], omi[j, 5] = a10, c * a11 + s * a12, c * a12 - s * a11
            omi[j, 6], omi[j, 7], omi[j, 8] = a20, c * a21 + s * a22, c * a22 - s * a21
            omi[j, 9], omi[j, 10], omi[j, 11] = ax, ay, az
        elif typ == RY:
            s, c = _sincos(q[iq])
            omi[j, 0], omi[j, 1], omi[j, 2] = c * a00 - s * a02, a01, c * a02 + s * a00
            omi[j, 3], omi[j, 4], omi[j, 5] = c * a10 - s * a12, a11, c * a12 + s * a10
            omi[j, 6], omi[j, 7], omi[j, 8] = c * a20 - s * a22, a21, c * a22 + s * a20
            omi[j, 9], omi[j, 10], omi[j, 11] = ax, ay, az
        elif typ == RZ:
            s, c = _sincos(q[iq])
            omi[j, 0], omi[j, 1], omi[j, 2] = c * a00 + s * a01, c * a01 - s * a00, a02
            omi[j, 3], omi[j, 4], omi[j, 5] = c * a10 + s * a11, c * a11 - s * a10, a12
            omi[j, 6], omi[j, 7], omi[j, 8] = c * a20 + s * a21, c * a21 - s * a20, a22
            omi[j, 9], omi[j, 10], omi[j, 11] = ax, ay, az
        elif typ == PRISMATIC:
            d = q[iq]
            ux = jreal[j, 12] * d
            uy = jreal[j, 13] * d
            uz = jreal[j, 14] * d
            omi[j, 0], omi[j, 1], omi[j, 2] = a00, a01, a02
            omi[j, 3], omi[j, 4], omi[j, 5] = a10, a11, a12
            omi[j, 6], omi[j, 7], omi[j, 8] = a20, a21, a22
            omi[j, 9] = ax + a00 * ux + a01 * uy + a02 * uz
            omi[j, 10] = ay + a10 * ux + a11 * uy + a12 * uz
            omi[j, 11] = az + a20 * ux + a21 * uy + a22 * uz
        else:
            m = tmp
            if typ == FREE:
                _quat_to_rot(q[iq + 3], q[iq + 4], q[iq + 5], q[iq + 6], m)
                mx, my, mz = q[iq], q[iq + 1], q[iq + 2]
            elif typ == SPHERICAL:
                _quat_to_rot(q[iq], q[iq + 1], q[iq + 2], q[iq + 3], m)
                mx, my, mz = 0.0, 0.0, 0.0
            else:
                if typ == REVOLUTE:
                    s, c = _sincos(q[iq])
                else:  # REVOLUTE_UNBOUNDED: q = (cos, sin), used as given (pinocchio does)
                    c = q[iq]
                    s = q[iq + 1]
                _axis_rot(jreal[j, 12], jreal[j, 13], jreal[j, 14], c, s, m)
                mx, my, mz = 0.0, 0.0, 0.0
            omi[j, 0] = a00 * m[0] + a01 * m[3] + a02 * m[6]
            omi[j, 1] = a00 * m[1] + a01 * m[4] + a02 * m[7]
            omi[j, 2] = a00 * m[2] + a01 * m[5] + a02 * m[8]
            omi[j, 3] = a10 * m[0] + a11 * m[3] + a12 * m[6]
            omi[j, 4] = a10 * m[1] + a11 * m[4] + a12 * m[7]
            omi[j, 5] = a10 * m[2] + a11 * m[5] + a12 * m[8]
            omi[j, 6] = a20 * m[0] + a21 * m[3] + a22 * m[6]
            omi[j, 7] = a20 * m[1] + a21 * m[4] + a22 * m[7]
            omi[j, 8] = a20 * m[2] + a21 * m[5] + a22 * m[8]
            omi[j, 9] = a00 * mx + a01 * my + a02 * mz + ax
            omi[j, 10] = a10 * mx + a11 * my + a12 * mz + ay
            omi[j, 11] = a20 * mx + a21 * my + a22 * mz + az


@njit(**_NJIT)
def frames_from_joints(omi: np.ndarray, fint: np.ndarray, freal: np.ndarray, out: np.ndarray) -> None:
    """Homogeneous world placement of every frame into ``out[f]`` (4x4) from the joint placements."""
    nf = fint.shape[0]
    for f in range(nf):
        par = fint[f, 0]
        if par < 0:
            for r in range(3):
                out[f, r, 0] = freal[f, 3 * r]
                out[f, r, 1] = freal[f, 3 * r + 1]
                out[f, r, 2] = freal[f, 3 * r + 2]
                out[f, r, 3] = freal[f, 9 + r]
        elif fint[f, 1] == 1:
            for r in range(3):
                out[f, r, 0] = omi[par, 3 * r]
                out[f, r, 1] = omi[par, 3 * r + 1]
                out[f, r, 2] = omi[par, 3 * r + 2]
                out[f, r, 3] = omi[par, 9 + r]
        else:
            for r in range(3):
                a0 = omi[par, 3 * r]
                a1 = omi[par, 3 * r + 1]
                a2 = omi[par, 3 * r + 2]
                out[f, r, 0] = a0 * freal[f, 0] + a1 * freal[f, 3] + a2 * freal[f, 6]
                out[f, r, 1] = a0 * freal[f, 1] + a1 * freal[f, 4] + a2 * freal[f, 7]
                out[f, r, 2] = a0 * freal[f, 2] + a1 * freal[f, 5] + a2 * freal[f, 8]
                out[f, r, 3] = a0 * freal[f, 9] + a1 * freal[f, 10] + a2 * freal[f, 11] + omi[par, 9 + r]
        out[f, 3, 0] = 0.0
        out[f, 3, 1] = 0.0
        out[f, 3, 2] = 0.0
        out[f, 3, 3] = 1.0


@njit(**_NJIT)
def forward(q, jint, jreal, fint, freal, omi, tmp, out) -> None:  # type: ignore[no-untyped-def]
    """Forward kinematics of every frame: joint pass then frame pass, into ``out (nf, 4, 4)``. RT-safe."""
    fk_joints(q, jint, jreal, omi, tmp)
    frames_from_joints(omi, fint, freal, out)


@njit(**_NJIT)
def _set_col(jac: np.ndarray, v: int, o: np.ndarray, ax: float, ay: float, az: float, rot: bool) -> None:
    """One WORLD-convention column: rotation about (ax, ay, az) through o[9:12], or a translation."""
    if rot:
        ox = o[9]
        oy = o[10]
        oz = o[11]
        jac[0, v] = oy * az - oz * ay
        jac[1, v] = oz * ax - ox * az
        jac[2, v] = ox * ay - oy * ax
        jac[3, v] = ax
        jac[4, v] = ay
        jac[5, v] = az
    else:
        jac[0, v] = ax
        jac[1, v] = ay
        jac[2, v] = az
        jac[3, v] = 0.0
        jac[4, v] = 0.0
        jac[5, v] = 0.0


@njit(**_NJIT)
def joint_jacobians_from_fk(jint: np.ndarray, jreal: np.ndarray, omi: np.ndarray, jac: np.ndarray) -> None:
    """All joint Jacobian columns ``jac (6, nv)`` in the WORLD convention (pinocchio ``data.J``)."""
    nj = jint.shape[0]
    for j in range(nj):
        typ = jint[j, 1]
        v = jint[j, 3]
        o = omi[j]
        if typ in (FREE, SPHERICAL):
            base = v
            if typ == FREE:
                for k in range(3):
                    _set_col(jac, v + k, o, o[k], o[3 + k], o[6 + k], False)
                base = v + 3
            for k in range(3):
                _set_col(jac, base + k, o, o[k], o[3 + k], o[6 + k], True)
        elif RX <= typ <= RZ:
            k = typ - RX
            _set_col(jac, v, o, o[k], o[3 + k], o[6 + k], True)
        else:
            ux = jreal[j, 12]
            uy = jreal[j, 13]
            uz = jreal[j, 14]
            ax = o[0] * ux + o[1] * uy + o[2] * uz
            ay = o[3] * ux + o[4] * uy + o[5] * uz
            az = o[6] * ux + o[7] * uy + o[8] * uz
            _set_col(jac, v, o, ax, ay, az, typ != PRISMATIC)


@njit(**_NJIT)
def joint_jacobians(q, jint, jreal, omi, tmp, jac) -> None:  # type: ignore[no-untyped-def]
    """Forward kinematics of the joints, then every joint Jacobian column (pinocchio's
    ``computeJointJacobians``). ``jac (6, nv)``, WORLD convention. RT-safe."""
    fk_joints(q, jint, jreal, omi, tmp)
    joint_jacobians_from_fk(jint, jreal, omi, jac)


@njit(**_NJIT)
def _nv_of(typ: int) -> int:
    if typ == FREE:
        return 6
    if typ == SPHERICAL:
        return 3
    return 1


@njit(**_NJIT)
def frame_jacobian_lwa(
    jint: np.ndarray, jac: np.ndarray, parent: int, px: float, py: float, pz: float, out: np.ndarray
) -> None:
    """Jacobian (6, nv) of a point ``p`` (world, [m]) fixed to joint ``parent``, LOCAL_WORLD_ALIGNED:
    linear rows ``v_0 + w x p`` then angular rows; zero for dofs not supporting ``parent``. RT-safe."""
    nv = out.shape[1]
    for r in range(6):
        for v in range(nv):
            out[r, v] = 0.0
    j = parent
    while j >= 0:
        v0 = jint[j, 3]
        for v in range(v0, v0 + _nv_of(jint[j, 1])):
            wx = jac[3, v]
            wy = jac[4, v]
            wz = jac[5, v]
            out[0, v] = jac[0, v] + wy * pz - wz * py
            out[1, v] = jac[1, v] + wz * px - wx * pz
            out[2, v] = jac[2, v] + wx * py - wy * px
            out[3, v] = wx
            out[4, v] = wy
            out[5, v] = wz
        j = jint[j, 0]


@njit(**_NJIT)
def center_of_mass(q, jint, jreal, inertia, omi, tmp, com) -> float:  # type: ignore[no-untyped-def]
    """Forward kinematics then the whole-body centre of mass ``com[0:3]`` [m] (world); returns the
    total mass [kg]: ``c = sum_j m_j (R_j c_j + p_j) / sum_j m_j``. RT-safe."""
    fk_joints(q, jint, jreal, omi, tmp)
    return com_from_fk(inertia, omi, com)


@njit(**_NJIT)
def com_from_fk(inertia: np.ndarray, omi: np.ndarray, com: np.ndarray) -> float:
    """Centre of mass from the joint placements (see :func:`center_of_mass`)."""
    mt = 0.0
    hx = 0.0
    hy = 0.0
    hz = 0.0
    for j in range(inertia.shape[0]):
        m = inertia[j, 0]
        o = omi[j]
        cx = inertia[j, 1]
        cy = inertia[j, 2]
        cz = inertia[j, 3]
        mt += m
        hx += m * (o[0] * cx + o[1] * cy + o[2] * cz + o[9])
        hy += m * (o[3] * cx + o[4] * cy + o[5] * cz + o[10])
        hz += m * (o[6] * cx + o[7] * cy + o[8] * cz + o[11])
    com[0] = hx / mt
    com[1] = hy / mt
    com[2] = hz / mt
    return mt


@njit(**_NJIT)
def com_jacobian_from_fk(
    jint: np.ndarray,
    jreal: np.ndarray,
    inertia: np.ndarray,
    omi: np.ndarray,
    sub: np.ndarray,
    jcom: np.ndarray,
) -> float:
    """Jacobian of the centre of mass ``jcom (3, nv)`` [m/rad or m/m] and ``com`` into ``sub[0, 0:3]``...

    Uses subtree sums ``sub[j] = (M_j, h_j)`` (mass, first moment ``sum m c`` in the world) over
    joint ``j`` and its descendants: a rotation axis ``a`` through ``o`` moves the subtree's
    centre of mass at ``(a x (h_j - M_j o)) / M``; a translation axis at ``(M_j / M) a``.
    ``sub`` is scratch of shape (nj + 1, 4); row nj receives the totals (M, c). Returns M [kg].
    """
    nj = jint.shape[0]
    for j in range(nj):
        m = inertia[j, 0]
        o = omi[j]
        cx = inertia[j, 1]
        cy = inertia[j, 2]
        cz = inertia[j, 3]
        sub[j, 0] = m
        sub[j, 1] = m * (o[0] * cx + o[1] * cy + o[2] * cz + o[9])
        sub[j, 2] = m * (o[3] * cx + o[4] * cy + o[5] * cz + o[10])
        sub[j, 3] = m * (o[6] * cx + o[7] * cy + o[8] * cz + o[11])
    for k in range(4):
        sub[nj, k] = 0.0
    for j in range(nj - 1, -1, -1):
        par = jint[j, 0]
        dst = nj if par < 0 else par
        for k in range(4):
            sub[dst, k] += sub[j, k]
    mt = sub[nj, 0]
    inv = 1.0 / mt
    for j in range(nj):
        typ = jint[j, 1]
        v = jint[j, 3]
        o = omi[j]
        ms = sub[j, 0]
        dx = sub[j, 1] - ms * o[9]
        dy = sub[j, 2] - ms * o[10]
        dz = sub[j, 3] - ms * o[11]
        n_rot = 0
        if typ == FREE:
            for k in range(3):
                jcom[0, v + k] = ms * inv * o[k]
                jcom[1, v + k] = ms * inv * o[3 + k]
                jcom[2, v + k] = ms * inv * o[6 + k]
            v += 3
            n_rot = 3
        elif typ == SPHERICAL:
            n_rot = 3
        elif RX <= typ <= RZ:
            k = typ - RX
            ax = o[k]
            ay = o[3 + k]
            az = o[6 + k]
            jcom[0, v] = inv * (ay * dz - az * dy)
            jcom[1, v] = inv * (az * dx - ax * dz)
            jcom[2, v] = inv * (ax * dy - ay * dx)
        else:
            ux = jreal[j, 12]
            uy = jreal[j, 13]
            uz = jreal[j, 14]
            ax = o[0] * ux + o[1] * uy + o[2] * uz
            ay = o[3] * ux + o[4] * uy + o[5] * uz
            az = o[6] * ux + o[7] * uy + o[8] * uz
            if typ == PRISMATIC:
                jcom[0, v] = ms * inv * ax
                jcom[1, v] = ms * inv * ay
                jcom[2, v] = ms * inv * az
            else:
                jcom[0, v] = inv * (ay * dz - az * dy)
                jcom[1, v] = inv * (az * dx - ax * dz)
                jcom[2, v] = inv * (ax * dy - ay * dx)
        for k in range(n_rot):
            ax = o[k]
            ay = o[3 + k]
            az = o[6 + k]
            jcom[0, v + k] = inv * (ay * dz - az * dy)
            jcom[1, v + k] = inv * (az * dx - ax * dz)
            jcom[2, v + k] = inv * (ax * dy - ay * dx)
    for k in range(1, 4):
        sub[nj, k] *= inv
    return mt
