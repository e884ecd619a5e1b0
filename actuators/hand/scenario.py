"""The grasp scenario behind ``cbl sim hand --grasp OBJECT``, its metrics, plot and speed bench.

Scenario (lockstep, virtual time): at t = 0 the thumb-rotation actuator goes to its opposition
angle through the coupling law (joint mode) and every finger actuator runs the grasp law
(approach in screw position until touch, then pad-force control through the tension loop);
the actuators of a finger with a rotation joint hold their nut until ``[grasp]
rotate_first_s`` so the straight thumb turns before it flexes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.actuators.hand.preset import HandPreset, load_preset
from cerebellum_rt.actuators.hand.sim import (
    LOG_F,
    LOG_I,
    LOG_PHASE,
    LOG_SLACK,
    LOG_T,
    LOG_X,
    M_GRASP,
    M_JOINT,
    M_POSITION,
    M_TENSION,
    HandSim,
)
from cerebellum_rt.rtcore.errors import ConfigError, check_range


@dataclass
class GraspResult:
    """Metrics of one grasp run (SI units) plus its per-tick log (n_ticks, n_act, 8)."""

    preset: str
    obj: str
    duration_s: float
    loop_hz: float
    plant_hz: float
    fingers: list[dict[str, Any]]
    actuators: list[dict[str, Any]]
    energy: dict[str, float]
    log: np.ndarray = field(repr=False)
    targets: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"preset": self.preset, "object": self.obj, "duration_s": self.duration_s,
                "loop_hz": self.loop_hz, "plant_hz": self.plant_hz, "fingers": self.fingers,
                "actuators": self.actuators, "energy_j": self.energy}


def oscillation(x: np.ndarray, fs: float, window_s: float = 0.1) -> tuple[float, float]:
    """(peak-to-peak [unit of x], dominant frequency [Hz]) of the oscillation in ``x`` over the
    whole trace: x minus its centred moving average over ``window_s`` (the slow approach and
    force ramps), so a decaying or sustained ripple shows wherever it occurs, not only in a
    final window. The frequency is the FFT peak of that residual (0 when it is flat). Above
    10 Hz the peak-to-peak is within -22 / +22 % of the ripple's (the average passes a little
    of it: gain |1 - sinc|)."""
    n = len(x)
    w = max(3, round(window_s * fs)) | 1
    if n < 2 * w:
        return 0.0, 0.0
    ker = np.ones(w) / w
    pad = np.concatenate([np.full(w // 2, x[0]), x, np.full(w // 2, x[-1])])
    r = (x - np.convolve(pad, ker, mode="valid"))[w // 2 : n - w // 2]
    p2p = float(r.max() - r.min())
    if p2p < 1e-9:
        return 0.0, 0.0
    spec = np.abs(np.fft.rfft(r - r.mean()))
    freqs = np.fft.rfftfreq(len(r), 1.0 / fs)
    spec[freqs < 1.0 / window_s] = 0.0  # below the averaging window: not oscillation
    return p2p, float(freqs[int(np.argmax(spec))])


def setup_grasp(sim: HandSim) -> tuple[np.ndarray, list[int]]:
    """Put ``sim`` in the grasp scenario; returns the pad-force target per actuator [N] and the
    actuators held (screw position) until the rotation joints have turned."""
    p = sim.p
    gr = p.raw["grasp"]
    ft = gr["force_target_n"]
    if not isinstance(ft, list) or len(ft) != len(p.fingers):
        raise ConfigError(f"{p.name} [grasp] force_target_n = {ft!r}: need {len(p.fingers)} values (one per finger)")
    targets = np.zeros(p.n_act)
    rot = {int(p.fing_i[f, 0]) for f in range(len(p.fingers)) if p.fing_i[f, 0] >= 0}
    for k in range(p.n_act):
        joints = set(np.nonzero(p.coupling[k])[0].tolist())
        if joints and joints <= rot:  # a rotation-only tendon: position the joint
            sim.mode[k] = M_JOINT
            for j in joints:
                sim.q_ref[j] = gr["thumb_rot_target_rad"]
        else:
            sim.mode[k] = M_GRASP
            targets[k] = check_range(f"{p.name} [grasp] force_target_n", float(ft[p.finger_of_tendon[k]]), 0.0, 100.0, "N")
    sim.f_ref[:] = targets
    rot_fingers = {int(p.finger_of_tendon[k]) for k in range(p.n_act) if sim.mode[k] == M_JOINT}
    held = [k for k in range(p.n_act) if sim.mode[k] == M_GRASP and int(p.finger_of_tendon[k]) in rot_fingers]
    for k in held:
        sim.mode[k] = M_POSITION
        sim.x_cmd[k] = 0.0
    return targets, held


def run_grasp(sim: HandSim, n: int, held: list[int], log: np.ndarray | None = None) -> np.ndarray:
    """Run ``n`` ticks of the scenario (releasing the held actuators at rotate_first_s)."""
    if log is None:
        log = np.zeros((n, sim.p.n_act, 8))
    n1 = min(n, max(0, round(sim.p.raw["grasp"]["rotate_first_s"] * sim.loop_hz - sim.t * sim.loop_hz)))
    if n1 > 0:
        sim.run(n1, log[:n1])
    if n1 < n:
        for k in held:
            sim.mode[k] = M_GRASP
        sim.run(n - n1, log[n1:n])
    return log


def grasp(preset: HandPreset | str = "hand_prs6", obj: str = "cylinder", duration_s: float = 2.5,
          plant_hz: float | None = None, tension_sensor: bool | None = None) -> GraspResult:
    """Run the grasp scenario in lockstep and compute its metrics."""
    p = preset if isinstance(preset, HandPreset) else load_preset(preset)
    check_range("duration_s", duration_s, 0.05, 60.0, "s")
    sim = HandSim(p, obj, plant_hz=plant_hz, tension_sensor=tension_sensor)
    targets, held = setup_grasp(sim)
    n = round(duration_s * sim.loop_hz)
    e0 = sim.stored_energy()
    log = run_grasp(sim, n, held)
    t = np.arange(n) / sim.loop_hz
    touch = p.raw["grasp"]["touch_force_n"]
    tail = max(1, round(0.2 * sim.loop_hz))
    fingers = []
    for f, name in enumerate(p.fingers):
        ks = [k for k in range(p.n_act) if p.finger_of_tendon[k] == f and targets[k] > 0.0]
        k = ks[0] if ks else int(np.nonzero(p.finger_of_tendon == f)[0][0])
        fz = log[:, k, LOG_F]
        hit = np.nonzero(fz > touch)[0]
        final = float(fz[-tail:].mean())
        tgt = float(targets[k])
        after = fz[hit[0]:] if len(hit) else fz[:0]
        p2p, f_osc = oscillation(after, sim.loop_hz)
        lost = int(np.count_nonzero((after[1:] <= touch) & (after[:-1] > touch)))
        fingers.append({
            "finger": name, "time_to_contact_s": float(t[hit[0]]) if len(hit) else None,
            "force_n": round(final, 4), "target_n": tgt, "peak_force_n": round(float(fz.max()), 4),
            "error_pct": round(100.0 * (final - tgt) / tgt, 2) if tgt > 0 else None,
            "phase": int(log[-1, k, LOG_PHASE]),
            # over the whole run after first touch (not a final-window average)
            "oscillation_p2p_n": round(p2p, 4), "oscillation_hz": round(f_osc, 2),
            "min_force_after_touch_n": round(float(after.min()), 4) if len(after) else None,
            # sustained part: peak-to-peak of the force over the last second (or the last half)
            "last_second_p2p_n": round(float(np.ptp(fz[-min(len(fz) // 2, round(sim.loop_hz)):])), 4),
            "contact_losses": lost,
        })
    acts = []
    for k, name in enumerate(p.tendons):
        sl = log[:, k, LOG_SLACK]
        acts.append({
            "tendon": name, "mode": "joint" if sim.mode[k] == M_JOINT else "grasp",
            "peak_current_a": round(float(np.abs(log[:, k, LOG_I]).max()), 5),
            "peak_tension_n": round(float(log[:, k, LOG_T].max()), 4),
            "final_tension_n": round(float(log[-1, k, LOG_T]), 4),
            "slack_events": int(sim.s_sl[k]["events"]),
            "slack_at_end": bool(sl[-1] > 0.5),
            "nut_travel_m": round(float(log[-1, k, LOG_X] - log[0, k, LOG_X]), 6),
            "tension_oscillation_p2p_n": round(oscillation(log[:, k, LOG_T], sim.loop_hz)[0], 4),
            "tension_oscillation_hz": round(oscillation(log[:, k, LOG_T], sim.loop_hz)[1], 2),
        })
    e = sim.E
    stored = sim.stored_energy() - e0
    losses = float(e[1:6].sum())
    energy = {"electrical_in": float(e[0]), "copper": float(e[1]), "screw_friction": float(e[2]),
              "tendon": float(e[3]), "joint": float(e[4]), "contact": float(e[5]), "stored_change": stored,
              "unaccounted": float(e[0]) - losses - stored}
    return GraspResult(p.name, obj, duration_s, sim.loop_hz, sim.loop_hz * sim.sub, fingers, acts,
                       {k: round(v, 6) for k, v in energy.items()}, log, targets)


def tendon_stiffness(preset: HandPreset | str = "hand_prs6", obj: str = "cylinder", grasp_s: float = 2.5,
                     step_n: float = 2.0, settle_s: float = 0.6) -> dict[str, float]:
    """Load stiffness dT/dx [N/m] seen at the nut by every grasping tendon on ``obj`` (the figure
    ``[firmware] tension_design_stiffness_n_per_m`` is designed at): the grasp scenario for
    ``grasp_s``, then every grasping actuator in tension mode at its tension - ``step_n`` and
    + ``step_n`` for ``settle_s`` each; tension and nut position averaged over the last 0.1 s of
    each: dT/dx = (T+ - T-) / (x+ - x-) (tendon in series with the pads through the moment arms)."""
    p = preset if isinstance(preset, HandPreset) else load_preset(preset)
    sim = HandSim(p, obj)
    targets, held = setup_grasp(sim)
    run_grasp(sim, round(grasp_s * sim.loop_hz), held)
    ks = [k for k in range(p.n_act) if targets[k] > 0.0]
    t0 = sim.tens[ks, 0].copy()
    n, tail = round(settle_s * sim.loop_hz), max(1, round(0.1 * sim.loop_hz))
    pts = []
    for d in (-step_n, step_n):
        sim.mode[ks] = M_TENSION
        sim.t_cmd[ks] = t0 + d
        log = sim.run(n)
        pts.append((log[-tail:, :, LOG_X].mean(0), log[-tail:, :, LOG_T].mean(0)))
    (x1, t1), (x2, t2) = pts
    return {p.tendons[k]: float((t2[k] - t1[k]) / (x2[k] - x1[k])) for k in ks}


def plot_grasp(res: GraspResult, out_dir: Path) -> Path:
    """Save pad force / tension / current / nut position vs time as one PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    log = res.log
    t = np.arange(log.shape[0]) / res.loop_hz
    p = load_preset(res.preset)
    fig, ax = plt.subplots(4, 1, figsize=(9, 11), sharex=True)
    for k, name in enumerate(p.tendons):
        c = f"C{k}"
        if res.actuators[k]["mode"] == "grasp":
            ax[0].plot(t, log[:, k, LOG_F], color=c, label=p.fingers[p.finger_of_tendon[k]])
            ax[0].axhline(res.targets[k], color=c, ls="--", lw=0.8)
        ax[1].plot(t, log[:, k, LOG_T], color=c, label=name)
        ax[2].plot(t, log[:, k, LOG_I] * 1e3, color=c, label=name)
        ax[3].plot(t, log[:, k, LOG_X] * 1e3, color=c, label=name)
    for a, lab in zip(ax, ("pad force [N]", "tendon tension [N]", "motor current [mA]", "nut position [mm]")):
        a.set_ylabel(lab)
        a.grid(alpha=0.3)
    ax[0].legend(ncol=3, fontsize=8)
    ax[1].legend(ncol=3, fontsize=8)
    ax[0].set_title(f"{res.preset}: grasp {res.obj} (dashed: force targets)")
    ax[3].set_xlabel("time [s]")
    path = out_dir / f"hand_grasp_{res.obj}.png"
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def bench_realtime_factor(seconds: float = 2.0, preset: HandPreset | str = "hand_prs6") -> float:
    """Simulated seconds per wall second of the whole hand (plant + all laws, grasp scenario),
    measured after warm-up (compilation and 0.2 s of simulation)."""
    check_range("seconds", seconds, 0.01, 600.0, "s")
    sim = HandSim(preset, "cylinder")
    _, held = setup_grasp(sim)
    chunk = max(1, round(0.1 * sim.loop_hz))
    log = np.zeros((chunk, sim.p.n_act, 8))
    run_grasp(sim, 3 * chunk, held)  # warm-up, past the thumb's rotate-first hold
    n = max(1, round(seconds * sim.loop_hz))
    done = 0
    t0 = time.perf_counter()
    while done < n:
        m = min(chunk, n - done)
        sim.run(m, log)
        done += m
    wall = time.perf_counter() - t0
    return (n / sim.loop_hz) / wall
