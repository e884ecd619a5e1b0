"""`cbl bench tune`: auto-tune every preset joint from its default gains, measured in lockstep.

For each joint preset (actuators/presets, hands excluded) one emulated board (the preset's
design gains are the board's defaults): a 0.05 rad position step (overshoot %, 2 % settling time)
and a ±0.01 rad position chirp 2-100 Hz (closed-loop -3 dB bandwidth) with the default gains
(``before``), then ``autotune`` (relay identification, velocity step for the delay, design) with
the gains applied, and the same step and chirp (``after``), with what the model predicted.
``impedance`` (per joint): the impedance mode (-1) with the default K, D (``before``) and after
``autotune impedance`` (critically damped at the stiffest K the margins allow, applied): a torque
perturbation deflecting the joint ~0.05 rad (at most 30 % of 0x6072): overshoot %, settling,
deflection and the stiffness it shows, with what the model predicted for ``after``.
``telemetry_hz``: the board's process data sampled by the wall-clock 1 kHz loop for
``--telemetry-s`` (fresh TPDO sets per second; the reference is the 1000 Hz loop rate, so
``telemetry_vs_loop`` = telemetry_hz / 1000).
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--joints", nargs="*", help="preset names (default: every joint preset)")
    p.add_argument("--telemetry-s", type=float, default=2.0, help="seconds of real-time telemetry (default 2)")
    p.add_argument("--overshoot", type=float, default=2.0, help="auto-tune overshoot target [%%] (default 2)")


def _measure(console: Any) -> dict[str, float]:
    step = console.execute("step position 0.05")[0]
    chirp = console.execute("chirp position 0.01 rad 2 100 1.5")[0]
    m = step["metrics"]
    return {"overshoot_pct": m["overshoot_pct"], "settling_time_s": m["settling_time_s"],
            "rise_time_s": m["rise_time_s"], "bandwidth_hz": chirp["bandwidth_hz"],
            "stopped": step["stopped"] or chirp["stopped"]}


def _measure_impedance(console: Any) -> dict[str, Any]:
    from cerebellum_rt.drivers.tune import impedance

    k = console.execute(f"get {impedance.STIFFNESS} {impedance.DAMPING}")[0]["values"]
    gains = impedance.ImpedanceGains(k[0]["value"], k[1]["value"])
    torque = impedance.perturbation_torque(gains, console.exp.limits()["max_torque_nm"])
    r = console.execute(f"step impedance {torque!r} N*m")[0]
    m = r["metrics"]
    return {"overshoot_pct": m["overshoot_pct"], "settling_time_s": m["settling_time_s"],
            "stiffness_nm_per_rad": m["stiffness_nm_per_rad"], "deflection_rad": m["deflection_rad"],
            "perturbation_torque_nm": torque, "gains": gains.as_dict(), "stopped": r["stopped"]}


def bench_impedance(console: Any) -> dict[str, Any]:
    before = _measure_impedance(console)
    tuned = console.execute("autotune impedance")[0]
    after = _measure_impedance(console)
    pred = tuned["predicted"]
    k = tuned["gains"]["impedance_stiffness"]
    return {"before": before, "after": after,
            "predicted_after": {x: pred[x] for x in ("overshoot_pct", "settling_time_s", "natural_frequency_hz",
                                                     "damping_ratio", "phase_margin_deg", "gain_margin_db",
                                                     "stiffness_nm_per_rad", "deflection_rad")},
            "overshoot_error_pp": after["overshoot_pct"] - pred["overshoot_pct"],
            "stiffness_error": after["stiffness_nm_per_rad"] / k - 1.0}


def _session(preset: str, node: int = 1):
    from cerebellum_rt.drivers.can import CanTransport
    from cerebellum_rt.drivers.tune.emulated import EmulatedJoint
    from cerebellum_rt.drivers.tune.session import TuneSession

    emu = EmulatedJoint(preset, node)
    t = CanTransport(emu.host_bus(), nodes=[node], timeout_s=0.05)
    s = TuneSession(t, node, project=None, emulated=emu)
    s.connect()
    return emu, t, s


def bench_joint(preset: str, overshoot: float) -> dict[str, Any]:
    from cerebellum_rt.drivers.tune.console import Console

    emu, t, s = _session(preset)
    try:
        c = Console(s, lockstep=True, yes=True)
        before = _measure(c)
        tuned = c.execute(f"autotune {overshoot}")[0]
        after = _measure(c)
        pred = tuned["predicted"]
        imp = bench_impedance(c)
        return {"before": {**before, "gains": tuned["before"]},
                "after": {**after, "gains": tuned["gains"]},
                "predicted_after": {k: pred[k] for k in ("overshoot_pct", "settling_time_s", "position_bandwidth_hz",
                                                         "velocity_bandwidth_hz", "velocity_phase_margin_deg",
                                                         "velocity_gain_margin_db", "position_phase_margin_deg")},
                "model": tuned["model"],
                "bandwidth_ratio": after["bandwidth_hz"] / before["bandwidth_hz"],
                "settling_ratio": after["settling_time_s"] / before["settling_time_s"]
                if before["settling_time_s"] > 0 and math.isfinite(before["settling_time_s"]) else None,
                "impedance": imp}
    finally:
        t.close()
        emu.close()


def telemetry(seconds: float) -> dict[str, Any]:
    from cerebellum_rt.drivers.tune.telemetry import Telemetry

    emu, t, s = _session("knee")
    try:
        return Telemetry(s, lockstep=False).run(seconds)
    finally:
        t.close()
        emu.close()


def main_json(args: argparse.Namespace) -> dict[str, Any]:
    from cerebellum_rt.actuators.joint.preset import preset_names

    names = args.joints or preset_names()
    out: dict[str, Any] = {"joints": {n: bench_joint(n, args.overshoot) for n in names}}
    tel = telemetry(args.telemetry_s)
    out["telemetry_hz"] = tel["telemetry_hz"]
    out["telemetry_vs_loop"] = tel["telemetry_hz"] / 1000.0
    out["telemetry"] = tel
    out["lockstep"] = True
    return out


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.actuators.joint.preset import preset_names
    from cerebellum_rt.rtcore.errors import ConfigError, check_range

    check_range("--telemetry-s", args.telemetry_s, 0.1, 60.0, "s")
    check_range("--overshoot", args.overshoot, 0.0, 50.0, "%")
    for n in args.joints or []:
        if n not in preset_names():
            raise ConfigError(f"--joints: {n!r} is not one of {preset_names()}")
    out = main_json(args)
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    for n, j in out["joints"].items():
        b, a = j["before"], j["after"]
        print(f"{n}: overshoot {b['overshoot_pct']:.2f} -> {a['overshoot_pct']:.2f} % "
              f"(predicted {j['predicted_after']['overshoot_pct']:.2f}), settling {b['settling_time_s'] * 1e3:.1f} -> "
              f"{a['settling_time_s'] * 1e3:.1f} ms, bandwidth {b['bandwidth_hz']:.1f} -> {a['bandwidth_hz']:.1f} Hz "
              f"({j['bandwidth_ratio']:.2f}x)")
        ib, ia, ip = j["impedance"]["before"], j["impedance"]["after"], j["impedance"]["predicted_after"]
        print(f"{n} impedance: overshoot {ib['overshoot_pct']:.2f} -> {ia['overshoot_pct']:.2f} % (predicted "
              f"{ip['overshoot_pct']:.2f}), stiffness {ib['stiffness_nm_per_rad']:.4g} -> {ia['stiffness_nm_per_rad']:.4g} "
              f"N*m/rad (predicted {ip['stiffness_nm_per_rad']:.4g}), damping ratio {ip['damping_ratio']:.2f}")
    print(f"telemetry: {out['telemetry_hz']:.0f} Hz from the board at a 1000 Hz loop "
          f"({out['telemetry_vs_loop']:.2f} of the loop rate), {out['telemetry']['overruns']} overruns")
    return 0
