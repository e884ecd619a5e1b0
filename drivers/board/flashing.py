"""The Python board's program download and bootloader (the specification of the C bootloader).

Objects and their contract: :mod:`cerebellum_rt.drivers.flash` (0x1F50, 0x1F51, 0x1F56, 0x1F57,
0x5F50). The flash: :class:`cerebellum_rt.drivers.board.slots.SlotStore` (a file beside the
board's parameter file, ``<storage>.slots``, or memory).

Bootloader (:meth:`ProgramDownload.power_on`, at power-on and at every hardware reset: 0x1F51 = 2,
or a successful 0x1F51 = 1; an NMT reset node is an application reset and runs no bootloader):

1. a slot marked TEST and not yet tried: verified again (SHA-256, Ed25519 with the board's trusted
   key, board type, security counter); if good, TRIED is recorded and it runs in test boot
   (0x1F57 bit 17); if not, REVERT;
2. a TEST slot already tried (reset before the confirm): REVERT, the confirmed slot runs;
3. the confirmed slot, verified; if it is not valid, the other slot if that one is valid; else
   no image: the board runs the firmware it was built with (0x1F56 = 0, 0x1F51 reads 0, every
   download object at its table default), as a factory-programmed board does.

Booting a confirmed image raises the installed security counter to the image's (recorded before
anything else may fail). Confirm (0x1F51 = 0x80 while in test boot; the Python firmware confirms
itself only on this command) records ACTIVE then COUNTER. Clear (3) is refused while the board is
in test boot (0x08000022: the inactive slot then holds the only confirmed image) -- confirm or
reset first. A download only ever writes the inactive slot, so the running image and the
confirmed one are never touched: after a power cut at any point the board boots the old or the
new valid image.

After a reset, 0x5F50:1 reads what the inactive slot holds if that slot was cleared completely
(journal record CLEARED) and not used since, else 0: a download cut by a power loss resumes there
(a unit torn by the cut makes the image fail its hash at start; the host then clears and starts
over). 0x1F51 reads 1 while a valid image runs, else 0. 0x1F57 bit 0 (busy) reads 0: every erase,
program and verification completes before the SDO answer. Parameters (0x1010) live in their own
file: an update never touches them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cerebellum_rt.drivers.board.slots import (
    REC_ACTIVE,
    REC_CLEARED,
    REC_COUNTER,
    REC_REVERT,
    REC_TEST,
    REC_TRIED,
    UNIT,
    FlashError,
    SlotStore,
)
from cerebellum_rt.drivers.board.store import (
    ABORT_LENGTH_HIGH,
    ABORT_STATE,
    ABORT_STORE,
    ABORT_VALUE,
    SdoAbort,
)
from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.od import (
    PROGRAM_CONTROL_CLEAR,
    PROGRAM_CONTROL_CONFIRM,
    PROGRAM_CONTROL_RESET,
    PROGRAM_CONTROL_START,
    PROGRAM_CONTROL_STOP,
    SLOT_SIZE_DEFAULT,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from cerebellum_rt.drivers.board.node import BoardNode

ABORT_NO_DATA = 0x08000024


@dataclass(frozen=True)
class FlashOptions:
    """A board's image flash: the trusted Ed25519 public key (None: every image is refused), the slot
    size, and a power-cut hook for tests (:class:`~cerebellum_rt.drivers.board.slots.SlotStore`)."""

    key: Ed25519PublicKey | None = None
    slot_size: int = SLOT_SIZE_DEFAULT
    hook: Callable[[str, int, int], None] | None = None
STATUS_TEST_BOOT = 1 << 17
STATUS_SLOT_B = 1 << 16


class ProgramDownload:
    """CiA 302-3 program download on a :class:`BoardNode` (see module doc)."""

    def __init__(self, node: BoardNode, slots_path: str | Path | None, options: FlashOptions) -> None:
        self.node = node
        self.key = options.key
        self.flash = SlotStore(slots_path, options.slot_size, options.hook)
        self.board_type = int(node.table.entry(0x1018, 2).default)
        self.running: int | None = None  # slot that runs (None: no valid image)
        self.running_info: img.ImageInfo | None = None
        self.test_boot = False
        self.error = img.ERR_OK
        self.programmed = 0  # bytes programmed and acknowledged in the inactive slot
        self._pending = b""  # bytes received, not yet a whole unit
        self.reset_requested = False
        store = node.store
        store.streams[0x1F50] = self
        store.validators[0x1F51] = self._control
        store.on_write[0x1F51] = lambda *_: self.publish()
        store.validators[0x5F50] = self._set_offset
        store.on_write[0x5F50] = lambda *_: self.publish()

    # ---------------------------------------------------------------- bootloader
    def _verify_slot(self, slot: int, min_counter: int) -> img.ImageInfo:
        if self.key is None:
            raise img.ImageError("signature", img.ERR_SIGNATURE, "the board has no trusted key configured")
        return img.verify(self.flash.slot(slot), self.key, board_type=self.board_type,
                          min_security_counter=min_counter, slot_size=self.flash.slot_size)

    def power_on(self) -> None:
        """The bootloader (see module doc); then the application's values are published."""
        st = self.flash.state()
        self.running, self.running_info, self.test_boot = None, None, False
        if st.test is not None and not st.tried:
            try:
                info = self._verify_slot(st.test, st.counter)
            except img.ImageError:
                self.flash.append(REC_REVERT, st.test)
            else:
                self.flash.append(REC_TRIED, st.test)
                self.running, self.running_info, self.test_boot = st.test, info, True
        elif st.test is not None:
            self.flash.append(REC_REVERT, st.test)
        if self.running is None:
            for slot in (st.confirmed, 1 - st.confirmed):
                try:
                    info = self._verify_slot(slot, st.counter)
                except img.ImageError:
                    continue
                self.running, self.running_info = slot, info
                if slot == st.confirmed and (info.security_counter or 0) > st.counter:
                    self.flash.append(REC_COUNTER, 0, info.security_counter or 0)
                break
        self.error = img.ERR_OK  # 0x1F57's error is the last download's; no image is not an error
        # a download into a completely cleared slot may resume after the reset: what it holds counts
        st = self.flash.state()
        self.programmed = self.flash.programmed_end(self.inactive) if st.cleared == self.inactive else 0
        self._pending = b""

    @property
    def inactive(self) -> int:
        return 1 - (self.running if self.running is not None else self.flash.state().confirmed)

    def status_word(self) -> int:
        word = (self.error & 0x7F) << 1
        if self.running == 1:
            word |= STATUS_SLOT_B
        if self.test_boot:
            word |= STATUS_TEST_BOOT
        return word

    def publish(self) -> None:
        """Write the download objects' values into the store (after every change and every reset)."""
        s = self.node.store
        s.set(0x1F51, 1, 1 if self.running is not None else 0)
        s.set(0x1F56, 1, self.running_info.version_u32 if self.running_info else 0)
        s.set(0x1F57, 1, self.status_word())
        s.set(0x5F50, 1, self.programmed)
        s.set(0x5F50, 2, self.flash.slot_size)
        s.set(0x5F50, 4, self.installed_counter())
        s.set(0x5F50, 5, img.key_id(self.key) if self.key is not None else 0)

    def installed_counter(self) -> int:
        """The security counter an image must reach: the journal's, or the running image's if higher."""
        running = (self.running_info.security_counter or 0) if self.running_info else 0
        return max(self.flash.state().counter, running)

    # ---------------------------------------------------------------- 0x1F51 / 0x5F50
    def _fail(self, code: int, abort: int, what: str) -> SdoAbort:
        self.error = code
        self.publish()
        return SdoAbort(abort, what)

    def _control(self, index: int, sub: int, value: object) -> None:
        v = int(value)  # type: ignore[call-overload]
        if v == PROGRAM_CONTROL_CLEAR:
            if self.test_boot:
                raise SdoAbort(ABORT_STATE, "clear refused in test boot: confirm (0x80) or reset first")
            self.flash.erase_slot(self.inactive)
            self.flash.append(REC_CLEARED, self.inactive)
            self.programmed, self._pending, self.error = 0, b"", img.ERR_OK
        elif v == PROGRAM_CONTROL_START:
            self._start()
        elif v == PROGRAM_CONTROL_STOP:
            self._pending = b""
        elif v == PROGRAM_CONTROL_RESET:
            self.reset_requested = True
        elif v == PROGRAM_CONTROL_CONFIRM and self.test_boot and self.running is not None and self.running_info:
            self.flash.append(REC_ACTIVE, self.running)
            self.flash.append(REC_COUNTER, 0, self.running_info.security_counter or 0)
            self.test_boot = False

    def _start(self) -> None:
        if self.test_boot:
            raise SdoAbort(ABORT_STATE, "start refused in test boot: confirm (0x80) or reset first")
        slot = self.inactive
        try:
            self._verify_slot(slot, self.installed_counter())
        except img.ImageError as exc:
            raise self._fail(exc.code, ABORT_NO_DATA, str(exc)) from exc
        self.flash.append(REC_TEST, slot)
        self.error = img.ERR_OK
        self.reset_requested = True

    def _set_offset(self, index: int, sub: int, value: object) -> None:
        v = int(value)  # type: ignore[call-overload]
        if sub != 1:
            return
        limit = max(self.programmed, self.flash.programmed_end(self.inactive))
        if v > limit or v % UNIT:
            raise SdoAbort(ABORT_VALUE, f"offset {v}: must be <= {limit} programmed bytes and a multiple of {UNIT}")
        if self.test_boot:
            raise SdoAbort(ABORT_STATE, "resume refused in test boot")
        self.programmed, self._pending = v, b""

    # ---------------------------------------------------------------- 0x1F50 stream (SdoServer)
    def open(self, sub: int, size: int | None) -> None:
        """A download into 0x1F50 begins at the current offset."""
        if self.test_boot:
            raise SdoAbort(ABORT_STATE, "download refused in test boot: confirm (0x80) or reset first")
        self._pending = b""
        if size is not None and self.programmed + size > self.flash.slot_size:
            raise self._fail(img.ERR_TOO_LARGE, ABORT_LENGTH_HIGH,
                             f"{self.programmed} + {size} bytes > slot size {self.flash.slot_size}")

    def write(self, data: bytes) -> None:
        """Program every whole unit received; keep the rest for the next chunk."""
        buf = self._pending + bytes(data)
        whole = len(buf) - len(buf) % UNIT
        self._program(buf[:whole])
        self._pending = buf[whole:]

    def close(self) -> None:
        """The transfer ended: the last partial unit is padded with 0xFF and programmed."""
        if self._pending:
            tail = self._pending.ljust(UNIT, b"\xff")
            self._pending = b""
            self._program(tail)
        self.publish()

    def cancel(self) -> None:
        self._pending = b""
        self.publish()

    def _program(self, data: bytes) -> None:
        if not data:
            return
        if self.programmed + len(data) > self.flash.slot_size:
            raise self._fail(img.ERR_TOO_LARGE, ABORT_LENGTH_HIGH,
                             f"{self.programmed + len(data)} bytes > slot size {self.flash.slot_size}")
        try:
            self.flash.program(self.flash.slot_addr(self.inactive) + self.programmed, data)
        except FlashError as exc:
            raise self._fail(img.ERR_NOT_CLEARED, ABORT_STORE, str(exc)) from exc
        self.programmed += len(data)
        self.node.store.set(0x5F50, 1, self.programmed)

