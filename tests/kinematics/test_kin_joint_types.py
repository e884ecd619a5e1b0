"""Every supported joint type against pinocchio: prismatic (aligned and unaligned), continuous
(revolute unbounded, q = (cos, sin)), spherical (MJCF ball), unaligned revolute, free flyer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pinocchio as pin
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.kinematics.model import load_model, load_pinocchio

TOL = 1e-9

# Test data only (pinocchio's and MuJoCo's parsers read it): a ball, a slide and a hinge on
# skewed axes under a free joint, with rotated body frames.
MJCF = """<mujoco model="joint_types">
  <worldbody>
    <body name="base" pos="0 0 1">
      <freejoint name="root"/>
      <geom type="box" size="0.1 0.1 0.1" mass="2"/>
      <body name="a" pos="0.1 0.2 0.3" quat="0.9 0.1 0.2 0.3">
        <joint name="ball" type="ball"/>
        <geom type="sphere" size="0.05" mass="1" pos="0.05 0 0"/>
        <body name="b" pos="0 0 0.2">
          <joint name="slide" type="slide" axis="0.3 0.4 0.5"/>
          <geom type="sphere" size="0.05" mass="0.5" pos="0 0.02 0"/>
          <body name="c" pos="0.1 0 0" euler="0.3 0.2 0.1">
            <joint name="hinge" type="hinge" axis="1 1 0"/>
            <geom type="capsule" size="0.02 0.1" mass="0.3" pos="0 0 0.1"/>
          </body>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def types_mjcf(tmp_path_factory) -> str:
    path = Path(tmp_path_factory.mktemp("mjcf")) / "joint_types.xml"
    path.write_text(MJCF)
    return str(path)


def _compare(model, pm, qs) -> None:  # type: ignore[no-untyped-def]
    data = pm.createData()
    for q in qs:
        x = model.forward(q)
        pin.framesForwardKinematics(pm, data, q)
        np.testing.assert_allclose(x, np.array([f.homogeneous for f in data.oMf]), atol=TOL)
        pin.computeJointJacobians(pm, data, q)
        np.testing.assert_allclose(model.joint_jacobians(q), data.J, atol=TOL)
        for fi in range(model.n_frames):
            for ref_name, ref in (("local_world_aligned", pin.LOCAL_WORLD_ALIGNED), ("local", pin.LOCAL)):
                ref_j = pin.getFrameJacobian(pm, data, fi, ref)
                np.testing.assert_allclose(model.jacobian(q, fi, reference=ref_name), ref_j, atol=TOL)
        np.testing.assert_allclose(model.com(q), pin.centerOfMass(pm, data, q), atol=TOL)
        np.testing.assert_allclose(model.com_jacobian(q), pin.jacobianCenterOfMass(pm, data, q), atol=TOL)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_spherical_prismatic_unaligned_from_mjcf(types_mjcf: str, seed: int) -> None:
    model, pm = load_model(types_mjcf), load_pinocchio(types_mjcf)
    kinds = {j.shortname() for j in pm.joints[1:]}
    assert {"JointModelSpherical", "JointModelPrismaticUnaligned", "JointModelRevoluteUnaligned"} <= kinds
    _compare(model, pm, model.random_configurations(np.random.default_rng(seed), 40))


@pytest.mark.parametrize("name", ["tiago", "panda"])
@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_continuous_and_prismatic_from_urdf(name: str, seed: int) -> None:
    model, pm = load_model(name, floating=False), load_pinocchio(name, floating=False)
    assert (model.nq, model.nv) == (pm.nq, pm.nv)
    _compare(model, pm, model.random_configurations(np.random.default_rng(seed), 10))


def test_neutral_continuous_joint_is_cos_1_sin_0() -> None:
    model, pm = load_model("tiago", floating=False), load_pinocchio("tiago", floating=False)
    np.testing.assert_array_equal(model.neutral(), pin.neutral(pm))


def test_floating_false_on_a_free_mjcf_is_refused(types_mjcf: str) -> None:
    from cerebellum_rt.rtcore.errors import ConfigError

    with pytest.raises(ConfigError, match="floating=False, but the MJCF file declares a free joint"):
        load_model(types_mjcf, floating=False)
