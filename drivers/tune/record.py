"""Captures to files: CSV / .npz with a units header, MCAP (PlotJuggler, Foxglove), PNG plots.

* CSV: a ``# cbl tune capture: ...`` comment line, then ``name [unit]`` column headers.
* .npz: one array per column plus ``units`` (JSON: column -> unit) and ``meta`` (JSON).
* MCAP: one JSON-encoded channel ``/joint`` (one message per row, log time = row time), schema
  given as JSON Schema with the units in each property's description.
* PNG: the signal against its setpoint and the tracking-error panel; Bode plots of a chirp.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.drivers.tune.experiment import COLUMNS, MEASURED_COLUMN, Capture
from cerebellum_rt.rtcore.errors import ConfigError

FORMATS = (".csv", ".npz", ".mcap")


def _meta(cap: Capture) -> dict:
    return {"kind": cap.kind, "name": cap.name, "period_s": cap.period_s, "stopped": cap.stopped,
            **{k: v for k, v in cap.meta.items() if isinstance(v, int | float | str | dict)}}


def write(cap: Capture, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix not in FORMATS:
        raise ConfigError(f"record file {p}: suffix {p.suffix!r} is not one of {FORMATS}")
    p.parent.mkdir(parents=True, exist_ok=True)
    units = dict(zip(COLUMNS, cap.units))
    if p.suffix == ".csv":
        head = ",".join(f"{c} [{u}]" if u else c for c, u in units.items())
        np.savetxt(p, cap.data, delimiter=",", header=f"cbl tune capture: {json.dumps(_meta(cap))}\n{head}",
                   fmt="%.9g")
    elif p.suffix == ".npz":
        np.savez(p, **{c: cap.data[:, i] for i, c in enumerate(COLUMNS)}, units=json.dumps(units),
                 meta=json.dumps(_meta(cap)))
    else:
        _write_mcap(cap, p, units)
    return p


def _write_mcap(cap: Capture, p: Path, units: dict[str, str]) -> None:
    write_mcap_table(p, "/joint", "cbl_tune.JointSample", COLUMNS, cap.data, units,
                     {"units": json.dumps(units), "meta": json.dumps(_meta(cap))}, "cerebellum cbl tune")


def write_mcap_table(p: Path, topic: str, schema_name: str, columns: tuple[str, ...] | list[str], rows: Any,
                     units: dict[str, str], metadata: dict[str, str], library: str) -> None:
    """Rows of floats (column 0: time in s) as one JSON message per row on ``topic`` of an MCAP
    file (PlotJuggler, Foxglove); the schema gives each column's unit."""
    from mcap.writer import Writer

    schema = {"type": "object", "properties": {c: {"type": "number", "description": f"[{units.get(c, '')}]"}
                                               for c in columns}}
    with p.open("wb") as f:
        w = Writer(f)
        w.start(profile="", library=library)
        sid = w.register_schema(name=schema_name, encoding="jsonschema", data=json.dumps(schema).encode())
        cid = w.register_channel(topic=topic, message_encoding="json", schema_id=sid, metadata=metadata)
        for i, row in enumerate(rows):
            ns = round(float(row[0]) * 1e9)
            w.add_message(channel_id=cid, log_time=ns, publish_time=ns, sequence=i,
                          data=json.dumps(dict(zip(columns, (float(x) for x in row)))).encode())
        w.finish()


def plot(cap: Capture, path: str | Path) -> Path:
    """The experiment's signal against its setpoint, with the tracking-error panel, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rows = cap.run_rows()
    if len(rows) < 3:
        raise ConfigError(f"plot: the last capture has {len(rows)} experiment rows ({cap.stopped or 'empty'})")
    t = rows[1:, 0] - rows[0, 0]
    sp, y = rows[:-1, 1], rows[1:, MEASURED_COLUMN[cap.kind]]  # the response to row k's setpoint starts in row k+1
    fig, ax = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    u, label, signal = cap.setpoint_unit, "setpoint", cap.kind
    if cap.kind == "impedance":  # the deflection the set stiffness gives against the measured one
        sp, y = sp / float(cap.meta["stiffness_nm_per_rad"]), y - float(cap.meta["work_position_rad"])
        u, label, signal = "rad", "perturbation torque / K", "deflection"
    ax[0].plot(t, sp, label=label)
    ax[0].plot(t, y, "--", label="measured")
    ax[0].set_ylabel(f"{signal} [{u}]")
    title = f"cbl tune {cap.name} ({cap.kind})"
    if "metrics" in cap.meta:
        m = cap.meta["metrics"]
        title += f": overshoot {m['overshoot_pct']:.1f} %, settling {m['settling_time_s'] * 1e3:.1f} ms"
    if cap.stopped:
        title += f" [stopped: {cap.stopped}]"
    ax[0].set_title(title, fontsize=9)
    ax[1].plot(t, sp - y)
    ax[1].set_ylabel(f"tracking error [{u}]")
    ax[2].plot(t, rows[1:, 5], label="torque demand")
    ax[2].plot(t, rows[1:, 4], label="torque sensor")
    ax[2].set_ylabel("torque [N·m]")
    ax[2].set_xlabel("time [s]")
    for a in ax:
        a.grid(True, alpha=0.3)
    ax[0].legend(loc="best")
    ax[2].legend(loc="best")
    fig.tight_layout()
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p


def frequency_response(cap: Capture, bins: int = 40) -> dict[str, np.ndarray]:
    """Closed-loop response of a chirp capture: H1 estimate Syu / Suu in log-spaced bands between
    the sweep's f0 and f1 (the setpoint of row k against the measurement of row k+1)."""
    rows = cap.run_rows()
    col = MEASURED_COLUMN[cap.kind]
    u = rows[:-1, 1] - np.mean(rows[:-1, 1])
    y = rows[1:, col] - np.mean(rows[1:, col])
    n = u.size
    win = np.ones(n)  # a chirp starts at zero phase; a taper would weight its low-frequency start down
    fu, fy = np.fft.rfft(u * win), np.fft.rfft(y * win)
    f = np.fft.rfftfreq(n, cap.period_s)
    f0, f1 = float(cap.meta["f0"]), float(cap.meta["f1"])
    edges = np.geomspace(f0, min(f1, 0.45 / cap.period_s), bins + 1)
    fc, h = [], []
    for lo, hi in itertools.pairwise(edges):
        sel = (f >= lo) & (f < hi)
        if not sel.any():
            continue
        suu = np.sum(np.abs(fu[sel]) ** 2)
        if suu <= 0:
            continue
        fc.append(math.sqrt(lo * hi))
        h.append(np.sum(fy[sel] * np.conj(fu[sel])) / suu)
    return {"f_hz": np.array(fc), "closed": np.array(h)}


def measured_bandwidth_hz(fr: dict[str, np.ndarray]) -> float:
    """-3 dB frequency of the measured closed loop, interpolated in dB over log frequency between
    the two bands around the first crossing (the last band's frequency if it never crosses)."""
    db = 20.0 * np.log10(np.maximum(np.abs(fr["closed"]), 1e-12))
    f = fr["f_hz"]
    idx = np.nonzero(db < -3.0103)[0]
    if not idx.size:
        return float(f[-1])
    i = int(idx[0])
    if i == 0:
        return float(f[0])
    a = (db[i - 1] + 3.0103) / (db[i - 1] - db[i])
    return float(math.exp(math.log(f[i - 1]) + a * (math.log(f[i]) - math.log(f[i - 1]))))


def bode(fr: dict[str, np.ndarray], path: str | Path, title: str = "") -> Path:
    """Measured closed loop T and the open loop it implies, L = T / (1 - T) (unity feedback)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    f, tcl = fr["f_hz"], fr["closed"]
    lol = tcl / (1.0 - tcl)
    fig, ax = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    for h, lab in ((tcl, "closed loop T (measured)"), (lol, "open loop L = T/(1-T)")):
        ax[0].semilogx(f, 20 * np.log10(np.abs(h)), "o-", ms=3, label=lab)
        ax[1].semilogx(f, np.degrees(np.unwrap(np.angle(h))), "o-", ms=3, label=lab)
    ax[0].axhline(-3.0, color="gray", lw=0.8, ls=":")
    ax[0].set_ylabel("magnitude [dB]")
    ax[1].set_ylabel("phase [deg]")
    ax[1].set_xlabel("frequency [Hz]")
    ax[0].set_title(title or "cbl tune chirp: Bode plot", fontsize=9)
    for a in ax:
        a.grid(True, which="both", alpha=0.3)
        a.legend(loc="best")
    fig.tight_layout()
    fig.savefig(p, dpi=90)
    plt.close(fig)
    return p
