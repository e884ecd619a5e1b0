"""FoE (file access over EtherCAT, ETG.1000.6) server of an emulated slave: the firmware image.

Mailbox type 0x04. FoE header after the 6-byte mailbox header: opcode (1 RRQ, 2 WRQ, 3 DATA,
4 ACK, 5 ERR, 6 BUSY), a reserved byte, a 32-bit word (password in RRQ/WRQ, packet number in
DATA/ACK, error code in ERR), then the file name / data / error text (CANOPEN.md §7.5).

The slave holds one file: its firmware image. A write request is accepted only in BOOT (else
ERR 0x8009 "not in bootstrap"), with the board's password :data:`FOE_PASSWORD` (else 0x800A "no
rights", as SOES answers), for at most :data:`FOE_MAX_BYTES` (a longer file is refused with
0x8003 "disk full" when its data passes the limit; the stored image stays as it was). Every DATA
packet is acknowledged with its number; a packet shorter than the mailbox allows ends the file,
which then replaces the image (in ``path`` when given: written beside and renamed, so a cut
transfer never leaves half an image). A packet with the wrong number ends the transfer with
0x8005. A read request (any state with a mailbox) for the stored file's name sends it in DATA
packets, each waiting for the master's ACK; another name gets 0x8001 "not found". Never raises.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

MBX_ERR, MBX_FOE = 0x00, 0x04
RRQ, WRQ, DATA, ACK, ERR, BUSY = 1, 2, 3, 4, 5, 6
ERR_NOT_FOUND, ERR_DISK_FULL, ERR_ILLEGAL, ERR_PACKET_NUMBER = 0x8001, 0x8003, 0x8004, 0x8005
ERR_NOT_IN_BOOTSTRAP, ERR_NO_RIGHTS = 0x8009, 0x800A
ERROR_TEXT = {ERR_NOT_FOUND: "not found", ERR_DISK_FULL: "disk full", ERR_ILLEGAL: "illegal",
              ERR_PACKET_NUMBER: "packet number wrong", ERR_NOT_IN_BOOTSTRAP: "not in bootstrap",
              ERR_NO_RIGHTS: "no rights"}
FOE_PASSWORD = 0x4C42_4346  # "FCBL" little-endian: the password our boards' bootloader takes
FOE_MAX_BYTES = 0x40000  # one image slot (256 KiB, the slot size of the signed images)
BOOT = 0x03


class FoeServer:
    """See module doc. ``path``: the file that keeps the image (None: memory only)."""

    def __init__(self, mbx_size: int, path: str | os.PathLike | None = None) -> None:
        self.mbx_size = mbx_size
        self.path = Path(path) if path is not None else None
        self.name, self.image = "", b""
        self.counter = 0
        self.last_error = 0
        self.writes = 0  # files completely received
        self._load()
        self.reset()

    def _load(self) -> None:
        if self.path is None or not self.path.exists():
            return
        meta = self.path.with_suffix(".json")
        try:
            self.name = json.loads(meta.read_text())["name"]
            self.image = self.path.read_bytes()
        except (OSError, ValueError, KeyError):
            self.name, self.image = "", b""

    def reset(self) -> None:
        self._wr: bytearray | None = None  # write in progress: data so far
        self._wr_name = ""
        self._rd: bytes | None = None  # read in progress: the file
        self._packet = 0

    @property
    def data_room(self) -> int:
        return self.mbx_size - 12  # mailbox header 6 + FoE header 6

    def _mbx(self, body: bytes) -> bytes:
        self.counter = self.counter % 7 + 1
        return struct.pack("<HHBB", len(body), 0, 0, MBX_FOE | self.counter << 4) + body

    def _error(self, code: int) -> list[bytes]:
        self.last_error = code
        self.reset()
        return [self._mbx(struct.pack("<BBI", ERR, 0, code) + ERROR_TEXT.get(code, "").encode())]

    def handle(self, raw: bytes, al_state: int) -> list[bytes]:
        """Replies to one FoE mailbox (the whole SM0 buffer, mailbox header included)."""
        if len(raw) < 12:
            return self._error(ERR_ILLEGAL)
        length = struct.unpack_from("<H", raw)[0]
        if length < 6 or length > len(raw) - 6:
            return self._error(ERR_ILLEGAL)
        op, _res, word = struct.unpack_from("<BBI", raw, 6)
        payload = bytes(raw[12 : 6 + length])
        if op == WRQ:
            return self._write_request(word, payload, al_state)
        if op == DATA:
            return self._data(word, payload)
        if op == RRQ:
            return self._read_request(word, payload)
        if op == ACK:
            return self._ack(word)
        if op == ERR:  # the master gave up
            self.reset()
            return []
        return self._error(ERR_ILLEGAL)

    def _write_request(self, password: int, name: bytes, al_state: int) -> list[bytes]:
        if al_state != BOOT:
            return self._error(ERR_NOT_IN_BOOTSTRAP)
        if password != FOE_PASSWORD:
            return self._error(ERR_NO_RIGHTS)
        self.reset()
        self._wr, self._wr_name, self._packet = bytearray(), name.decode("ascii", "replace"), 0
        return [self._mbx(struct.pack("<BBI", ACK, 0, 0))]

    def _data(self, number: int, data: bytes) -> list[bytes]:
        if self._wr is None:
            return self._error(ERR_ILLEGAL)
        if number != self._packet + 1:
            return self._error(ERR_PACKET_NUMBER)
        if len(self._wr) + len(data) > FOE_MAX_BYTES:
            return self._error(ERR_DISK_FULL)
        self._packet = number
        self._wr += data
        if len(data) >= self.data_room:
            return [self._mbx(struct.pack("<BBI", ACK, 0, number))]
        self._store(self._wr_name, bytes(self._wr))
        self.reset()
        return [self._mbx(struct.pack("<BBI", ACK, 0, number))]

    def _store(self, name: str, image: bytes) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            for target, content in ((self.path, image), (self.path.with_suffix(".json"),
                                                         json.dumps({"name": name, "bytes": len(image)}).encode())):
                tmp = target.with_suffix(target.suffix + ".tmp")
                tmp.write_bytes(content)
                os.replace(tmp, target)
        self.name, self.image = name, image
        self.writes += 1

    def _read_request(self, _password: int, name: bytes) -> list[bytes]:
        if not self.name or name.decode("ascii", "replace") != self.name:
            return self._error(ERR_NOT_FOUND)
        self.reset()
        self._rd, self._packet = self.image, 0
        return self._next_packet()

    def _next_packet(self) -> list[bytes]:
        assert self._rd is not None
        room = self.data_room
        start = self._packet * room
        chunk = self._rd[start : start + room]
        self._packet += 1
        return [self._mbx(struct.pack("<BBI", DATA, 0, self._packet) + chunk)]

    def _ack(self, number: int) -> list[bytes]:
        if self._rd is None:
            return self._error(ERR_ILLEGAL)
        if number != self._packet:
            return self._error(ERR_PACKET_NUMBER)
        if len(self._rd[(number - 1) * self.data_room :]) < self.data_room:
            self.reset()  # the short (or empty) packet was the last
            return []
        return self._next_packet()
