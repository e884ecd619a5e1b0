"""The CiA 402 law is firmware: codegen compiles it to C (what a real board's bus stack calls)
and the C must equal both the IR's Python reference and the numba-compiled law the emulated board
runs, on random inputs (host SIL through cffi; Cortex-M4F PIL under qemu where installed)."""

from __future__ import annotations

import numpy as np
import pytest

from cerebellum_rt.codegen import build, vectors
from cerebellum_rt.codegen.report import build_and_verify
from cerebellum_rt.drivers.cia402 import cia402_step
from cerebellum_rt.hil_tests.prereq import require_tools
from cerebellum_rt.rtcore.jit import njit


def _numba_results(module, batch):
    step = njit(cia402_step)
    b = vectors.copy_batch(batch)
    for i in range(len(b[0])):
        step(*(arr[i : i + 1][0] for arr in b))
    return b, vectors.result_array(module, len(b[0]))


def test_c_equals_reference_equals_numba_on_host(tmp_path):
    gen = build.generate(cia402_step, str(tmp_path))
    batch = vectors.random_batch(gen.module, 3000, seed=402)
    # keep states/options in their ranges half of the time, so that every branch is reached
    batch[1]["state"][::2] = np.arange(0, len(batch[1]) // 2 + len(batch[1]) % 2) % 8
    batch[0]["quick_stop_option"][::2] = np.arange(0, len(batch[0]) // 2 + len(batch[0]) % 2) % 9
    ref = vectors.run_reference(gen.reference, gen.module, batch)
    got = build.build_host(gen).run(batch)
    assert vectors.first_difference(gen.module, ref, got) is None
    nb = _numba_results(gen.module, batch)
    assert vectors.first_difference(gen.module, ref, nb) is None
    assert set(np.unique(ref[0][1]["state"])) >= set(range(1, 8))  # every state reached (0 is left at once)


@pytest.mark.toolchain
def test_cortex_m4f_pil_is_bit_exact(tmp_path):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    rep = build_and_verify(cia402_step, "cortex-m4f", str(tmp_path), n_vectors=300)
    assert rep["bit_exact"], rep["mismatch"]
    assert rep["worst_stack_bytes"] <= 256 and rep["text_bytes"] <= 4096
