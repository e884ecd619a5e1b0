"""Robot models: loaded from URDF / MJCF by pinocchio's parsers, flattened into arrays for the
numba kernels of :mod:`cerebellum_rt.kinematics._kernels`.

``q`` follows pinocchio's convention for the same file and options (free flyer first as
``x y z qx qy qz qw``), ``v`` / Jacobian columns follow pinocchio's velocity ordering (free
flyer: linear then angular velocity in the base frame), so results compare one-to-one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cerebellum_rt.kinematics import _kernels as K
from cerebellum_rt.kinematics.robots import resolve
from cerebellum_rt.rtcore.errors import ConfigError

_TYPES: dict[str, tuple[int, tuple[float, float, float] | None]] = {
    "JointModelFreeFlyer": (K.FREE, None),
    "JointModelRX": (K.RX, (1.0, 0.0, 0.0)),
    "JointModelRY": (K.RY, (0.0, 1.0, 0.0)),
    "JointModelRZ": (K.RZ, (0.0, 0.0, 1.0)),
    "JointModelRevoluteUnaligned": (K.REVOLUTE, None),
    "JointModelPX": (K.PRISMATIC, (1.0, 0.0, 0.0)),
    "JointModelPY": (K.PRISMATIC, (0.0, 1.0, 0.0)),
    "JointModelPZ": (K.PRISMATIC, (0.0, 0.0, 1.0)),
    "JointModelPrismaticUnaligned": (K.PRISMATIC, None),
    "JointModelRUBX": (K.REVOLUTE_UNBOUNDED, (1.0, 0.0, 0.0)),
    "JointModelRUBY": (K.REVOLUTE_UNBOUNDED, (0.0, 1.0, 0.0)),
    "JointModelRUBZ": (K.REVOLUTE_UNBOUNDED, (0.0, 0.0, 1.0)),
    "JointModelRevoluteUnboundedUnaligned": (K.REVOLUTE_UNBOUNDED, None),
    "JointModelSpherical": (K.SPHERICAL, None),
}


def _placement12(m) -> np.ndarray:  # type: ignore[no-untyped-def]
    out = np.empty(12)
    out[:9] = np.asarray(m.rotation, dtype=np.float64).reshape(9)
    out[9:] = np.asarray(m.translation, dtype=np.float64)
    return out


@dataclass(frozen=True)
class FlatModel:
    """The array form of a kinematic tree (layout documented in :mod:`cerebellum_rt.kinematics._kernels`)."""

    jint: np.ndarray  # (nj, 5) int64: parent, type, idx_q, idx_v, no-rotation flag
    jreal: np.ndarray  # (nj, 15) float64: placement (R, p) and axis
    fint: np.ndarray  # (nf, 2) int64: parent joint, identity flag
    freal: np.ndarray  # (nf, 12) float64: placement joint -> frame
    inertia: np.ndarray  # (nj, 4) float64: mass [kg], centre of mass in the joint frame [m]
    lower: np.ndarray  # (nq,) position limits (+-inf where none)
    upper: np.ndarray  # (nq,)
    nq: int
    nv: int


def flatten(pm) -> tuple[FlatModel, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """Flatten a ``pinocchio.Model``: ``(flat, joint_names, frame_names)`` (universe excluded
    from the joints, kept among the frames)."""
    nj = pm.njoints - 1
    jint = np.zeros((nj, 5), np.int64)
    jreal = np.zeros((nj, 15))
    inertia = np.zeros((nj, 4))
    names: list[str] = []
    for j in range(1, pm.njoints):
        jm = pm.joints[j]
        short = jm.shortname()
        name = pm.names[j]
        if short not in _TYPES:
            raise ConfigError(
                f"joint {name!r} has pinocchio type {short}; supported types are {sorted(_TYPES)}"
            )
        typ, axis = _TYPES[short]
        if axis is None and typ not in (K.FREE, K.SPHERICAL):
            axis = tuple(float(a) for a in np.asarray(jm.extract().axis).reshape(3))
        pl = _placement12(pm.jointPlacements[j])
        no_rot = int(np.array_equal(pl[:9], _placement12_identity()[:9]))
        jint[j - 1] = (pm.parents[j] - 1, typ, jm.idx_q, jm.idx_v, no_rot)
        jreal[j - 1, :12] = pl
        jreal[j - 1, 12:] = axis if axis is not None else (0.0, 0.0, 0.0)
        inertia[j - 1, 0] = pm.inertias[j].mass
        inertia[j - 1, 1:] = np.asarray(pm.inertias[j].lever)
        names.append(name)
    nf = pm.nframes
    fint = np.zeros((nf, 2), np.int64)
    freal = np.zeros((nf, 12))
    eye = _placement12_identity()
    fnames: list[str] = []
    for f in range(nf):
        fr = pm.frames[f]
        pl = _placement12(fr.placement)
        fint[f, 0] = fr.parentJoint - 1
        fint[f, 1] = 1 if np.array_equal(pl, eye) else 0
        freal[f] = pl
        fnames.append(fr.name)
    if nj and float(inertia[:, 0].sum()) <= 0.0:
        raise ConfigError(f"model {pm.name!r} has total mass {inertia[:, 0].sum()} kg; must be > 0")
    flat = FlatModel(
        jint=jint,
        jreal=jreal,
        fint=fint,
        freal=freal,
        inertia=inertia,
        lower=np.array(pm.lowerPositionLimit, dtype=np.float64),
        upper=np.array(pm.upperPositionLimit, dtype=np.float64),
        nq=int(pm.nq),
        nv=int(pm.nv),
    )
    return flat, names, fnames


def _placement12_identity() -> np.ndarray:
    out = np.zeros(12)
    out[[0, 4, 8]] = 1.0
    return out


def load_pinocchio(path: str | Path, floating: bool | None = None):  # type: ignore[no-untyped-def]
    """Build the ``pinocchio.Model`` for a model path or short name (see :func:`load_model`)."""
    try:
        import pinocchio as pin
    except ImportError as exc:
        raise ConfigError("loading robot models needs the Python package 'pin' (pip install pin)") from exc
    p, short = resolve(path)
    if floating is None:
        floating = True if short else None
    if p.suffix.lower() == ".urdf":
        if floating:
            return pin.buildModelFromUrdf(str(p), pin.JointModelFreeFlyer())
        return pin.buildModelFromUrdf(str(p))
    pm = pin.buildModelFromMJCF(str(p))
    has_free = pm.njoints > 1 and pm.joints[1].shortname() == "JointModelFreeFlyer"
    if floating is False and has_free:
        raise ConfigError(f"model {str(p)!r}: floating=False, but the MJCF file declares a free joint")
    if floating and not has_free:
        return pin.buildModelFromMJCF(str(p), pin.JointModelFreeFlyer())
    return pm


def load_model(path: str | Path, floating: bool | None = None):  # type: ignore[no-untyped-def]
    """Load a robot model from a URDF / MJCF path or an example-robot-data short name.

    ``floating``: True adds a free-flyer root joint (pinocchio ``JointModelFreeFlyer``), False
    keeps the base fixed. ``None``: short names float (as example-robot-data's loaders do), a
    URDF path is fixed, an MJCF path floats where the file declares a free joint.
    Returns a :class:`cerebellum_rt.kinematics.api.KinematicModel`.
    """
    from cerebellum_rt.kinematics.api import KinematicModel

    pm = load_pinocchio(path, floating)
    flat, joint_names, frame_names = flatten(pm)
    name = pm.name or Path(str(path)).stem
    return KinematicModel(flat, joint_names, frame_names, name=name)
