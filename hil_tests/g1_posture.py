"""G1 leg postures by kinematics: balanced stands and squats with the pelvis level and the feet flat.

A posture is the deployment's default angles bent by a squat parameter ``s`` and leaned by a
balance offset ``h`` (per leg, model order hip pitch, hip roll, hip yaw, knee, ankle pitch,
ankle roll): hip pitch -0.1 - s + h, knee 0.3 + 2 s, ankle pitch -0.2 - s - h, rolls and yaw 0;
the other joints of a whole-body model (waist, arms) at 0.
Hip + knee + ankle pitch = 0 keeps the feet parallel to a level pelvis. :func:`posture` picks
``s`` for a wanted pelvis drop and ``h`` so that the centre of mass is above the middle of the
feet's contact points (a pure joint PD cannot balance actively: the stand must be statically
balanced). The contact points are the collision geoms of the ankle roll links.
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError, check_range

FEET = ("left_ankle_roll_link", "right_ankle_roll_link")
BASE = np.array([-0.1, 0.0, 0.0, 0.3, -0.2, 0.0])  # g1.yaml default angles, one leg


def _legs(model, s: float, h: float) -> np.ndarray:
    """Both legs (model order: left, right), every other joint (waist, arms) at 0."""
    leg = BASE + np.array([-s + h, 0.0, 0.0, 2.0 * s, -s - h, 0.0])
    q = np.zeros(model.nq - 7)
    q[:12] = np.concatenate([leg, leg])
    return q


_DATA: dict[int, tuple] = {}  # id(model) -> (model, scratch MjData)


def _kin(model, q: np.ndarray):
    import mujoco

    hit = _DATA.get(id(model))
    if hit is None or hit[0] is not model:
        hit = _DATA[id(model)] = (model, mujoco.MjData(model))
    d = hit[1]
    d.qpos[:] = 0.0
    d.qpos[3] = 1.0
    d.qpos[7:7 + q.size] = q
    mujoco.mj_fwdPosition(model, d)
    return d


def _contacts(model) -> np.ndarray:
    feet = {model.body(name).id for name in FEET}
    g = [i for i in range(model.ngeom) if model.geom_bodyid[i] in feet and model.geom_contype[i]]
    if not g:
        raise ConfigError(f"G1 model: no collision geoms on {FEET}")
    return np.array(g)


def pelvis_height(model, q: np.ndarray) -> float:
    """Pelvis height above the floor when the lowest foot contact point touches it (level pelvis)."""
    d = _kin(model, np.asarray(q, np.float64))
    g = _contacts(model)
    low = float(np.min(d.geom_xpos[g, 2] - model.geom_size[g, 0] * (model.geom_type[g] == 2)))
    return float(d.qpos[2]) - low


def _com_offset(model, q: np.ndarray) -> float:
    """Centre of mass x minus the middle of the feet's contact points x (level pelvis)."""
    d = _kin(model, q)
    g = _contacts(model)
    return float(d.subtree_com[1, 0] - d.geom_xpos[g, 0].mean())


def _bisect(f, lo: float, hi: float, what: str) -> float:
    flo, fhi = f(lo), f(hi)
    if flo * fhi > 0:
        raise ConfigError(f"G1 posture: no {what} in [{lo}, {hi}]")
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        if fm * flo > 0:
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def balanced(model, s: float) -> np.ndarray:
    """Joint angles of squat parameter ``s`` with the centre of mass above the feet."""
    h = _bisect(lambda h: _com_offset(model, _legs(model, s, h)), -0.5, 0.5, "balance offset")
    return _legs(model, s, h)


def posture(model, drop_m: float = 0.0) -> np.ndarray:
    """The balanced posture whose pelvis is ``drop_m`` below the balanced stand's (every joint)."""
    check_range("G1 posture drop", drop_m, 0.0, 0.3, "m")
    z0 = pelvis_height(model, balanced(model, 0.0))
    if drop_m == 0.0:
        return balanced(model, 0.0)
    s = _bisect(lambda s: z0 - pelvis_height(model, balanced(model, s)) - drop_m, 0.0, 0.8, "squat depth")
    return balanced(model, s)
