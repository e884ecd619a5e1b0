"""The hand firmware laws against the code generator's float32 reference (which the generated C
matches bit for bit), on operating points sampled from the lockstep grasp: same decisions
(flags, phases, counters), values within float32 rounding of the mixed-precision numba run."""

from __future__ import annotations

import numpy as np
import pytest

from cerebellum_rt.actuators.hand import laws as L
from cerebellum_rt.actuators.hand.scenario import run_grasp, setup_grasp
from cerebellum_rt.actuators.hand.sim import HandSim
from cerebellum_rt.codegen.build import generate
from cerebellum_rt.codegen.vectors import result_array
from cerebellum_rt.rtcore.jit import njit


def _points(n_ticks: int = 1200, every: int = 40):
    """Per law: lists of (cfg, state, input) records sampled while the hand grasps a box."""
    sim = HandSim("hand_prs6", "box", tension_sensor=False)
    _, held = setup_grasp(sim)
    rng = np.random.default_rng(3)
    pts: dict[str, list] = {k: [] for k in ("pos", "ten", "grasp", "coup", "slack", "obs")}
    for _ in range(n_ticks // every):
        run_grasp(sim, every, held)
        fsum = sim.finger_forces()
        for k in range(sim.p.n_act):
            x, v, i = sim.xs[k]
            t = sim.tens[k, 0]
            pts["pos"].append((sim.c_pos[k:k + 1], sim.s_pos[k:k + 1], L.ScrewPosInput.new(
                x_ref=x + rng.normal(0, 2e-3), v_ref=rng.choice([0.0, 0.03, -0.03]), x=x, v=v)))
            pts["ten"].append((sim.c_ten[k:k + 1], sim.s_ten[k:k + 1], L.TensionInput.new(
                t_ref=t + rng.normal(0, 3.0), t_sensor=t, t_est=sim.s_obs[k]["t_est"], v=v)))
            pts["grasp"].append((sim.c_gr[k:k + 1], sim.s_gr[k:k + 1], L.GraspInput.new(
                enable=True, f_ref=sim.f_ref[k], f_meas=fsum[sim.p.finger_of_tendon[k]], t_meas=t, x=x)))
            cin = L.CouplingInput.new(use_meas=bool(rng.random() < 0.5))
            cin["q_ref"][: sim.p.n_joints] = sim.q + rng.normal(0, 0.1, sim.p.n_joints)
            cin["q_meas"][: sim.p.n_joints] = sim.q
            pts["coup"].append((sim.c_cp[k:k + 1], sim.s_cp[k:k + 1], cin))
            pts["slack"].append((sim.c_sl[k:k + 1], sim.s_sl[k:k + 1], L.SlackInput.new(
                t_meas=t, x=x, x_taut=x + rng.normal(0, 5e-4))))
            pts["obs"].append((sim.c_obs[k:k + 1], sim.s_obs[k:k + 1], L.ObserverInput.new(i_meas=i, v=v)))
    return pts


LAWS = [("pos", L.screw_position_step, L.ScrewPosOutput), ("ten", L.tendon_tension_step, L.TensionOutput),
        ("grasp", L.grasp_force_step, L.GraspOutput), ("coup", L.coupled_joint_step, L.CouplingOutput),
        ("slack", L.slack_step, L.SlackOutput), ("obs", L.screw_tension_observer_step, L.ObserverOutput)]


@pytest.fixture(scope="module")
def points():
    return _points()


@pytest.mark.parametrize(("key", "law", "out_rec"), LAWS, ids=[k for k, _, _ in LAWS])
def test_numba_law_matches_the_generated_reference(points, tmp_path, key, law, out_rec):
    pts = points[key]
    n = len(pts)
    cfg = np.concatenate([p[0] for p in pts])
    st_ref = np.concatenate([p[1] for p in pts])
    st_nb = st_ref.copy()
    inp = np.concatenate([p[2].base for p in pts])
    gen = generate(law, str(tmp_path / law.__name__))
    out_ref, out_nb = out_rec.array(n), out_rec.array(n)
    gen.reference.run_batch(cfg.copy(), st_ref, inp.copy(), out_ref, result_array(gen.module, n))
    jl = njit(law)
    for i in range(n):
        jl(cfg[i : i + 1][0], st_nb[i : i + 1][0], inp[i : i + 1][0], out_nb[i : i + 1][0])
    for arr_ref, arr_nb in ((out_ref, out_nb), (st_ref, st_nb)):
        for name in arr_ref.dtype.names:
            a, b = arr_ref[name], arr_nb[name]
            if a.dtype.base in (np.bool_, np.int32):
                assert np.array_equal(a, b), name
            else:
                scale = max(1.0, float(np.max(np.abs(a))))
                assert np.allclose(a, b, rtol=1e-4, atol=1e-5 * scale), (name, float(np.max(np.abs(a - b))))
