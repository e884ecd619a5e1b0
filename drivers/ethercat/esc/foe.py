"""FoE (file access over EtherCAT, ETG.1000.6) server of an emulated slave: the protocol only.

Mailbox type 0x04. FoE header after the 6-byte mailbox header: opcode (1 RRQ, 2 WRQ, 3 DATA,
4 ACK, 5 ERR, 6 BUSY), a reserved byte, a 32-bit word (password in RRQ/WRQ, packet number in
DATA/ACK, error code in ERR), then the file name / data / error text (CANOPEN.md §7.5).

What a file means is the ``files`` object's (:class:`FoeFiles`; the boards':
:class:`cerebellum_rt.drivers.ethercat.esc.firmware.BoardFirmware`, the image slots). The server:
a write request is accepted only in BOOT (else ERR 0x8009 "not in bootstrap"), with the board's
password :data:`FOE_PASSWORD` (else 0x800A "no rights", as SOES answers), then as ``files``
opens it; every DATA packet goes to ``files`` BEFORE its ACK (an ACK means the bytes are kept); a
packet shorter than the mailbox allows ends the file (``files.close_write``: the end-of-file
checks run before the last ACK). A packet with the wrong number ends the transfer with 0x8005.
Whatever ``files`` refuses (:class:`FoeError`) ends the transfer with that ERR code and text:
the text names the failed check. A read request (any state with a mailbox) sends
``files.read(name)`` in DATA packets, each waiting for the master's ACK. A new request, an ERR
from the master or the slave leaving its mailbox state (:meth:`FoeServer.reset`) abandons an open
write (``files.abort_write``). Never raises.
"""

from __future__ import annotations

import struct
from typing import Protocol

MBX_ERR, MBX_FOE = 0x00, 0x04
RRQ, WRQ, DATA, ACK, ERR, BUSY = 1, 2, 3, 4, 5, 6
ERR_UNDEFINED, ERR_NOT_FOUND, ERR_ACCESS, ERR_DISK_FULL, ERR_ILLEGAL, ERR_PACKET_NUMBER = (
    0x8000, 0x8001, 0x8002, 0x8003, 0x8004, 0x8005)
ERR_NOT_IN_BOOTSTRAP, ERR_NO_RIGHTS, ERR_PROGRAM = 0x8009, 0x800A, 0x800B
ERROR_TEXT = {ERR_UNDEFINED: "error", ERR_NOT_FOUND: "not found", ERR_ACCESS: "access denied",
              ERR_DISK_FULL: "disk full", ERR_ILLEGAL: "illegal", ERR_PACKET_NUMBER: "packet number wrong",
              ERR_NOT_IN_BOOTSTRAP: "not in bootstrap", ERR_NO_RIGHTS: "no rights", ERR_PROGRAM: "program error"}
FOE_PASSWORD = 0x4C42_4346  # "FCBL" little-endian: the password our boards' bootloader takes
FOE_MAX_BYTES = 0x40000  # the largest file the host reads back (256 KiB: more than any image slot)
BOOT = 0x03


class FoeError(Exception):
    """A file operation refused: ``code`` the FoE error code, the message its text."""

    def __init__(self, code: int, text: str = "") -> None:
        super().__init__(text or ERROR_TEXT.get(code, "error"))
        self.code = code


class FoeFiles(Protocol):
    """The files behind a :class:`FoeServer` (every method may raise :class:`FoeError`)."""

    def open_write(self, name: str) -> None: ...

    def write(self, data: bytes) -> None: ...

    def close_write(self) -> None: ...

    def abort_write(self) -> None: ...

    def read(self, name: str) -> bytes: ...


class FoeServer:
    """See module doc."""

    def __init__(self, mbx_size: int, files: FoeFiles) -> None:
        self.mbx_size = mbx_size
        self.files = files
        self.counter = 0
        self.last_error, self.last_error_text = 0, ""
        self.writes = 0  # files completely received and accepted
        self.name = ""  # the last file completely written
        self._wr = False
        self._rd: bytes | None = None

    def reset(self) -> None:
        """Abandon any transfer (a write in progress is aborted in ``files``)."""
        if self._wr:
            self._wr = False
            self.files.abort_write()
        self._rd = None
        self._packet = 0

    @property
    def data_room(self) -> int:
        return self.mbx_size - 12  # mailbox header 6 + FoE header 6

    def _mbx(self, body: bytes) -> bytes:
        self.counter = self.counter % 7 + 1
        return struct.pack("<HHBB", len(body), 0, 0, MBX_FOE | self.counter << 4) + body

    def _error(self, code: int, text: str = "") -> list[bytes]:
        text = text or ERROR_TEXT.get(code, "")
        self.last_error, self.last_error_text = code, text
        self.reset()
        raw = text.encode("ascii", "replace")[: self.data_room]
        return [self._mbx(struct.pack("<BBI", ERR, 0, code) + raw)]

    def _ack(self, number: int) -> list[bytes]:
        return [self._mbx(struct.pack("<BBI", ACK, 0, number))]

    def handle(self, raw: bytes, al_state: int) -> list[bytes]:
        """Replies to one FoE mailbox (the whole SM0 buffer, mailbox header included)."""
        if len(raw) < 12:
            return self._error(ERR_ILLEGAL)
        length = struct.unpack_from("<H", raw)[0]
        if length < 6 or length > len(raw) - 6:
            return self._error(ERR_ILLEGAL)
        op, _res, word = struct.unpack_from("<BBI", raw, 6)
        payload = bytes(raw[12 : 6 + length])
        try:
            if op == WRQ:
                return self._write_request(word, payload, al_state)
            if op == DATA:
                return self._data(word, payload)
            if op == RRQ:
                return self._read_request(payload)
            if op == ACK:
                return self._read_ack(word)
            if op == ERR:  # the master gave up
                self.reset()
                return []
            return self._error(ERR_ILLEGAL)
        except FoeError as exc:
            return self._error(exc.code, str(exc))

    def _write_request(self, password: int, name: bytes, al_state: int) -> list[bytes]:
        self.reset()
        if al_state != BOOT:
            return self._error(ERR_NOT_IN_BOOTSTRAP)
        if password != FOE_PASSWORD:
            return self._error(ERR_NO_RIGHTS)
        text = name.decode("ascii", "replace")
        self.files.open_write(text)
        self._wr, self._wr_name, self._packet = True, text, 0
        return self._ack(0)

    def _data(self, number: int, data: bytes) -> list[bytes]:
        if not self._wr:
            return self._error(ERR_ILLEGAL)
        if number != self._packet + 1:
            return self._error(ERR_PACKET_NUMBER)
        self.files.write(data)
        self._packet = number
        if len(data) >= self.data_room:
            return self._ack(number)
        self._wr = False  # the file is complete: its checks run now, before the last ACK
        try:
            self.files.close_write()
        except FoeError:
            self.files.abort_write()
            raise
        self.writes += 1
        self.name = self._wr_name
        self.reset()
        return self._ack(number)

    def _read_request(self, name: bytes) -> list[bytes]:
        self.reset()
        self._rd = self.files.read(name.decode("ascii", "replace"))
        self._packet = 0
        return self._next_packet()

    def _next_packet(self) -> list[bytes]:
        assert self._rd is not None
        room = self.data_room
        start = self._packet * room
        chunk = self._rd[start : start + room]
        self._packet += 1
        return [self._mbx(struct.pack("<BBI", DATA, 0, self._packet) + chunk)]

    def _read_ack(self, number: int) -> list[bytes]:
        if self._rd is None:
            return self._error(ERR_ILLEGAL)
        if number != self._packet:
            return self._error(ERR_PACKET_NUMBER)
        if len(self._rd[(number - 1) * self.data_room :]) < self.data_room:
            self.reset()  # the short (or empty) packet was the last
            return []
        return self._next_packet()
