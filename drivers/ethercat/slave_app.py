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
* ``enter_op`` / ``leave_op``: the board's NMT operational flag follows AL OP; leaving OP with
  the power stage on is a connection loss (0x6007 reaction: quick stop, then disabled), run by
  ``service`` on the board's own clock while no frame comes.
"""

from __future__ import annotations

import struct
from typing import Any

import can

from cerebellum_rt.drivers.board.node import NMT_OPERATIONAL, NMT_PRE_OPERATIONAL
from cerebellum_rt.drivers.board.store import ABORT_NO_SUBINDEX, ABORT_READ_ONLY, SdoAbort
from cerebellum_rt.drivers.ethercat.layout import SlaveLayout, slave_layout


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
        with self.board._lock:
            self.board.store.write(index, sub, data)

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

    def cycle(self, outputs: bytes, now: float | None = None) -> bytes:
        b = self.board
        now = b.clock() if now is None else now
        with b._lock:
            pos = 0
            for ch in self._rx:
                b.pdos.unpack(ch, outputs[pos : pos + ch.length])
                pos += ch.length
            b._watch_t = now
            if b._comm_lost:
                b._comm_lost = False
                b.clear_error(0x8100)
            b._cycle(now, sampled=True)
            b._meas = b._sample()  # the next cycle starts from this state
            return self.inputs()

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


def make_app(board_type: str = "joint", node: int = 1, preset: str | None = None) -> BoardApp:
    """A slave application: the board of ``board_type`` with its plant (as ``cbl emulate`` builds it)."""
    from cerebellum_rt.hil_tests.emulator import make_board
    from cerebellum_rt.hil_tests.rig import BoardSpec

    return BoardApp(make_board(BoardSpec(node, board_type, preset), NoCan(), threaded=False))


