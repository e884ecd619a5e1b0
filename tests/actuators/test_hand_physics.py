"""Hand plant physics properties (hypothesis): energy, screw force/torque relation, tension sign."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from cerebellum_rt.actuators.hand import drive_figures, load_preset
from cerebellum_rt.actuators.hand.sim import LOG_T, M_CURRENT, HandSim

P = load_preset("hand_prs6")


def _hand_figures(raw) -> dict[str, float]:
    """The drive-train figures by hand, from the preset's physical figures (not from the code
    that builds the plant): screw turns per metre 1/lead, gear N, motor k_t, lead angle
    tan(lam) = lead / (pi d); the screw's forward efficiency fixes its friction angle phi
    (eta_sf = tan(lam) / tan(lam + phi)) and so its back-drive efficiency tan(lam - phi) / tan(lam);
    the gearhead efficiencies multiply; the nut drag is the larger of the back-drive threshold
    seen through eta_b and the motor's friction torque referred to the nut."""
    g, sc, m = raw["gearhead"], raw["screw"], raw["motor"]
    rad_per_m = 2.0 * math.pi * g["ratio"] / sc["lead_m"]  # motor radians per metre of nut travel
    lam = math.atan2(sc["lead_m"], math.pi * sc["pitch_diameter_m"])
    phi = math.atan(math.tan(lam) / sc["efficiency_forward"]) - lam
    eta_b = g["efficiency_backward"] * math.tan(lam - phi) / math.tan(lam)
    return {
        "k_force": m["torque_constant_nm_per_a"] * rad_per_m,
        "eta_f": g["efficiency_forward"] * sc["efficiency_forward"],
        "eta_b": eta_b,
        "f_c0": max(eta_b * sc["backdrive_threshold_n"], m["friction_nm"] * rad_per_m),
    }


D = _hand_figures(P.raw)


def test_hand_figures_agree_with_the_preset_code():
    """The plant's own derived figures (drive_figures) equal the hand derivation above."""
    code = drive_figures(P.raw)
    for k, v in D.items():
        assert code[k] == pytest.approx(v, rel=1e-12), k


@settings(max_examples=12, deadline=None)
@given(
    obj=st.sampled_from([None, "cylinder", "sphere", "box"]),
    currents=st.lists(st.lists(st.floats(-0.5, 0.5), min_size=6, max_size=6), min_size=2, max_size=5),
)
def test_energy_is_never_created_and_tension_never_negative(obj, currents):
    """E_in >= change of stored energy + every modelled loss (the rest is numerical
    dissipation of the semi-implicit step, which may only remove energy)."""
    sim = HandSim(P, obj)
    sim.mode[:] = M_CURRENT
    e0 = sim.stored_energy()
    for seg in currents:
        sim.i_cmd[:] = seg
        log = sim.run(150)
        assert np.all(log[:, :, LOG_T] >= 0.0)
        assert np.all(sim.tens >= 0.0)
    E = sim.E
    assert np.all(E[1:6] >= 0.0), E  # every loss dissipates
    stored = sim.stored_energy() - e0
    created = stored + E[1:6].sum() - E[0]
    assert created <= 1e-9 + 1e-6 * abs(E[0]), (created, E, stored)


def _locked_index():
    """A hand whose index finger is held by its end stops (the tendon pulls a fixed anchor),
    with the index tendon just taut (no slack to take up, so no impact transient)."""
    sim = HandSim(P, None)
    sim.mode[:] = M_CURRENT
    jnt = P.jnt.copy()
    jnt[:3, 5] = 1e-4  # max_rad: the index cannot flex
    sim.p = replace(P, jnt=jnt)
    sim.xs[0, 0] = P.raw["tendon"]["slack_m"]
    return sim


@settings(max_examples=4, deadline=None, phases=[Phase.explicit, Phase.generate])
@given(i_top=st.floats(0.15, 0.35), ramp_s=st.floats(1.5, 3.0))
def test_screw_force_matches_lead_and_efficiency(i_top, ramp_s):
    """Quasi-static ramp of motor current against a locked finger: while the nut advances the
    tension follows T = eta_f (2 pi N k_t i / lead - F_c0); when the current ramps down the
    nut holds (not back-drivable) until eta_b T = F_c0 + F_d, then T ~ (F_d + F_c0) / eta_b
    (back-driving the stiff locked tendon is stick-slip: each slip overshoots by a few %)."""
    sim = _locked_index()
    n = int(ramp_s * 1000)
    kf, ef, eb, fc = D["k_force"], D["eta_f"], D["eta_b"], D["f_c0"]
    up = np.linspace(0.0, i_top, n)
    tens_up, tens_dn = [], []
    for i in up:
        sim.i_cmd[0] = i
        sim.run(1)
        tens_up.append((sim.xs[0, 2], sim.tens[0, 0], sim.xs[0, 1]))
    for i in up[::-1]:
        sim.i_cmd[0] = i
        sim.run(1)
        tens_dn.append((sim.xs[0, 2], sim.tens[0, 0], sim.xs[0, 1]))
    fwd = [(i, t) for i, t, v in tens_up if v > 0.0 and t > 5.0]
    assert len(fwd) > n // 10
    rel = [abs(t - ef * (kf * i - fc)) / (ef * (kf * i - fc)) for i, t in fwd]
    assert np.median(rel) <= 0.01 and max(rel) <= 0.10, (np.median(rel), max(rel))
    # holding: between the two branches the tension stays (the screw is self-holding there)
    t_top = tens_up[-1][1]
    back = []
    for i, t, v in tens_dn:
        if v < 0.0:  # back-driven (stick-slip: the first slip of each event overshoots a little)
            back.append(abs(t - (kf * i + fc) / eb) / ((kf * i + fc) / eb))
        else:
            assert t <= (kf * i + fc) / eb + 0.3
    if back:
        assert np.median(back) <= 0.10 and max(back) <= 0.20, (np.median(back), max(back))
    held = [t for i, t, v in tens_dn if (kf * i + fc) / eb > t_top + 0.5]
    assert held and all(abs(t - t_top) <= 0.02 * t_top + 0.3 for t in held)


def _ramp(sim, i0, i1, n):
    for i in np.linspace(i0, i1, n):
        sim.i_cmd[0] = i
        sim.run(1)


@pytest.mark.parametrize("t0", [6.0, 20.0])
def test_unpowered_screw_backdrives_only_above_threshold(t0):
    """Tension the locked index to t0 and slowly remove the motor current: below the
    back-drive threshold the screw holds the tension, above it the tendon back-drives the
    nut until eta_b T = F_c0, i.e. T = T_bd."""
    sim = _locked_index()
    i_hold = (t0 / D["eta_f"] + D["f_c0"]) / D["k_force"]
    _ramp(sim, 0.0, i_hold, 1000)
    sim.run(500)
    t_loaded = sim.tens[0, 0]
    assert t_loaded == pytest.approx(t0, rel=0.05)
    _ramp(sim, i_hold, 0.0, 2000)
    sim.run(500)
    t_bd = P.raw["screw"]["backdrive_threshold_n"]
    if t_loaded < t_bd:
        assert sim.tens[0, 0] == pytest.approx(t_loaded, abs=0.05)
    else:  # released down to the threshold (a stick-slip overshoot below it, never above)
        assert 0.8 * t_bd <= sim.tens[0, 0] <= t_bd + 0.3
