"""The float32 limb law (codegen form) against the float64 kernels.

Tolerance, stated for float32: 1e-5 m on positions, 1e-5 on rotation entries and Jacobian
entries (a 6/7-joint chain of ~1 m accumulates a few float32 ulps, 6e-8 each).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.kinematics.limb_law import (
    LIMB_MAX,
    LimbInput,
    LimbOutput,
    LimbState,
    limb_config,
    limb_fk_step,
)
from cerebellum_rt.rtcore.errors import ConfigError

TOL = 1e-5
LIMBS = [("pelvis", "left_ankle_roll_link"), ("torso_link", "right_wrist_yaw_link")]
_step = numba.njit(cache=True)(limb_fk_step)


@pytest.mark.parametrize(("root", "tip"), LIMBS)
@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_limb_law_matches_float64_kernels(model_pair, root: str, tip: str, seed: int) -> None:
    model, _ = model_pair("g1")
    cfg, names = limb_config(model, root, tip)
    st_, inp, out = LimbState.new(), LimbInput.new(), LimbOutput.new()
    iq = [model.joint_dofs(n)[0] for n in names]
    iv = [model.joint_dofs(n)[2] for n in names]
    ri, ti = model.frame_index(root), model.frame_index(tip)
    n = len(names)
    qs = model.random_configurations(np.random.default_rng(seed), 100)
    for q in qs:
        x = model.forward(q)
        ref = np.linalg.inv(x[ri]) @ x[ti]
        inp["q"][:n] = q[iq]
        _step(cfg, st_, inp, out)
        tool = out["tool"].astype(np.float64)
        np.testing.assert_allclose(tool[9:], ref[:3, 3], atol=TOL)
        np.testing.assert_allclose(tool[:9], ref[:3, :3].ravel(), atol=TOL)
        r0 = x[ri][:3, :3]
        jw = model.jacobian(q, ti)
        jref = np.vstack([r0.T @ jw[:3], r0.T @ jw[3:]])[:, iv]
        jl = out["jac"].reshape(6, LIMB_MAX).astype(np.float64)
        np.testing.assert_allclose(jl[:, :n], jref, atol=TOL)
        assert not np.any(jl[:, n:])
    assert st_["steps"] == len(qs)


def test_limb_law_is_in_the_codegen_subset() -> None:
    """The codegen front end accepts the law and the C emitter produces its step function."""
    from cerebellum_rt.codegen.cgen import emit_c
    from cerebellum_rt.codegen.frontend import compile_law

    module = compile_law(limb_fk_step)
    assert module.entry == "limb_fk_step"
    header, source = emit_c(module)
    assert "limb_fk_step" in header and "cbl_sin_cos" in source


def test_limb_config_rejects_bad_chains(model_pair) -> None:
    model, _ = model_pair("g1")
    with pytest.raises(ConfigError, match=r"has 10 joints; allowed range \[1, 8\]"):
        limb_config(model, "pelvis", "right_wrist_yaw_link")
    with pytest.raises(ConfigError, match="'left_ankle_roll_link' is not an ancestor of 'pelvis'"):
        limb_config(model, "left_ankle_roll_link", "pelvis")
