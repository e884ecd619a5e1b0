"""The whole-body workload law against its C twin (tools/bench/refloop/wholebody.h, built with gcc), and
the C reference loop stepping it: the same float32 operations must give the same bits."""

from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cerebellum_rt.codegen.build import RUNTIME_DIR
from cerebellum_rt.codegen.examples.wholebody import (
    WholeBodyConfig,
    WholeBodyInput,
    WholeBodyOutput,
    WholeBodyState,
    g1_like_records,
    wholebody_step,
)
from cerebellum_rt.rtcore.jit import njit
from cerebellum_rt.rtcore.rt import RtConfig
from cerebellum_rt.tools.bench.refloop import HERE as REFLOOP_DIR
from cerebellum_rt.tools.bench.refloop import run_c_reference

pytestmark = pytest.mark.needs("gcc")

SHIM = """
#include <stddef.h>
#include "wholebody.h"
void wb_step(const wb_config_t *c, wb_state_t *s, const wb_input_t *i, wb_output_t *o) { wholebody_step(c, s, i, o); }
size_t wb_size(int k) {
    return k == 0 ? sizeof(wb_config_t) : k == 1 ? sizeof(wb_state_t) : k == 2 ? sizeof(wb_input_t) : sizeof(wb_output_t);
}
"""


@pytest.fixture(scope="module")
def c_step(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    d: Path = tmp_path_factory.mktemp("wb")
    (d / "shim.c").write_text(SHIM)
    so = d / "libwb.so"
    subprocess.run(["gcc", "-O2", "-ffp-contract=off", "-fno-math-errno", "-shared", "-fPIC", f"-I{REFLOOP_DIR}",
                    f"-I{RUNTIME_DIR}", "-o", str(so), str(d / "shim.c")], check=True)
    lib = ctypes.CDLL(str(so))
    lib.wb_size.restype = ctypes.c_size_t
    lib.wb_step.argtypes = [ctypes.c_void_p] * 4
    return lib


def test_c_structs_have_the_record_layouts(c_step: ctypes.CDLL) -> None:
    for k, rec in enumerate((WholeBodyConfig, WholeBodyState, WholeBodyInput, WholeBodyOutput)):
        assert c_step.wb_size(k) == rec.dtype().itemsize




def vec(n: int, lo: float, hi: float):
    return arrays(np.float32, n, elements=st.floats(lo, hi, width=32, allow_subnormal=False))


@given(q=vec(29, -3.5, 3.5), dq=vec(29, -20, 20), q_ref=vec(29, -3, 3), tau_ff=vec(29, -50, 50),
       tension=vec(6, 0, 80), kp=vec(29, 0, 400), alpha=st.floats(0.015625, 1.0, width=32), steps=st.integers(1, 5))
@settings(max_examples=80, deadline=None)
def test_c_twin_is_bit_exact(c_step: ctypes.CDLL, q, dq, q_ref, tau_ff, tension, kp, alpha, steps) -> None:
    cfg, _, _, _ = g1_like_records(0)
    cfg["kp"] = kp
    cfg["alpha"] = alpha
    inp = WholeBodyInput.new(q=q, dq=dq, q_ref=q_ref, tau_ff=tau_ff, tension=tension,
                             tension_ref=np.full(6, 20.0))
    st_py, out_py = WholeBodyState.new(), WholeBodyOutput.new()
    st_c, out_c = WholeBodyState.new(), WholeBodyOutput.new()
    kernel = njit(wholebody_step)
    for _ in range(steps):
        kernel(cfg, st_py, inp, out_py)
        c_step.wb_step(cfg.base.ctypes.data, st_c.base.ctypes.data, inp.base.ctypes.data, out_c.base.ctypes.data)
    assert out_py.tobytes() == out_c.tobytes()
    assert st_py.tobytes() == st_c.tobytes()


def test_c_reference_loop_steps_the_same_law() -> None:
    recs_c, recs_py = g1_like_records(5), g1_like_records(5)
    stats, refused = run_c_reference(recs_c, 1_000_000, 50, RtConfig(priority=0, lock_memory=False))
    kernel = njit(wholebody_step)
    for _ in range(50):
        kernel(*recs_py)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(recs_c, recs_py))
    assert stats.cycles == 50 and (stats.wake_latency_ns >= 0).all() and (stats.step_ns > 0).all()
    assert stats.histogram.sum() == 50 and stats.overrun.sum() == stats.overruns
    assert "sched_fifo" not in refused  # priority 0: not asked for
