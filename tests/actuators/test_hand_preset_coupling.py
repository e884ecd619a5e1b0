"""Hand preset loading/validation and the coupling matrix (joint space <-> tendon space)."""

from __future__ import annotations

import copy
import math
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cerebellum_rt.actuators.hand import coupling_matrix, drive_figures, load_preset
from cerebellum_rt.actuators.hand import laws as L
from cerebellum_rt.actuators.hand.preset import PRESET_DIR, _build
from cerebellum_rt.rtcore.errors import ConfigError

P = load_preset("hand_prs6")


def _variant(tmp_path, edit):
    raw = tomllib.loads((PRESET_DIR / "hand_prs6.toml").read_text())
    raw = copy.deepcopy(raw)
    edit(raw)
    return _build(tmp_path / "variant.toml", raw)


def test_six_actuators_five_fingers_thumb_has_two():
    R = coupling_matrix(P)
    assert R.shape == (6, 15) and P.n_act == 6 and len(P.fingers) == 5
    thumb = P.fingers.index("thumb")
    assert sum(int(f == thumb) for f in P.finger_of_tendon) == 2
    assert np.all(np.abs(R) < 0.05) and np.all(R >= 0.0)  # moment arms in metres, flexor tendons
    assert np.count_nonzero(R.any(axis=0)) == 15  # every joint is driven by some tendon
    R[0, 0] = 1.0  # a copy: the preset keeps its own data
    assert coupling_matrix(P)[0, 0] == pytest.approx(0.008)


def test_drive_figures_match_lead_efficiency_and_backdrive_threshold():
    d = drive_figures(P.raw)
    m, g, s = P.raw["motor"], P.raw["gearhead"], P.raw["screw"]
    assert d["k_force"] == pytest.approx(m["torque_constant_nm_per_a"] * g["ratio"] * 2 * math.pi / s["lead_m"])
    lam, phi = d["lead_angle_rad"], d["friction_angle_rad"]
    assert math.tan(lam) / math.tan(lam + phi) == pytest.approx(s["efficiency_forward"])
    assert d["eta_b"] < d["eta_f"]  # back-driving loses more than driving
    # the unpowered screw is back-driven exactly above the threshold: eta_b T_bd = F_c0
    assert d["eta_b"] * s["backdrive_threshold_n"] == pytest.approx(d["f_c0"])


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda r: r["screw"].__setitem__("lead_m", -1.0), ["lead_m", "-1.0", "0.0001"]),
        (lambda r: r["motor"].pop("inductance_h"), ["missing key 'inductance_h'"]),
        (lambda r: r["tendon"].__setitem__("colour", 3), ["unknown key", "colour"]),
        (lambda r: r["coupling"]["moment_arms_m"][0].__setitem__(4, 0.005), ["tendon 'index' spans fingers"]),
        (lambda r: r["joints"]["max_rad"].__setitem__(0, -1.0), ["index_mcp", "min_rad"]),
        (lambda r: r["finger"][0].__setitem__("flex", [1.0, 0.0, 0.0]), ["orthogonal"]),
        (lambda r: r["firmware"].__setitem__("tension_design_stiffness_n_per_m", 42000.0),
         ["tension_design_stiffness_n_per_m", "42000.0", "list of 6"]),
        (lambda r: r["firmware"]["tension_design_stiffness_n_per_m"].__setitem__(5, 1.0),
         ["tension_design_stiffness_n_per_m[5]", "1.0", "10.0"]),
    ],
)
def test_bad_preset_is_refused_naming_key_value_limit(tmp_path, edit, words):
    with pytest.raises(ConfigError) as ei:
        _variant(tmp_path, edit)
    for w in words:
        assert w in str(ei.value)


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ConfigError, match="hand_prs6"):
        load_preset("no_such_hand")


@settings(max_examples=60, deadline=None)
@given(
    q=st.lists(st.floats(-1.0, 2.0), min_size=15, max_size=15),
    qd=st.lists(st.floats(-10.0, 10.0), min_size=15, max_size=15),
    t=st.lists(st.floats(0.0, 100.0), min_size=6, max_size=6),
)
def test_coupling_is_consistent_between_joint_and_tendon_space(q, qd, t):
    R = coupling_matrix(P)
    q, qd, t = np.array(q), np.array(qd), np.array(t)
    # virtual work: tendon power T . (R dq) equals joint power (R^T T) . dq
    assert t @ (R @ qd) == pytest.approx((R.T @ t) @ qd, rel=1e-12, abs=1e-12)
    # the firmware coupling law maps joint targets through the same rows (float32)
    from cerebellum_rt.rtcore.jit import njit

    step = njit(L.coupled_joint_step)
    for k in range(P.n_act):
        cfg = L.CouplingConfig.new(x_0=0.0, x_min=-1.0, x_max=1.0)
        cfg["r"][:15] = R[k]
        inp = L.CouplingInput.new(use_meas=False)
        inp["q_ref"][:15] = q
        out = L.CouplingOutput.new()
        step(cfg, L.CouplingState.new(), inp, out)
        assert float(out["x_ref"]) == pytest.approx(float(R[k] @ q), abs=2e-7)


def test_plant_tendon_excursion_is_R_dq():
    """The plant's tendon stretch falls by exactly R_k . dq when the joints move by dq."""
    from cerebellum_rt.actuators.hand.plant import tendon_tension, tendon_tension_chain

    rng = np.random.default_rng(1)
    R = P.coupling
    for _ in range(20):
        q0 = rng.uniform(0.0, 1.0, 15)
        dq = rng.normal(0.0, 0.01, 15)
        for k in range(P.n_act):
            _, e0, _ = tendon_tension(P.act, R, k, 0.03, 0.0, q0, np.zeros(15))
            _, e1, _ = tendon_tension(P.act, R, k, 0.03, 0.0, q0 + dq, np.zeros(15))
            assert e0 - e1 == pytest.approx(R[k] @ dq, abs=1e-15)
            # the plant's per-finger shortcut gives the same stretch
            _, e2, _ = tendon_tension_chain(P.act, R, k, P.fing_i, P.finger_of_tendon, 0.03, 0.0, q0 + dq,
                                            np.zeros(15))
            assert e2 == pytest.approx(e1, abs=1e-15)


def test_free_finger_equilibrium_is_R_transpose_T():
    """Hold the index nut; at rest every joint balances r_j T_f against its return spring."""
    from cerebellum_rt.actuators.hand.sim import M_POSITION, HandSim

    sim = HandSim(P, obj=None)
    sim.mode[0] = M_POSITION
    sim.x_cmd[0] = 0.5e-3 + 0.0125  # ~ half closed
    sim.run(2500)
    T_f = sim.tens[0, 1]
    assert T_f > 0.5
    jnt = P.jnt
    for j in np.nonzero(P.coupling[0])[0]:
        if jnt[j, 4] < sim.q[j] < jnt[j, 5]:
            tau_tendon = P.coupling[0, j] * T_f
            tau_spring = jnt[j, 3] + jnt[j, 2] * sim.q[j]
            assert tau_tendon == pytest.approx(tau_spring, rel=0.01, abs=2e-5)
