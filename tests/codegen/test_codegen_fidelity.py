"""Fidelity: a law gives the same bits wherever it runs, as its author wrote it.

Every project law and the plain-style laws of ``codegen/examples/plain.py`` (no ``f32`` around
literals), on 100,000 vectors of ``codegen.exercise`` each (every branch both ways, boundaries
at +-1 ulp, sequences, IEEE specials): the reference, the law as the host runs it
(``codegen.host_law``), the C built as integrators build it (``-std=gnu99 -O2 -march=native``
on the host; ``-std=gnu99 -Os`` with the FPU on Cortex-M4F and M7, ``-O2`` on aarch64, no
``-ffp-contract=off``) natively and under QEMU all agree bit for bit. Negative controls: plain
numba, a tampered C constant, and the C without its pragmas each differ, named.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from cerebellum_rt.codegen import build, exercise, pil, report, targets, vectors
from cerebellum_rt.hil_tests.prereq import require_tools
from cerebellum_rt.rtcore.errors import ConfigError

N = 100_000
DEFAULT_FLAGS = {"host": ("-std=gnu99", "-O2", "-march=native"), "cortex-m4f": ("-std=gnu99", "-Os"),
                 "cortex-m7": ("-std=gnu99", "-Os"), "aarch64": ("-std=gnu99", "-O2")}
#: branch directions no input can take (the laws' own logic), so coverage stays below 1.0
INFEASIBLE = {
    "codegen/examples/semantics.py:67 conditional expression never taken",  # abs(n % 100): never < 0
    "drivers/cia402.py:167 if never taken",  # every path assigns s one of 1..6
}
_cache: dict[str, tuple] = {}


def _exercised(generated, spec: str) -> tuple:
    if spec not in _cache:
        g = generated(spec)
        batch = exercise.exercise_batch(g, N, seed=12)
        with np.errstate(all="ignore"):
            ref = vectors.run_reference(g.reference, g.module, batch)
        _cache[spec] = (g, batch, ref)
    return _cache[spec]


def _target(name: str) -> targets.Target:
    t = targets.get_target(name)
    require_tools(*targets.missing_tools(t))
    return t


def test_host_law_and_default_flag_host_c_match_the_reference(fspec, generated):
    g, batch, ref = _exercised(generated, fspec)
    assert len(batch[0]) == N
    cov = exercise.coverage(g, batch)
    assert set(cov["missing"]) <= INFEASIBLE, cov["missing"]
    with np.errstate(all="ignore"):
        assert report.host_law_difference(build.load_law(fspec), g, batch, ref) is None
    res = pil.run(g, _target("host"), batch, ref, extra=DEFAULT_FLAGS["host"], timed=False)
    assert res.mismatch is None and res.n == N
    assert res.hash == vectors.hash_results(g.module, *ref)


@pytest.mark.toolchain
@pytest.mark.parametrize("target_name", ["cortex-m4f", "cortex-m7", "aarch64"])
def test_default_flag_builds_under_qemu_match_the_reference(fspec, target_name, generated):
    g, batch, ref = _exercised(generated, fspec)
    res = pil.run(g, _target(target_name), batch, ref, extra=DEFAULT_FLAGS[target_name], timed=False)
    assert res.mismatch is None, res.mismatch
    assert res.n == N


def test_plain_numba_differs_where_host_law_does_not(generated):
    """Negative control of the host check: the same plain law under numba directly computes its
    literals in float64 and is caught, naming the vector and field."""
    from cerebellum_rt.codegen.examples import plain
    from cerebellum_rt.codegen.host import host_law
    from cerebellum_rt.rtcore.jit import njit

    g, batch, ref = _exercised(generated, "cerebellum_rt.codegen.examples.plain:deadband_step")
    n = 5000
    plain_nb, hosted = njit(plain.deadband_step, cache=False), host_law(plain.deadband_step)
    out = []
    for fn in (plain_nb, hosted):
        b = [a[:n].copy() for a in batch]
        res = vectors.result_array(g.module, n)
        for i in range(n):
            res[i] = fn(b[0][i])
        out.append(vectors.first_difference(g.module, ([a[:n] for a in ref[0]], ref[1][:n]), (b, res)))
    assert out[0] is not None and re.match(r"vector \d+ of 5000: (io\.integ|return value)", out[0]), out[0]
    assert out[1] is None


def test_a_wrong_c_is_named_by_vector_and_field(generated, tmp_path):
    """Negative control of the C check: a tampered constant in the generated C is reported with
    the first differing vector and field (dumped from the device image)."""
    from cerebellum_rt.codegen.examples import plain

    g = build.generate(plain.leadlag_pi_step, str(tmp_path))
    batch = exercise.exercise_batch(g, 3000, seed=5)
    ref = vectors.run_reference(g.reference, g.module, batch)
    src = tmp_path / "leadlag_pi.c"
    text = src.read_text()
    assert "static const float U_MAX = 24.0F;" in text
    src.write_text(text.replace("static const float U_MAX = 24.0F;", "static const float U_MAX = 24.000002F;"))
    res = pil.run(g, _target("host"), batch, ref, extra=DEFAULT_FLAGS["host"], timed=False)
    assert res.mismatch is not None and re.match(r"vector \d+ of 3000: (st|io)\.\w+ = ", res.mismatch), res.mismatch


@pytest.mark.toolchain
def test_without_its_pragmas_the_c_contracts_and_differs(tmp_path):
    """Negative control of the pragmas: the same C with them removed, built -Os for Cortex-M4F,
    fuses multiply-adds (vfma) and differs from the reference; with them it has no vfma."""
    from cerebellum_rt.codegen.examples import plain

    t = _target("cortex-m4f")
    g = build.generate(plain.leadlag_pi_step, str(tmp_path))
    src = tmp_path / "leadlag_pi.c"
    text = src.read_text()

    def fused() -> int:
        obj = str(tmp_path / "law.o")
        subprocess.run([t.cc, *t.cflags, *DEFAULT_FLAGS[t.name], "-c", str(src), "-o", obj], check=True)
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", obj], capture_output=True, text=True, check=True).stdout
        return sum("vfma" in ln or "vfms" in ln or "vfnm" in ln for ln in dis.splitlines())

    assert fused() == 0
    src.write_text(re.sub(r"#pragma GCC (push_options|pop_options|optimize\(.*\))", "", text))
    assert fused() > 0
    batch = exercise.exercise_batch(g, 4000, seed=6)
    ref = vectors.run_reference(g.reference, g.module, batch)
    res = pil.run(g, t, batch, ref, extra=DEFAULT_FLAGS[t.name], timed=False)
    assert res.mismatch is not None and "vector" in res.mismatch


def test_the_project_runs_its_laws_through_host_law():
    """By construction: the emulated joint and hand, the step responses, the CiA 402 board and
    the loop runners' law_update / law_cfunc call the host_law of each law, never plain numba."""
    from cerebellum_rt.actuators.hand import laws as hand_laws
    from cerebellum_rt.actuators.hand import sim
    from cerebellum_rt.actuators.joint import module, response
    from cerebellum_rt.actuators.joint.cascade import cascade_step
    from cerebellum_rt.actuators.joint.foc import foc_step
    from cerebellum_rt.codegen.host import host_law
    from cerebellum_rt.drivers import cia402
    from cerebellum_rt.drivers.board import drive
    from cerebellum_rt.rtcore import jit

    assert module._foc is host_law(foc_step) and module._cascade is host_law(cascade_step)
    assert response._foc is host_law(foc_step)
    assert sim._screw is host_law(hand_laws.screw_position_step) and sim._slack is host_law(hand_laws.slack_step)
    drive.compiled_law()
    assert drive._kernel is host_law(cia402.cia402_step)
    assert jit._host(host_law(cia402.cia402_step)) is host_law(cia402.cia402_step)
    with pytest.raises(ConfigError, match="host_law"):  # rtcore never runs a plain function as a law
        jit._host(cia402.cia402_step)
