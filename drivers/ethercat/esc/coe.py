"""CoE mailbox server of an emulated slave: SDO over EtherCAT on the board's object dictionary.

Mailbox header (6 bytes: length, address, channel/priority, type | counter << 4), CoE header
(number, service << 12), then the CiA 301 SDO body with the CoE extensions (CANOPEN.md §7.2):
expedited, normal (size + data in one mailbox) and segmented transfers both ways, and complete
access (command bit 4: the whole object from sub 0, sub 0 taking 16 bits). Aborts carry the
board's CiA 301 codes. What cannot be served gets a mailbox error reply (type 0): unknown type
0x0002, unknown CoE service 0x0004, a length that does not fit 0x0006 / 0x0008. Never raises.
"""

from __future__ import annotations

import struct
from typing import Any

from cerebellum_rt.drivers.board.store import (
    ABORT_COMMAND,
    ABORT_GENERAL,
    ABORT_LENGTH,
    ABORT_TOGGLE,
    SdoAbort,
)

MBX_ERR, MBX_COE = 0x00, 0x03
COE_EMERGENCY, COE_SDO_REQ, COE_SDO_RESP = 1, 2, 3


class CoeServer:
    """SDO server over the mailbox (see module doc). ``app`` is the slave's application."""

    def __init__(self, app: Any, mbx_size: int) -> None:
        self.app = app
        self.mbx_size = mbx_size
        self.counter = 0
        self.errors = 0  # requests answered with a mailbox error or an abort
        self.reset()

    def reset(self) -> None:
        self._ul: bytes | None = None  # segmented upload in progress: remaining data
        self._dl: bytearray | None = None  # segmented download in progress
        self._dl_size = 0
        self._toggle = 0
        self._obj = (0, 0, False)

    # ------------------------------------------------------------------ framing
    def _mbx(self, kind: int, body: bytes) -> bytes:
        self.counter = self.counter % 7 + 1
        return struct.pack("<HHBB", len(body), 0, 0, kind | self.counter << 4) + body

    def mailbox_error(self, detail: int) -> list[bytes]:
        self.errors += 1
        return [self._mbx(MBX_ERR, struct.pack("<HH", 0x0001, detail))]

    def _sdo(self, body: bytes) -> bytes:
        return self._mbx(MBX_COE, struct.pack("<H", COE_SDO_RESP << 12) + body)

    def emergency(self, payload: bytes) -> bytes:
        """A CoE emergency (service 1) carrying a CANopen EMCY payload (8 bytes)."""
        return self._mbx(MBX_COE, struct.pack("<H", COE_EMERGENCY << 12) + payload[:8].ljust(8, b"\0"))

    def _abort(self, index: int, sub: int, code: int) -> list[bytes]:
        self.errors += 1
        self.reset()
        return [self._mbx(MBX_COE, struct.pack("<HBHBI", COE_SDO_REQ << 12, 0x80, index, sub, code))]

    def handle(self, raw: bytes) -> list[bytes]:
        """Replies to one mailbox written by the master (a full SM0 buffer)."""
        if len(raw) < 6:
            return self.mailbox_error(0x0006)
        length, _addr, _chan, kind = struct.unpack_from("<HHBB", raw)
        if length > len(raw) - 6:
            return self.mailbox_error(0x0008)
        if kind & 0x0F != MBX_COE:
            return self.mailbox_error(0x0002)
        body = raw[6 : 6 + length]
        if len(body) < 2:
            return self.mailbox_error(0x0006)
        service = struct.unpack_from("<H", body)[0] >> 12
        if service != COE_SDO_REQ:
            return self.mailbox_error(0x0004)
        sdo = body[2:]
        if not sdo:
            return self.mailbox_error(0x0006)
        try:
            return self._sdo_request(sdo)
        except SdoAbort as exc:
            index, sub, _ca = self._obj
            return self._abort(index, sub, exc.code)
        except (struct.error, ValueError, TypeError, KeyError, IndexError, OverflowError):
            index, sub, _ca = self._obj
            return self._abort(index, sub, ABORT_GENERAL)

    # ------------------------------------------------------------------ SDO
    def _sdo_request(self, sdo: bytes) -> list[bytes]:
        cmd = sdo[0]
        ccs = cmd >> 5
        if ccs in (0, 3):  # segment download / segment upload request
            return self._segment(cmd, sdo)
        if ccs == 4:  # client abort
            self.reset()
            return []
        if len(sdo) < 8:
            return self.mailbox_error(0x0006)
        index, sub = struct.unpack_from("<HB", sdo, 1)
        ca = bool(cmd & 0x10)
        self._obj = (index, sub, ca)
        if ccs == 2:
            return self._upload(index, sub, ca)
        if ccs == 1:
            return self._download(cmd, index, sub, ca, sdo)
        raise SdoAbort(ABORT_COMMAND)

    def _read_object(self, index: int, sub: int, ca: bool) -> bytes:
        if not ca:
            return self.app.sdo_read(index, sub)
        if not self.app.has_object(index):
            return self.app.sdo_read(index, 0)  # raises the board's 'no object' abort
        out = bytearray()
        for s in self.app.subindexes(index):
            if s < sub:
                continue
            data = self.app.sdo_read(index, s)
            out += data.ljust(2, b"\0") if s == 0 else data
        return bytes(out)

    def _upload(self, index: int, sub: int, ca: bool) -> list[bytes]:
        data = self._read_object(index, sub, ca)
        self.reset()
        self._obj = (index, sub, ca)
        if len(data) <= 4 and not ca and data:
            cmd = 0x43 | ((4 - len(data)) << 2)
            return [self._sdo(struct.pack("<BHB", cmd, index, sub) + data.ljust(4, b"\0"))]
        room = self.mbx_size - 16
        first, rest = data[:room], data[room:]
        if rest:
            self._ul, self._toggle = rest, 0
        return [self._sdo(struct.pack("<BHBI", 0x41 | (0x10 if ca else 0), index, sub, len(data)) + first)]

    def _write_object(self, index: int, sub: int, ca: bool, data: bytes) -> None:
        if not ca:
            self.app.sdo_write(index, sub, data)
            return
        subs = [s for s in self.app.subindexes(index) if s >= sub]
        pos = 0
        pending_count = None
        for s in subs:
            size = 2 if s == 0 else len(self.app.sdo_read(index, s))
            chunk = data[pos : pos + size]
            if len(chunk) < size:
                break
            pos += size
            if s == 0:
                pending_count = chunk[:1]
                self.app.sdo_write(index, 0, b"\0")  # mapping-like objects: count 0 while entries change
                continue
            self.app.sdo_write(index, s, chunk)
        if pending_count is not None:
            self.app.sdo_write(index, 0, pending_count)
        if pos != len(data):
            raise SdoAbort(ABORT_LENGTH, f"complete access 0x{index:04X}: {len(data)} bytes, object takes {pos}")

    def _download(self, cmd: int, index: int, sub: int, ca: bool, sdo: bytes) -> list[bytes]:
        self.reset()
        self._obj = (index, sub, ca)
        if cmd & 0x02:  # expedited
            n = 4 - ((cmd >> 2) & 0x03) if cmd & 0x01 else 4
            self._write_object(index, sub, ca, sdo[4 : 4 + n])
        else:
            size = struct.unpack_from("<I", sdo, 4)[0]
            data = sdo[8:]
            if size > 1 << 20:
                raise SdoAbort(ABORT_LENGTH, f"{size} bytes")
            if len(data) < size:
                self._dl, self._dl_size, self._toggle = bytearray(data), size, 0
                return [self._sdo(struct.pack("<BHBI", 0x60, index, sub, 0))]
            self._write_object(index, sub, ca, data[:size])
        return [self._sdo(struct.pack("<BHBI", 0x60, index, sub, 0))]

    def _segment(self, cmd: int, sdo: bytes) -> list[bytes]:
        index, sub, ca = self._obj
        toggle = (cmd >> 4) & 1
        if cmd >> 5 == 3:  # upload segment request
            if self._ul is None:
                raise SdoAbort(ABORT_COMMAND)
            if toggle != self._toggle:
                raise SdoAbort(ABORT_TOGGLE)
            room = self.mbx_size - 9
            seg, self._ul = self._ul[:room], self._ul[room:]
            last = not self._ul
            n = max(0, 7 - len(seg))
            body = struct.pack("<B", toggle << 4 | n << 1 | int(last)) + seg.ljust(7, b"\0")
            self._toggle ^= 1
            if last:
                self._ul = None
            return [self._sdo(body)]
        if self._dl is None:
            raise SdoAbort(ABORT_COMMAND)
        if toggle != self._toggle:
            raise SdoAbort(ABORT_TOGGLE)
        data = sdo[1:]
        if len(sdo) <= 8:  # short segment: n bytes of padding
            data = sdo[1 : 8 - ((cmd >> 1) & 0x07)]
        self._dl += data
        self._toggle ^= 1
        if len(self._dl) > self._dl_size:
            raise SdoAbort(ABORT_LENGTH, f"{len(self._dl)} bytes > {self._dl_size}")
        reply = [self._sdo(struct.pack("<B", 0x20 | toggle << 4) + bytes(7))]
        if cmd & 0x01:  # last segment
            buf, self._dl = bytes(self._dl), None
            if len(buf) != self._dl_size:
                raise SdoAbort(ABORT_LENGTH, f"{len(buf)} bytes != {self._dl_size}")
            self._write_object(index, sub, ca, buf)
        return reply
