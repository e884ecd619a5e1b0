"""Hand firmware laws in lockstep: step responses within bounds derived from the gains,
slack detection latency, the grasp scenario and `cbl sim hand`."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from cerebellum_rt.actuators.hand import drive_figures, load_preset
from cerebellum_rt.actuators.hand import laws as L
from cerebellum_rt.actuators.hand.sim import (
    LOG_SLACK,
    LOG_T,
    LOG_X,
    M_JOINT,
    M_POSITION,
    M_TENSION,
    HandSim,
    tension_gains,
)

P = load_preset("hand_prs6")
D = drive_figures(P.raw)


def _overshoot_bound(zeta: float) -> float:
    return math.exp(-math.pi * zeta / math.sqrt(1 - zeta * zeta)) if zeta < 1 else 0.0


def test_hand_laws_pass_the_codegen_front_end():
    from cerebellum_rt.codegen.frontend import compile_law

    for fn in (L.screw_position_step, L.tendon_tension_step, L.grasp_force_step, L.coupled_joint_step,
               L.slack_step, L.screw_tension_observer_step):
        assert compile_law(fn).entry


def test_screw_position_step_response_within_gain_bounds():
    """Free nut (tendon kept slack): w_n^2 = K_F kp / m_eq, 2 zeta w_n = K_F kd / m_eq."""
    sim = HandSim(P, None)
    sim.p = replace(P, act=P.act.copy())
    sim.p.act[:, 13] = 0.02  # 20 mm of slack: the nut moves alone
    kp, kd = float(sim.c_pos[0]["kp"]), float(sim.c_pos[0]["kd"])
    m, kf = D["m_eq"], D["k_force"]
    wn = math.sqrt(kf * kp / m)
    zeta = kf * kd / (2 * m * wn)
    step = 1e-3
    sim.mode[0] = M_POSITION
    sim.x_cmd[0] = step
    log = sim.run(1500)
    x = log[:, 0, LOG_X]
    band = D["f_c0"] / (kf * kp)  # Coulomb stick band of a P-D loop [m]
    assert x.max() <= step * (1 + _overshoot_bound(zeta) + 0.02)
    t_settle = 4.0 / (zeta * wn)
    k = int(1.5 * t_settle * 1000)
    assert np.all(np.abs(x[k:] - step) <= band + 0.02 * step), (x[k:].min(), x[k:].max(), band)
    t_90 = np.argmax(x > 0.9 * (step - band)) / 1000
    # 10-90 % rise of a 2nd-order system (1 - 0.4167 zeta + 2.917 zeta^2) / w_n, plus the
    # 0..10 % part and one control tick
    assert t_90 <= 1.5 * (1 - 0.4167 * zeta + 2.917 * zeta**2) / wn + 0.002


def test_tension_step_response_within_gain_bounds():
    """Locked finger: load stiffness k_L = 1 / (1/k_tendon + sum r_j^2 / (k_stop + k_spring));
    gains placed at 12 Hz, zeta 0.7 by tension_gains(); overshoot and settling from w_n, zeta."""
    jnt = P.jnt.copy()
    jnt[:3, 5] = 1e-4
    sim = HandSim(P, None)
    sim.p = replace(P, jnt=jnt)
    r = P.coupling[0, :3]
    k_l = 1.0 / (1.0 / D["k_tendon"] + np.sum(r * r / (jnt[:3, 6] + jnt[:3, 2])))
    kp, kd = tension_gains(D, k_l, 12.0, 0.7)
    sim.c_ten[0]["kp"], sim.c_ten[0]["kd"], sim.c_ten[0]["ki"] = kp, kd, 0.0
    wn = math.sqrt(k_l * (1 / D["eta_f"] + D["k_force"] * kp) / D["m_eq"])
    zeta = D["k_force"] * kd / (2 * D["m_eq"] * wn)
    assert kp > 0.0 and wn == pytest.approx(2 * math.pi * 12.0) and zeta == pytest.approx(0.7)
    sim.mode[0] = M_TENSION
    sim.t_cmd[0] = 2.0
    sim.run(1000)
    t0 = sim.tens[0, 0]
    sim.t_cmd[0] = 12.0
    log = sim.run(1500)
    t = log[:, 0, LOG_T]
    step = 12.0 - t0
    band = max(float(sim.c_ten[0]["t_band"]), 0.05 * step)
    assert t.max() <= 12.0 + step * (_overshoot_bound(zeta) + 0.05)
    k = int(2.0 * 4.0 / (zeta * wn) * 1000)
    assert np.all(np.abs(t[k:] - 12.0) <= band), (t[k:].min(), t[k:].max())


def test_joint_position_through_coupling_and_slack_detection():
    """Thumb rotation to 1.0 rad through the coupling law (integral on the tendon-space error),
    then the nut is retracted past the taut point: slack is flagged within the debounce."""
    sim = HandSim(P, None)
    k = P.tendons.index("thumb_rot")
    j = P.joints.index("thumb_rot")
    sim.mode[k] = M_JOINT
    sim.q_ref[j] = 1.0
    log = sim.run(2000)
    assert sim.q[j] == pytest.approx(1.0, abs=0.01)
    assert not log[-1, k, LOG_SLACK]
    ev0 = int(sim.s_sl[k]["events"])
    sim.mode[k] = M_POSITION
    sim.x_cmd[k] = -1.5e-3
    log = sim.run(1500)
    # true slack: stretch below -margin and tension below the threshold (plant truth)
    slack_m, margin = P.raw["tendon"]["slack_m"], P.raw["firmware"]["slack_margin_m"]
    n_db = P.raw["firmware"]["slack_debounce_ticks"]
    x = log[:, k, LOG_X]
    assert x[-1] < -1e-3
    flagged = np.nonzero(log[:, k, LOG_SLACK] > 0.5)[0]
    assert len(flagged) and int(sim.s_sl[k]["events"]) == ev0 + 1
    # the joint is back near its open stop (q < 0.02 rad) once x < x_taut - margin; the law
    # sees the sensors one tick late and needs n_debounce consecutive ticks
    true = np.nonzero((x < slack_m + P.coupling[k, j] * 0.02 - margin) & (log[:, k, LOG_T] < 0.2))[0]
    assert flagged[0] - true[0] <= n_db + 2
    assert flagged[0] >= true[0]


@pytest.fixture(scope="module")
def cylinder():
    from cerebellum_rt.actuators.hand.scenario import grasp

    return grasp(P, "cylinder", 2.5)


def test_grasp_reaches_force_targets_within_integrator_bound(cylinder):
    """After touch, the pad-force integrator (pole ki_f g, g = measured dF/dT) settles the error."""
    res = cylinder
    sim = HandSim(P, "cylinder")
    ki = float(sim.c_gr[0]["ki_f"])
    for f in res.fingers:
        assert f["time_to_contact_s"] is not None and f["time_to_contact_s"] < 0.6
        assert abs(f["error_pct"]) <= 5.0, f
        k = next(a for a, n in enumerate(P.tendons) if P.finger_of_tendon[a] == P.fingers.index(f["finger"])
                 and res.actuators[a]["mode"] == "grasp")
        g = f["force_n"] / res.actuators[k]["final_tension_n"]
        t_bound = f["time_to_contact_s"] + 5.0 / (ki * g) + 0.3
        fz = res.log[:, k, 4]
        ok = np.abs(fz - f["target_n"]) <= 0.1 * f["target_n"]
        last_bad = np.nonzero(~ok)[0]
        t_settle = (last_bad[-1] + 1) / 1000 if len(last_bad) else 0.0
        assert t_settle <= t_bound, (f, t_settle, t_bound)
    for a in res.actuators:
        assert a["peak_current_a"] <= P.raw["motor"]["current_max_a"] + 1e-9
        assert not a["slack_at_end"]
    e = res.energy
    assert e["unaccounted"] >= 0.0  # energy is only lost, never created


def test_cli_sim_hand_json_and_plot(tmp_path, capsys):
    from cerebellum_rt.tools.cli import main

    assert main(["sim", "hand", "--grasp", "box", "--duration", "0.6", "--json", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert doc["object"] == "box" and len(doc["fingers"]) == 5 and len(doc["actuators"]) == 6
    assert (tmp_path / "hand_grasp_box.png").stat().st_size > 10_000
    assert doc["plot"] == str(tmp_path / "hand_grasp_box.png")
    assert main(["sim", "hand", "--grasp", "teapot", "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "teapot" in err and "cylinder" in err and len(err.strip().splitlines()) == 1


def test_bench_realtime_factor_is_a_positive_ratio():
    from cerebellum_rt.actuators.hand import bench_realtime_factor

    assert bench_realtime_factor(0.2) > 0.0


def test_grasp_without_tension_sensor_uses_the_screw_force_observer():
    """No tension sensor: the tension loop, grasp law and slack detector run on the screw-force
    observer; the pad-force loop still closes every finger on its target."""
    from cerebellum_rt.actuators.hand.scenario import grasp

    res = grasp(P, "cylinder", 2.5, tension_sensor=False)
    for f in res.fingers:
        assert f["time_to_contact_s"] is not None and f["phase"] == 2
        assert abs(f["error_pct"]) <= 15.0, f


def test_observer_tracks_tension_while_the_nut_drives():
    """Locked finger, slow current ramp: the observer's estimate follows the sensor."""
    sim = HandSim(P, None)
    jnt = P.jnt.copy()
    jnt[:3, 5] = 1e-4
    sim.p = replace(P, jnt=jnt)
    sim.xs[0, 0] = P.raw["tendon"]["slack_m"]
    errs = []
    for i in np.linspace(0.0, 0.3, 1500):
        sim.i_cmd[0] = i
        sim.run(1)
        if sim.tens[0, 0] > 5.0:
            errs.append(abs(float(sim.s_obs[0]["t_est"]) - sim.tens[0, 0]) / sim.tens[0, 0])
    assert len(errs) > 300 and np.median(errs) <= 0.05, (len(errs), np.median(errs))
