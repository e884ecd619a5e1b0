"""Numeric kernels of the joint plant against independent oracles: the float64 sincos against
numpy's libm, the sensor-noise generator's moments, and the piecewise stiffness against its
energy (the torque is the derivative of the stored spring energy, continuous at the breakpoints)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from cerebellum_rt.actuators.joint import load_preset
from cerebellum_rt.actuators.joint.energy import spring_energy
from cerebellum_rt.actuators.joint.gains import plant_params
from cerebellum_rt.actuators.joint.plant import normal, sincos64, spring_torque


@settings(max_examples=300, deadline=None)
@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_sincos64_matches_libm(x: float):
    s, c = sincos64(x)
    assert abs(s - math.sin(x)) < 1e-13 and abs(c - math.cos(x)) < 1e-13


@njit
def _draws(rng, n):
    out = np.empty(n)
    for i in range(n):
        out[i] = normal(rng)
    return out


def test_sensor_noise_is_unit_variance_and_reproducible():
    a = _draws(np.array([12345], dtype=np.uint64), 200_000)
    b = _draws(np.array([12345], dtype=np.uint64), 200_000)
    assert np.array_equal(a, b)
    assert abs(a.mean()) < 0.01 and abs(a.var() - 1.0) < 0.01
    assert np.abs(a).max() <= 2.0 * math.sqrt(3.0) + 1e-12  # Irwin-Hall(4) is bounded
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.01


@njit
def _torque(pa, d):
    return spring_torque(pa[0], d)


def test_piecewise_stiffness_is_the_derivative_of_its_energy():
    pa = plant_params(load_preset("arm_hd"), 20_000)  # strain-wave gear: three stiffness segments
    p = pa[0]
    assert p["delta1"] > 0 and p["delta2"] > p["delta1"]
    for d in np.linspace(-3 * p["delta2"], 3 * p["delta2"], 241):
        e = 1e-9
        num = (spring_energy(p, d + e) - spring_energy(p, d - e)) / (2 * e)
        assert abs(num - _torque(pa, d)) <= 1e-4 * max(1.0, abs(num))
    for b in (p["delta1"], p["delta2"]):  # continuous at the breakpoints, odd
        assert abs(_torque(pa, b * (1 + 1e-12)) - _torque(pa, b * (1 - 1e-12))) < 1e-6
        assert _torque(pa, -b) == -_torque(pa, b)
    # the torque at the breakpoints is the datasheet's T1, T2 (S-hdrsf RSF-14B: 2.0, 6.9 N m)
    assert abs(_torque(pa, p["delta1"]) - 2.0) < 1e-9
    assert abs(_torque(pa, p["delta2"]) - 6.9) < 1e-9
