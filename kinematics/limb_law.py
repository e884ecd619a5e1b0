"""Float32 forward kinematics and tool Jacobian of one revolute limb, as a codegen law.

The SoC's tick runs this law (compiled to C by codegen, or under numba); the float64 kernels of
:mod:`cerebellum_rt.kinematics._kernels` are its oracle. A limb is a serial chain of up to ``LIMB_MAX``
revolute joints from a root frame (e.g. the pelvis) to a tool frame (e.g. the ankle roll link),
taken from a loaded model by :func:`limb_config`. Everything is expressed in the root frame.

Per joint i < n (placements as 12 floats: R row-major, then p [m]):

    A_i = M_{i-1} * place_i                 (M_{-1} = base: root frame <- first parent joint)
    M_i = A_i * Rot(u_i, q_i),  Rot = c I + s [u]x + (1 - c) u u^T   (s, c = sin_cos(q_i))
    tool = M_{n-1} * tip
    J[:, i] = [a_i x (p_tool - o_i) ; a_i],  a_i = R_i u_i, o_i = p_i     (LOCAL_WORLD_ALIGNED
              in the root frame: linear rows first, then angular; zero for i >= n)

Output ``jac`` is 6 x LIMB_MAX row-major (``jac[r * LIMB_MAX + i]``).
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.codegen.law import Record, array, f32, i32
from cerebellum_rt.codegen.mathf32 import sin_cos
from cerebellum_rt.rtcore.errors import ConfigError

LIMB_MAX = 8
# constants as plain Python: codegen gives them float32 in the C and on the host (codegen.host_law)
ZERO, ONE = 0.0, 1.0


class LimbConfig(Record):
    n: i32 = 6  # joints used (<= LIMB_MAX)
    base: array(f32, 12)  # root frame <- parent joint of the first limb joint
    place: array(f32, 12 * LIMB_MAX)  # fixed placement of joint i in joint i - 1 (i = 0: in base)
    axis: array(f32, 3 * LIMB_MAX)  # unit rotation axis of joint i, in its own frame
    tip: array(f32, 12)  # tool frame in the last joint's frame


class LimbState(Record):
    steps: i32  # calls since init (diagnostics)


class LimbInput(Record):
    q: array(f32, LIMB_MAX)  # [rad]


class LimbOutput(Record):
    pose: array(f32, 12 * LIMB_MAX)  # placement of each joint in the root frame
    tool: array(f32, 12)  # placement of the tool frame in the root frame
    jac: array(f32, 6 * LIMB_MAX)  # tool Jacobian, 6 x LIMB_MAX row-major [m/rad; 1]


def limb_fk_step(cfg: LimbConfig, st: LimbState, inp: LimbInput, out: LimbOutput) -> None:
    """One evaluation: joint placements, tool placement and tool Jacobian (see module doc)."""
    for i in range(LIMB_MAX):
        if i < cfg.n:
            ux = cfg.axis[3 * i]
            uy = cfg.axis[3 * i + 1]
            uz = cfg.axis[3 * i + 2]
            s, c = sin_cos(inp.q[i])
            t = ONE - c
            m0 = c + t * ux * ux
            m1 = t * ux * uy - s * uz
            m2 = t * ux * uz + s * uy
            m3 = t * ux * uy + s * uz
            m4 = c + t * uy * uy
            m5 = t * uy * uz - s * ux
            m6 = t * ux * uz - s * uy
            m7 = t * uy * uz + s * ux
            m8 = c + t * uz * uz
            for r in range(3):
                x0 = cfg.base[3 * r] if i == 0 else out.pose[12 * i - 12 + 3 * r]
                x1 = cfg.base[3 * r + 1] if i == 0 else out.pose[12 * i - 11 + 3 * r]
                x2 = cfg.base[3 * r + 2] if i == 0 else out.pose[12 * i - 10 + 3 * r]
                xp = cfg.base[9 + r] if i == 0 else out.pose[12 * i - 3 + r]
                k = 12 * i
                a0 = x0 * cfg.place[k] + x1 * cfg.place[k + 3] + x2 * cfg.place[k + 6]
                a1 = x0 * cfg.place[k + 1] + x1 * cfg.place[k + 4] + x2 * cfg.place[k + 7]
                a2 = x0 * cfg.place[k + 2] + x1 * cfg.place[k + 5] + x2 * cfg.place[k + 8]
                ap = x0 * cfg.place[k + 9] + x1 * cfg.place[k + 10] + x2 * cfg.place[k + 11] + xp
                out.pose[k + 3 * r] = a0 * m0 + a1 * m3 + a2 * m6
                out.pose[k + 3 * r + 1] = a0 * m1 + a1 * m4 + a2 * m7
                out.pose[k + 3 * r + 2] = a0 * m2 + a1 * m5 + a2 * m8
                out.pose[k + 9 + r] = ap
            if i == cfg.n - 1:
                for r in range(3):
                    x0 = out.pose[k + 3 * r]
                    x1 = out.pose[k + 3 * r + 1]
                    x2 = out.pose[k + 3 * r + 2]
                    out.tool[3 * r] = x0 * cfg.tip[0] + x1 * cfg.tip[3] + x2 * cfg.tip[6]
                    out.tool[3 * r + 1] = x0 * cfg.tip[1] + x1 * cfg.tip[4] + x2 * cfg.tip[7]
                    out.tool[3 * r + 2] = x0 * cfg.tip[2] + x1 * cfg.tip[5] + x2 * cfg.tip[8]
                    out.tool[9 + r] = (
                        x0 * cfg.tip[9] + x1 * cfg.tip[10] + x2 * cfg.tip[11] + out.pose[k + 9 + r]
                    )
    for i in range(LIMB_MAX):
        if i < cfg.n:
            k = 12 * i
            ux = cfg.axis[3 * i]
            uy = cfg.axis[3 * i + 1]
            uz = cfg.axis[3 * i + 2]
            ax = out.pose[k] * ux + out.pose[k + 1] * uy + out.pose[k + 2] * uz
            ay = out.pose[k + 3] * ux + out.pose[k + 4] * uy + out.pose[k + 5] * uz
            az = out.pose[k + 6] * ux + out.pose[k + 7] * uy + out.pose[k + 8] * uz
            dx = out.tool[9] - out.pose[k + 9]
            dy = out.tool[10] - out.pose[k + 10]
            dz = out.tool[11] - out.pose[k + 11]
            out.jac[i] = ay * dz - az * dy
            out.jac[LIMB_MAX + i] = az * dx - ax * dz
            out.jac[2 * LIMB_MAX + i] = ax * dy - ay * dx
            out.jac[3 * LIMB_MAX + i] = ax
            out.jac[4 * LIMB_MAX + i] = ay
            out.jac[5 * LIMB_MAX + i] = az
        else:
            for r in range(6):
                out.jac[r * LIMB_MAX + i] = ZERO
    st.steps = st.steps + 1


def _inv12(p: np.ndarray) -> np.ndarray:
    r = p[:9].reshape(3, 3)
    out = np.empty(12)
    out[:9] = r.T.reshape(9)
    out[9:] = -r.T @ p[9:]
    return out


def limb_config(model, root: str, tip: str) -> tuple[np.void, list[str]]:  # type: ignore[no-untyped-def]
    """``(LimbConfig record, joint names)`` of the chain from frame ``root`` to frame ``tip`` of a
    :class:`cerebellum_rt.kinematics.api.KinematicModel`. Every joint on the path must be revolute and the
    root frame must be an ancestor of the tip; at most ``LIMB_MAX`` joints."""
    from cerebellum_rt.kinematics import _kernels as K

    f = model.flat
    ri, ti = model.frame_index(root), model.frame_index(tip)
    root_joint = int(f.fint[ri, 0])
    chain: list[int] = []
    j = int(f.fint[ti, 0])
    while j != root_joint:
        if j < 0:
            raise ConfigError(f"limb {root!r} -> {tip!r}: frame {root!r} is not an ancestor of {tip!r}")
        chain.append(j)
        j = int(f.jint[j, 0])
    chain.reverse()
    if not 1 <= len(chain) <= LIMB_MAX:
        raise ConfigError(f"limb {root!r} -> {tip!r} has {len(chain)} joints; allowed range [1, {LIMB_MAX}]")
    cfg = LimbConfig.new(n=len(chain))
    base = _inv12(f.freal[ri])
    cfg["base"] = base.astype(np.float32)
    place = np.zeros(12 * LIMB_MAX)
    axis = np.zeros(3 * LIMB_MAX)
    for i, j in enumerate(chain):
        typ = int(f.jint[j, 1])
        if not (K.RX <= typ <= K.REVOLUTE):
            raise ConfigError(
                f"limb {root!r} -> {tip!r}: joint {model.joint_names[j]!r} has type code {typ}; "
                "the float32 limb law handles revolute joints only"
            )
        place[12 * i : 12 * i + 12] = f.jreal[j, :12]
        axis[3 * i : 3 * i + 3] = f.jreal[j, 12:15]
    cfg["place"] = place.astype(np.float32)
    cfg["axis"] = axis.astype(np.float32)
    cfg["tip"] = f.freal[ti].astype(np.float32)
    return cfg, [model.joint_names[j] for j in chain]
