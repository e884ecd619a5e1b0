"""The joint firmware laws go through the code generator's front end, and the numba-run law that
the emulated module executes agrees with the generator's float32 reference (which the generated
C matches bit for bit) on realistic operating points: same decisions (flags), values within
float32 rounding of the mixed-precision numba run."""

from __future__ import annotations

import numpy as np
import pytest

from cerebellum_rt.actuators.joint import MODE_CSP, MODE_CSV, JointModule, load_preset
from cerebellum_rt.actuators.joint.cascade import CascadeInput, CascadeOutput, cascade_step
from cerebellum_rt.actuators.joint.foc import FocInput, FocOutput, foc_step
from cerebellum_rt.codegen.build import generate
from cerebellum_rt.codegen.frontend import compile_law
from cerebellum_rt.codegen.vectors import result_array


@pytest.mark.parametrize("law", [foc_step, cascade_step])
def test_laws_are_in_the_generator_subset(law):
    module = compile_law(law)
    assert module.functions[module.entry].name == law.__name__


def _operating_points(n: int):
    """(law records) snapshots taken from a knee module running CSP/CSV moves."""
    jm = JointModule(load_preset("knee").with_load(inertia_kg_m2=0.02, gravity_torque_nm=5.0), seed=9)
    rec = jm.law_records
    rng = np.random.default_rng(5)
    out = []
    for k in range(n):
        mode = MODE_CSP if k % 2 else MODE_CSV
        jm.command(mode, float(rng.uniform(0.1, 1.0)), float(rng.uniform(-3, 3)), 0.0, True)
        jm.advance(0.002)
        out.append(
            (
                rec["foc_config"].copy(), rec["foc_state"].copy(), rec["foc_input"].copy(),
                rec["cascade_config"].copy(), rec["cascade_state"].copy(), rec["cascade_input"].copy(),
            )
        )  # fmt: skip
    return out


def _compare(law, cfgs, sts, inps, out_rec, tmp_path, tol_abs: float, tol_field: dict | None = None):
    gen = generate(law, str(tmp_path / law.__name__))
    n = len(cfgs)
    cfg = np.concatenate(cfgs)
    st_ref, st_nb = np.concatenate(sts), np.concatenate(sts)
    inp = np.concatenate(inps)
    out_ref, out_nb = out_rec.array(n), out_rec.array(n)
    gen.reference.run_batch(cfg.copy(), st_ref, inp.copy(), out_ref, result_array(gen.module, n))
    from numba import njit

    jl = njit(law)
    for i in range(n):
        jl(cfg[i : i + 1][0], st_nb[i : i + 1][0], inp[i : i + 1][0], out_nb[i : i + 1][0])
    for name in out_ref.dtype.names:
        a, b = out_ref[name], out_nb[name]
        if a.dtype == np.bool_ or a.dtype == np.int32:
            assert np.array_equal(a, b), name
        else:
            atol = (tol_field or {}).get(name, tol_abs)
            assert np.allclose(a, b, rtol=1e-4, atol=atol), (name, np.max(np.abs(a - b)))


def test_numba_law_matches_the_generated_reference(tmp_path):
    pts = _operating_points(60)
    # the PLL velocity moves by k_i dt per radian of angle error: one float32 ulp of the angle
    # (4.8e-7 rad near 2 pi) moves it by k_i dt 4.8e-7, so it is compared to a few of those
    fc = pts[0][0][0]
    vel_tol = 4.0 * float(fc["pll_ki"]) * float(fc["dt"]) * 4.8e-7
    _compare(foc_step, [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts], FocOutput, tmp_path, 1e-4,
             {"vel": vel_tol})  # fmt: skip
    _compare(cascade_step, [p[3] for p in pts], [p[4] for p in pts], [p[5] for p in pts], CascadeOutput, tmp_path,
             1e-3)  # fmt: skip
    assert FocInput.dtype() == pts[0][2].dtype and CascadeInput.dtype() == pts[0][5].dtype
