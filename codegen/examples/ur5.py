"""UR5 forward kinematics and 3x6 position Jacobian as laws (the codegen benchmark functions).

Standard Denavit-Hartenberg parameters of the UR5 (Universal Robots, "DH parameters for
calculations of kinematics and dynamics", universal-robots.com/articles/ur/
application-installation/dh-parameters-for-calculations-of-kinematics-and-dynamics/):

=====  ===========  =========  ==========
joint  a [m]        d [m]      alpha [rad]
=====  ===========  =========  ==========
1      0            0.089159   pi/2
2      -0.425       0          0
3      -0.39225     0          0
4      0            0.10915    pi/2
5      0            0.09465    -pi/2
6      0            0.0823     0
=====  ===========  =========  ==========

Each link is A_i = Rz(q_i) Tz(d_i) Tx(a_i) Rx(alpha_i). With R = [x y z] the rotation so far and
(c, s) = (cos q_i, sin q_i), the new rotation has x' = c x + s y and, for alpha = 0,
y' = c y - s x, z' = z; for alpha = +pi/2, y' = z, z' = s x - c y; for alpha = -pi/2,
y' = -z, z' = c y - s x; the origin moves by a_i x' + d_i z. ``ur5_fk_step`` writes the tool
position p [m] and the rotation R (row-major 3x3); ``ur5_fk_jac_step`` adds the position
Jacobian J (row-major 3x6, [m/rad]): column i = z_{i-1} x (p - o_{i-1}).
``kinematics`` of this project can check both against pinocchio; the benchmark checks them
against CasADi built from the same table (``codegen/casadi_peer.py``).
"""

from __future__ import annotations

from cerebellum_rt.codegen.law import Record, array, f32
from cerebellum_rt.codegen.mathf32 import sin_cos
from cerebellum_rt.rtcore.jit import njit

UR5_DH = (  # (a, d, alpha) per joint, as in the table above; alpha in multiples of pi/2
    (0.0, 0.089159, 1),
    (-0.425, 0.0, 0),
    (-0.39225, 0.0, 0),
    (0.0, 0.10915, 1),
    (0.0, 0.09465, -1),
    (0.0, 0.0823, 0),
)
# float32 constants: under numba a Python float would be float64 and the law would no longer
# give the bits of its generated C (the reference rounds every literal to float32 anyway)
D1, A2, A3, D4, D5, D6 = (f32(v) for v in (0.089159, -0.425, -0.39225, 0.10915, 0.09465, 0.0823))
ZERO, ONE = f32(0.0), f32(1.0)


class UR5Input(Record):
    q: array(f32, 6)  # joint angles [rad]


class UR5Pose(Record):
    p: array(f32, 3)  # tool position in the base frame [m]
    R: array(f32, 9)  # tool rotation, row-major


class UR5PoseJac(Record):
    p: array(f32, 3)  # [m]
    R: array(f32, 9)  # row-major
    J: array(f32, 18)  # position Jacobian, row-major 3x6 [m/rad]


def ur5_fk_step(inp: UR5Input, out: UR5Pose) -> None:
    """Tool pose of the UR5 from its joint angles. Real-time safe."""
    # joint 1 (alpha +pi/2) from the base frame: x = (c, s, 0), y = z0 = (0, 0, 1), z = (s, -c, 0)
    s, c = sin_cos(inp.q[0])
    xx, xy, xz = c, s, ZERO
    yx, yy, yz = ZERO, ZERO, ONE
    zx, zy, zz = s, -c, ZERO
    px, py, pz = ZERO, ZERO, D1
    # joint 2 (alpha 0, a2)
    s, c = sin_cos(inp.q[1])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    yx, yy, yz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    xx, xy, xz = nx, ny, nz
    px, py, pz = px + A2 * xx, py + A2 * xy, pz + A2 * xz
    # joint 3 (alpha 0, a3)
    s, c = sin_cos(inp.q[2])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    yx, yy, yz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    xx, xy, xz = nx, ny, nz
    px, py, pz = px + A3 * xx, py + A3 * xy, pz + A3 * xz
    # joint 4 (alpha +pi/2, d4): origin moves along the old z first
    px, py, pz = px + D4 * zx, py + D4 * zy, pz + D4 * zz
    s, c = sin_cos(inp.q[3])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    tx, ty, tz = s * xx - c * yx, s * xy - c * yy, s * xz - c * yz
    yx, yy, yz = zx, zy, zz
    zx, zy, zz = tx, ty, tz
    xx, xy, xz = nx, ny, nz
    # joint 5 (alpha -pi/2, d5)
    px, py, pz = px + D5 * zx, py + D5 * zy, pz + D5 * zz
    s, c = sin_cos(inp.q[4])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    tx, ty, tz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    yx, yy, yz = -zx, -zy, -zz
    zx, zy, zz = tx, ty, tz
    xx, xy, xz = nx, ny, nz
    # joint 6 (alpha 0, d6)
    px, py, pz = px + D6 * zx, py + D6 * zy, pz + D6 * zz
    s, c = sin_cos(inp.q[5])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    yx, yy, yz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    xx, xy, xz = nx, ny, nz
    out.p[0] = px
    out.p[1] = py
    out.p[2] = pz
    out.R[0] = xx
    out.R[1] = yx
    out.R[2] = zx
    out.R[3] = xy
    out.R[4] = yy
    out.R[5] = zy
    out.R[6] = xz
    out.R[7] = yz
    out.R[8] = zz


@njit(cache=True)  # a law called by a law must be jitted for numba
def _cross_col(out: UR5PoseJac, col: int, zx: f32, zy: f32, zz: f32, dx: f32, dy: f32, dz: f32) -> None:
    """J[:, col] = z x d (a law called by a law)."""
    out.J[col] = zy * dz - zz * dy
    out.J[6 + col] = zz * dx - zx * dz
    out.J[12 + col] = zx * dy - zy * dx


def ur5_fk_jac_step(inp: UR5Input, out: UR5PoseJac) -> None:
    """Tool pose and 3x6 position Jacobian of the UR5. Real-time safe."""
    s, c = sin_cos(inp.q[0])
    xx, xy, xz = c, s, ZERO
    yx, yy, yz = ZERO, ZERO, ONE
    zx, zy, zz = s, -c, ZERO
    px, py, pz = ZERO, ZERO, D1
    z1x, z1y = zx, zy  # z1 = z2 = z3 (alpha 0 on joints 2, 3); its z component is 0
    o1z = pz
    s, c = sin_cos(inp.q[1])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    yx, yy, yz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    xx, xy, xz = nx, ny, nz
    px, py, pz = px + A2 * xx, py + A2 * xy, pz + A2 * xz
    o2x, o2y, o2z = px, py, pz
    s, c = sin_cos(inp.q[2])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    yx, yy, yz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    xx, xy, xz = nx, ny, nz
    px, py, pz = px + A3 * xx, py + A3 * xy, pz + A3 * xz
    o3x, o3y, o3z = px, py, pz
    px, py, pz = px + D4 * zx, py + D4 * zy, pz + D4 * zz
    o4x, o4y, o4z = px, py, pz
    s, c = sin_cos(inp.q[3])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    tx, ty, tz = s * xx - c * yx, s * xy - c * yy, s * xz - c * yz
    yx, yy, yz = zx, zy, zz
    zx, zy, zz = tx, ty, tz
    xx, xy, xz = nx, ny, nz
    z4x, z4y, z4z = zx, zy, zz
    px, py, pz = px + D5 * zx, py + D5 * zy, pz + D5 * zz
    o5x, o5y, o5z = px, py, pz
    s, c = sin_cos(inp.q[4])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    tx, ty, tz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    yx, yy, yz = -zx, -zy, -zz
    zx, zy, zz = tx, ty, tz
    xx, xy, xz = nx, ny, nz
    px, py, pz = px + D6 * zx, py + D6 * zy, pz + D6 * zz
    s, c = sin_cos(inp.q[5])
    nx, ny, nz = c * xx + s * yx, c * xy + s * yy, c * xz + s * yz
    yx, yy, yz = c * yx - s * xx, c * yy - s * xy, c * yz - s * xz
    xx, xy, xz = nx, ny, nz
    out.p[0] = px
    out.p[1] = py
    out.p[2] = pz
    out.R[0] = xx
    out.R[1] = yx
    out.R[2] = zx
    out.R[3] = xy
    out.R[4] = yy
    out.R[5] = zy
    out.R[6] = xz
    out.R[7] = yz
    out.R[8] = zz
    _cross_col(out, 0, ZERO, ZERO, ONE, px, py, pz)
    _cross_col(out, 1, z1x, z1y, ZERO, px, py, pz - o1z)
    _cross_col(out, 2, z1x, z1y, ZERO, px - o2x, py - o2y, pz - o2z)
    _cross_col(out, 3, z1x, z1y, ZERO, px - o3x, py - o3y, pz - o3z)
    _cross_col(out, 4, z4x, z4y, z4z, px - o4x, py - o4y, pz - o4z)
    _cross_col(out, 5, zx, zy, zz, px - o5x, py - o5y, pz - o5z)
