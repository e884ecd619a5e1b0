"""Record the frames SOEM sends to an emulated line (root): ``python tests/ethercat/data/record_soem_frames.py``.

Writes ``soem_frames.bin.gz`` beside this file (2-byte little-endian length + frame, per frame): 3
joint slaves brought to OP with distributed clocks, 300 cyclic exchanges, CoE SDO reads and a
write, a slave to SAFE-OP and back, BOOT and an FoE write (refused: the slaves trust no key), and
the line back to INIT. test_ethercat_esc_cengine.py replays them into the Python and C engines.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import struct
import threading
from pathlib import Path

from cerebellum_rt.drivers.ethercat import foe
from cerebellum_rt.drivers.ethercat.emulated import EmulatedLine
from cerebellum_rt.drivers.ethercat.master import EtherCatTransport

OUT = Path(__file__).with_name("soem_frames.bin.gz")
PACKET_OUTGOING, ETH_P_ALL, SO_RCVBUFFORCE = 4, 3, 33


def main() -> None:
    frames: list[bytes] = []
    stop = threading.Event()
    with EmulatedLine(3) as line:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))  # taps see what is sent
        sock.bind((line.iface, ETH_P_ALL))
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)  # SOEM holds the GIL for whole phases
        sock.settimeout(0.05)

        def capture() -> None:
            while not stop.is_set():
                try:
                    data, addr = sock.recvfrom(2048)
                except TimeoutError:
                    continue
                if addr[2] == PACKET_OUTGOING and data[12:14] == b"\x88\xa4":
                    frames.append(data)

        t = threading.Thread(target=capture, daemon=True)
        t.start()
        with EtherCatTransport(line.iface, timeout_us=2000) as m:
            tx, rx = m.tx_array(), m.rx_array()
            m.start(tx)
            for k in range(300):
                tx["target_position"] = k
                m.cycle(tx, rx)
            for index, sub in ((0x1018, 1), (0x1018, 2), (0x1008, 0), (0x6041, 0), (0x5F50, 2), (0x1F56, 1)):
                m.sdo_read(1, index, sub)
            m.sdo_write(2, 0x6060, 0, 8)
            s = m.soem.slaves[2]
            s.state = 0x04
            s.write_state()
            s.state_check(0x04, 200_000)
            for _ in range(20):
                m.cycle(tx, rx)
            foe.enter_boot(m.soem, 1)
            with contextlib.suppress(foe.FoeTransferError):  # refused: no key trusted
                foe.foe_write(m.soem, 1, "app.bin", bytes(range(256)) * 8)
            foe.enter_preop(m.soem, 1)
        stop.set()
        t.join()
        sock.close()
    OUT.write_bytes(gzip.compress(b"".join(struct.pack("<H", len(f)) + f for f in frames), mtime=0))
    print(f"{len(frames)} frames -> {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
