"""Frame placements, Jacobians (LOCAL_WORLD_ALIGNED, LOCAL, WORLD) and centre of mass against
pinocchio (the oracle), to 1e-9.

One hypothesis example is a batch of 100 configurations (a seed and a sampling mode), so each
model sees 1,000 configurations per run: G1 (URDF, free flyer), Talos, iCub (unaligned revolute
axes), the G1 MJCF of ../shared/robots, and G1 with a fixed base.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

TOL = 1e-9
BATCH = 100
MODELS = ["g1", "talos", "icub", "g1_mjcf", "g1_fixed"]
REFERENCES = [
    ("local_world_aligned", pin.LOCAL_WORLD_ALIGNED),
    ("local", pin.LOCAL),
    ("world", pin.WORLD),
]


def _configs(model, seed: int, mode: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    qs = model.random_configurations(rng, BATCH, base_range=3.0)
    if mode == "wide":  # angles far outside the limits: exercises the sincos argument reduction
        from cerebellum_rt.kinematics import _kernels as K

        for j in range(model.flat.jint.shape[0]):
            if K.RX <= model.flat.jint[j, 1] <= K.PRISMATIC:
                qs[:, model.flat.jint[j, 2]] = rng.uniform(-60.0, 60.0, BATCH)
    elif mode == "limits":
        lo = np.where(np.abs(model.lower) < 1e30, model.lower, 0.0)
        hi = np.where(np.abs(model.upper) < 1e30, model.upper, 0.0)
        pick = rng.integers(0, 2, size=qs.shape).astype(bool)
        bounded = (np.abs(model.lower) < 1e30) & (np.abs(model.upper) < 1e30)
        qs = np.where(bounded, np.where(pick, lo, hi), qs)
    return qs


def _load(model_pair, name: str):  # type: ignore[no-untyped-def]
    if name == "g1_fixed":
        from cerebellum_rt.kinematics.model import load_model, load_pinocchio

        return load_model("g1", floating=False), load_pinocchio("g1", floating=False)
    return model_pair(name)


@pytest.mark.parametrize("name", MODELS)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["uniform", "wide", "limits"]))
def test_placements_jacobians_com_match_pinocchio(model_pair, name: str, seed: int, mode: str) -> None:
    model, pm = _load(model_pair, name)
    data = pm.createData()
    assert (model.nq, model.nv, model.frame_names) == (pm.nq, pm.nv, [f.name for f in pm.frames])
    nf = model.n_frames
    x = np.empty((nf, 4, 4))
    jac = np.empty((6, model.nv))
    jf = np.empty((6, model.nv))
    com = np.empty(3)
    jcom = np.empty((3, model.nv))
    for q in _configs(model, seed, mode):
        model.forward(q, x)
        pin.framesForwardKinematics(pm, data, q)
        ref = np.array([data.oMf[i].homogeneous for i in range(nf)])
        np.testing.assert_allclose(x, ref, rtol=0, atol=TOL)
        model.joint_jacobians(q, jac)
        pin.computeJointJacobians(pm, data, q)
        np.testing.assert_allclose(jac, data.J, rtol=0, atol=TOL)
        for k, fi in enumerate(range(0, nf, 7)):  # every 7th frame: joint, body and fixed frames
            ref_name, ref_pin = REFERENCES[k % 3]
            model.jacobian(q, fi, jf, reference=ref_name)
            ref_j = pin.getFrameJacobian(pm, data, fi, ref_pin)
            np.testing.assert_allclose(jf, ref_j, rtol=0, atol=TOL)
        model.com(q, com)
        np.testing.assert_allclose(com, pin.centerOfMass(pm, data, q), rtol=0, atol=TOL)
        model.com_jacobian(q, jcom)
        np.testing.assert_allclose(jcom, pin.jacobianCenterOfMass(pm, data, q), rtol=0, atol=TOL)


@pytest.mark.parametrize("name", ["g1", "talos"])
def test_every_frame_jacobian_by_name(model_pair, name: str) -> None:
    """model.jacobian(q, frame_name) for every frame name, against getFrameJacobian (LWA)."""
    model, pm = model_pair(name)
    data = pm.createData()
    q = model.random_configurations(np.random.default_rng(7), 1)[0]
    pin.computeJointJacobians(pm, data, q)
    pin.updateFramePlacements(pm, data)
    for fi, fname in enumerate(model.frame_names):
        ref = pin.getFrameJacobian(pm, data, fi, pin.LOCAL_WORLD_ALIGNED)
        np.testing.assert_allclose(model.jacobian(q, fname), ref, rtol=0, atol=TOL)
        for ref_name, ref_pin in REFERENCES[1:]:
            ref = pin.getFrameJacobian(pm, data, fi, ref_pin)
            np.testing.assert_allclose(model.jacobian(q, fname, reference=ref_name), ref, rtol=0, atol=TOL)


def test_jacobian_is_the_derivative_of_forward(model_pair) -> None:
    """Independent of pinocchio: J v equals the finite-difference velocity of the frame origin."""
    model, pm = model_pair("g1")
    q = model.random_configurations(np.random.default_rng(3), 1)[0]
    v = np.random.default_rng(4).normal(size=model.nv)
    h = 1e-6
    fi = model.frame_index("left_ankle_roll_link")
    qp = pin.integrate(pm, q, v * h)
    qm = pin.integrate(pm, q, -v * h)
    dp = (model.forward(qp)[fi, :3, 3] - model.forward(qm)[fi, :3, 3]) / (2 * h)
    np.testing.assert_allclose(model.jacobian(q, fi)[:3] @ v, dp, atol=1e-7)


def test_neutral_matches_pinocchio(model_pair) -> None:
    model, pm = model_pair("talos")
    np.testing.assert_array_equal(model.neutral(), pin.neutral(pm))


def test_forward_joints_matches_oMi(model_pair) -> None:
    model, pm = model_pair("g1")
    data = pm.createData()
    for q in model.random_configurations(np.random.default_rng(9), 20):
        omi = model.forward_joints(q)
        pin.forwardKinematics(pm, data, q)
        for j in range(1, pm.njoints):
            np.testing.assert_allclose(omi[j - 1, :9].reshape(3, 3), data.oMi[j].rotation, atol=TOL)
            np.testing.assert_allclose(omi[j - 1, 9:], data.oMi[j].translation, atol=TOL)


def test_bad_input_names_object_value_and_limit(model_pair) -> None:
    from cerebellum_rt.rtcore.errors import ConfigError

    model, _ = model_pair("g1")
    with pytest.raises(
        ConfigError, match=r"q for model 'g1_29dof_rev_1_0' has shape \(35,\); expected \(36,\)"
    ):
        model.forward(np.zeros(35))
    with pytest.raises(ConfigError, match=r"frame index 79 is out of range \[0, 78\]"):
        model.jacobian(model.neutral(), 79)
    with pytest.raises(ConfigError, match="jacobian reference 'body' is not one of"):
        model.jacobian(model.neutral(), 0, reference="body")
    with pytest.raises(ConfigError, match="has no frame 'nose'"):
        model.jacobian(model.neutral(), "nose")
    with pytest.raises(ConfigError, match=r"forward: out has shape \(3, 4, 4\)"):
        model.forward(model.neutral(), np.zeros((3, 4, 4)))
    # a list or an int array is accepted and converted once
    np.testing.assert_array_equal(model.forward(list(model.neutral())), model.forward(model.neutral()))
