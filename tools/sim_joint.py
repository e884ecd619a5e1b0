"""`cbl sim joint`: step response of a joint-module preset in lockstep, metrics and a PNG plot.

    cbl sim joint --preset knee --step 0.2            # CSP position step of 0.2 rad
    cbl sim joint --preset arm --mode csv --step 3    # CSV velocity step of 3 rad/s
    cbl sim joint --preset wrist --mode current --step 1.5 --json -o /tmp/sim

Prints rise time (10-90 %), overshoot, 2 % settling time, steady-state error, peak current and
torque, beside the figures the gain design implies; saves ``joint_<preset>_<mode>.png`` in
``--out`` (default ./out, as ``cbl demo``) and prints its path.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from cerebellum_rt.rtcore.errors import ConfigError
from cerebellum_rt.tools.outputs import output_dir


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="knee", help="joint preset name or .toml path (default knee)")
    p.add_argument("--mode", choices=("csp", "csv", "current"), default="csp",
                   help="csp: position step [rad]; csv: velocity step [rad/s]; current: d-axis step [A]")  # fmt: skip
    p.add_argument("--step", type=float, default=0.2, help="step size in the mode's unit (default 0.2)")
    p.add_argument("--duration", type=float, default=None, help="simulated seconds (default per mode)")
    p.add_argument("-o", "--out", default="out", help="directory for the PNG (default ./out, as cbl demo)")
    p.add_argument("--seed", type=int, default=0, help="sensor-noise seed (default 0)")


def _finite(x):
    """JSON has no inf/NaN: a metric that never happened (e.g. never settled) becomes null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _plot(res, metrics: dict, preset: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3 if res.kind != "current" else 1, 1, figsize=(8, 7 if res.kind != "current" else 3.5),
                             sharex=True, squeeze=False)  # fmt: skip
    t_ms = res.t_s * 1e3
    ax = axes[0][0]
    ax.plot(t_ms, res.signal, label=f"{res.kind} (measured)")
    ax.axhline(res.reference, color="k", ls="--", lw=0.8, label="target")
    ax.set_ylabel(f"{res.kind} [{res.unit}]")
    ax.set_title(
        f"{preset}: {res.kind} step {res.reference:g} {res.unit} - rise {metrics['rise_time_s'] * 1e3:.2f} ms, "
        f"overshoot {metrics['overshoot_pct']:.1f} %"
    )
    ax.legend(loc="lower right")
    if res.kind != "current":
        axes[1][0].plot(t_ms, res.iq_a)
        axes[1][0].set_ylabel("i_q [A]")
        axes[2][0].plot(t_ms, res.torque_cmd_nm)
        axes[2][0].set_ylabel("torque cmd [N m]")
    axes[-1][0].set_xlabel("time [ms]")
    for row in axes:
        row[0].grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.actuators.joint.response import (
        current_step,
        ideal_bounds,
        position_step,
        step_metrics,
        velocity_step,
    )
    from cerebellum_rt.hil_tests.rig import load_board_preset
    from cerebellum_rt.rtcore.errors import check_range

    check_range("sim joint --seed", args.seed, 0, 2**32 - 1)
    out = output_dir(args.out)
    preset = load_board_preset("joint", args.preset)
    if not math.isfinite(args.step) or args.step == 0.0:
        raise ConfigError(f"sim joint --step = {args.step} must be a finite, non-zero number")
    if args.duration is not None and not (0.0 < args.duration <= 10.0):
        raise ConfigError(f"sim joint --duration = {args.duration} s is out of range (0, 10] s")
    if args.mode == "csp":
        lo, hi = preset.position_limits_rad
        if abs(args.step) > 0.5 * (hi - lo):
            raise ConfigError(
                f"sim joint --step = {args.step} rad exceeds half the position range {hi - lo:.3f} rad"
            )
        res = position_step(preset, args.step, duration_s=args.duration or 0.3, seed=args.seed)
    elif args.mode == "csv":
        vmax = preset.max_velocity_rad_s
        if abs(args.step) > vmax:
            raise ConfigError(f"sim joint --step = {args.step} rad/s exceeds the velocity limit {vmax} rad/s")
        res = velocity_step(preset, args.step, duration_s=args.duration or 0.1, seed=args.seed)
    else:
        ipk = preset.peak_current_a
        if abs(args.step) > ipk:
            raise ConfigError(f"sim joint --step = {args.step} A exceeds the peak current {ipk:.1f} A")
        res = current_step(preset, args.step, duration_s=args.duration or 0.005, seed=args.seed)
    band = 0.02 if args.mode == "csp" else 0.05
    smooth = 10 if args.mode == "csv" else 1  # 1 ms moving average of the noisy PLL velocity
    metrics = step_metrics(
        res.t_s, res.signal, res.reference, res.iq_a, res.torque_cmd_nm, band=band, smooth=smooth
    )
    bounds = ideal_bounds(preset)
    png = out / f"joint_{preset.name}_{args.mode}.png"
    _plot(res, metrics, preset.name, png)
    doc = {
        "preset": preset.name,
        "mode": args.mode,
        "step": args.step,
        "unit": res.unit,
        "settling_band_pct": band * 100,
        **metrics,
        "design": bounds,
        "plot": str(png),
    }
    if args.json:
        print(json.dumps(_finite(doc), allow_nan=False))
        return 0
    u = res.unit
    print(f"joint preset '{preset.name}': {args.mode} step {args.step:g} {u}")
    print(f"  rise time (10-90 %)   {metrics['rise_time_s'] * 1e3:9.3f} ms")
    print(f"  overshoot             {metrics['overshoot_pct']:9.2f} %")
    print(f"  settling (+-{band * 100:.0f} %)      {metrics['settling_time_s'] * 1e3:9.3f} ms")
    print(f"  steady-state error    {metrics['steady_state_error']:9.2e} {u}")
    print(f"  peak current          {metrics['peak_current_a']:9.2f} A")
    print(f"  peak torque command   {metrics['peak_torque_nm']:9.2f} N m")
    key = {"csp": "position", "csv": "velocity", "current": "current"}[args.mode]
    print(f"  design: rise {bounds[key + '_rise_time_s'] * 1e3:.3f} ms (gain model)")
    print(f"plot: {png}")
    return 0
