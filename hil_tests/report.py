"""Per-test artifacts of a HIL run and the run's HTML page.

Per test (:func:`write_artifacts`): the telemetry as MCAP (one topic per board, written by the
same writer as ``cbl tune record``), the bus traffic of every bus as a candump log and a Vector
ASC log (python-can's ``CanutilsLogWriter`` / ``ASCWriter``; python-can 4.6 offers no batched
writer, so each frame goes through ``on_message_received``), and a PNG of the boards' positions,
targets and torques. The page (:func:`write_html`) lists every test with its outcome, the rig,
the boards' firmware versions, the injected faults, the plot and links to the files.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import can
import numpy as np

from cerebellum_rt.hil_tests.session import TELEMETRY, RigSession

UNITS = {"t_s": "s", "position_rad": "rad", "velocity_rad_s": "rad/s", "torque_nm": "N m", "statusword": "",
         "target_rad": "rad", "fresh": ""}


def write_artifacts(session: RigSession, out: Path, name: str) -> dict[str, Any]:
    """Write the test's MCAP, candump / ASC logs and plot under ``out``; returns their paths and
    the facts the HTML page shows."""
    from cerebellum_rt.drivers.tune.record import write_mcap_table

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    n = min(session.k, len(session.tel))
    t = session.t0_ns * 1e-9 + np.arange(n) * session.period_ns * 1e-9 if session.t0_ns is not None else np.zeros(n)
    cols = ("t_s", *TELEMETRY)
    for j, (bus, node) in enumerate(session.nodes):
        p = out / f"{name}.{bus}.node{node}.mcap"
        rows = np.column_stack([t, session.tel[:n, j, :]]) if n else np.zeros((0, len(cols)))
        meta = {"rig": session.rig.source, "seed": str(session.seed), "received": str(int(session.received[j])),
                "lost": str(int(session.lost[j]))}
        write_mcap_table(p, f"/{bus}/node{node}", "cbl_hil.BoardSample", cols, rows, UNITS, meta, "cerebellum hil")
        files[f"mcap {bus}/node{node}"] = p.name
    for run in session.buses:
        msgs = session.messages(run)
        for ext, cls in ((".log", can.io.CanutilsLogWriter), (".asc", can.io.ASCWriter)):
            p = out / f"{name}.{run.spec.name}{ext}"
            w = cls(str(p), channel=run.spec.name) if ext == ".log" else cls(str(p), channel=1)
            for msg in msgs:
                w.on_message_received(msg)
            w.stop()
            files[f"{ext[1:]} {run.spec.name}"] = p.name
    png = out / f"{name}.png"
    plot(session, png, name)
    files["plot"] = png.name
    return {"files": files, "rig": session.rig.source, "seed": session.seed, "lockstep": session.lockstep,
            "firmware": session.firmware_versions(), "faults": list(session.injected),
            "samples": {f"{b}/node{nd}": {"received": int(session.received[j]), "lost": int(session.lost[j])}
                        for j, (b, nd) in enumerate(session.nodes)}}


def plot(session: RigSession, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(session.k, len(session.tel))
    t = np.arange(n) * session.period_ns * 1e-9
    fig, ax = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for j, (bus, node) in enumerate(session.nodes):
        ax[0].plot(t, session.tel[:n, j, 0], label=f"{bus}/{node} position")
        ax[0].plot(t, session.tel[:n, j, 4], "--", label=f"{bus}/{node} target")
        ax[1].plot(t, session.tel[:n, j, 2], label=f"{bus}/{node} torque sensor")
    for f in session.injected:
        for a in ax:
            a.axvspan(f["inject_tick"] * session.period_ns * 1e-9, f["clear_tick"] * session.period_ns * 1e-9,
                      color="red", alpha=0.1)
    ax[0].set_ylabel("position [rad]")
    ax[1].set_ylabel("torque [N m]")
    ax[1].set_xlabel("t [s]")
    ax[0].set_title(title)
    for a in ax:
        a.grid(True, alpha=0.3)
        a.legend(loc="upper right", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_html(results: list[dict[str, Any]], path: Path) -> Path:
    """One page: per test its outcome, rig, firmware, faults, samples, plot and files."""
    e = html.escape
    parts = ["<!doctype html><meta charset='utf-8'><title>cerebellum HIL report</title>",
             "<h1>cerebellum HIL report</h1>",
             f"<p>{sum(r['outcome'] == 'passed' for r in results)} passed, "
             f"{sum(r['outcome'] != 'passed' for r in results)} not passed, {len(results)} tests</p>"]
    for r in results:
        a = r.get("artifacts") or {}
        parts.append(f"<h2 id='{e(r['nodeid'])}'>{e(r['nodeid'])}: {e(r['outcome'])}</h2>")
        if a:
            parts.append(f"<p>rig {e(a['rig'])}, seed {a['seed']}, {'lockstep' if a['lockstep'] else 'real time'}</p>")
            parts.append("<p>firmware: " + e(json.dumps(a["firmware"])) + "</p>")
            parts.append("<p>injected faults: " + e(json.dumps(a["faults"])) + "</p>")
            parts.append("<p>samples: " + e(json.dumps(a["samples"])) + "</p>")
            files = a["files"]
            if "plot" in files:
                parts.append(f"<img src='{e(files['plot'])}' alt='plot'>")
            parts.append("<ul>" + "".join(f"<li><a href='{e(v)}'>{e(k)}</a></li>" for k, v in files.items()) + "</ul>")
        if r.get("longrepr"):
            parts.append(f"<pre>{e(r['longrepr'])}</pre>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts))
    return path
