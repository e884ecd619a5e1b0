"""An emulated joint for ``cbl tune --emulate``: one preset joint module behind a CANopen board (the
board's C image, :data:`TUNE_FIRMWARE`; ``firmware="python"`` for the specification) on an in-process
``virtual`` bus, with a flash file so that ``save`` survives :meth:`power_cycle`.

The board is threaded and answers each SYNC at once; the host waits for every reply (lockstep).
The board's own clock (its timers: communication watchdog 0x2031, heartbeats, SDO timeouts) is
:attr:`EmulatedJoint.clock`, a :class:`~cerebellum_rt.rtcore.clock.LockstepClock` that the
host's experiment loop advances one period per tick: a host stalled by a busy machine is not a
lost connection in virtual time, and the same commands give the same results run to run.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import can

TUNE_FIRMWARE = "c"  # the rigs' default: the board's C image ("python": the specification)


def board_value(board: Any, index: int, sub: int = 0) -> int | float | str | bytes:
    """Object (index, sub) of an emulated board as its firmware holds it (decoded), whichever
    firmware it runs: what a test reads behind the bus's back."""
    if hasattr(board, "store"):  # the Python board
        return board.store.get(index, sub)
    from cerebellum_rt.drivers.board.store import decode

    raw = board.od_read(index, sub)
    if isinstance(raw, int):
        raise KeyError(f"0x{index:04X}sub{sub}: SDO abort 0x{raw:08X}")
    return decode(board.table.entry(index, sub), raw)


class EmulatedJoint:
    """Board ``node`` with the ``preset`` module on virtual channel ``channel`` (a context manager)."""

    def __init__(self, preset: str = "knee", node: int = 1, flash: str | os.PathLike | None = None,
                 channel: str | None = None, seed: int = 0, firmware: str = TUNE_FIRMWARE) -> None:
        from cerebellum_rt.drivers.can import open_bus

        self.preset, self.node, self.seed = preset, int(node), seed
        self.firmware = firmware
        self.channel = channel or f"cbl-tune-{os.getpid()}-{id(self)}"
        self._tmp = None
        if flash is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cbl-tune-flash-")
            flash = Path(self._tmp.name) / f"node{node}.json"
        self.flash = Path(flash)
        self._open = lambda: open_bus("virtual", self.channel)
        self.board_bus: can.BusABC = self._open()
        self._host_buses: list[can.BusABC] = []
        self.board: Any = None
        self.power_cycles = 0
        from cerebellum_rt.rtcore.clock import LockstepClock

        self.clock = LockstepClock()
        self._power_on()

    def _power_on(self) -> None:
        from cerebellum_rt.actuators.joint import JointModule, load_preset
        from cerebellum_rt.hil_tests.emulator import make_board
        from cerebellum_rt.hil_tests.rig import BoardSpec

        module = JointModule(load_preset(self.preset), seed=self.seed)
        self.board = make_board(BoardSpec(self.node, "joint", self.preset, self.firmware), self.board_bus,
                                storage_path=self.flash, module=module, clock=lambda: self.clock.now_ns() * 1e-9)

    def power_cycle(self) -> None:
        """Power off (RAM, the module's state and the CiA 402 state are lost) and on again: the
        board boots from its flash file into NMT pre-operational."""
        self.board.close()
        self.power_cycles += 1
        self._power_on()

    def host_bus(self) -> can.BusABC:
        bus = self._open()
        self._host_buses.append(bus)
        return bus

    def close(self) -> None:
        if self.board is not None:
            self.board.close()
            self.board = None
        for bus in (*self._host_buses, self.board_bus):
            bus.shutdown()
        self._host_buses = []
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> EmulatedJoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
