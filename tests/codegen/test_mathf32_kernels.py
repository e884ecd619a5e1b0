"""cerebellum_rt.codegen.mathf32: accuracy against float64 (the error table of its docstring) and bit-identity
of the numba kernels, their plain-Python bodies, and the C twins compiled for the host."""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from cerebellum_rt.codegen import mathf32 as m
from cerebellum_rt.hil_tests.prereq import require_tools

HEADER = os.path.join(os.path.dirname(m.__file__), "runtime", "cbl_mathf32.h")
f32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@njit(cache=False)  # numba's cache would keep inlined kernels of an older mathf32
def _batch(x, y):
    out = np.empty((8, x.size), np.float32)
    for i in range(x.size):
        out[0, i], out[1, i] = m.sin_cos(x[i])
        out[2, i] = m.atan2(y[i], x[i])
        out[3, i] = m.exp(x[i])
        out[4, i] = m.sqrt(x[i])
        out[5, i] = m.fabs(x[i])
        out[6, i] = m.fmin(x[i], y[i])
        out[7, i] = m.clamp(x[i], y[i], np.float32(1.5))
    return out


_C_BATCH = r"""
#include "cbl_mathf32.h"
void batch(const float *x, const float *y, float *o, int n) {
    for (int i = 0; i < n; i++) {
        cbl_sin_cos(x[i], &o[i], &o[n + i]);
        o[2 * n + i] = cbl_atan2f(y[i], x[i]);
        o[3 * n + i] = cbl_expf(x[i]);
        o[4 * n + i] = cbl_sqrtf(x[i]);
        o[5 * n + i] = cbl_fabsf(x[i]);
        o[6 * n + i] = cbl_fminf(x[i], y[i]);
        o[7 * n + i] = cbl_clampf(x[i], y[i], 1.5F);
    }
}
"""


@pytest.fixture(scope="module")
def c_batch():
    require_tools("gcc")
    import cffi

    ffi = cffi.FFI()
    ffi.cdef("void batch(const float *x, const float *y, float *o, int n);")
    ffi.set_source(
        "_cbl_mathf32_test",
        _C_BATCH,
        include_dirs=[os.path.dirname(HEADER)],
        extra_compile_args=["-O2", "-std=c99", "-ffp-contract=off", "-fno-math-errno"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = ffi.compile(tmpdir=tmp)
        import importlib.util

        spec = importlib.util.spec_from_file_location("_cbl_mathf32_test", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)

    def run(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        out = np.empty((8, x.size), np.float32)
        p = lambda a: ffi.cast("float *", ffi.from_buffer(a))  # noqa: E731
        mod.lib.batch(p(x), p(y), p(out), x.size)
        return out

    return run


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_error_table_holds_on_dense_samples():
    rng = np.random.default_rng(7)
    x = rng.uniform(-8192, 8192, 400_000).astype(np.float32)
    x[:100_000] = rng.uniform(-np.pi, np.pi, 100_000).astype(np.float32)
    y = (rng.standard_normal(x.size) * 10 ** rng.uniform(-3, 3, x.size)).astype(np.float32)
    out = _batch(x, y)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    assert np.max(np.abs(out[0] - np.sin(xd))) <= 1.2e-7
    assert np.max(np.abs(out[1] - np.cos(xd))) <= 1.2e-7
    xa = (rng.standard_normal(x.size) * 10 ** rng.uniform(-3, 3, x.size)).astype(np.float32)
    at = _batch(xa, y)[2]
    assert np.max(np.abs(at - np.arctan2(yd, xa.astype(np.float64)))) <= 3.2e-7
    xe = rng.uniform(-87.33, 88.72, x.size).astype(np.float32)
    ex = _batch(xe, y)[3]
    ref = np.exp(xe.astype(np.float64))
    assert np.max(np.abs(ex - ref) / ref) <= 1.2e-7


def test_special_values():
    assert m.exp(np.float32(89.0)) == np.inf and m.exp(np.float32(-88.0)) == 0.0
    assert m.exp(np.float32(0.0)) == 1.0
    assert m.atan2(0.0, 0.0) == 0.0 and m.atan2(0.0, -1.0) == np.float32(np.pi)
    assert m.atan2(-1.0, 0.0) == -np.float32(np.pi / 2)
    assert m.sin_cos(0.0) == (0.0, 1.0)
    assert np.isnan(m.sqrt(-1.0))
    assert m.clamp(5.0, -1.0, 2.0) == 2.0 and m.clamp(-5.0, -1.0, 2.0) == -1.0
    assert m.fmax(1.0, 2.0) == 2.0 and m.fmin(1.0, 2.0) == 1.0


def test_numba_matches_plain_python_bodies():
    rng = np.random.default_rng(3)
    for x in rng.uniform(-100, 100, 300).astype(np.float32):
        y = np.float32(x * np.float32(0.37) - np.float32(1.0))
        assert m.sin_cos(x) == m.sin_cos.py_func(x)
        assert _same_bits(np.float32(m.atan2(y, x)), m.atan2.py_func(y, x))
        assert _same_bits(np.float32(m.exp(x * np.float32(0.8))), m.exp.py_func(x * np.float32(0.8)))


def test_header_constants_are_the_python_constants():
    """Every float literal of the C twin is one of the Python kernel constants (shortest repr)."""
    with open(HEADER) as fh:
        src = fh.read()
    lits = {float(np.float32(t)) for t in re.findall(r"(?<![\w.])([0-9][0-9.]*(?:e[+-]?[0-9]+)?)F\b", src)}
    py = {abs(float(v)) for k, v in vars(m).items() if k.startswith("_") and isinstance(v, np.float32)}
    assert lits <= py | {1.5}
    assert py - {np.inf} <= lits | {0.0}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(f32s, f32s), min_size=1, max_size=64))
def test_c_twins_bit_identical_on_host(c_batch, pairs):
    x = np.array([p[0] for p in pairs], np.float32)
    y = np.array([p[1] for p in pairs], np.float32)
    with np.errstate(all="ignore"):
        assert _same_bits(_batch(x, y), c_batch(x, y))


def test_c_twins_bit_identical_on_100k_random(c_batch):
    rng = np.random.default_rng(11)
    x = rng.uniform(-8192, 8192, 100_000).astype(np.float32)
    x[::2] = rng.uniform(-90, 90, 50_000).astype(np.float32)
    y = (rng.standard_normal(x.size) * 10 ** rng.uniform(-6, 6, x.size)).astype(np.float32)
    with np.errstate(all="ignore"):
        assert _same_bits(_batch(x, y), c_batch(x, y))
