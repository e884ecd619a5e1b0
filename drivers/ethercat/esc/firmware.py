"""The files an emulated slave serves over FoE: its image slots, through the board's own bootloader.

:class:`BoardFirmware` is the :class:`~cerebellum_rt.drivers.ethercat.esc.foe.FoeFiles` of a
board: an FoE write goes into the board's INACTIVE slot through the same objects and checks as a
CiA 302-3 download on CAN (:class:`cerebellum_rt.drivers.board.flashing.ProgramDownload`: the
clear of 0x1F51 = 3, the resume offset of 0x5F50:1, the 0x1F50 stream, the start of 0x1F51 = 1
that verifies hash, signature, board type and security counter). Nothing is checked twice or
differently: the slot, the journal and 0x1F57's error are the board's.

File names (written in BOOT, with the FoE password):

* ``NAME``: a whole image. The inactive slot is cleared, every packet is programmed before its
  ACK, and the end of the file starts the image: verified at once, before the last ACK.
* ``NAME@OFFSET`` (decimal): a part of an image, programmed from byte OFFSET of the slot. OFFSET 0
  clears the slot first; another OFFSET resumes: it must be a multiple of 8 (the flash program
  unit) and at most the bytes already programmed (0x5F50:1, readable over CoE before BOOT), as a
  write of 0x5F50:1 on CAN. A part that does not complete the image ends on a multiple of 8. The
  part that brings the slot to the image's size (its header and TLV info say it:
  :func:`~cerebellum_rt.drivers.flash.image.image_extent`) starts the image as above.

A refusal ends the transfer with an FoE ERR whose text names the failed check, as 0x1F57 names it
on CAN (``signature invalid (error 8): image signature check failed: ...``; 0x1F57 holds the code
too): ERR 0x800B "program error" for a failed check or a flash that was not cleared, 0x8003
"disk full" for bytes beyond the slot, 0x8004 "illegal" for a bad file name or resume offset,
0x8002 "access denied" while the board runs an image in test boot (confirm or reset first). The
old image keeps running.

A good image is marked for a test boot at once; the board resets into it when the master takes
the slave out of BOOT (BOOT -> INIT; :class:`~cerebellum_rt.drivers.ethercat.slave_app.BoardApp`),
so a power cut in between test-boots it as well. The master then confirms it over CoE
(0x1F51:1 = 0x80) or a reset reverts it, as on CAN. Parameters saved by 0x1010 are not touched.

Reads (any mailbox state): ``running.bin`` the running image (its total size), ``download.bin``
the bytes programmed in the inactive slot; another name ERR 0x8001.
"""

from __future__ import annotations

from typing import Any

from cerebellum_rt.drivers.board.flashing import ABORT_NO_DATA
from cerebellum_rt.drivers.board.store import ABORT_LENGTH_HIGH, ABORT_STATE, ABORT_STORE, SdoAbort
from cerebellum_rt.drivers.ethercat.esc.foe import (
    ERR_ACCESS,
    ERR_DISK_FULL,
    ERR_ILLEGAL,
    ERR_NOT_FOUND,
    ERR_PROGRAM,
    FoeError,
)
from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.od import FLASH_PROGRAM_UNIT, PROGRAM_CONTROL_CLEAR, PROGRAM_CONTROL_START

TEXT_ROOM = 116  # an ERR text fits one 128-byte mailbox


class BoardFirmware:
    """FoE files of one board (see module doc): ``board`` is a Python board (``board.program``)."""

    def __init__(self, board: Any) -> None:
        self.board = board
        self.program = board.program
        self._whole = True

    # ------------------------------------------------------------------ write
    def _refused(self, exc: SdoAbort) -> FoeError:
        """An SdoAbort of the board's program download as the FoE error that names the check."""
        code = self.program.error
        cause = exc.__cause__
        detail = str(cause) if cause is not None else str(exc).removeprefix(f"SDO abort 0x{exc.code:08X} ")
        if exc.code == ABORT_STATE:
            return FoeError(ERR_ACCESS, detail[:TEXT_ROOM])
        if exc.code == ABORT_LENGTH_HIGH:
            return FoeError(ERR_DISK_FULL, f"{img.ERROR_TEXT[img.ERR_TOO_LARGE]} (error {img.ERR_TOO_LARGE}): "
                            f"{detail}"[:TEXT_ROOM])
        if exc.code in (ABORT_NO_DATA, ABORT_STORE):  # a check or the flash failed: 0x1F57 holds the code
            return FoeError(ERR_PROGRAM, f"{img.ERROR_TEXT.get(code, 'error')} (error {code}): {detail}"[:TEXT_ROOM])
        return FoeError(ERR_ILLEGAL, detail[:TEXT_ROOM])

    def open_write(self, name: str) -> None:
        base, at, off = name.rpartition("@")
        self._whole = not at
        offset = 0
        if at:
            if not base or not off.isdigit():
                raise FoeError(ERR_ILLEGAL, f"file name {name!r}: NAME or NAME@OFFSET (decimal)"[:TEXT_ROOM])
            offset = int(off)
        store = self.board.store
        with self.board._lock:
            try:
                if offset == 0:
                    store.write(0x1F51, 1, bytes([PROGRAM_CONTROL_CLEAR]))
                else:
                    if offset % FLASH_PROGRAM_UNIT or offset > self.program.programmed:
                        raise FoeError(ERR_ILLEGAL, f"resume offset {offset}: must be a multiple of "
                                       f"{FLASH_PROGRAM_UNIT} and <= {self.program.programmed} programmed bytes")
                    store.write(0x5F50, 1, offset.to_bytes(4, "little"))
                self.program.open(1, None)
            except SdoAbort as exc:
                raise self._refused(exc) from exc

    def write(self, data: bytes) -> None:
        with self.board._lock:
            try:
                self.program.write(data)
            except SdoAbort as exc:
                raise self._refused(exc) from exc

    def close_write(self) -> None:
        """End of the file: program the last unit; start the image when it is complete."""
        p = self.program
        with self.board._lock:
            try:
                p.close()
                if not self._whole:
                    need = img.image_extent(p.flash.slot(p.inactive)[: p.programmed])
                    if need is None or (need and p.programmed < need):
                        return  # a part: the rest comes in the next file
                self.board.store.write(0x1F51, 1, bytes([PROGRAM_CONTROL_START]))
            except SdoAbort as exc:
                raise self._refused(exc) from exc

    def abort_write(self) -> None:
        with self.board._lock:
            self.program.cancel()

    # ------------------------------------------------------------------ read
    def read(self, name: str) -> bytes:
        p = self.program
        with self.board._lock:
            if name == "running.bin" and p.running is not None and p.running_info is not None:
                return p.flash.slot(p.running)[: p.running_info.total_size]
            if name == "download.bin" and p.programmed:
                return p.flash.slot(p.inactive)[: p.programmed]
        raise FoeError(ERR_NOT_FOUND, f"{name!r}: not found (running.bin, download.bin)"[:TEXT_ROOM])

    def status(self) -> dict[str, Any]:
        p = self.program
        return {"version": img.version_u32_text(p.running_info.version_u32) if p.running_info else "0.0.0",
                "slot": p.running, "test_boot": p.test_boot, "programmed": p.programmed, "error": p.error,
                "pending_boot": p.reset_requested}
