"""The double-precision sincos of the FK kernels against libm."""

from __future__ import annotations

import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from cerebellum_rt.kinematics._kernels import _sincos


@settings(max_examples=1000, deadline=None)
@given(x=st.floats(-2.0e5, 2.0e5, allow_nan=False))
@example(0.0)
@example(-0.0)
@example(math.pi / 4)
@example(math.pi / 2)
@example(math.pi)
@example(3 * math.pi / 4 + 1e-17)
@example(1.0e5)
@example(1.0e5 + 1e-6)
def test_sincos_within_two_ulp_of_libm(x: float) -> None:
    s, c = _sincos(x)
    assert abs(s - math.sin(x)) <= 4.5e-16
    assert abs(c - math.cos(x)) <= 4.5e-16
