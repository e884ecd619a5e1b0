"""Joint <-> tendon <-> screw maps: virtual-work duality and round trips, any coupling matrix."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cerebellum_rt.kinematics.tendon import TendonMap
from cerebellum_rt.rtcore.errors import ConfigError

finite = st.floats(-0.02, 0.02, allow_nan=False, allow_infinity=False)


@st.composite
def coupling(draw) -> np.ndarray:  # type: ignore[no-untyped-def]
    nt = draw(st.integers(1, 8))
    nj = draw(st.integers(1, 16))
    return draw(arrays(np.float64, (nt, nj), elements=finite))


@settings(max_examples=200, deadline=None)
@given(r=coupling(), data=st.data())
def test_virtual_work_joint_tendon(r: np.ndarray, data) -> None:  # type: ignore[no-untyped-def]
    """tau . dq == f . de for de = R dq and tau = R^T f (the same R both ways)."""
    tm = TendonMap(r, lead=2e-3, ratio=16.0)
    dq = data.draw(arrays(np.float64, (tm.n_joints,), elements=st.floats(-1, 1)))
    f = data.draw(arrays(np.float64, (tm.n_tendons,), elements=st.floats(0, 200)))
    de = tm.excursion(dq)
    tau = tm.joint_torque(f)
    np.testing.assert_allclose(de, r @ dq, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(tau, r.T @ f, rtol=1e-12, atol=1e-12)
    assert tau @ dq == pytest.approx(f @ de, rel=1e-9, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(
    lead=st.floats(1e-4, 0.02),
    ratio=st.floats(1.0, 300.0),
    e=arrays(np.float64, (6,), elements=st.floats(-0.03, 0.03)),
    f=arrays(np.float64, (6,), elements=st.floats(0.0, 500.0)),
)
def test_virtual_work_tendon_motor(lead: float, ratio: float, e: np.ndarray, f: np.ndarray) -> None:
    """T . dtheta == f . de, and theta <-> excursion round-trips; nut travel = lead theta / (2 pi N)."""
    tm = TendonMap(np.eye(6) * 0.01, lead=lead, ratio=ratio)
    theta = tm.motor_angle(e)
    torque = tm.motor_torque(f)
    assert torque @ theta == pytest.approx(f @ e, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(tm.excursion_from_motor(theta), e, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(
        tm.screw_travel(theta), lead * theta / (2 * np.pi * ratio), rtol=1e-12, atol=1e-18
    )
    np.testing.assert_allclose(tm.tension_from_motor(torque), f, rtol=1e-12, atol=1e-12)


def test_hand_preset_coupling_from_the_hand_engineer() -> None:
    """The real preset's R (actuators.hand.coupling_matrix): duality and minimum-norm inverse."""
    from cerebellum_rt.actuators.hand.preset import coupling_matrix

    tm = TendonMap.from_hand_preset("hand_prs6")
    np.testing.assert_array_equal(tm.R, coupling_matrix("hand_prs6"))
    rng = np.random.default_rng(0)
    for _ in range(100):
        q = rng.uniform(-0.2, 1.5, tm.n_joints)
        f = rng.uniform(0.0, 80.0, tm.n_tendons)
        e = tm.excursion(q)
        assert tm.joint_torque(f) @ q == pytest.approx(f @ e, rel=1e-12)
        # R has full row rank: R (R^+ e) == e, and R^+ e is the smallest joint vector doing it
        qmin = tm.joints_min_norm(e)
        np.testing.assert_allclose(tm.excursion(qmin), e, atol=1e-15)
        assert np.linalg.norm(qmin) <= np.linalg.norm(q) + 1e-12


def test_into_variants_write_caller_arrays() -> None:
    tm = TendonMap.from_hand_preset("hand_prs6")
    q = np.linspace(0.0, 1.0, tm.n_joints)
    e = np.empty(tm.n_tendons)
    tau = np.empty(tm.n_joints)
    tm.excursion_into(q, e)
    tm.joint_torque_into(np.ones(tm.n_tendons), tau)
    np.testing.assert_allclose(e, tm.R @ q)
    np.testing.assert_allclose(tau, tm.R.T @ np.ones(tm.n_tendons))


def test_bad_input_names_object_value_and_limit() -> None:
    with pytest.raises(ConfigError, match=r"shape \(3,\); expected \(n_tendons, n_joints\)"):
        TendonMap(np.zeros(3), lead=1e-3)
    with pytest.raises(ConfigError, match=r"tendon 0: screw lead = 0.5 m is out of range \[1e-06, 0.1\] m"):
        TendonMap(np.eye(2), lead=0.5)
    with pytest.raises(ConfigError, match=r"tendon 1: gear ratio = 0.0 is out of range"):
        TendonMap(np.eye(2), lead=1e-3, ratio=np.array([1.0, 0.0]))
    tm = TendonMap(np.eye(2), lead=1e-3)
    with pytest.raises(ConfigError, match=r"joint angles q has shape \(3,\); expected \(2,\)"):
        tm.excursion(np.zeros(3))
