"""kinematics: robot models loaded from URDF/MJCF by a library, allocation-free FK, Jacobians, IK, centre of mass.

    from cerebellum_rt import kinematics
    model = kinematics.load_model("g1")              # or a .urdf / .xml path; floating=True/False
    X = model.forward(q)                             # (n_frames, 4, 4) world placements
    J = model.jacobian(q, "left_ankle_roll_link")    # (6, nv), LOCAL_WORLD_ALIGNED, linear first
    c = model.com(q); Jc = model.com_jacobian(q)
    solver = kinematics.IKSolver(model, [("left_ankle_roll_link", "pose")], fixed_base=True)
    hand = kinematics.TendonMap.from_hand_preset("hand_prs6")

Names are imported lazily so that ``import kinematics`` stays cheap (numba compiles on use).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "load_model": ("cerebellum_rt.kinematics.model", "load_model"),
    "KinematicModel": ("cerebellum_rt.kinematics.api", "KinematicModel"),
    "IKSolver": ("cerebellum_rt.kinematics.ik", "IKSolver"),
    "IKResult": ("cerebellum_rt.kinematics.ik", "IKResult"),
    "IKError": ("cerebellum_rt.kinematics.ik", "IKError"),
    "TendonMap": ("cerebellum_rt.kinematics.tendon", "TendonMap"),
    "limb_config": ("cerebellum_rt.kinematics.limb_law", "limb_config"),
    "ROBOTS": ("cerebellum_rt.kinematics.robots", "ROBOTS"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'kinematics' has no attribute {name!r}")
