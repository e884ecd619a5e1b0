"""The device side of an SLCAN adapter on a pseudo-terminal, bridged to an emulated medium.

:class:`SlcanServer` owns the master side of a pty; python-can's ``slcan`` backend (or any
SLCAN tool) opens the slave side (``server.path``, e.g. ``/dev/pts/7``). It answers the
Lawicel commands python-can sends (``O`` open, ``L`` listen-only, ``C`` close, ``S0``-``S8``
bit rate, ``Y2``/``Y5`` FD data rate, ``V`` version, ``N`` serial, ``F`` status, ``Z``
timestamps): CR for OK, BEL for an error (a bit rate other than the medium's, an unknown
command). While open, every frame line from the client is sent on the medium through the
server's own endpoint, and every frame the medium delivers to that endpoint is written back
as one line. Framing and hex are done in compiled code (:mod:`cerebellum_rt.drivers.can.slcan_codec`).

Call :meth:`SlcanServer.service` from the emulator's loop; it never blocks.

Several clients on one bus, as several adapters on one real bus (a pty carries one client: two
processes on one pty would read each other's bytes): every server is its own endpoint of the
medium, so each client sees every frame. One server per bus is the master port (``monitor=False``,
the ``channel`` that ``cbl emulate`` prints): its client commands the boards. The others are
monitor ports (``monitor=True``): their clients see all traffic and may read, never command. The
rule, enforced here: from a monitor port only SDO upload requests reach the bus (client command
specifier 2 = upload initiate, 3 = upload segment, on 0x600 + node); NMT, SYNC, PDOs, SDO
downloads, EMCY, heartbeats and anything else are refused (not sent, counted in ``refused``).
A monitor's read shares the node's one SDO channel with the master: a read made while the master
has a segmented transfer open with the same node makes the board answer the read, and the
master's transfer ends in an error (never a command); keep monitor reads to idle SDO channels.

Back-pressure, as an adapter's bounded buffers: at most ``tx_queue`` frames from the client
wait for the wire (a frame arriving while the queue is full is dropped and counted in
``dropped_in``, as a controller with a full transmit FIFO), and at most ``out_limit`` bytes wait
for the client to read them (further frames are dropped and counted in ``dropped_out``). Memory
stays bounded and a flood never delays the frames after it by more than one full queue.
"""

from __future__ import annotations

import contextlib
import os
import termios
import tty

import numpy as np

from cerebellum_rt.drivers.can import slcan_codec
from cerebellum_rt.drivers.can.codec import FLAG_ERR, FLAG_EXT, FLAG_RTR, FrameBuffer
from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium

BITRATE_CODES = {b"S0": 10_000, b"S1": 20_000, b"S2": 50_000, b"S3": 100_000, b"S4": 125_000, b"S5": 250_000,
                 b"S6": 500_000, b"S7": 750_000, b"S8": 1_000_000, b"S9": 83_300}
DATA_BITRATE_CODES = {b"Y2": 2_000_000, b"Y5": 5_000_000}
OK, ERR = b"\r", b"\a"
_NOT_SDO_FLAGS = FLAG_EXT | FLAG_RTR | FLAG_ERR  # an SDO request is an 11-bit data frame


class SlcanServer:
    """SLCAN endpoint on a new pty for ``medium`` (see module doc)."""

    def __init__(self, medium: Medium, cap: int = 512, tx_queue: int = 256, out_limit: int = 1 << 20,
                 monitor: bool = False) -> None:
        slcan_codec.warm_up()
        self.medium = medium
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no CR/NL translation before the client opens it
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.bus = EmulatedBus(medium_=medium, name="slcan")
        self.port = self.bus.raw_port(cap, medium.fd)
        self.is_open = False
        self.listen_only = False
        self.monitor = bool(monitor)
        self.refused = 0  # frames a monitor port did not let onto the bus
        self.frames_in = 0
        self.frames_out = 0
        self.errors = 0
        self.syncs = 0
        self.tx_queue = int(tx_queue)
        self.out_limit = int(out_limit)
        self.dropped_in = 0
        self.dropped_out = 0
        self._in = np.zeros(1 << 16, dtype=np.uint8)
        self._fill = 0
        self._spans = np.zeros((256, 2), dtype=np.int64)
        self._rx = FrameBuffer(cap, fd=True)
        self._tx = FrameBuffer(cap, fd=True)
        self._out = np.zeros(cap * slcan_codec.max_line_bytes(True), dtype=np.uint8)
        self._pending_out = b""

    def fileno(self) -> int:
        return self.master

    def _command(self, line: bytes) -> bytes:
        if not line:
            return OK
        c = line[:1]
        if c in (b"O", b"L"):
            self.is_open = True
            self.listen_only = c == b"L"
            return OK
        if c == b"C":
            self.is_open = False
            return OK
        if line[:2] in BITRATE_CODES:
            return OK if BITRATE_CODES[line[:2]] == int(self.medium.bitrate) else ERR
        if line[:2] in DATA_BITRATE_CODES:
            return OK if self.medium.fd else ERR
        if c == b"V":
            return b"V1013\r"
        if c == b"N":
            return b"NCBL0\r"
        if c == b"F":
            return b"F00\r"
        if c in (b"Z", b"X", b"M", b"m", b"s", b"Q"):
            return OK
        return ERR

    def _read_client(self) -> int:
        """Client -> medium: parse what the client wrote; returns the frames sent."""
        try:
            got = os.readv(self.master, [memoryview(self._in)[self._fill :]])
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:  # EIO: no client has the slave open
            return 0
        self._fill += got
        total = 0
        while True:
            n, ns, used = slcan_codec.decode_frames(self._in, self._fill, self._rx, self._spans)
            replies = []
            for j in range(ns):
                s, e = int(self._spans[j, 0]), int(self._spans[j, 1])
                line = bytes(self._in[s:e]).rstrip(b"\a")
                replies.append(self._command(line))
            if self.is_open and not self.listen_only and n and self.monitor:
                n = self._reads_only(n)
            if self.is_open and not self.listen_only and n:
                room = max(0, self.tx_queue - len(self.bus.endpoint.tx))
                k = min(n, room)
                if k:
                    self.port.send_batch(self._rx, k)
                    self.syncs += int(np.count_nonzero(self._rx.ids[:k] == 0x080))
                self.dropped_in += n - k
                total += k
            elif n:
                self.errors += n
            if replies:
                self._write(b"".join(replies))
            tail = self._fill - used
            if used:
                self._in[:tail] = self._in[used : self._fill].copy()
            self._fill = tail
            if n < self._rx.cap or tail == 0:
                break
        if self._fill == len(self._in):  # a line longer than any frame: garbage
            self._fill = 0
            self.errors += 1
        self.frames_in += total
        return total

    def _reads_only(self, n: int) -> int:
        """Keep, in order, the first ``n`` decoded frames that a monitor may send (SDO upload
        requests); count the others in ``refused``. Returns how many are kept."""
        rx, k = self._rx, 0
        for j in range(n):
            cob, length = int(rx.ids[j]), int(rx.lens[j])
            ccs = int(rx.data[j, 0]) >> 5 if length else -1
            if 0x601 <= cob <= 0x67F and length == 8 and ccs in (2, 3) and not rx.flags[j] & _NOT_SDO_FLAGS:
                if k != j:
                    rx.ids[k], rx.lens[k], rx.flags[k], rx.data[k] = rx.ids[j], rx.lens[j], rx.flags[j], rx.data[j]
                k += 1
        self.refused += n - k
        return k

    def _write(self, data: bytes) -> None:
        self._pending_out += data
        self._flush()

    def _flush(self) -> None:
        while self._pending_out:
            try:
                n = os.write(self.master, self._pending_out)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._pending_out = b""
                return
            self._pending_out = self._pending_out[n:]

    def _write_medium(self) -> int:
        """Medium -> client: every frame delivered to the server's endpoint by now."""
        n = self.port.recv_batch(self._tx, 0.0)
        if n and self.is_open:
            if len(self._pending_out) >= self.out_limit:  # the client does not read: drop, count
                self.dropped_out += n
                return n
            nbytes = slcan_codec.encode_frames(self._tx, n, self._out)
            self._write(self._out[:nbytes].tobytes())
            self.frames_out += n
        return n

    def service(self) -> int:
        """Move everything that is waiting in both directions (non-blocking); returns frames moved."""
        self._flush()
        moved = self._read_client()
        while True:
            n = self._write_medium()
            moved += n
            if n < self._tx.cap:
                break
        return moved

    def close(self) -> None:
        """Close the pty and leave the medium (idempotent)."""
        if self.master < 0:
            return
        self.bus.shutdown()
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.master = self._slave = -1
