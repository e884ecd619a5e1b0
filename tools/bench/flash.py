"""`cbl bench flash`: a 256 KiB signed image downloaded to a Python board over the timed bus model.

The host's update procedure (:mod:`cerebellum_rt.drivers.flash`) and a real emulated joint board
(:class:`cerebellum_rt.drivers.board.JointBoard`, slot sized for the image) on the emulated medium
(:mod:`cerebellum_rt.drivers.can.emulated`: exact stuffing of every real frame, arbitration) in
virtual time: the board answers at once (no CPU or flash-programming time is modelled: the figure
is the protocol on the wire). Measured: the block download of 0x1F50, from the initiate to the end
confirmation, in seconds of virtual time (``can_s``: classic CAN 1 Mbit/s; ``canfd_s``: CAN FD
1 Mbit/s arbitration, 5 Mbit/s data with bit-rate switch).

Theoretical (``*_theoretical_s``): the frames the SDO block protocol must send for this image, back
to back with no gap: initiate request and response, ceil(n/7) segments, one ack per sub-block of
127 segments, end request and response, each at its exact length with its real stuff bits
(:func:`cerebellum_rt.drivers.can.timing.frame_time` on the frame contents). The ratio measured /
theoretical shows what the procedure adds (turnarounds, heartbeats sharing the bus, repeats).
``*_no_stuffing_s`` / ``*_worst_stuffing_s`` bound the theory from both sides. ``--ethercat``
adds the FoE path of ``cbl flash -i ethercat`` (:mod:`cerebellum_rt.tools.bench.flash_ethercat`).

CAN FD: CANopen FD replaces SDO by USDO (CiA 1301), whose frame layout is not in the project's
sources (CANOPEN.md §6), so neither the boards nor this host speak it. What runs is the CiA 301
SDO block transfer in CAN FD frames with bit-rate switch, 8-byte payloads: standard frames a classic
SDO server understands; the gain is the data phase at 5 Mbit/s, not bigger segments.
"""

from __future__ import annotations

import argparse
import json
import math
import struct
import tempfile
from pathlib import Path
from typing import Any

IMAGE_BYTES = 256 * 1024
NODE = 1
BUS_TYPES = {"can": (1_000_000, False, None), "canfd": (1_000_000, True, 5_000_000)}
TARGET_RATIO = 1.25


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--image-kib", type=int, default=IMAGE_BYTES // 1024, help="image size in KiB (default 256)")
    p.add_argument("--ethercat", action="store_true",
                   help="also a 60 KiB image over FoE to a slave of the emulated EtherCAT line (root): ethercat_* keys")


def make_image(total: int, d: Path) -> tuple[bytes, Any]:
    """A signed image of exactly ``total`` bytes (imgtool, a fresh key) and that key's public half."""
    from imgtool import keys as imgtool_keys

    from cerebellum_rt.drivers.flash import image as img
    from cerebellum_rt.drivers.od import build_table

    key = d / "bench.pem"
    imgtool_keys.Ed25519.generate().export_private(str(key))
    board_type = int(build_table("joint").entry(0x1018, 2).default)
    probe = img.make_image(b"\0" * 16, key, version="1.0.0", board_type=board_type, security_counter=1)
    body = bytes((k * 7919) & 0xFF for k in range(total - (len(probe) - 16)))
    data = img.make_image(body, key, version="1.0.0", board_type=board_type, security_counter=1)
    assert len(data) == total
    return data, img.load_public_key(key)


def theoretical(data: bytes, bitrate: int, fd: bool, data_bitrate: int | None) -> dict[str, float]:
    """The block protocol's frames for ``data`` back to back: exact, no-stuffing and worst-case times."""
    from cerebellum_rt.drivers.can import timing

    tx, rx = 0x600 + NODE, 0x580 + NODE
    frames = [(tx, struct.pack("<BHBI", 0xC6, 0x1F50, 1, len(data))), (rx, struct.pack("<BHBB3x", 0xA4, 0x1F50, 1, 127))]
    segs = math.ceil(len(data) / 7)
    for k in range(segs):
        seq = k % 127 + 1
        chunk = data[7 * k : 7 * k + 7]
        frames.append((tx, bytes([(0x80 if k == segs - 1 else 0) | seq]) + chunk.ljust(7, b"\0")))
        if seq == 127 or k == segs - 1:
            frames.append((rx, struct.pack("<BBB5x", 0xA2, seq, 127)))
    frames += [(tx, bytes([0xC1 | (((7 - len(data) % 7) % 7) << 2)]) + bytes(7)), (rx, bytes([0xA1]) + bytes(7))]
    exact = sum(timing.frame_time(c, d, bitrate, fd, data_bitrate) for c, d in frames)
    low = sum(timing.frame_time_min(8, bitrate, fd, data_bitrate) for _ in frames)
    high = sum(timing.frame_time_worst(8, bitrate, fd, data_bitrate) for _ in frames)
    return {"exact": exact, "no_stuffing": low, "worst": high, "frames": len(frames)}


def measure(data: bytes, key: Any, bitrate: int, fd: bool, data_bitrate: int | None) -> dict[str, float]:
    """Virtual seconds of the 0x1F50 block download on the emulated medium, and of the whole update."""
    from cerebellum_rt.drivers.board import JointBoard
    from cerebellum_rt.drivers.board.flashing import FlashOptions
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
    from cerebellum_rt.drivers.flash import image as img
    from cerebellum_rt.drivers.flash.procedure import BoardResult, Options, flash_board
    from cerebellum_rt.drivers.flash.runner import BusDriver, VirtualTime
    from cerebellum_rt.drivers.flash.sdo import block_download, download_int

    clock = _Clock()
    m = Medium("bench-flash", bitrate, fd, data_bitrate, clock=clock)
    host, bb = EmulatedBus(medium_=m, name="host"), EmulatedBus(medium_=m, name="board")
    slot = -(-len(data) // 4096) * 4096
    board = JointBoard(NODE, bb, fd=fd, threaded=False, clock=clock, flash=FlashOptions(key=key, slot_size=slot))
    try:
        driver = BusDriver(host, fd=fd, clock=clock, wait=VirtualTime(host, m, clock, [board]))

        def run(gen: Any) -> None:
            _, err = driver.run({0: gen})[0]
            if err is not None:
                raise err

        run(download_int(NODE, 0x1F51, 1, 3, 1, 0.5))
        frames0, t0 = m.stats.frames, clock.t
        run(block_download(NODE, 0x1F50, 1, data, 0.5))
        dl_s, dl_frames = clock.t - t0, m.stats.frames - frames0
        t1 = clock.t
        res = BoardResult(NODE)
        run(flash_board(NODE, data, img.verify(data, None), Options(), res, clock=clock))
        if res.status != "ok" or board.store.get(0x1F56, 1) != img.verify(data, None).version_u32:
            raise RuntimeError(f"bench: the update did not complete ({res.status}, {res.error})")
        return {"download_s": dl_s, "frames": dl_frames, "update_s": clock.t - t1}
    finally:
        board.close()
        host.shutdown()
        bb.shutdown()


def main_json(image_bytes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        data, key = make_image(image_bytes, Path(d))
    out: dict[str, Any] = {"image_bytes": len(data), "target_ratio": TARGET_RATIO}
    for name, (br, fd, dbr) in BUS_TYPES.items():
        got = measure(data, key, br, fd, dbr)
        th = theoretical(data, br, fd, dbr)
        out[f"{name}_s"] = round(got["download_s"], 6)
        out[f"{name}_theoretical_s"] = round(th["exact"], 6)
        out[f"{name}_no_stuffing_s"] = round(th["no_stuffing"], 6)
        out[f"{name}_worst_stuffing_s"] = round(th["worst"], 6)
        out[f"{name}_vs_theoretical"] = round(got["download_s"] / th["exact"], 4)
        out[f"{name}_frames"] = got["frames"]
        out[f"{name}_theoretical_frames"] = th["frames"]
        out[f"{name}_update_s"] = round(got["update_s"], 6)
        out[f"{name}_kib_per_s"] = round(len(data) / 1024 / got["download_s"], 1)
    out["canfd_note"] = ("CiA 301 SDO block transfer in CAN FD frames (8-byte payloads, BRS at 5 Mbit/s); "
                         "CANopen FD USDO's layout is not in the project's sources")
    return out


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--image-kib", args.image_kib, 4, 4096, "KiB")
    out = main_json(args.image_kib * 1024)
    if args.ethercat:
        from cerebellum_rt.tools.bench.flash_ethercat import measure_json

        out.update(measure_json())
    if args.json:
        print(json.dumps(out))
        return 0
    for name, label in (("can", "classic CAN 1 Mbit/s"), ("canfd", "CAN FD 1/5 Mbit/s")):
        print(f"{label}: {out['image_bytes'] // 1024} KiB in {out[f'{name}_s']:.3f} s ({out[f'{name}_kib_per_s']} KiB/s), "
              f"theoretical {out[f'{name}_theoretical_s']:.3f} s -> {out[f'{name}_vs_theoretical']:.3f}x "
              f"(target <= {TARGET_RATIO}x); whole update {out[f'{name}_update_s']:.3f} s")
    if args.ethercat:
        print(f"EtherCAT FoE (emulated line): {out['ethercat_image_bytes'] // 1024} KiB in {out['ethercat_s']:.3f} s "
              f"({out['ethercat_kib_per_s']} KiB/s), theoretical {out['ethercat_theoretical_s']:.4f} s at 100 Mbit/s -> "
              f"{out['ethercat_vs_theoretical']}x; whole update {out['ethercat_update_s']:.3f} s")
    print(out["canfd_note"])
    return 0
