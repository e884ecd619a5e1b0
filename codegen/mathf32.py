"""The project's float32 math kernels, with C twins that give the same bits everywhere.

Every kernel is ``@numba.njit`` with a float32 signature (callable from laws under numba and
from plain Python; a float64 argument is rounded to float32 once on entry). Each is written as
a fixed sequence of float32 operations (one IEEE-754 round-to-nearest per operation, source
order, no fused multiply-add) so that its C twin in ``codegen/runtime/cbl_mathf32.h``,
compiled with ``-ffp-contract=off`` (never ``-ffast-math``), gives bit-identical results on
x86-64, aarch64 and Cortex-M4F/M7. Neither side calls libm: ``sqrt`` is the hardware
instruction (``__builtin_sqrtf`` with ``-fno-math-errno`` -> ``vsqrt.f32`` / ``fsqrt`` /
``sqrtss``; numba's ``np.sqrt`` on float32 -> ``llvm.sqrt.f32``), correctly rounded in IEEE.

Errors (max over the stated domain, measured against float64 math evaluated at the float32
input, asserted in ``tests/codegen/test_mathf32_kernels.py``):

=========================  ====================  ==========================================
kernel                     domain                max error vs float64
=========================  ====================  ==========================================
``sin_cos(x) -> (s, c)``   |x| <= 8192 rad       abs 1.2e-7 (measured 9.1e-8)
``atan2(y, x)``            finite y, x           abs 3.2e-7 rad (measured 2.7e-7)
``exp(x)``                 -87.3 <= x <= 88.7    rel 1.2e-7 (measured 7.9e-8); beyond: 0/inf
``sqrt(x)``                x >= 0                correctly rounded (0.5 ulp); x < 0 -> NaN
``fabs, fmin, fmax,``      any                   exact
``clamp(x, lo, hi)``
=========================  ====================  ==========================================

Algorithms (polynomial coefficients: Cephes ``sinf``/``cosf``/``atanf``/``expf`` minimax
fits, S. L. Moshier, Cephes Math Library 2.2, public domain):

- ``sin_cos``: one Cody-Waite reduction per angle, j = round(x 2/pi) (clamped to +-2^30, so
  inputs beyond the domain give deterministic, inaccurate values; NaN gives NaN),
  r = ((x - j P1) - j P2) - j P3 with P1 + P2 + P3 = pi/2 (P1, P2 of 11 significant bits, so
  j P1 and j P2 are exact for |j| < 2^13, i.e. |x| <= 8192), then sin and cos polynomials in
  z = r^2 on [-pi/4, pi/4] and a quadrant swap by j mod 4.
- ``atan2``: t = min(|x|,|y|) / max(|x|,|y|) in [0, 1]; for t > tan(pi/8) use
  pi/4 + atan((t-1)/(t+1)); odd polynomial; then octant fix-ups (pi/2 - a, pi - a, -a).
  atan2(0, 0) = 0; atan2(+-0, x<0) = +pi (the sign of a zero y is not kept).
- ``exp``: n = round(x / ln 2), r = (x - n C1) - n C2 (C1 + C2 = ln 2, C1 exact in 9 bits),
  e^r by a degree-7 polynomial, times 2^n (exact: a table here, an exponent-field write in C).

``fmin(a, b)`` is ``a if a < b else b`` and ``fmax(a, b)`` is ``a if a > b else b`` (a NaN
anywhere returns ``b``; C uses the same expressions); ``clamp(x, lo, hi) = fmin(fmax(x, lo), hi)``
(hi wins when lo > hi).
"""

from __future__ import annotations

import numpy as np

from cerebellum_rt.rtcore.jit import njit

_F = np.float32

# --- sin / cos ---------------------------------------------------------------------------
_TWO_OVER_PI = _F(0.6366197466850281)
_P1 = _F(1.5703125)  # 11 significant bits
_P2 = _F(0.0004837512969970703)  # 11 significant bits
_P3 = _F(7.549790126404332e-08)
_S1 = _F(-1.9515295891e-4)
_S2 = _F(8.3321608736e-3)
_S3 = _F(-1.6666654611e-1)
_C1 = _F(2.443315711809948e-5)
_C2 = _F(-1.388731625493765e-3)
_C3 = _F(4.166664568298827e-2)
_QMAX = _F(1073741824.0)  # 2^30: the quotient is clamped before its int conversion
_HALF = _F(0.5)
_ONE = _F(1.0)
_ZERO = _F(0.0)
_TWO = _F(2.0)

# --- atan2 -------------------------------------------------------------------------------
_TAN_PI_8 = _F(0.4142135679721832)
_PI = _F(3.1415927410125732)
_PI_2 = _F(1.5707963705062866)
_PI_4 = _F(0.7853981852531433)
_A1 = _F(8.05374449538e-2)
_A2 = _F(-1.38776856032e-1)
_A3 = _F(1.99777106478e-1)
_A4 = _F(-3.33329491539e-1)

# --- exp ---------------------------------------------------------------------------------
_LOG2E = _F(1.4426950216293335)
_LN2_HI = _F(0.693359375)  # 9 significant bits
_LN2_LO = _F(-2.12194440e-4)
_E1 = _F(1.9875691500e-4)
_E2 = _F(1.3981999507e-3)
_E3 = _F(8.3334519073e-3)
_E4 = _F(4.1665795894e-2)
_E5 = _F(1.6666665459e-1)
_E6 = _F(5.0000001201e-1)
_EXP_HI = _F(88.72283935546875)  # above: +inf
_EXP_LO = _F(-87.33654022216797)  # below: 0 (result would be under FLT_MIN)
_INF = _F(np.inf)
_POW2 = np.ldexp(np.ones(254, np.float32), np.arange(-126, 128)).astype(np.float32)  # 2^-126..2^127

_S = "float32(float32)"
_S2ARG = "float32(float32, float32)"


@njit("UniTuple(float32, 2)(float32)", cache=True)
def sin_cos(x):
    """(sin x, cos x) in float32 from one range reduction. Real-time safe; see module table."""
    h = _HALF if x >= _ZERO else -_HALF
    t = x * _TWO_OVER_PI + h
    if not (t > -_QMAX):  # also NaN: keep the int conversion defined (x86 and Arm differ)
        t = -_QMAX if t < _ZERO else _ZERO
    if t > _QMAX:
        t = _QMAX
    j = np.int32(t)
    y = np.float32(j)
    r = ((x - y * _P1) - y * _P2) - y * _P3
    z = r * r
    s = r + (r * z) * ((_S1 * z + _S2) * z + _S3)
    c = (_ONE - _HALF * z) + (z * z) * ((_C1 * z + _C2) * z + _C3)
    q = j & 3
    if q == 0:
        return s, c
    if q == 1:
        return c, -s
    if q == 2:
        return -s, -c
    return -c, s


@njit(_S2ARG, cache=True)
def atan2(y, x):
    """Angle of (x, y) in [-pi, pi] rad, float32. Real-time safe; see module table."""
    ax = x if x >= _ZERO else -x
    ay = y if y >= _ZERO else -y
    mx = ax if ax > ay else ay
    mn = ay if ax > ay else ax
    if mx == _ZERO:
        a = _ZERO
    else:
        t = mn / mx
        off = _ZERO
        if t > _TAN_PI_8:
            t = (t - _ONE) / (t + _ONE)
            off = _PI_4
        z = t * t
        p = ((((_A1 * z + _A2) * z + _A3) * z + _A4) * z) * t + t
        a = off + p
    if ay > ax:
        a = _PI_2 - a
    if x < _ZERO:
        a = _PI - a
    if y < _ZERO:
        a = -a
    return a


@njit(_S, cache=True)
def exp(x):
    """e^x in float32 (0 below -87.34, +inf above 88.72). Real-time safe; see module table."""
    if x != x:
        return x
    if x > _EXP_HI:
        return _INF
    if x < _EXP_LO:
        return _ZERO
    h = _HALF if x >= _ZERO else -_HALF
    n = np.int32(x * _LOG2E + h)
    fn = np.float32(n)
    r = (x - fn * _LN2_HI) - fn * _LN2_LO
    z = r * r
    p = (((((_E1 * r + _E2) * r + _E3) * r + _E4) * r + _E5) * r + _E6) * z + r + _ONE
    if n > 127:
        p = p * _TWO
        n = np.int32(127)
    return p * _POW2[n + 126]


@njit(_S, cache=True)
def sqrt(x):
    """Correctly rounded float32 square root (the FPU instruction). Real-time safe."""
    return np.sqrt(x)


@njit(_S, cache=True)
def fabs(x):
    """|x| in float32 (clears the sign bit). Real-time safe."""
    return np.abs(x)


@njit(_S2ARG, cache=True)
def fmin(a, b):
    """``a if a < b else b`` in float32. Real-time safe."""
    return a if a < b else b


@njit(_S2ARG, cache=True)
def fmax(a, b):
    """``a if a > b else b`` in float32. Real-time safe."""
    return a if a > b else b


@njit("float32(float32, float32, float32)", cache=True)
def clamp(x, lo, hi):
    """``fmin(fmax(x, lo), hi)`` in float32 (hi wins when lo > hi). Real-time safe."""
    v = x if x > lo else lo
    return v if v < hi else hi


#: name -> (C function, number of arguments, number of results) used by the C back end.
KERNELS: dict[str, tuple[str, int, int]] = {
    "sin_cos": ("cbl_sin_cos", 1, 2),
    "atan2": ("cbl_atan2f", 2, 1),
    "exp": ("cbl_expf", 1, 1),
    "sqrt": ("cbl_sqrtf", 1, 1),
    "fabs": ("cbl_fabsf", 1, 1),
    "fmin": ("cbl_fminf", 2, 1),
    "fmax": ("cbl_fmaxf", 2, 1),
    "clamp": ("cbl_clampf", 3, 1),
}
