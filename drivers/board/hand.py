"""The emulated CANopen tendon-hand board: six roller-screw tendon actuators behind one node.

The object dictionary is :mod:`cerebellum_rt.drivers.od_hand`; the plant and its firmware laws are
``cerebellum_rt.actuators.hand.HandSim`` (stepped ``0x1006 × loop_hz`` ticks per SYNC; the communication cycle
must be a whole number of the hand's control ticks). The cycle, the CiA 402 state machine (one
for the whole hand), faults and connection monitoring are :class:`DriveBoard`'s.

Per axis k, in operation enabled with 0x6060 = -1, the axis mode 0x2100:k selects the target:
0 current 0x2105 (mA), 1 screw position 0x2101 (µm, clamped to the screw stroke), 2 tension
0x2102 (0.01 N, clamped to 0x2120:k), 3 grasp pad force 0x2103 (0.01 N, clamped to 0x2120:k).
Stop ramps (quick stop, halt, fault reaction 1-3) hold every nut where it is (screw-position
mode at the position sampled when the stop began) until standstill; so does no mode (0x6061 =
0) in operation enabled (CiA 402 "no mode": no target is followed, the hand holds); with the power stage off
every axis runs in current mode with 0 A (the screws are back-drivable, the tendons go slack).
Without a plant (``hand=None``) the measurements are held at zero.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import can
import numpy as np

from cerebellum_rt.drivers.board.drive import DriveBoard, clip_int
from cerebellum_rt.drivers.board.flashing import FlashOptions
from cerebellum_rt.drivers.od import Table, build_table
from cerebellum_rt.drivers.od_hand import CURRENT_MA_PER_A, N_AXES, SCREW_UM_PER_M, TENSION_PER_N
from cerebellum_rt.rtcore.errors import ConfigError

_I32 = (-(2**31), 2**31 - 1)
_I16 = (-(2**15), 2**15 - 1)
M_CURRENT, M_POSITION, M_TENSION, M_GRASP = 0, 1, 2, 3


class HandBoard(DriveBoard):
    """Emulated hand board (see module doc). ``hand``: an ``cerebellum_rt.actuators.hand.HandSim`` with 6 actuators."""

    modes = (0, -1)

    def __init__(self, node_id: int, bus: can.BusABC, hand: Any | None = None, *, fd: bool = False,
                 storage_path: str | os.PathLike | None = None, serial_number: int = 0,
                 clock: Callable[[], float] = time.monotonic, threaded: bool = True,
                 table: Table | None = None, firmware: str = "numba", flash: FlashOptions | None = None) -> None:
        self.firmware = firmware
        if hand is not None and hand.p.n_act != N_AXES:
            raise ConfigError(f"hand preset {hand.p.name}: {hand.p.n_act} actuators, the hand board serves {N_AXES}")
        self.hand = hand
        super().__init__(node_id, bus, table or build_table("hand", fd=fd), fd=fd, storage_path=storage_path,
                         serial_number=serial_number, clock=clock, threaded=threaded, flash=flash)

    def _setup_app(self) -> None:
        super()._setup_app()
        self._hold = np.zeros(N_AXES)
        self._holding = False

    def _period_ok(self, period_us: int) -> bool:
        if self.hand is None:
            return True
        n = period_us * 1e-6 * self.hand.loop_hz
        return round(n) >= 1 and abs(n - round(n)) < 1e-9

    def _sample(self) -> dict[str, float]:
        s = self.store
        m: dict[str, float] = {}
        for k in range(N_AXES):
            if self.hand is None:
                x = v = i = t = f = 0.0
            else:
                h = self.hand
                x, v, i = (float(h.xs[k, 0]), float(h.xs[k, 1]), float(h.xs[k, 2]))
                t = float(h.tens[k, 0])
                f = float(h.finger_forces()[int(h.p.finger_of_tendon[k])])
            s.set(0x2110, k + 1, clip_int(x * SCREW_UM_PER_M, *_I32))
            s.set(0x2111, k + 1, clip_int(t * TENSION_PER_N, *_I16))
            s.set(0x2112, k + 1, clip_int(i * CURRENT_MA_PER_A, *_I16))
            s.set(0x2113, k + 1, clip_int(f * TENSION_PER_N, *_I16))
            m[f"x{k}"], m[f"v{k}"] = x, v
        return m

    def _standstill(self) -> bool:
        thr = int(self.store.get(0x2030, 0)) / SCREW_UM_PER_M
        return all(abs(self._meas[f"v{k}"]) < thr for k in range(N_AXES))

    def _command_plant(self) -> None:
        if self.hand is None:
            return
        s, out, h = self.store, self.out, self.hand
        enable = bool(out["power_enabled"])
        ramp = int(out["stop_ramp"])
        lo, hi = float(h.stroke[0]), float(h.stroke[1])
        hold = enable and (ramp != 0 or (out["follow_targets"] and int(s.get(0x6061, 0)) != -1))
        if hold and not self._holding:
            self._hold[:] = [self._meas[f"x{k}"] for k in range(N_AXES)]
        self._holding = hold
        for k in range(N_AXES):
            sub = k + 1
            t_max = int(s.get(0x2120, sub)) / TENSION_PER_N
            mode, i_cmd = M_CURRENT, 0.0
            if hold:
                mode = M_POSITION
                h.x_cmd[k] = self._hold[k]
            elif enable and out["follow_targets"] and int(s.get(0x6061, 0)) == -1:
                mode = int(s.get(0x2100, sub))
                if mode == M_CURRENT:
                    i_cmd = int(s.get(0x2105, sub)) / CURRENT_MA_PER_A
                elif mode == M_POSITION:
                    h.x_cmd[k] = min(max(int(s.get(0x2101, sub)) / SCREW_UM_PER_M, lo), hi)
                elif mode == M_TENSION:
                    h.t_cmd[k] = min(max(int(s.get(0x2102, sub)) / TENSION_PER_N, 0.0), t_max)
                elif mode == M_GRASP:
                    h.f_ref[k] = min(max(int(s.get(0x2103, sub)) / TENSION_PER_N, 0.0), t_max)
            h.mode[k] = mode
            h.i_cmd[k] = i_cmd
        h.run(max(1, round(self.period_s * h.loop_hz)))  # 0x1006 writes are checked by _period_ok
