"""The board application behind an emulated EtherCAT slave, driven without CAN frames.

:class:`BoardApp` wraps a :class:`cerebellum_rt.drivers.board.DriveBoard` (joint or hand: the same
object store, SDO semantics, CiA 402 law and plant as on CAN) built with ``threaded=False`` on a
bus that carries nothing (:class:`NoCan`). The ESC calls it:

* ``sdo_read`` / ``sdo_write``: the board's object store (CiA 301 checks, hooks, abort codes),
  plus the EtherCAT communication objects 0x1C00 / 0x1C12 / 0x1C13 (read-only: fixed assignment);
* ``cycle(outputs)`` when the master completes a write of the SM2 buffer in OP: measurements,
  RxPDO data into the store, one step of the law, the plant advanced by 0x1006 µs; returns the
  TxPDO data sampled after the step (the next frame reads it: the reply to frame k carries the
  state produced by the targets of frame k);
* ``take_emergencies``: the board's EMCY messages, sent by the ESC as CoE emergencies;
* ``set_al_state``: the board's NMT operational flag follows AL OP; leaving OP with the power
  stage on is a connection loss (0x6007 reaction: quick stop, then disabled), run by ``service``
  on the board's own clock while no frame comes;
* ``mailbox(request)``: one complete SM0 mailbox -> the replies for SM1: CoE (the SDO server,
  :class:`~cerebellum_rt.drivers.ethercat.esc.coe.CoeServer`; not in BOOT) and FoE (the board's
  image slots through its bootloader, :class:`~cerebellum_rt.drivers.ethercat.esc.firmware.BoardFirmware`
  behind :class:`~cerebellum_rt.drivers.ethercat.esc.foe.FoeServer`); other types get a mailbox
  error (0x0002 unsupported protocol);
* resets: leaving BOOT (for INIT) after an FoE write that passed every check resets the board
  into that image's test boot; a CoE write that asks for a reset (0x1F51:1 = 2, or 1 = start a
  verified image) resets it at once, as the SDO does on CAN. The bootloader then picks the image
  (:mod:`cerebellum_rt.drivers.board.flashing`: a test image booted once and not confirmed is
  reverted);
* ``status()``: what ``cbl emulate`` and the tests report about the board.

The application runs where the ESC puts it: in the ESC's process (:meth:`Line.app_step
<cerebellum_rt.drivers.ethercat.esc.line.Line.app_step>`, lockstep tests) or in a worker process
(:mod:`cerebellum_rt.drivers.ethercat.esc.pdi`), off the frame path.
"""

from __future__ import annotations

import os
import struct
from typing import Any

import can

from cerebellum_rt.drivers.board.node import NMT_OPERATIONAL, NMT_PRE_OPERATIONAL
from cerebellum_rt.drivers.board.store import ABORT_NO_SUBINDEX, ABORT_READ_ONLY, SdoAbort
from cerebellum_rt.drivers.ethercat.esc.coe import CoeServer
from cerebellum_rt.drivers.ethercat.esc.firmware import BoardFirmware
from cerebellum_rt.drivers.ethercat.esc.foe import FoeServer
from cerebellum_rt.drivers.ethercat.layout import MBX_IN, SlaveLayout, slave_layout

AL_INIT, AL_BOOT, AL_OP = 0x01, 0x03, 0x08
MBX_TYPE_COE, MBX_TYPE_FOE = 0x03, 0x04


class NoCan(can.BusABC):
    """A bus for a board that talks EtherCAT: frames the CANopen side sends go nowhere."""

    def __init__(self) -> None:
        super().__init__(channel="ethercat")
        self.shutdown()  # nothing to release; send/recv stay harmless
        self.emcy: list[bytes] = []  # EMCY payloads the board sent (CoE emergencies on EtherCAT)

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        if 0x081 <= msg.arbitration_id <= 0x0FF and len(self.emcy) < 16:
            self.emcy.append(bytes(msg.data[:8]).ljust(8, b"\0"))

    def _recv_internal(self, timeout: float | None) -> tuple[None, bool]:
        return None, False


class BoardApp:
    """One slave's application (see module doc)."""

    def __init__(self, board: Any) -> None:
        self.board = board
        self.al_state = AL_INIT
        self.coe = CoeServer(self, MBX_IN[1])
        self.firmware = BoardFirmware(board)
        self.foe = FoeServer(MBX_IN[1], self.firmware)
        self.sync0_events = self.sync0_missed = self.sync0_last = 0
        self.set_sync0(False, 0, 0, 0)
        self.layout: SlaveLayout = slave_layout(board.table.board, board.table)
        self._rx = [board.pdos.rpdos[p.index - 0x1600] for p in self.layout.rx]
        self._tx = [board.pdos.tpdos[p.index - 0x1A00] for p in self.layout.tx]
        self._ec = {0x1C00: [4, 1, 2, 3, 4], 0x1C12: [len(self.layout.rx), *(p.index for p in self.layout.rx)],
                    0x1C13: [len(self.layout.tx), *(p.index for p in self.layout.tx)]}

    # ------------------------------------------------------------------ CoE objects
    def has_object(self, index: int) -> bool:
        return index in self._ec or index in self.board.table.objects

    def subindexes(self, index: int) -> list[int]:
        if index in self._ec:
            return list(range(len(self._ec[index])))
        return [e.subindex for e in self.board.table.objects[index].entries]

    def sdo_read(self, index: int, sub: int) -> bytes:
        if index in self._ec:
            vals = self._ec[index]
            if sub >= len(vals):
                raise SdoAbort(ABORT_NO_SUBINDEX, f"0x{index:04X}sub{sub}")
            return struct.pack("<B" if sub == 0 or index == 0x1C00 else "<H", vals[sub])
        with self.board._lock:
            return self.board.store.read(index, sub)

    def sdo_write(self, index: int, sub: int, data: bytes) -> None:
        if index in self._ec:
            raise SdoAbort(ABORT_READ_ONLY, f"0x{index:04X}sub{sub} (fixed PDO assignment)")
        b = self.board
        with b._lock:
            b.store.write(index, sub, data)
            if b.program.reset_requested:  # 0x1F51 = 2, or 1 (a verified image to test-boot)
                self._hardware_reset()

    def _hardware_reset(self) -> None:
        """The board resets (bootloader, then firmware); the ESC keeps its AL state (board lock held)."""
        b = self.board
        b.hardware_reset()
        if self.al_state == AL_OP:
            b.nmt_state = NMT_OPERATIONAL
            b._entered_operational()

    # ------------------------------------------------------------------ process data
    def inputs(self) -> bytes:
        b = self.board
        return b"".join(b.pdos.pack(ch) for ch in self._tx)

    def sample(self) -> bytes:
        """SAFE-OP: fresh measurements, no step of the law."""
        b = self.board
        with b._lock:
            b._meas = b._sample()
            return self.inputs()

    def cycle(self, outputs: bytes, now: float | None = None, fresh: bool = True, sync0_event: int | None = None) -> bytes:
        """One step of the law on ``outputs``; ``fresh``: they came in a frame since the last step
        (a SYNC0 step on the previous outputs does not refresh the command watchdog);
        ``sync0_event``: the SYNC0 event (system time) this step runs at, counted with the step."""
        b = self.board
        now = b.clock() if now is None else now
        with b._lock:
            if sync0_event is not None:
                self.sync0_events += 1
                self.sync0_last = sync0_event
            pos = 0
            for ch in self._rx:
                b.pdos.unpack(ch, outputs[pos : pos + ch.length])
                pos += ch.length
            if fresh:
                b._watch_t = now
                if b._comm_lost:
                    b._comm_lost = False
                    b.clear_error(0x8100)
            b._cycle(now, sampled=True)
            b._meas = b._sample()  # the next cycle starts from this state
            return self.inputs()

    def set_al_state(self, state: int) -> None:
        """The ESC's AL state changed (OP in and out drive the board's operational flag)."""
        before, self.al_state = self.al_state, state
        if state == AL_OP and before != AL_OP:
            self.enter_op()
        elif before == AL_OP and state != AL_OP:
            self.leave_op()
        if state == AL_INIT:
            self.coe.reset()
            self.foe.reset()
            if before == AL_BOOT and self.board.program.reset_requested:  # a good image: its test boot
                with self.board._lock:
                    self._hardware_reset()

    # ------------------------------------------------------------------ distributed clocks: SYNC0
    def set_sync0(self, active: bool, start_ns: int, cycle_ns: int, system_offset_ns: int) -> None:
        """The ESC's SYNC0 unit: events at system times ``start_ns + k * cycle_ns``; system time =
        host monotonic ns + ``system_offset_ns``. While active the law steps at SYNC0 events."""
        self.sync0_active = bool(active and cycle_ns > 0)
        self.sync0_start, self.sync0_cycle, self.system_offset = int(start_ns), int(cycle_ns), int(system_offset_ns)
        self._sync0_next = self.sync0_start

    def next_sync0_monotonic_ns(self) -> int | None:
        """Host monotonic time of the next SYNC0 event (None: SYNC0 off)."""
        return self._sync0_next - self.system_offset if self.sync0_active else None

    def take_sync0(self, now_ns: int) -> int | None:
        """The system time of the newest SYNC0 event due at ``now_ns`` (host monotonic) that has not
        run yet; events missed meanwhile are counted in ``sync0_missed``. None: none due."""
        if not self.sync0_active:
            return None
        sys_now = now_ns + self.system_offset
        if sys_now < self._sync0_next:
            return None
        k = (sys_now - self._sync0_next) // self.sync0_cycle
        event = self._sync0_next + k * self.sync0_cycle
        self.sync0_missed += k
        self._sync0_next = event + self.sync0_cycle
        return event

    def mailbox(self, request: bytes) -> list[bytes]:
        """Replies to one complete mailbox request (see module doc)."""
        kind = request[5] & 0x0F if len(request) >= 6 else -1
        if kind == MBX_TYPE_FOE:
            return self.foe.handle(request, self.al_state)
        if kind == MBX_TYPE_COE and self.al_state == AL_BOOT:
            return self.coe.mailbox_error(0x0002)  # BOOT serves the bootstrap protocol (FoE) only
        return self.coe.handle(request)

    def emergency_frames(self) -> list[bytes]:
        """The board's EMCY messages since the last call, as CoE emergency mailboxes."""
        return [self.coe.emergency(p) for p in self.take_emergencies()]

    def status(self) -> dict[str, Any]:
        b = self.board
        with b._lock:  # one step's counters together (a step runs under the same lock)
            return self._status()

    def _status(self) -> dict[str, Any]:
        b = self.board
        return {"drive_state": b.state, "power": bool(b.out["power_enabled"]),
                "position": int(b.store.get(0x6064, 0)) if 0x6064 in b.table.objects else None,
                "statusword": int(b.store.get(0x6041, 0)), "cycles": int(b.cycles), "coe_errors": self.coe.errors,
                "crashes": len(b.crashes),
                "sync0": {"active": self.sync0_active, "start": self.sync0_start, "cycle_ns": self.sync0_cycle,
                          "system_offset_ns": self.system_offset, "events": self.sync0_events,
                          "missed": self.sync0_missed, "last": self.sync0_last},
                "firmware": {**self.firmware.status(), "name": self.foe.name, "writes": self.foe.writes,
                             "last_error": self.foe.last_error, "last_error_text": self.foe.last_error_text}}

    def enter_op(self) -> None:
        b = self.board
        with b._lock:
            b.nmt_state = NMT_OPERATIONAL
            b._entered_operational()

    def leave_op(self) -> None:
        b = self.board
        with b._lock:
            if b.nmt_state == NMT_OPERATIONAL:
                b.nmt_state = NMT_PRE_OPERATIONAL
                b._left_operational()

    def service(self) -> None:
        """Timers and the connection-loss reaction on the board's own clock (no frame needed)."""
        self.board.poll(0)

    def take_emergencies(self) -> list[bytes]:
        """EMCY payloads (error code, error register, 5 bytes) since the last call."""
        bus = self.board.bus
        if not isinstance(bus, NoCan) or not bus.emcy:
            return []
        out, bus.emcy = bus.emcy, []
        return out

    @property
    def power_enabled(self) -> bool:
        return bool(self.board.out["power_enabled"])


def make_app(board_type: str = "joint", node: int = 1, preset: str | None = None,
             storage_path: str | os.PathLike | None = None, image_key: str | os.PathLike | None = None,
             slot_size: int | None = None) -> BoardApp:
    """A slave application: the board of ``board_type`` with its plant (as ``cbl emulate`` builds it);
    ``storage_path``: the board's parameter file (0x1010), its image slots beside it (``.slots``;
    None: both in memory); ``image_key``: the Ed25519 public key its bootloader trusts (None: it
    refuses every image), as for a CAN board; ``slot_size``: bytes of each image slot (None: the
    firmware layout's)."""
    from cerebellum_rt.hil_tests.emulator import make_board
    from cerebellum_rt.hil_tests.rig import BoardSpec

    # the Python board, whatever the rigs' default: BoardApp drives the board's object store, PDO
    # tables and law directly (store / pdos / out), which the C image (FirmwareBoard) does not expose
    # as objects; the C image has no EtherCAT application interface yet
    return BoardApp(make_board(BoardSpec(node, board_type, preset, firmware="python"), NoCan(), threaded=False,
                               storage_path=storage_path, image_key=image_key, slot_size=slot_size))


