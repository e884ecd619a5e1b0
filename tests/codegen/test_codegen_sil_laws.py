"""SIL: every law's host C build (through cffi) matches its Python reference bit for bit.

Inputs: hypothesis-drawn batches (any float32 including NaN/inf/subnormals, any int32, with the
record defaults mixed in) plus a 4,000-vector random batch per law.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cerebellum_rt.codegen import vectors
from cerebellum_rt.codegen.law import ArrayType

N_PER_EXAMPLE = 48  # vectors per hypothesis example (fewer for big records: <= 4096 values)


def _elements(np_type, default):
    if np_type is np.float32:
        base = st.floats(width=32)
    elif np_type is np.int32:
        base = st.one_of(st.integers(-4, 16), st.integers(-(2**31), 2**31 - 1))
    else:
        base = st.booleans()
    return base if default is None else st.one_of(st.just(default), base)


def _draw_batch(data, module) -> list[np.ndarray]:
    out = []
    params = module.functions[module.entry].params
    per_vector = sum(vectors.param_dtype(p).itemsize // 4 + 1 for p in params)
    n = max(2, min(N_PER_EXAMPLE, 4096 // per_vector))
    for p in params:
        dt = vectors.param_dtype(p)
        arr = np.zeros(n, dt)
        if p.ty != "rec":
            arr[:] = data.draw(hnp.arrays(dt, n, elements=_elements(dt.type, None)))
        else:
            d = p.record.new()
            for name, t in p.record.fields():
                elem, shape = (t.elem, (t.n,)) if isinstance(t, ArrayType) else (t, ())
                default = None if shape else d[name].item()
                arr[name] = data.draw(hnp.arrays(np.dtype(elem), (n, *shape),
                                                 elements=_elements(elem, default)))
        out.append(arr)
    return out


def test_sil_bit_exact_random_batch(spec, generated, sil):
    g = generated(spec)
    batch = vectors.random_batch(g.module, 4000, seed=42)
    ref = vectors.run_reference(g.reference, g.module, batch)
    got = sil(spec).run(batch)
    assert vectors.first_difference(g.module, ref, got) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                  HealthCheck.filter_too_much])
@given(data=st.data())
def test_sil_bit_exact_hypothesis(spec, generated, sil, data):
    g = generated(spec)
    batch = _draw_batch(data, g.module)
    with np.errstate(all="ignore"):
        ref = vectors.run_reference(g.reference, g.module, batch)
        got = sil(spec).run(batch)
    assert vectors.first_difference(g.module, ref, got) is None


def test_c_struct_layout_is_the_record_dtype(spec, sil):
    s = sil(spec)
    for rname, offs in s.offsets().items():
        dt = s.gen.module.records[rname].dtype()
        assert offs.pop("sizeof") == dt.itemsize, rname
        assert offs == {n: dt.fields[n][1] for n in dt.names}, rname


def test_reference_runs_on_law_records_by_reference(generated):
    """The reference takes the same Rec.new() records as the law and writes through them."""
    from cerebellum_rt.codegen.examples.pi import PIConfig, PIState

    g = generated("cerebellum_rt.codegen.examples.pi:pi_step")
    cfg, stt = PIConfig.new(), PIState.new()
    u = g.reference.step(cfg, stt, 1.0, 0.0, 0.001)
    assert u == np.float32(0.5) + np.float32(np.float32(200.0) * np.float32(1.0) * np.float32(0.001))
    assert stt["steps"] == 1 and stt["last"] == u


def test_host_law_matches_the_reference_where_plain_numba_does_not(generated):
    """The law as the host runs it (codegen.host_law) gives the reference's bits, also for
    semantics plain numba does not share (int32 wrap of a local, saturating float -> int)."""
    from cerebellum_rt.codegen import build, report

    spec = "cerebellum_rt.codegen.examples.semantics:sem_step"
    g = generated(spec)
    batch = vectors.random_batch(g.module, 500, seed=9)
    ref = vectors.run_reference(g.reference, g.module, batch)
    assert report.host_law_difference(build.load_law(spec), g, batch, ref) is None
