"""PIL: each law built with codegen's exact flags for Cortex-M4F (qemu-system-arm mps2-an386,
semihosting) and aarch64 (qemu-aarch64) hashes its results identically to the Python reference;
a few hundred vectors embedded in the image, and the Cortex-M timing image gives instructions per
step. (The 100,000-vector runs with integrators' flags are test_codegen_fidelity.py.)"""

from __future__ import annotations

import pytest

from cerebellum_rt.codegen import pil, targets, vectors
from cerebellum_rt.hil_tests.prereq import require_tools

N = 400


def _need(target: targets.Target) -> None:
    require_tools(*targets.missing_tools(target))


@pytest.mark.toolchain
@pytest.mark.parametrize("target_name", ["cortex-m4f", "aarch64"])
def test_pil_hash_matches_reference(spec, target_name, generated):
    target = targets.get_target(target_name)
    _need(target)
    g = generated(spec)
    per = sum(vectors.param_dtype(p).itemsize for p in g.module.functions[g.module.entry].params)
    batch = vectors.random_batch(g.module, max(8, min(N, 96_000 // per)), seed=7)
    ref = vectors.hash_results(g.module, *vectors.run_reference(g.reference, g.module, batch))
    res = pil.run(g, target, batch, timeout=120)
    assert res.n == len(batch[0])
    assert res.hash == ref
    if target.bare:
        assert res.insns_per_step is not None and res.insns_per_step > 0


@pytest.mark.toolchain
def test_pil_cortex_m7_and_host_harness(generated):
    """The same harness on Cortex-M7 (mps2-an500) and natively on the host gives the same hash."""
    g = generated("cerebellum_rt.actuators.joint.cascade:cascade_step")
    batch = vectors.random_batch(g.module, 300, seed=3)
    ref = vectors.hash_results(g.module, *vectors.run_reference(g.reference, g.module, batch))
    for name in ("cortex-m7", "host"):
        t = targets.get_target(name)
        _need(t)
        assert pil.run(g, t, batch, timeout=120).hash == ref


@pytest.mark.toolchain
def test_pil_detects_a_wrong_build(generated):
    """A changed vector gives another hash (the check can fail)."""
    g = generated("cerebellum_rt.codegen.examples.pi:pi_step")
    t = targets.get_target("cortex-m4f")
    _need(t)
    batch = vectors.random_batch(g.module, 50, seed=1)
    ref = vectors.hash_results(g.module, *vectors.run_reference(g.reference, g.module, batch))
    batch[2][0] = batch[2][0] + 1.0  # the device sees another 'ref' input than the reference did
    assert pil.run(g, t, batch, timeout=120).hash != ref


def test_object_report_has_size_and_stack(generated):
    t = targets.get_target("cortex-m4f")
    require_tools(*targets.missing_tools(t, run=False))
    rep = targets.compile_object(generated("cerebellum_rt.actuators.joint.cascade:cascade_step"), t)
    assert rep.text > 200 and rep.data == 0 and rep.stack >= 0
