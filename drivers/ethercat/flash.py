"""`cbl flash -i ethercat -c IFNAME`: signed images to the slaves of an EtherCAT line (CoE + FoE, SOEM).

The same update as on CAN (:mod:`cerebellum_rt.drivers.flash`: same image, same board-side checks,
same compatibility checks and read-back, same :class:`~cerebellum_rt.drivers.flash.procedure.BoardResult`
rows), with FoE in BOOT instead of the 0x1F50 block download. Slaves are named by their position
on the line, 1 = the first after the master (SOEM gives it the configured station address
0x1000 + position); ``--all`` = every slave found. They are updated one after the other
(sequentially: one mailbox conversation at a time), each to its end or to a reported failure;
a failed slave never stops the others.

One slave (:func:`flash_slave`), in PRE-OP over CoE: read 0x1018:2, 0x5F50:3/:2/:4/:5 and 0x1F56:1;
the compatibility checks of the CAN dry run (``dry_run`` stops here). Then INIT -> BOOT (bootstrap
mailboxes from the SII) and FoE writes of the image in parts of about :data:`PART_BYTES`
(``NAME@OFFSET``, :mod:`~cerebellum_rt.drivers.ethercat.esc.firmware`): each part acknowledged is
programmed, and the progress bar moves per part; the part that completes the image makes the
board verify it (hash, signature, board type, security counter) before the last ACK. Then BOOT
-> INIT (the board resets into the new image's test boot) -> PRE-OP, read 0x1F56:1 (the new
version) and 0x1F57:1 (test-boot bit), confirm with 0x1F51:1 = 0x80 and read 0x1F57:1 again.

Failures: a refused image (FoE ERR) takes the slave back to PRE-OP and names the check from
0x1F57:1 (``the board refused the image: signature invalid (0x1F57 error 8; FoE ERR)``); the
old image keeps running. A cut (no FoE answer): FoE has no offset of its own, so the resume
point is the board's: the tool waits up to ``resume_wait_s`` for the slave to answer again,
takes it to PRE-OP, reads 0x5F50:1 (bytes programmed in the inactive slot, rounded down to the
8-byte program unit) and writes the rest from there (``NAME@OFFSET``). A slave that stays silent
ends with ``line cut: stopped at byte X of N`` (X: the bytes of the parts it acknowledged); a
later run with ``resume`` reads its 0x5F50:1 and continues. A resumed slot that does not verify
(hash, signature, format, header, or a flash not cleared for this download) is written once more
from byte 0. A write refused before any check (the board runs an image in test boot: confirm or
reset it first) ends the slave's update.
"""

from __future__ import annotations

import contextlib
import struct
import time
from collections.abc import Callable
from typing import Any

from cerebellum_rt.drivers.ethercat import foe
from cerebellum_rt.drivers.ethercat.master import _pysoem
from cerebellum_rt.drivers.flash import image as img
from cerebellum_rt.drivers.flash.procedure import (
    RESUME_DAMAGE,
    BoardResult,
    FlashError,
    Options,
    check_compatibility,
    check_test_boot,
    refusal,
)
from cerebellum_rt.drivers.od import FLASH_PROGRAM_UNIT, PROGRAM_CONTROL_CONFIRM
from cerebellum_rt.rtcore.errors import DeviceError

PART_BYTES = 4096  # about this much per FoE write: the progress step (a WRQ/ACK more per part)
FILE_NAME = "app.bin"
RESUME_RETRY = (img.ERR_NOT_CLEARED, *RESUME_DAMAGE)
TEST_BOOT = 1 << 17  # 0x1F57:1 bit 17: the running image is in test boot
Progress = Callable[[int, int], None] | None


def part_size(room: int, target: int = PART_BYTES) -> int:
    """Bytes per part for FoE packets of ``room`` data bytes: a multiple of the program unit that
    ends in a short packet (so SOEM sends no empty one), close to ``target``."""
    packets = max(2, round(target / room))
    return (room * packets - 1) // FLASH_PROGRAM_UNIT * FLASH_PROGRAM_UNIT


class _Slave:
    """CoE and AL state of one slave through pysoem (position 1..n)."""

    def __init__(self, master: Any, position: int, opts: Options) -> None:
        self.m, self.pos, self.index, self.opts = master, position, position - 1, opts
        self.s = master.slaves[self.index]
        self.label = f"slave {position}"
        self._ps = _pysoem()
        self.timeout_us = int(opts.sdo_timeout_s * 1e6)

    def u32(self, index: int, sub: int) -> int:
        try:
            return int.from_bytes(self.s.sdo_read(index, sub, 4), "little")
        except self._ps.SdoError as exc:
            raise DeviceError(f"{self.label}: read of 0x{index:04X}:{sub} refused: SDO abort "
                              f"0x{int(exc.abort_code):08X}") from exc
        except Exception as exc:  # pysoem: WkcError and friends (no answer)
            raise DeviceError(f"{self.label}: no CoE answer to the read of 0x{index:04X}:{sub} ({exc!r})") from exc

    def write_u8(self, index: int, sub: int, value: int, what: str) -> None:
        try:
            self.s.sdo_write(index, sub, bytes([value]))
        except self._ps.SdoError as exc:
            raise DeviceError(f"{self.label}: {what} refused: SDO abort 0x{int(exc.abort_code):08X}") from exc
        except Exception as exc:
            raise DeviceError(f"{self.label}: no CoE answer to {what} ({exc!r})") from exc

    def room(self) -> int:
        """FoE data bytes per packet: the bootstrap out mailbox (SII word 0x15) less 12 header bytes."""
        return struct.unpack("<HH", self.s.eeprom_read(foe.SII_BOOT_MAILBOX)[:4])[1] - 12

    def to_preop(self) -> None:
        """Out of BOOT (or whatever state): INIT with the standard mailboxes, then PRE-OP."""
        foe.enter_preop(self.m, self.index, self.timeout_us)

    def wait_preop(self, deadline: float, clock: Callable[[], float]) -> bool:
        """Bring a slave that went silent back to PRE-OP, retrying until ``deadline``."""
        while True:
            try:
                self.to_preop()
                return True
            except DeviceError:
                if clock() >= deadline:
                    return False
                time.sleep(self.opts.retry_period_s)


def _identify(sl: _Slave, info: img.ImageInfo, result: BoardResult) -> None:
    result.stage = "identify"
    result.board_type = sl.u32(0x1018, 2)
    board_type, slot_size = sl.u32(0x5F50, 3), sl.u32(0x5F50, 2)
    counter, key_id = sl.u32(0x5F50, 4), sl.u32(0x5F50, 5)
    result.old_version = img.version_u32_text(sl.u32(0x1F56, 1))
    result.stage = "compatibility"
    check_compatibility(sl.label, info, board_type, slot_size, counter, key_id, result.checks)


def _write(sl: _Slave, data: bytes, offset: int, result: BoardResult, progress: Progress) -> None:
    """FoE parts from ``offset`` to the end (in BOOT); ``result.acked`` follows the parts acknowledged."""
    step = part_size(sl.room())
    result.acked = offset
    if progress is not None:
        progress(offset, len(data))  # where this transfer starts (a resume: the board's 0x5F50:1)
    while offset < len(data):
        end = min(offset + step, len(data))
        foe.foe_write(sl.m, sl.index, f"{FILE_NAME}@{offset}", data[offset:end], timeout_us=sl.timeout_us)
        offset = result.acked = end
        if progress is not None:
            progress(offset, len(data))


def flash_slave(master: Any, position: int, data: bytes, info: img.ImageInfo, opts: Options, result: BoardResult,
                progress: Progress = None, clock: Callable[[], float] = time.monotonic) -> BoardResult:
    """The update of one slave (see module doc); fills and returns ``result``, raises FlashError."""
    t0 = clock()
    sl = _Slave(master, position, opts)
    result.bytes, result.new_version = len(data), info.version_text
    _identify(sl, info, result)
    if opts.dry_run:
        result.status, result.stage, result.seconds = "compatible", "dry-run", clock() - t0
        return result
    offset = 0
    if opts.resume:
        result.stage = "resume"
        got = sl.u32(0x5F50, 1)
        offset = min(got - got % FLASH_PROGRAM_UNIT, len(data) - len(data) % FLASH_PROGRAM_UNIT)
    retried = False
    result.stage = "boot"
    foe.enter_boot(master, sl.index, sl.timeout_us)
    while True:
        result.stage = "download"
        start = offset
        try:
            _write(sl, data, offset, result, progress)
            break
        except foe.FoeTransferError as exc:
            if not sl.wait_preop(clock() + (0.0 if exc.refused else opts.resume_wait_s), clock):
                raise FlashError(f"{sl.label}: line cut: stopped at byte {result.acked} of {len(data)} (acknowledged "
                                 "by the slave); run again with --resume to continue", "download", result.acked) from exc
            status = sl.u32(0x1F57, 1)
            code = (status >> 1) & 0x7F
            if exc.refused and code:
                if start and not retried and code in RESUME_RETRY:
                    offset, retried = 0, True  # a resumed slot that is not this image's prefix: from byte 0
                else:
                    raise FlashError(f"{sl.label}: the board refused the image: {refusal(code)} (0x1F57 error "
                                     f"{code}; FoE ERR)", "download", result.acked) from exc
            elif exc.refused:  # refused before any check: the request itself (state, offset)
                why = (" while it runs an image in test boot: confirm it (0x1F51 = 0x80) or reset it first"
                       if status & TEST_BOOT else "")
                raise FlashError(f"{sl.label}: the board refused the FoE write{why} ({exc})", "download",
                                 result.acked) from exc
            else:
                got = sl.u32(0x5F50, 1)  # the board's own count of bytes programmed: the resume point
                offset = min(got - got % FLASH_PROGRAM_UNIT, len(data) - len(data) % FLASH_PROGRAM_UNIT)
            result.resumes += 1
            result.stage = "boot"
            foe.enter_boot(master, sl.index, sl.timeout_us)
    result.stage = "boot"
    sl.to_preop()  # BOOT -> INIT: the board resets into the verified image's test boot
    result.stage = "read-back"
    result.test_boot = check_test_boot(sl.label, info, sl.u32(0x1F56, 1), sl.u32(0x1F57, 1))
    if opts.confirm:
        result.stage = "confirm"
        sl.write_u8(0x1F51, 1, PROGRAM_CONTROL_CONFIRM, "confirm (0x1F51 = 0x80)")
        status = sl.u32(0x1F57, 1)
        result.test_boot = bool(status & TEST_BOOT)
        if result.test_boot:
            raise FlashError(f"{sl.label}: confirm did not end the test boot (0x1F57 = 0x{status:08X})", "confirm")
    result.status, result.stage, result.seconds = "ok", "done", clock() - t0
    return result


def flash_line(iface: str, positions: list[int] | None, data: bytes, info: img.ImageInfo, opts: Options,
               progress_for: Callable[[int], Progress] = lambda _p: None) -> list[BoardResult]:
    """Every slave named (None: all found), one after the other; a row per slave, failures included."""
    ps = _pysoem()
    m = ps.Master()
    bus = f"ethercat:{iface}"
    try:
        m.open(iface)
    except Exception as exc:
        raise DeviceError(f"EtherCAT interface {iface}: cannot open ({exc})") from exc
    try:
        n = m.config_init()
        if n <= 0:
            raise DeviceError(f"EtherCAT interface {iface}: no slave answered")
        targets = list(range(1, n + 1)) if positions is None else positions
        missing = [p for p in targets if not 1 <= p <= n]
        if missing:
            raise DeviceError(f"EtherCAT interface {iface}: no slave at position(s) {missing} (line of {n})")
        rows = []
        for pos in targets:
            res = BoardResult(pos, bus=bus)
            rows.append(res)
            try:
                flash_slave(m, pos, data, info, opts, res, progress_for(pos))
            except Exception as exc:  # DeviceError, or pysoem's own: this slave failed, the next one goes on
                res.status, res.error = "failed", str(exc) if isinstance(exc, DeviceError) else f"slave {pos}: {exc!r}"
                if res.stage not in ("identify", "compatibility", "resume"):
                    _park(m, pos, opts)
        return rows
    finally:
        m.close()


def _park(master: Any, position: int, opts: Options) -> None:
    """After a failure: the slave back to PRE-OP if it answers (its old image runs), else left as it is."""
    with contextlib.suppress(DeviceError):
        _Slave(master, position, opts).to_preop()
