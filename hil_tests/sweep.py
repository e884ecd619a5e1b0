"""A sweep matrix (MATRIX.toml): scenarios x rigs x seeds x gain sets, its cells and their merged report.

Format (every key checked; errors name the file, the key and the value)::

    rigs = ["single_joint"]                  # RIG.toml paths (relative to the matrix) or shipped names
    scenarios = ["track", "fault:bus_off"]   # see `cbl hil run` (track, grasp, fault:NAME)
    seeds = [0, 1]
    ticks = 400                              # optional: host ticks per cell (default per scenario)
    [gains.default]                          # gain sets: objects written by SDO to every joint
    [gains.stiff]                            # board before the run ("INDEX:SUB" = value)
    "0x2010:1" = 40.0

The cells run on local cores through pytest-xdist (:mod:`cerebellum_rt.hil_tests.sweep_cells`,
one test per cell) or on a Ray cluster (:func:`run_on_ray`); both write one JSON document per
cell under ``OUT/cells/`` (failing cells also their MCAP / candump / ASC logs and plot under
``OUT/cells/<cell>/``), and :func:`merge` turns them into ``OUT/summary.json`` and
``OUT/index.html``: pass / fail per cell, the failures and links to the failing cells' logs.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cerebellum_rt.rtcore.errors import ConfigError


@dataclass(frozen=True)
class Cell:
    rig: str
    scenario: str
    seed: int
    gains_name: str
    gains: tuple[tuple[str, float], ...]
    ticks: int | None

    @property
    def id(self) -> str:
        rig = Path(self.rig).stem
        return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{rig}-{self.scenario}-seed{self.seed}-{self.gains_name}")


def load_matrix(path: str | Path) -> list[Cell]:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except OSError as exc:
        raise ConfigError(f"matrix {p}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"matrix {p}: not valid TOML ({exc})") from exc
    known = {"rigs", "scenarios", "seeds", "ticks", "gains"}
    for k in data:
        if k not in known:
            raise ConfigError(f"matrix {p}: {k} is not a matrix key (keys: {sorted(known)})")

    def strings(key: str) -> list[str]:
        v = data.get(key)
        if not isinstance(v, list) or not v or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"matrix {p}: {key} = {v!r} is not a non-empty list of strings")
        return v

    from cerebellum_rt.tools.hil_run import parse_gains, scenario_names

    rigs = [str(p.parent / r) if r.endswith(".toml") else r for r in strings("rigs")]
    scenarios = strings("scenarios")
    for s in scenarios:
        if s not in scenario_names():
            raise ConfigError(f"matrix {p}: scenario {s!r} is not one of {scenario_names()}")
    seeds = data.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(x, int) and not isinstance(x, bool) for x in seeds):
        raise ConfigError(f"matrix {p}: seeds = {seeds!r} is not a non-empty list of integers")
    ticks = data.get("ticks")
    if ticks is not None and (not isinstance(ticks, int) or not 50 <= ticks <= 1_000_000):
        raise ConfigError(f"matrix {p}: ticks = {ticks!r} is out of range [50, 1000000]")
    gains = data.get("gains", {"default": {}})
    if not isinstance(gains, dict) or not gains or not all(isinstance(g, dict) for g in gains.values()):
        raise ConfigError(f"matrix {p}: gains = {gains!r} is not a table of gain-set tables")
    for name, g in gains.items():
        parse_gains(g, f"matrix {p}: gains.{name}")
    from cerebellum_rt.hil_tests.rig import load_rig

    for r in rigs:
        load_rig(r)  # a broken rig is a one-line error before anything runs
    return [Cell(r, s, sd, gn, tuple(sorted((k, float(v)) for k, v in gains[gn].items())), ticks)
            for r, s, sd, gn in itertools.product(rigs, scenarios, seeds, gains)]


def run_cell(cell: Cell, out: str | Path) -> dict[str, Any]:
    """Run one cell; write OUT/cells/<id>.json (and the failing cell's logs); return its document."""
    from cerebellum_rt.tools.hil_run import run_scenario

    cells = Path(out) / "cells"
    cells.mkdir(parents=True, exist_ok=True)
    try:
        doc = run_scenario(cell.rig, cell.scenario, cell.seed, ticks=cell.ticks, gains=dict(cell.gains),
                           out=str(cells / cell.id), out_on_fail=True)
    except Exception as exc:  # a cell that cannot run is a failing cell with its reason, not a lost one
        doc = {"passed": False, "failures": [f"{type(exc).__name__}: {exc}"]}
    doc.update({"cell": cell.id, "rig": cell.rig, "scenario": cell.scenario, "seed": cell.seed,
                "gains_name": cell.gains_name})
    (cells / f"{cell.id}.json").write_text(json.dumps(doc))
    return doc


def run_on_ray(cells: list[Cell], out: str | Path, address: str) -> list[dict[str, Any]]:
    """Run the cells as Ray tasks on the cluster at ``address`` (one CPU each); Ray schedules."""
    import ray

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    task = ray.remote(num_cpus=1)(run_cell)
    return ray.get([task.remote(c, str(Path(out).resolve())) for c in cells])


def merge(cells: list[Cell], out: str | Path) -> dict[str, Any]:
    """One summary over the cells' documents (a cell without one counts as failed: it did not report)."""
    out = Path(out)
    rows = []
    for c in cells:
        f = out / "cells" / f"{c.id}.json"
        doc = json.loads(f.read_text()) if f.exists() else {"passed": False, "failures": ["no result (the cell did not run)"]}
        logs = sorted(str(q.relative_to(out)) for q in (out / "cells" / c.id).glob("*")) if not doc["passed"] else []
        rows.append({"cell": c.id, "rig": c.rig, "scenario": c.scenario, "seed": c.seed, "gains": c.gains_name,
                     "passed": bool(doc["passed"]), "failures": doc.get("failures", []), "logs": logs})
    summary = {"cells": len(rows), "passed": sum(r["passed"] for r in rows),
               "failed": sum(not r["passed"] for r in rows), "results": rows}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    e = html.escape
    body = [f"<!doctype html><meta charset='utf-8'><title>HIL sweep</title><h1>HIL sweep: {summary['passed']} of "
            f"{summary['cells']} cells passed</h1><table border=1><tr><th>cell</th><th>rig</th><th>scenario</th>"
            "<th>seed</th><th>gains</th><th>result</th><th>failures / logs</th></tr>"]
    for r in rows:
        links = " ".join(f"<a href='{e(q)}'>{e(Path(q).name)}</a>" for q in r["logs"])
        body.append(f"<tr><td>{e(r['cell'])}</td><td>{e(r['rig'])}</td><td>{e(r['scenario'])}</td><td>{r['seed']}</td>"
                    f"<td>{e(r['gains'])}</td><td>{'pass' if r['passed'] else 'FAIL'}</td>"
                    f"<td>{e('; '.join(r['failures']))} {links}</td></tr>")
    body.append("</table>")
    (out / "index.html").write_text("\n".join(body))
    return summary
