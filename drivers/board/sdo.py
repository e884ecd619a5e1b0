"""The board's SDO server (CiA 301 §7.2.4): expedited, segmented and block transfers.

Pure protocol: :meth:`SdoServer.handle` takes one request payload and returns the response
payloads (0, 1 or many 8-byte frames); no I/O, no threads. Rules followed:

* A request whose length is not 8 bytes is ignored (CiA 301: SDO frames have DLC 8; CANopenNode
  does the same).
* An unknown command specifier aborts with 0x05040001; a request that does not fit the
  transfer in progress aborts it with 0x05040001; a client abort (0x80) ends the transfer
  silently.
* Segmented: toggle bit checked (0x05030000); the indicated size must match what arrived
  (0x06070010).
* Block download: sequence numbers 1..blksize, a missing segment makes the server ack the last
  good one so the client repeats the rest (CiA 301 §7.2.4.3.12); CRC-16/XMODEM checked when
  both sides announced it (0x05040004). Block upload: blksize 1..127 (0x05040002); pst honoured
  (a switch to segmented upload for small objects); repeats from the client's ackseq.
* A transfer with no request for ``timeout_s`` is aborted with 0x05040000 by :meth:`poll`.
* A download never buffers more than the object can hold: an indicated size above the
  object's size (numeric: its type's size; string/domain: its ``high`` length, else
  :data:`MAX_DOWNLOAD` bytes) is refused at the initiate (0x06070012), and a transfer without a
  size is aborted (0x06070012) as soon as the data received exceeds that size.
* Streamed objects (``store.streams``: 0x1F50 program data): the data goes to the stream as it
  arrives instead of into a buffer -- every sub-block (block) or segment (segmented) is handed
  to ``stream.write`` before its ack is sent, so what the client saw acknowledged is in flash;
  the block's last segment waits for the end frame (its pad bytes are known only then);
  ``stream.close`` ends the transfer, ``stream.cancel`` drops it (abort, timeout, new request).
  The stream checks its own size limits (an SdoAbort from it aborts the transfer).
* An exception other than an abort inside the store's hooks (the application) answers 0x08000020
  and is handed to ``on_error`` (the board turns it into its fault).
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable

from cerebellum_rt.drivers.board.store import (
    ABORT_BLOCK_SIZE,
    ABORT_COMMAND,
    ABORT_CRC,
    ABORT_GENERAL,
    ABORT_LENGTH,
    ABORT_LENGTH_HIGH,
    ABORT_SEQNO,
    ABORT_STORE,
    ABORT_TIMEOUT,
    ABORT_TOGGLE,
    ObjectStore,
    SdoAbort,
)

BLKSIZE = 127
MAX_DOWNLOAD = 4096  # bytes: the largest download into an object without a declared length


def abort_frame(index: int, subindex: int, code: int) -> bytes:
    return struct.pack("<BHBI", 0x80, index, subindex, code)


class SdoServer:
    """One SDO server channel on an :class:`ObjectStore`."""

    def __init__(self, store: ObjectStore, timeout_s: float = 1.0,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.on_error = on_error
        self._limit = MAX_DOWNLOAD
        self._mode = "idle"  # idle, dl_seg, ul_seg, blk_dl, blk_dl_end, blk_ul_start, blk_ul_ack, blk_ul_end
        self._index = 0
        self._sub = 0
        self._buf = bytearray()
        self._size: int | None = None
        self._toggle = 0
        self._pos = 0
        self._crc = False
        self._seq = 0
        self._blksize = BLKSIZE
        self._last_t = 0.0
        self._blk_start = 0  # upload: data offset of the current block
        self._blk_n = 0  # upload: segments in the current block
        self._stream = None  # the stream of the download in progress (store.streams), else None
        self._received = 0  # streamed download: bytes handed on
        self._crc_acc = 0  # streamed block download: CRC-16 of the bytes handed on so far

    def poll(self, now: float) -> list[bytes]:
        """Abort a transfer stalled for more than ``timeout_s`` (0x05040000)."""
        if self._mode != "idle" and now - self._last_t > self.timeout_s:
            return [self._abort(ABORT_TIMEOUT)]
        return []

    def _abort(self, code: int) -> bytes:
        frame = abort_frame(self._index, self._sub, code)
        self._mode = "idle"
        self._buf = bytearray()
        self._drop_stream()
        return frame

    def _drop_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.cancel()

    def _open_stream(self, size: int | None) -> bool:
        """A download into a streamed object begins: hand it to the stream (True) or not (False)."""
        self._drop_stream()
        stream = self.store.streams.get(self._index)
        if stream is None:
            return False
        self.store.check_writable(self._index, self._sub)
        stream.open(self._sub, size)
        self._stream = stream
        self._crc_acc = 0
        return True

    def _stream_out(self, data: bytes) -> None:
        self._crc_acc = binascii.crc_hqx(data, self._crc_acc)
        self._stream.write(data)

    def handle(self, data: bytes, now: float = 0.0) -> list[bytes]:
        """Responses to one request payload (see module doc)."""
        if len(data) != 8:
            return []
        self._last_t = now
        try:
            return self._dispatch(bytes(data))
        except SdoAbort as exc:
            return [self._abort(exc.code)]
        except Exception as exc:  # the application failed inside a hook
            frame = self._abort(ABORT_STORE)
            if self.on_error is None:
                raise
            self.on_error(exc)
            return [frame]

    def _download_limit(self, index: int, sub: int) -> int:
        """The most bytes a download into (index, sub) may carry (see module doc)."""
        e = self.store.check_writable(index, sub)
        if e.is_numeric:
            return e.bits // 8
        return int(e.high) if e.high is not None else MAX_DOWNLOAD

    def _dispatch(self, d: bytes) -> list[bytes]:
        if self._mode == "blk_dl":
            if d[0] == 0x80 and d[1:4] == struct.pack("<HB", self._index, self._sub):
                self._mode = "idle"  # client abort
                self._drop_stream()
                return []
            return self._blk_dl_segment(d)
        cmd = d[0]
        ccs = cmd >> 5
        if ccs == 4:  # abort from the client: no answer
            self._mode = "idle"
            self._drop_stream()
            return []
        if ccs == 1:
            return self._dl_initiate(d)
        if ccs == 2:
            return self._ul_initiate(d)
        if ccs == 0:
            return self._dl_segment(d)
        if ccs == 3:
            return self._ul_segment(d)
        if ccs == 6:
            return self._blk_dl_cmd(d)
        if ccs == 5:
            return self._blk_ul_cmd(d)
        self._index, self._sub = struct.unpack_from("<HB", d, 1)
        raise SdoAbort(ABORT_COMMAND)

    # ------------------------------------------------------------------ expedited / segmented
    def _dl_initiate(self, d: bytes) -> list[bytes]:
        self._mode = "idle"
        self._index, self._sub = struct.unpack_from("<HB", d, 1)
        e_bit, s_bit, n = (d[0] >> 1) & 1, d[0] & 1, (d[0] >> 2) & 3
        entry = self.store.check_writable(self._index, self._sub)
        if e_bit and self._open_stream(4 - n if s_bit else 4):
            self._stream_out(d[4 : 8 - n] if s_bit else d[4:8])
            self._stream, stream = None, self._stream
            stream.close()
            return [struct.pack("<BHB4x", 0x60, self._index, self._sub)]
        if e_bit:
            payload = d[4 : 8 - n] if s_bit else d[4:8]
            if not s_bit and entry.is_numeric:
                payload = payload[: entry.bits // 8]
            self.store.write(self._index, self._sub, payload)
            return [struct.pack("<BHB4x", 0x60, self._index, self._sub)]
        self._size = struct.unpack_from("<I", d, 4)[0] if s_bit else None
        self._buf = bytearray()
        self._toggle = 0
        if not self._open_stream(self._size):
            self._limit = self._download_limit(self._index, self._sub)
            if self._size is not None and self._size > self._limit:
                raise SdoAbort(ABORT_LENGTH_HIGH)
        self._received = 0
        self._mode = "dl_seg"
        return [struct.pack("<BHB4x", 0x60, self._index, self._sub)]

    def _dl_segment(self, d: bytes) -> list[bytes]:
        if self._mode != "dl_seg":
            raise SdoAbort(ABORT_COMMAND)
        t = (d[0] >> 4) & 1
        if t != self._toggle:
            raise SdoAbort(ABORT_TOGGLE)
        n = (d[0] >> 1) & 7
        if self._stream is not None:
            self._received += 7 - n
            if self._size is not None and self._received > self._size:
                raise SdoAbort(ABORT_LENGTH)
            self._stream_out(d[1 : 8 - n])
        else:
            self._buf += d[1 : 8 - n]
            if len(self._buf) > self._limit:
                raise SdoAbort(ABORT_LENGTH_HIGH)
        resp = bytes([0x20 | (t << 4)]) + bytes(7)
        self._toggle ^= 1
        if d[0] & 1:
            self._finish_download()
        return [resp]

    def _finish_download(self) -> None:
        if self._stream is not None:
            if self._size is not None and self._size != self._received:
                raise SdoAbort(ABORT_LENGTH)
            self._mode = "idle"
            self._stream, stream = None, self._stream
            stream.close()
            return
        if self._size is not None and self._size != len(self._buf):
            raise SdoAbort(ABORT_LENGTH)
        self._mode = "idle"
        self.store.write(self._index, self._sub, bytes(self._buf))

    def _ul_initiate(self, d: bytes) -> list[bytes]:
        self._mode = "idle"
        self._index, self._sub = struct.unpack_from("<HB", d, 1)
        data = self.store.read(self._index, self._sub)
        if 0 < len(data) <= 4:
            cmd = 0x43 | ((4 - len(data)) << 2)
            return [struct.pack("<BHB", cmd, self._index, self._sub) + data.ljust(4, b"\0")]
        self._buf = bytearray(data)
        self._pos = 0
        self._toggle = 0
        self._mode = "ul_seg"
        return [struct.pack("<BHBI", 0x41, self._index, self._sub, len(data))]

    def _ul_segment(self, d: bytes) -> list[bytes]:
        if self._mode != "ul_seg":
            raise SdoAbort(ABORT_COMMAND)
        t = (d[0] >> 4) & 1
        if t != self._toggle:
            raise SdoAbort(ABORT_TOGGLE)
        chunk = bytes(self._buf[self._pos : self._pos + 7])
        self._pos += len(chunk)
        last = self._pos >= len(self._buf)
        cmd = (t << 4) | ((7 - len(chunk)) << 1) | int(last)
        self._toggle ^= 1
        if last:
            self._mode = "idle"
        return [bytes([cmd]) + chunk.ljust(7, b"\0")]

    # ------------------------------------------------------------------ block download
    def _blk_dl_cmd(self, d: bytes) -> list[bytes]:
        sub_cmd = d[0] & 1
        if sub_cmd == 0:  # initiate
            self._mode = "idle"
            self._index, self._sub = struct.unpack_from("<HB", d, 1)
            self._limit = self._download_limit(self._index, self._sub)
            self._crc = bool(d[0] & 0x04)
            self._size = struct.unpack_from("<I", d, 4)[0] if d[0] & 0x02 else None
            if self._open_stream(self._size):
                self._limit = 2**32
                self._received = 0
            elif self._size is not None and self._size > self._limit:
                raise SdoAbort(ABORT_LENGTH_HIGH)
            self._buf = bytearray()
            self._seq = 0
            self._mode = "blk_dl"
            return [struct.pack("<BHBB3x", 0xA4, self._index, self._sub, self._blksize)]
        if self._mode != "blk_dl_end":
            raise SdoAbort(ABORT_COMMAND)
        n = (d[0] >> 2) & 7
        if n:
            del self._buf[-n:]
        if self._stream is not None:  # the held-back last segment
            self._received += len(self._buf)
            self._stream_out(bytes(self._buf))
            if self._crc and struct.unpack_from("<H", d, 1)[0] != self._crc_acc:
                raise SdoAbort(ABORT_CRC)
        elif self._crc:
            crc = struct.unpack_from("<H", d, 1)[0]
            if crc != binascii.crc_hqx(bytes(self._buf), 0):
                raise SdoAbort(ABORT_CRC)
        self._finish_download()
        return [bytes([0xA1]) + bytes(7)]

    def _blk_dl_segment(self, d: bytes) -> list[bytes]:
        seqno, last = d[0] & 0x7F, bool(d[0] & 0x80)
        if seqno == self._seq + 1:
            self._seq = seqno
            self._buf += d[1:8]
            if len(self._buf) > self._limit + 7:  # the last segment may carry up to 6 pad bytes
                raise SdoAbort(ABORT_LENGTH_HIGH)
            if last:
                self._mode = "blk_dl_end"
        elif seqno == 0:
            raise SdoAbort(ABORT_SEQNO)
        # a wrong seqno is dropped; the ack below names the last good one
        if last or seqno >= self._blksize:
            if self._stream is not None:  # program the sub-block before its ack
                keep = 7 if self._mode == "blk_dl_end" else 0
                out = bytes(self._buf[: len(self._buf) - keep])
                del self._buf[: len(self._buf) - keep]
                self._received += len(out)
                if self._size is not None and self._received + len(self._buf) > self._size + 7:
                    raise SdoAbort(ABORT_LENGTH_HIGH)
                self._stream_out(out)
            ack = struct.pack("<BBB5x", 0xA2, self._seq, self._blksize)
            self._seq = 0
            return [ack]
        return []

    # ------------------------------------------------------------------ block upload
    def _blk_ul_cmd(self, d: bytes) -> list[bytes]:
        sub_cmd = d[0] & 3
        if sub_cmd == 0:  # initiate
            self._mode = "idle"
            self._index, self._sub = struct.unpack_from("<HB", d, 1)
            blksize, pst = d[4], d[5]
            if not 1 <= blksize <= 127:
                raise SdoAbort(ABORT_BLOCK_SIZE)
            data = self.store.read(self._index, self._sub)
            if pst and len(data) <= pst:  # protocol switch: answer as a normal upload
                return self._ul_initiate(bytes([0x40]) + d[1:4] + bytes(4))
            self._buf = bytearray(data)
            self._crc = bool(d[0] & 0x04)
            self._blksize = blksize
            self._pos = 0
            self._mode = "blk_ul_start"
            return [struct.pack("<BHBI", 0xC6, self._index, self._sub, len(data))]
        if sub_cmd == 3:  # start
            if self._mode != "blk_ul_start":
                raise SdoAbort(ABORT_COMMAND)
            return self._blk_ul_send()
        if sub_cmd == 2:  # ack
            if self._mode != "blk_ul_ack":
                raise SdoAbort(ABORT_COMMAND)
            ackseq, blksize = d[1], d[2]
            if not 1 <= blksize <= 127:
                raise SdoAbort(ABORT_BLOCK_SIZE)
            if ackseq > self._blk_n:
                raise SdoAbort(ABORT_SEQNO)
            self._pos = min(self._blk_start + 7 * ackseq, len(self._buf))
            self._blksize = blksize
            if ackseq == self._blk_n and self._pos >= len(self._buf):
                n = (7 - len(self._buf) % 7) % 7 if self._buf else 7
                crc = binascii.crc_hqx(bytes(self._buf), 0) if self._crc else 0
                self._mode = "blk_ul_end"
                return [struct.pack("<BH5x", 0xC1 | (n << 2), crc)]
            return self._blk_ul_send()
        # sub_cmd 1: end response
        if self._mode != "blk_ul_end":
            raise SdoAbort(ABORT_COMMAND)
        self._mode = "idle"
        return []

    def _blk_ul_send(self) -> list[bytes]:
        out = []
        self._blk_start = self._pos
        seq = 0
        while seq < self._blksize:
            chunk = bytes(self._buf[self._pos : self._pos + 7])
            self._pos += len(chunk)
            seq += 1
            last = self._pos >= len(self._buf)
            out.append(bytes([(0x80 if last else 0) | seq]) + chunk.ljust(7, b"\0"))
            if last:
                break
        if not out:
            raise SdoAbort(ABORT_GENERAL)
        self._blk_n = seq
        self._mode = "blk_ul_ack"
        return out
