"""`cbl hil run RIG.toml SCENARIO`: one scenario on a rig (lockstep by default), as JSON or text.

Scenarios: ``track`` (every joint board follows a slow wave under the host supervisor),
``grasp`` (every tendon of the first hand board to ``--tension`` N and held), ``fault:NAME``
(a fault of :data:`cerebellum_rt.hil_tests.faults.CATALOGUE` on the first joint board, with its
documented reaction checked). The result carries SHA-256 digests of the telemetry and of the bus
traffic (every frame: time, id, flags, data): in lockstep the same rig and seed give the same
digests. ``--out DIR`` writes the MCAP telemetry, candump / ASC logs and the plot there.
Exit 0 pass, 1 scenario failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

TRACK_TICKS, GRASP_TICKS = 600, 300


def scenario_names() -> list[str]:
    from cerebellum_rt.hil_tests.faults import CATALOGUE

    return ["track", "grasp", *(f"fault:{n}" for n in CATALOGUE)]


def digests(session: Any) -> dict[str, str]:
    """SHA-256 of the telemetry rows written so far and of every bus's traffic."""
    tel = hashlib.sha256(np.ascontiguousarray(session.tel[: session.k]).tobytes()).hexdigest()
    h = hashlib.sha256()
    for run in session.buses:
        h.update(run.spec.name.encode())
        for t, (cid, flags, data) in run.traffic:
            h.update(np.array([t], dtype=np.float64).tobytes())
            h.update(cid.to_bytes(4, "little") + bytes((flags, len(data))) + data)
    return {"telemetry_sha256": tel, "traffic_sha256": h.hexdigest()}


def parse_gains(gains: dict[str, Any], where: str) -> list[tuple[int, int, float]]:
    """``{"0x2010:1": 30.0, ...}`` -> [(index, subindex, value)]; ConfigError naming a bad key."""
    from cerebellum_rt.rtcore.errors import ConfigError

    out = []
    for key, value in gains.items():
        try:
            idx, _, sub = key.partition(":")
            out.append((int(idx, 16), int(sub or "0"), float(value)))
        except (ValueError, TypeError):
            raise ConfigError(f"{where}: {key!r} = {value!r} is not 'INDEX:SUB' = number (e.g. \"0x2010:1\" = 30.0)") from None
    return out


def run_scenario(rig_path: str, scenario: str, seed: int = 0, lockstep: bool = True, ticks: int | None = None,
                 tension_n: float = 10.0, out: str | None = None, gains: dict[str, Any] | None = None,
                 out_on_fail: bool = False) -> dict[str, Any]:
    """Run one scenario; returns the JSON document (``passed``, figures, digests). ``gains``:
    objects written by SDO to every joint board before the run (a gain set of a sweep);
    ``out_on_fail``: write the artifacts to ``out`` only when the scenario fails."""
    from cerebellum_rt.hil_tests import faults as F
    from cerebellum_rt.hil_tests import scenarios as sc
    from cerebellum_rt.hil_tests.rig import load_rig
    from cerebellum_rt.hil_tests.session import RigSession
    from cerebellum_rt.rtcore.errors import ConfigError

    if scenario not in scenario_names():
        raise ConfigError(f"scenario '{scenario}' is not one of {scenario_names()}")
    rig = load_rig(rig_path)
    n = ticks or (GRASP_TICKS if scenario == "grasp" else TRACK_TICKS)
    doc: dict[str, Any] = {"rig": rig.source, "scenario": scenario, "seed": seed, "lockstep": lockstep, "ticks": n}
    writes = parse_gains(gains or {}, f"gains of {scenario}")
    doc["gains"] = dict(gains or {})
    with RigSession(rig, seed=seed, lockstep=lockstep, ticks=n) as s:
        s.setup()
        for run in s.buses:
            for b in run.spec.boards:
                if b.type == "joint":
                    for idx, sub, value in writes:
                        run.sdo.write(b.node, idx, sub, value)
        if scenario == "track":
            r = sc.track(s, n)
            errs = [float(np.max(np.abs(r.error_rad(s, j, max(n - 100, 0))))) for j in range(len(r.reference[0]))]
            doc["max_error_rad"] = errs
            doc["detections"] = [f"{d.node[0]}/node{d.node[1]} {d.cause}" for d in r.detections]
            doc["failures"] = [f"tracking error {e:.4f} rad, limit {F.TRACK_TOL_RAD} rad"
                               for e in errs if not e <= F.TRACK_TOL_RAD]
            if not lockstep:
                doc["failures"] = []  # real time on a shared machine: timing truth, no tolerance asserted
        elif scenario == "grasp":
            r = sc.grasp_and_hold(s, n, tension_n)
            final = r["tension_n"][-20:].mean(axis=0)
            doc["final_tension_n"] = final.tolist()
            doc["failures"] = [f"tendon {i + 1} tension {t:.2f} N, limit {tension_n} ± {0.2 * tension_n:.2f} N"
                               for i, t in enumerate(final) if not abs(t - tension_n) <= 0.2 * tension_n]
        else:
            rep = F.run_fault(s, scenario.split(":", 1)[1], ticks=n, inject_tick=n // 4, clear_tick=n // 2)
            doc["report"] = {k: v for k, v in rep.as_dict().items()}
            doc["failures"] = F.check(rep)
        doc["received"] = s.received.tolist()
        doc["lost"] = s.lost.tolist()
        doc["frames"] = {r.spec.name: len(r.traffic) for r in s.buses}
        doc["firmware"] = s.firmware_versions()
    doc.update(digests(s))
    doc["passed"] = not doc["failures"]
    if out and (doc["failures"] or not out_on_fail):
        from cerebellum_rt.hil_tests.report import write_artifacts

        doc["artifacts"] = write_artifacts(s, Path(out), scenario.replace(":", "_"))["files"]
    return doc


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.rtcore.errors import ConfigError, check_range

    if args.rig is None or args.name is None:
        raise ConfigError("cbl hil run: give RIG.toml SCENARIO (or --scenario g1-walk)")
    if args.ticks is not None:
        check_range("--ticks", args.ticks, 50, 1_000_000)
    check_range("--tension", args.tension, 0.0, 200.0, "N")
    doc = run_scenario(args.rig, args.name, args.seed, not args.realtime, args.ticks, args.tension, args.out)
    if args.json:
        json.dump(doc, sys.stdout)
        sys.stdout.write("\n")
    else:
        print(f"{doc['scenario']} on {doc['rig']} (seed {doc['seed']}, {'lockstep' if doc['lockstep'] else 'real time'}, "
              f"{doc['ticks']} ticks): {'pass' if doc['passed'] else 'FAIL'}")
        print(f"samples received {doc['received']}, counted lost {doc['lost']}, frames {doc['frames']}")
        for f in doc["failures"]:
            print(f"  failed: {f}")
        print(f"telemetry {doc['telemetry_sha256'][:16]}, traffic {doc['traffic_sha256'][:16]}")
    return 0 if doc["passed"] else 1
