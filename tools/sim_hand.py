"""`cbl sim hand`: grasp an object with the roller-screw tendon hand in lockstep; metrics + PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grasp", default="cylinder", metavar="OBJECT",
                   help="object to grasp: cylinder, sphere or box (from the preset; default cylinder)")
    p.add_argument("--preset", default="hand_prs6", help="hand preset name or .toml path (default hand_prs6)")
    p.add_argument("--duration", type=float, default=2.5, help="simulated seconds (default 2.5)")
    p.add_argument("--plant-hz", type=float, default=None, help="physics rate [Hz] (default: the preset's)")
    p.add_argument("--no-tension-sensor", action="store_true",
                   help="tension loop uses the screw-force estimate from the motor current")
    p.add_argument("-o", "--out", type=Path, default=Path("out"), help="directory for the PNG (default ./out, as cbl demo)")


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.actuators.hand.scenario import grasp, plot_grasp
    from cerebellum_rt.hil_tests.rig import load_board_preset
    from cerebellum_rt.tools.outputs import output_dir

    out = output_dir(args.out)
    load_board_preset("hand", args.preset)  # a missing, binary or broken preset: one line, before the run
    res = grasp(args.preset, args.grasp, args.duration, plant_hz=args.plant_hz,
                tension_sensor=False if args.no_tension_sensor else None)
    png = plot_grasp(res, out)
    if args.json:
        print(json.dumps({**res.to_dict(), "plot": str(png)}))
        return 0
    print(f"hand {res.preset}: grasp {res.obj}, {res.duration_s:g} s lockstep, laws {res.loop_hz:g} Hz, "
          f"plant {res.plant_hz:g} Hz")
    phases = {0: "idle", 1: "approach", 2: "force", 3: "missed"}
    print(f"{'finger':<8} {'contact [s]':>11} {'force [N]':>10} {'target [N]':>10} {'error':>8} "
          f"{'peak [N]':>9} {'osc p-p [N]':>11} {'osc [Hz]':>8} {'last 1 s p-p':>12} {'lost':>5}  state")
    for f in res.fingers:
        tc = "-" if f["time_to_contact_s"] is None else f"{f['time_to_contact_s']:.3f}"
        err = "-" if f["error_pct"] is None else f"{f['error_pct']:+.1f} %"
        print(f"{f['finger']:<8} {tc:>11} {f['force_n']:>10.3f} {f['target_n']:>10.3f} {err:>8} "
              f"{f['peak_force_n']:>9.2f} {f['oscillation_p2p_n']:>11.3f} {f['oscillation_hz']:>8.1f} "
              f"{f['last_second_p2p_n']:>12.3f} {f['contact_losses']:>5d}  {phases.get(f['phase'], f['phase'])}")
    print("(force: mean of the last 0.2 s; oscillation: peak-to-peak and frequency of the ripple over "
          "the whole run after touch; lost: contact losses after touch)")
    print(f"{'tendon':<11} {'mode':<6} {'peak I [mA]':>11} {'peak T [N]':>10} {'T osc p-p':>9} {'[Hz]':>6} "
          f"{'slack events':>12}  (counting the open hand's initial slack)")
    for a in res.actuators:
        print(f"{a['tendon']:<11} {a['mode']:<6} {a['peak_current_a'] * 1e3:>11.1f} "
              f"{a['peak_tension_n']:>10.2f} {a['tension_oscillation_p2p_n']:>9.2f} "
              f"{a['tension_oscillation_hz']:>6.1f} {a['slack_events']:>12d}")
    e = res.energy
    print(f"energy: in {e['electrical_in']:.3f} J, losses {e['electrical_in'] - e['stored_change'] - e['unaccounted']:.3f} J, "
          f"stored change {e['stored_change']:.4f} J, unaccounted {e['unaccounted']:+.4f} J")
    print(f"plot: {png}")
    return 0
