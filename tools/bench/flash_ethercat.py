"""`cbl bench flash --ethercat`: a signed image written over FoE to one slave of the emulated line (root).

Measured (``ethercat_s``): wall seconds of the FoE transfer of ``cbl flash -i ethercat``'s
procedure (:mod:`cerebellum_rt.drivers.ethercat.flash`: SOEM master, the ESC emulator behind a
veth pair, the board in its worker process programming and verifying), from the first part's
request to the last part's ACK; ``ethercat_update_s`` the whole update (identify, BOOT, FoE,
reset into the test boot, read-back, confirm). The image fills the slaves' default slot (64 KiB).

Theoretical (``ethercat_theoretical_s``): the mailbox exchanges the FoE protocol must make for
this image at 100 Mbit/s: per part one WRQ and per packet one DATA (``room`` data bytes, the part
ending with a short one), each a write of the whole out mailbox (FPWR) and a read of the whole in
mailbox with its ACK (FPRD); each frame: 8 preamble + 14 Ethernet + 2 EtherCAT + 10 datagram
header + mailbox + 2 working counter + 4 FCS + 12 gap bytes. No status polls, no turnaround: the
lower bound. The ratio shows what the emulated line (veth, Python ESC, worker hop per mailbox)
and SOEM's polling add.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path
from typing import Any

MBX_BYTES = 128
WIRE_NS_PER_BYTE = 80  # 100 Mbit/s
FRAME_OVERHEAD = 8 + 14 + 2 + 10 + 2 + 4 + 12


def theoretical_s(nbytes: int, part: int, mbx: int = MBX_BYTES) -> dict[str, float]:
    """Lower bound of the FoE transfer of ``nbytes`` in parts of ``part`` bytes (see module doc)."""
    room = mbx - 12
    exchanges = 0
    for off in range(0, nbytes, part):
        exchanges += 1 + min(part, nbytes - off) // room + 1  # WRQ, full packets, the short last one
    frame = FRAME_OVERHEAD + mbx
    return {"exchanges": exchanges, "seconds": exchanges * 2 * frame * WIRE_NS_PER_BYTE * 1e-9}


def measure_json(image_bytes: int = 60 * 1024) -> dict[str, Any]:
    """One 1-slave line, one update of a ``image_bytes`` image; the ``ethercat_*`` keys."""
    from imgtool import keys as imgtool_keys

    from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
    from cerebellum_rt.drivers.ethercat.flash import flash_line, part_size
    from cerebellum_rt.drivers.flash import image as img
    from cerebellum_rt.drivers.flash.procedure import Options
    from cerebellum_rt.drivers.od import build_table

    with tempfile.TemporaryDirectory() as d:
        key = Path(d) / "bench.pem"
        imgtool_keys.Ed25519.generate().export_private(str(key))
        board_type = int(build_table("joint").entry(0x1018, 2).default)
        probe = img.make_image(b"", key, version="1.0.0", board_type=board_type, security_counter=1)
        payload = random.Random(1).randbytes(image_bytes - len(probe))
        data = img.make_image(payload, key, version="1.0.0", board_type=board_type, security_counter=1)
        stamps: list[float] = []
        with EmulatedLine(["joint"], image_key=key) as line:
            rows = flash_line(line.iface, [1], data, img.verify(data, None), Options(),
                              lambda _p: lambda _done, _total: stamps.append(time.monotonic()))
    res = rows[0]
    if res.status != "ok":
        raise RuntimeError(f"bench flash --ethercat: the update did not complete ({res.stage}: {res.error})")
    transfer = stamps[-1] - stamps[0]
    th = theoretical_s(len(data), part_size(MBX_BYTES - 12))
    return {"ethercat_image_bytes": len(data), "ethercat_s": round(transfer, 6),
            "ethercat_theoretical_s": round(th["seconds"], 6), "ethercat_vs_theoretical": round(transfer / th["seconds"], 2),
            "ethercat_mailbox_exchanges": th["exchanges"], "ethercat_update_s": round(res.seconds, 6),
            "ethercat_kib_per_s": round(len(data) / 1024 / transfer, 1)}
