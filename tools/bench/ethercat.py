"""`cbl bench ethercat [--slaves 12,29] [--cycles N]`: SOEM against the emulated line at 1 kHz.

For each slave count (or the boards of ``--rig``, joints and hands mixed): an emulated line in its own network namespace (veth pair),
SOEM (pysoem) as the master through :class:`EtherCatTransport`, ``--cycles`` cycles driven by the
rtcore LoopRunner at 1 kHz. Per cycle: the round trip of the process-data frame (SOEM's
``send_processdata`` to the return of its ``receive_processdata``, ``rtt_*_us``), the whole
``cycle()`` (``cycle_*_us``: the round trip plus copying the outputs into SOEM's process image
and the inputs out of it, slave by slave through pysoem), the host CPU time of ``cycle()``
(``host_us_per_tick``, thread CPU time; SOEM polls its socket while it waits, so the round trip counts),
lost frames and working-counter errors. The reference measured in the same run is the wire time
of that frame at 100 Mbit/s (``wire_bound_us``: preamble, Ethernet and EtherCAT headers, every
datagram of the frame, FCS and inter-frame gap, bytes x 80 ns); ``rtt_p50_vs_wire`` is the
ratio. ``esc_engine_p50_us`` / ``_p99_us``: the emulator's own receive-to-reply time over the
last 4,096 frames (the rest of the round trip is SOEM, the veth pair and the master's packing).
``slave_app_cycles_per_frame``: how often the boards' laws stepped per frame (their workers run
beside the frame path at a lower priority). ``--engine``: the emulator's datagram engine, compiled
(C, its receive-process-send loop included) or the Python specification; ``both`` runs the two back
to back and adds ``python_*`` figures and ``*_c_vs_python`` ratios (the reference measured in the
same run). The emulator runs on the same host: the figure says what this emulated line sustains
here, not what an ASIC ESC line does (which adds ~1 µs per slave to the wire time).
Needs root, iproute2 and the ``ethercat`` extra.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np

WIRE_NS_PER_BYTE = 80  # 100 Mbit/s


def wire_bound_us(iomap_bytes: int, dc: bool) -> float:
    """Wire time of one cyclic frame: LRW of the whole process image (+ FRMW of the DC time)."""
    datagrams = 10 + iomap_bytes + 2 + (10 + 8 + 2 if dc else 0)
    frame = max(64, 14 + 2 + datagrams + 4)  # Ethernet header, EtherCAT header, FCS; minimum frame
    return (8 + frame + 12) * WIRE_NS_PER_BYTE / 1000.0  # + preamble/SFD and inter-frame gap


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--slaves", default="12,29", help="comma-separated slave counts (1-64), default 12,29")
    p.add_argument("--rig", metavar="RIG.toml", help="instead of --slaves: every board of the rig (joints and hands, "
                   "all buses in order) on one line")
    p.add_argument("--cycles", type=int, default=3000, help="1 kHz cycles per slave count")
    p.add_argument("--timeout-us", type=int, default=1000, help="a reply later than this is a lost frame")
    p.add_argument("--workers", type=int, default=0, help="processes running the slaves' applications "
                   "(0: one per CPU; -1: inside the emulator's frame process, as before they had their own)")
    p.add_argument("--engine", choices=("c", "python", "both"), default="c",
                   help="the emulator's datagram engine: compiled (default), the Python specification, or both "
                   "back to back (the python run's figures under python_*, and c/python ratios)")
    p.add_argument("--rt", action="store_true", help="run the master loop under SCHED_FIFO 80 with mlockall "
                   "(the emulator's frame engine always runs under SCHED_FIFO 60 where allowed)")


def measure(slaves: int | list[str], cycles: int, timeout_us: int, workers: int = 0, rt: bool = False,
            engine: str = "c") -> dict[str, Any]:
    if engine == "both":
        out = measure(slaves, cycles, timeout_us, workers, rt, "c")
        ref = measure(slaves, cycles, timeout_us, workers, rt, "python")
        for key in ("rtt_p50_us", "rtt_p99_us", "rtt_max_us", "lost_frames", "wkc_errors", "esc_engine_p50_us",
                    "esc_engine_p99_us"):
            out[f"python_{key}"] = ref[key]
        for key in ("rtt_p50_us", "rtt_p99_us", "esc_engine_p50_us"):
            out[f"{key[:-3]}_c_vs_python"] = round(out[key] / ref[key], 3) if ref[key] else None
        out["engine"] = "both"
        return out

    from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
    from cerebellum_rt.drivers.ethercat.master import EtherCatTransport
    from cerebellum_rt.rtcore.clock import RealTimeClock
    from cerebellum_rt.rtcore.loop import LoopRunner
    from cerebellum_rt.rtcore.rt import RtConfig

    with EmulatedLine(slaves, workers=workers, engine=engine) as line, EtherCatTransport(line.iface, timeout_us=timeout_us) as t:
        n = len(t.slaves)
        tx, rx = t.tx_array(), t.rx_array()
        t.start(tx)
        st0 = line.status()
        rtt = np.zeros(cycles, np.int64)
        whole = np.zeros(cycles, np.int64)
        cpu = np.zeros(cycles, np.int64)
        k = [0]

        def write(_t: float, _dt: float) -> None:
            i = k[0]
            if i >= cycles:
                return
            c0, w0 = time.thread_time_ns(), time.perf_counter_ns()
            t.cycle(tx, rx)
            whole[i], cpu[i] = time.perf_counter_ns() - w0, time.thread_time_ns() - c0
            rtt[i] = t.last_rtt_ns
            k[0] = i + 1

        LoopRunner(1_000_000, RealTimeClock(), write=write, rt=RtConfig() if rt else RtConfig.off()).run(cycles)
        iomap = sum(lay.out_bytes + lay.in_bytes for lay in t.layouts)
        bound = wire_bound_us(iomap, t.has_dc)
        ok = rtt[: k[0]]
        st1 = line.status()
        frames = st1["stats"]["frames"] - st0["stats"]["frames"]
        app_cycles = sum(b["cycles"] - a["cycles"] for a, b in zip(st0["slaves"], st1["slaves"]))
        return {
            "slaves": n, "cycles": int(k[0]), "iomap_bytes": iomap, "dc": t.has_dc,
            "rtt_p50_us": round(float(np.percentile(ok, 50)) / 1000, 1),
            "rtt_p99_us": round(float(np.percentile(ok, 99)) / 1000, 1),
            "rtt_max_us": round(float(ok.max()) / 1000, 1),
            "cycle_p50_us": round(float(np.percentile(whole[: k[0]], 50)) / 1000, 1),
            "cycle_p99_us": round(float(np.percentile(whole[: k[0]], 99)) / 1000, 1),
            "cycle_max_us": round(float(whole[: k[0]].max()) / 1000, 1),
            "lost_frames": t.lost_frames, "wkc_errors": t.wkc_errors, "wire_bound_us": round(bound, 2),
            "rtt_p50_vs_wire": round(float(np.percentile(ok, 50)) / 1000 / bound, 1),
            "host_us_per_tick": round(float(np.median(cpu[: k[0]])) / 1000, 1),
            "slave_app_cycles_per_frame": round(app_cycles / max(1, frames) / n, 3),
            "esc_engine_p50_us": st1["engine_us"]["p50"], "esc_engine_p99_us": st1["engine_us"]["p99"],
            "workers": workers, "master_rt": rt, "engine": engine,
        }


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.rtcore.errors import ConfigError, check_range

    try:
        counts = [int(x) for x in args.slaves.split(",") if x]
    except ValueError as exc:
        raise ConfigError(f"--slaves {args.slaves!r}: not a comma-separated list of integers") from exc
    for c in counts:
        check_range("--slaves", c, 1, 64)
    check_range("--cycles", args.cycles, 10, 1_000_000)
    check_range("--timeout-us", args.timeout_us, 100, 1_000_000, "µs")
    if args.rig:
        from cerebellum_rt.hil_tests.rig import load_rig

        rig = load_rig(args.rig)
        specs = [f"{b.type}:{b.preset}" if b.preset else b.type for bus in rig.buses for b in bus.boards]
        runs = [measure(specs, args.cycles, args.timeout_us, args.workers, args.rt, args.engine)]
    else:
        runs = [measure(c, args.cycles, args.timeout_us, args.workers, args.rt, args.engine) for c in counts]
    if args.json:
        print(json.dumps(runs[0] if len(runs) == 1 else {"runs": runs}))
        return 0
    for r in runs:
        print(f"{r['slaves']} slaves ({r['iomap_bytes']} B process image, DC {r['dc']}), {r['cycles']} cycles at 1 kHz: "
              f"round trip p50 {r['rtt_p50_us']} µs / p99 {r['rtt_p99_us']} µs / max {r['rtt_max_us']} µs; "
              f"whole cycle with the copies p50 {r['cycle_p50_us']} µs / p99 {r['cycle_p99_us']} µs; "
              f"wire time {r['wire_bound_us']} µs (p50 = {r['rtt_p50_vs_wire']}x); lost {r['lost_frames']}, "
              f"WKC errors {r['wkc_errors']}; host {r['host_us_per_tick']} µs CPU/tick; "
              f"slave application cycles per frame {r['slave_app_cycles_per_frame']}; emulator engine p50 "
              f"{r['esc_engine_p50_us']} µs / p99 {r['esc_engine_p99_us']} µs")
    return 0
