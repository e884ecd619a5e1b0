"""The user-facing kinematic model: thin validating wrappers around the numba kernels.

Every method that takes ``out=`` writes into it and allocates nothing else, so it may run in the
real-time tick (call it with preallocated arrays). A model owns one scratch workspace: use one
model object per thread. To call the kernels from your own ``@njit`` loop, pass the arrays of
``model.flat`` and ``model.work`` to the functions of :mod:`cerebellum_rt.kinematics._kernels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cerebellum_rt.kinematics import _kernels as K
from cerebellum_rt.kinematics import _packed as P
from cerebellum_rt.kinematics.model import FlatModel
from cerebellum_rt.rtcore.errors import ConfigError

_F64 = np.dtype(np.float64)
_REFERENCES = {"local_world_aligned": P.LOCAL_WORLD_ALIGNED, "local": P.LOCAL, "world": P.WORLD}


def pack(flat: FlatModel) -> tuple[np.ndarray, np.ndarray]:
    """``(ints, buf)``: the model in the layout of the entry points of :mod:`cerebellum_rt.kinematics._packed`
    (``buf`` ends with the joint-placement scratch ``omi`` and one ``tmp`` row)."""
    nj = flat.jint.shape[0]
    nf = flat.fint.shape[0]
    ints = np.zeros((1 + nj + nf, 5), np.int64)
    ints[0, :2] = (nj, nf)
    ints[1 : 1 + nj] = flat.jint
    ints[1 + nj :, :2] = flat.fint
    buf = np.zeros((3 * nj + nf + 1, 15))
    buf[:nj] = flat.jreal
    buf[nj : nj + nf, :12] = flat.freal
    buf[nj + nf : 2 * nj + nf, :4] = flat.inertia
    return ints, buf


@dataclass
class Workspace:
    """Scratch of one model: joint placements ``omi (nj, 15)`` (a view into the packed buffer;
    columns 0-11 = R row-major, p), ``tmp (24,)``, world joint Jacobians ``jac (6, nv)`` and
    subtree sums ``sub (nj + 1, 4)``."""

    omi: np.ndarray
    tmp: np.ndarray
    jac: np.ndarray
    sub: np.ndarray

    @classmethod
    def for_model(cls, flat: FlatModel, buf: np.ndarray) -> Workspace:
        nj = flat.jint.shape[0]
        nf = flat.fint.shape[0]
        omi = buf[2 * nj + nf : 3 * nj + nf]
        return cls(omi, np.zeros(24), np.zeros((6, flat.nv)), np.zeros((nj + 1, 4)))


class KinematicModel:
    """A robot's kinematic tree. ``q``: (nq,) in pinocchio's convention, float64.

    Attributes: ``name``, ``joint_names`` (universe excluded), ``frame_names`` (pinocchio's
    frames, universe first), ``nq``, ``nv``, ``lower`` / ``upper`` position limits (nq,).
    """

    def __init__(self, flat: FlatModel, joint_names: list[str], frame_names: list[str], name: str) -> None:
        self.flat = flat
        self.name = name
        self.joint_names = list(joint_names)
        self.frame_names = list(frame_names)
        self.nq = flat.nq
        self.nv = flat.nv
        self.lower = flat.lower  # the arrays the IK clamps to
        self.upper = flat.upper
        self.ints, self.buf = pack(flat)
        self.work = Workspace.for_model(flat, self.buf)
        self._omi12 = self.work.omi[:, :12]
        self._xshape = (len(self.frame_names), 4, 4)
        self._jshape = (6, self.nv)
        self._frame_index = {n: i for i, n in enumerate(self.frame_names)}
        self._joint_index = {n: i for i, n in enumerate(self.joint_names)}
        self._qshape = (self.nq,)

    # ----------------------------------------------------------------- names
    @property
    def n_frames(self) -> int:
        return len(self.frame_names)

    def frame_index(self, name: str) -> int:
        """Index of frame ``name`` in :meth:`forward`'s output."""
        try:
            return self._frame_index[name]
        except KeyError:
            raise ConfigError(
                f"model {self.name!r} has no frame {name!r} ({self.n_frames} frames, e.g. {self.frame_names[-3:]})"
            ) from None

    def joint_index(self, name: str) -> int:
        """Index of joint ``name`` among :attr:`joint_names` (universe excluded)."""
        try:
            return self._joint_index[name]
        except KeyError:
            raise ConfigError(
                f"model {self.name!r} has no joint {name!r}; joints are {self.joint_names}"
            ) from None

    def joint_dofs(self, name: str) -> tuple[int, int, int, int]:
        """``(idx_q, nq, idx_v, nv)`` of joint ``name``."""
        j = self.joint_index(name)
        iq = int(self.flat.jint[j, 2])
        iv = int(self.flat.jint[j, 3])
        typ = int(self.flat.jint[j, 1])
        nq = {K.FREE: 7, K.SPHERICAL: 4, K.REVOLUTE_UNBOUNDED: 2}.get(typ, 1)
        return iq, nq, iv, int(K._nv_of(typ))

    # ----------------------------------------------------------- configurations
    def neutral(self) -> np.ndarray:
        """pinocchio's neutral configuration (zero angles, identity quaternions, cos = 1)."""
        q = np.zeros(self.nq)
        for j in range(self.flat.jint.shape[0]):
            typ, iq = int(self.flat.jint[j, 1]), int(self.flat.jint[j, 2])
            if typ == K.FREE:
                q[iq + 6] = 1.0
            elif typ == K.SPHERICAL:
                q[iq + 3] = 1.0
            elif typ == K.REVOLUTE_UNBOUNDED:
                q[iq] = 1.0
        return q

    def random_configurations(self, rng: np.random.Generator, n: int, base_range: float = 1.0) -> np.ndarray:
        """``n`` configurations (n, nq): joints uniform within their limits (within [-pi, pi] where
        unlimited), free-flyer positions uniform in [-base_range, base_range] m, unit quaternions."""
        lo = np.where(np.isfinite(self.lower) & (np.abs(self.lower) < 1e30), self.lower, -np.pi)
        hi = np.where(np.isfinite(self.upper) & (np.abs(self.upper) < 1e30), self.upper, np.pi)
        qs = rng.uniform(lo, hi, size=(n, self.nq))
        for j in range(self.flat.jint.shape[0]):
            typ, iq = int(self.flat.jint[j, 1]), int(self.flat.jint[j, 2])
            if typ == K.FREE:
                qs[:, iq : iq + 3] = rng.uniform(-base_range, base_range, size=(n, 3))
                quat = rng.normal(size=(n, 4))
                qs[:, iq + 3 : iq + 7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
            elif typ == K.SPHERICAL:
                quat = rng.normal(size=(n, 4))
                qs[:, iq : iq + 4] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
            elif typ == K.REVOLUTE_UNBOUNDED:
                a = rng.uniform(-np.pi, np.pi, size=n)
                qs[:, iq] = np.cos(a)
                qs[:, iq + 1] = np.sin(a)
        return qs

    def _q(self, q: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(q, dtype=np.float64)
        if q.shape != self._qshape:
            raise ConfigError(f"q for model {self.name!r} has shape {q.shape}; expected ({self.nq},)")
        return q

    @staticmethod
    def _out(out: np.ndarray | None, shape: tuple[int, ...], what: str) -> np.ndarray:
        if out is None:
            return np.zeros(shape)
        if out.shape != shape or out.dtype != _F64 or not out.flags.c_contiguous:
            raise ConfigError(
                f"{what}: out has shape {out.shape} {out.dtype}; expected {shape} float64 C-contiguous"
            )
        return out

    # ----------------------------------------------------------------- kinematics
    def forward(self, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """World placement of every frame, ``(n_frames, 4, 4)`` homogeneous [m]. RT-safe with ``out``."""
        if out is None:
            out = np.empty(self._xshape)
        elif out.shape != self._xshape or out.dtype is not _F64:
            out = self._out(out, self._xshape, "forward")
        if q.__class__ is not np.ndarray or q.shape != self._qshape or q.dtype is not _F64:
            q = self._q(q)
        P.forward_packed(q, self.ints, self.buf, out)
        return out

    def forward_joints(self, q: np.ndarray) -> np.ndarray:
        """World placement of every joint into the workspace (like pinocchio's ``forwardKinematics``
        filling ``data.oMi``); returns a view (nj, 12) of ``work.omi``: R row-major, then p [m].
        RT-safe."""
        if q.__class__ is not np.ndarray or q.shape != self._qshape or q.dtype is not _F64:
            q = self._q(q)
        P.fk_joints_packed(q, self.ints, self.buf)
        return self._omi12

    def joint_jacobians(self, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """All joint Jacobian columns ``(6, nv)`` in the WORLD convention, equal to pinocchio's
        ``data.J`` after ``computeJointJacobians``. RT-safe with ``out``."""
        if out is None:
            out = np.empty(self._jshape)
        elif out.shape != self._jshape or out.dtype is not _F64:
            out = self._out(out, self._jshape, "joint_jacobians")
        if q.__class__ is not np.ndarray or q.shape != self._qshape or q.dtype is not _F64:
            q = self._q(q)
        P.joint_jacobians_packed(q, self.ints, self.buf, out)
        return out

    def jacobian(
        self,
        q: np.ndarray,
        frame: str | int,
        out: np.ndarray | None = None,
        reference: str = "local_world_aligned",
    ) -> np.ndarray:
        """Jacobian ``(6, nv)`` of frame ``frame``, linear rows first. ``reference`` (pinocchio's
        names): "local_world_aligned" (default: world axes at the frame's origin), "local" (the
        frame's own axes at its origin) or "world" (world axes, the point at the world origin).
        RT-safe with ``out`` and an int frame."""
        ref = _REFERENCES.get(reference)
        if ref is None:
            raise ConfigError(f"jacobian reference {reference!r} is not one of {sorted(_REFERENCES)}")
        fi = frame if isinstance(frame, int | np.integer) else self.frame_index(frame)
        if not 0 <= fi < len(self.frame_names):
            raise ConfigError(f"frame index {fi} is out of range [0, {len(self.frame_names) - 1}]")
        if out is None:
            out = np.empty(self._jshape)
        elif out.shape != self._jshape or out.dtype is not _F64:
            out = self._out(out, self._jshape, "jacobian")
        if q.__class__ is not np.ndarray or q.shape != self._qshape or q.dtype is not _F64:
            q = self._q(q)
        P.frame_jacobian_packed(q, self.ints, self.buf, self.work.jac, fi, ref, out)
        return out

    def com(self, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Whole-body centre of mass (3,) [m] in the world (pinocchio ``centerOfMass``). RT-safe with ``out``."""
        if out is None:
            out = np.empty(3)
        elif out.shape != (3,) or out.dtype is not _F64:
            out = self._out(out, (3,), "com")
        if q.__class__ is not np.ndarray or q.shape != self._qshape or q.dtype is not _F64:
            q = self._q(q)
        P.center_of_mass_packed(q, self.ints, self.buf, out)
        return out

    def mass(self) -> float:
        """Total mass [kg] (sum of the bodies attached to joints, as pinocchio counts it)."""
        return float(self.flat.inertia[:, 0].sum())

    def com_jacobian(self, q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Jacobian of the centre of mass ``(3, nv)`` (pinocchio ``jacobianCenterOfMass``). RT-safe with ``out``."""
        f = self.flat
        w = self.work
        out = self._out(out, (3, self.nv), "com_jacobian")
        K.fk_joints(self._q(q), f.jint, f.jreal, w.omi, w.tmp)
        K.com_jacobian_from_fk(f.jint, f.jreal, f.inertia, w.omi, w.sub, out)
        return out

    def __repr__(self) -> str:
        return (
            f"KinematicModel({self.name!r}, nq={self.nq}, nv={self.nv}, "
            f"joints={len(self.joint_names)}, frames={self.n_frames})"
        )
