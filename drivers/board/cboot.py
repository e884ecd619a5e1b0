"""An emulated board with the resident bootloader: its 192 KiB flash, the bootloader's host
build, and the firmware its bootloader chose.

:class:`BootBoard` keeps the whole flash of the board (:mod:`cerebellum_rt.drivers.firmware.layout`)
in memory and, with ``flash_path``, in a file (written atomically after every step that changed
it). At power-on and at every reset the firmware asks for (0x1F51 = 1 after a good verify, or 2)
it runs the bootloader (``drivers/firmware/boot``, host build): the bootloader checks the slots,
writes its records and names a slot; the board then loads the payload that slot holds (the
firmware as a shared library, :mod:`~cerebellum_rt.drivers.firmware.payload`) and runs it as a
:class:`~cerebellum_rt.drivers.board.cfirmware.FirmwareBoard` whose parameter store is the
flash's parameter region and whose program download goes through the bootloader's services. With
no bootable slot the board stays silent (a bootloader without an image), and ``slot`` is None.

Power cuts (lockstep only): ``cut_at`` = N makes the N-th flash erase/program operation of the
board's life (counted over every boot) the last one; ``cut_bytes`` of it land (all by default);
the step that hit it raises :class:`PowerCut`. Restart the board from :attr:`flash` (or the file):
that is what the supply coming back looks like.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import can

from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard
from cerebellum_rt.drivers.firmware import bootloader, layout
from cerebellum_rt.drivers.firmware.payload import load_payload
from cerebellum_rt.drivers.od import build_table
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

NO_CUT = 0


class PowerCut(DeviceError):
    """The supply went away during a flash operation (the power-cut hook's N-th operation)."""


def blank_flash(public_key: bytes, images: dict[int, bytes] | None = None) -> bytearray:
    """A board's flash as the production programmer leaves it: erased, the bootloader region
    holding its Ed25519 public key (32 raw bytes), and ``images`` (slot index -> image bytes)
    written into their slots without any boot record (factory images)."""
    if len(public_key) != 32:
        raise ConfigError(f"bootloader key: {len(public_key)} bytes, an Ed25519 public key has 32")
    flash = bytearray(b"\xff" * layout.FLASH_BYTES)
    flash[layout.KEY_OFF : layout.KEY_OFF + 32] = public_key
    for slot, img in (images or {}).items():
        if len(img) > layout.SLOT_BYTES:
            raise ConfigError(f"factory image for slot {slot}: {len(img)} bytes > slot size {layout.SLOT_BYTES}")
        off = layout.SLOT_OFF[slot]
        flash[off : off + len(img)] = img
    return flash


class BootBoard:
    """A board booted by its bootloader (see module doc). ``flash``: the initial flash bytes
    (:func:`blank_flash`), else ``flash_path``'s content. Lockstep (``poll``) only."""

    def __init__(self, node_id: int, bus: can.BusABC, module: Any | None = None, *, board: str = "joint",
                 flash: bytes | bytearray | None = None, flash_path: str | os.PathLike | None = None,
                 clock: Callable[[], float] = time.monotonic, serial_number: int = 0,
                 cut_at: int = NO_CUT, cut_bytes: int = 1 << 30) -> None:
        self.node_id, self.bus, self.module, self.board_kind = node_id, bus, module, board
        self.clock, self.serial_number = clock, serial_number
        self.flash_path = Path(flash_path) if flash_path is not None else None
        if flash is None:
            if self.flash_path is None or not self.flash_path.exists():
                raise ConfigError(f"BootBoard node {node_id}: no flash content (give flash= or an existing flash_path)")
            flash = self.flash_path.read_bytes()
        if len(flash) != layout.FLASH_BYTES:
            raise ConfigError(f"BootBoard node {node_id}: flash of {len(flash)} bytes, the board has {layout.FLASH_BYTES}")
        self.flash = bytearray(flash)
        self.product_code = build_table(board).entry(0x1018, 2).default
        self.boot = bootloader.load()
        self._flash_c = self.boot.ffi.from_buffer(self.flash)
        self._addr = int(self.boot.ffi.cast("uintptr_t", self._flash_c))
        self.cut_at, self.cut_bytes = cut_at, cut_bytes
        self.ops = 0  # flash operations before the current boot
        self.boots: list[tuple[int | None, bool]] = []  # (slot, test boot) of every boot
        self.fw: FirmwareBoard | None = None
        self.power_on()

    # ------------------------------------------------------------------ boot
    def power_on(self) -> None:
        """Run the bootloader, then the firmware of the slot it chose."""
        ffi, lib = self.boot.ffi, self.boot.lib
        if self.fw is not None:
            self.ops += int(self._bh.ops)
            self.fw.close()
            self.fw = None
        self._mem = ffi.new("uint8_t[]", lib.cbl_boot_host_size())
        self._bh = ffi.cast("cbl_boot_host_t *", self._mem)
        lib.cbl_boot_host_init(self._bh, self._flash_c, self.product_code)
        if self.cut_at != NO_CUT:
            if self.cut_at <= self.ops:
                raise PowerCut(f"node {self.node_id}: power already cut at flash operation {self.cut_at}")
            self._bh.cut_at, self._bh.cut_bytes = self.cut_at - self.ops, self.cut_bytes
        slot = lib.cbl_boot_host_select(self._bh)
        self._check_cut()
        api = self._api = lib.cbl_boot_host_api(self._bh)
        self.slot = None if slot < 0 else int(slot)
        self.boots.append((self.slot, self.test_boot))
        self._save()
        if self.slot is None:
            return
        base = layout.SLOT_OFF[self.slot]
        hdr = int.from_bytes(self.flash[base + 8 : base + 10], "little")
        size = int.from_bytes(self.flash[base + 12 : base + 16], "little")
        image = load_payload(bytes(self.flash[base + hdr : base + hdr + size]))
        self.fw = FirmwareBoard(self.node_id, self.bus, self.module, board=self.board_kind, image=image,
                                clock=self.clock, threaded=False, serial_number=self.serial_number,
                                flash_region=(self._addr + layout.PARAM_OFF, layout.PARAM_BYTES),
                                boot_api=int(ffi.cast("uintptr_t", api)))
        self._check_cut()
        self._save()

    def _check_cut(self) -> None:
        if self._bh.dead:
            self.fw = None
            raise PowerCut(f"node {self.node_id}: power cut at flash operation {self.cut_at}")

    @property
    def test_boot(self) -> bool:
        """The running image is on trial (booted once, not confirmed yet)."""
        return self.slot is not None and bool(self._api.test_boot)

    @property
    def flash_ops(self) -> int:
        """Flash erase/program operations of the bootloader's services so far, over all boots."""
        return self.ops + int(self._bh.ops)

    def _save(self) -> None:
        if self.flash_path is None:
            return
        tmp = self.flash_path.with_suffix(self.flash_path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(bytes(self.flash))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.flash_path)

    # ------------------------------------------------------------------ running
    def poll(self, max_frames: int = 10_000) -> int:
        """The booted firmware handles what arrived (a board without an image drops it); a reset
        the firmware asked for boots the board again."""
        if self.fw is None:
            n = 0
            while self.bus.recv(timeout=0.0) is not None:
                n += 1
            return n
        before = self.flash_ops
        n = self.fw.poll(max_frames)
        self._check_cut()
        if self.flash_ops != before or self.fw.flash_dirty:
            self.fw.flash_dirty = False
            self._save()
        if self.fw.reset_requested:
            self.power_on()
        return n

    def od_read(self, index: int, sub: int = 0) -> bytes | int:
        if self.fw is None:
            raise DeviceError(f"node {self.node_id}: no image booted")
        return self.fw.od_read(index, sub)

    def close(self) -> None:
        if self.fw is not None:
            self.fw.close()

    def __enter__(self) -> BootBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
