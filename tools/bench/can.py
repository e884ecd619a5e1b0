"""`cbl bench can`: host cost of the batched CAN exchange vs python-can, and joints per bus.

1. Host cost per tick, 6 buses x 5 joints (30 joints, 156 frames per tick): every bus is a
   :class:`~tools.bench.can_host.ReplayBus` whose boards have answered by the time the host reads (their TPDO frames,
   recorded once from real emulated boards, are queued when the SYNC is sent), so the figure is
   the host's own work: ``host_us_per_tick`` = ``CanTransport.cycle`` on all six buses (pack,
   hand-off, route, unpack), ``pythoncan_us_per_tick`` = the same exchange written the usual
   python-can way (one ``can.Message`` per frame, ``struct`` per PDO, ``bus.send``/``bus.recv``),
   ``batched_with_messages_us_per_tick`` = the compiled codec with python-can Messages for the I/O
   (what a bus without a batched port costs).
   Both are CPU time of this thread (time.thread_time), best of ``--repeats`` runs.
2. Joints per bus at ``--rate-hz``: for each bus type, real emulated joint boards on the
   emulated medium in virtual time (exact stuffing of the real frames, arbitration); the most
   joints whose whole tick (RPDOs, SYNC, TPDOs) ends within the period, against the bound with
   no stuffing at all (``theoretical_joints_per_bus``) and the worst-case-stuffing bound
   (``guaranteed_joints_per_bus``). ``*_packed``: CANopen FD packing (one RPDO + one TPDO per
   joint); ``can_1m_compact``: the classic-CAN compact layout (one 8-byte RPDO + one 8-byte TPDO
   per joint, drivers.can.layout.compact), both written into the boards by SDO.
3. With ``--slcan``: one `cbl emulate` process (5 joints) behind a pty, the ticks per second the
   whole chain sustains and the host CPU per tick over SLCAN.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

BUS_TYPES = {
    "can_1m": {"bitrate": 1_000_000, "fd": False, "data_bitrate": None},
    "canfd_1m_5m": {"bitrate": 1_000_000, "fd": True, "data_bitrate": 5_000_000},
    "canfd_1m_8m": {"bitrate": 1_000_000, "fd": True, "data_bitrate": 8_000_000},
    "canfd_1m_5m_packed": {"bitrate": 1_000_000, "fd": True, "data_bitrate": 5_000_000, "packed": True},
    "can_1m_compact": {"bitrate": 1_000_000, "fd": False, "data_bitrate": None, "compact": True},
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ticks", type=int, default=2000, help="ticks per timed run")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (the best is kept)")
    p.add_argument("--rate-hz", type=float, default=1000.0, help="cycle rate for the joints-per-bus figure")
    p.add_argument("--slcan", action=argparse.BooleanOptionalAction, default=True,
                   help="also measure the SLCAN pty chain against a `cbl emulate` process")


def main_json(args: argparse.Namespace) -> dict[str, Any]:
    from cerebellum_rt.tools.bench.can_buses import joints_per_bus, slcan_chain
    from cerebellum_rt.tools.bench.can_host import host_cost

    out = host_cost(args.ticks, args.repeats)
    out["joints_per_bus"], out["theoretical_joints_per_bus"], out["guaranteed_joints_per_bus"], out[
        "tick_time_us"] = joints_per_bus(BUS_TYPES, args.rate_hz)
    out["joints_per_bus_vs_theoretical"] = {
        k: round(out["joints_per_bus"][k] / max(1, out["theoretical_joints_per_bus"][k]), 3) for k in BUS_TYPES
    }
    out["rate_hz"] = args.rate_hz
    if args.slcan:
        out["slcan"] = slcan_chain(joints=6, ticks=200)
        out["slcan_ideal_bus"] = slcan_chain(joints=6, ticks=200, ideal_bus=True)
    return out


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--ticks", args.ticks, 10, 1_000_000)
    check_range("--repeats", args.repeats, 1, 100)
    check_range("--rate-hz", args.rate_hz, 10.0, 10_000.0, "Hz")
    out = main_json(args)
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"batched exchange, {out['buses']} buses x {out['joints'] // out['buses']} joints "
          f"({out['frames_per_tick']} frames/tick): {out['host_us_per_tick']:.1f} µs/tick host CPU "
          f"({out['host_share_of_1ms_tick']:.1%} of a 1 ms tick)")
    print(f"python-can per-message path: {out['pythoncan_us_per_tick']:.1f} µs/tick "
          f"({out['speedup_vs_pythoncan']:.0f}x slower); the batched codec but python-can Messages for I/O: "
          f"{out['batched_with_messages_us_per_tick']:.1f} µs/tick")
    for k in BUS_TYPES:
        print(f"{k}: {out['joints_per_bus'][k]} joints/bus at {out['rate_hz']:g} Hz (tick {out['tick_time_us'][k]:.0f} µs "
              f"on the wire), theoretical {out['theoretical_joints_per_bus'][k]}, "
              f"guaranteed (worst-case stuffing) {out['guaranteed_joints_per_bus'][k]}")
    if "slcan" in out:
        s = out["slcan"]
        i = out["slcan_ideal_bus"]
        print(f"SLCAN pty chain, {s['joints']} joints: {s['ticks_per_s']:.0f} ticks/s sustained "
              f"(bus-limited at {s['bus_limited_hz']} Hz), host CPU {s['host_cpu_us_per_tick']:.0f} µs/tick; "
              f"with an ideal bus (no wire time): {i['ticks_per_s']:.0f} ticks/s")
    return 0

