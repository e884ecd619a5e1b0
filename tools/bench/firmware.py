"""`cbl bench firmware`: the board image's size, instructions per cycle, and host throughput.

Per board type (keys under ``boards`` -> name; joint and hand): ``flash_bytes`` and ``ram_bytes`` of the
Cortex-M4F image against ``budgets``; ``tick_insns`` = instructions of one 1 kHz cycle (RPDO1 +
RPDO2 + SYNC + timers, in operation enabled, CSP) and ``sync_insns`` (the SYNC alone) of the
image's selftest variant under QEMU ``-icount shift=0``; ``stack_used_bytes`` = its measured
high-water mark; ``foc_insns`` = one call of the image's current-loop interrupt
(``cbl_joint_pwm_isr``: the generated FOC, ``actuators/joint/foc.py``, inside the image) and
``control_insns`` = one call of its control-loop interrupt (``cbl_joint_loop_isr``: the generated
cascade with the CSP interpolation), both averaged over the selftest's 20 kHz / 10 kHz interrupts
in operation enabled under the same ``-icount`` (hand: ``control_insns`` = one control tick of
its six actuators' tendon laws, ``cbl_hand_tick_isr``). Hand: ``host_speedup`` as below with HandBoard and the hand image, their RPDOs carrying the
controlword and six tension targets, no plant.

Host throughput, each board on the path it uses in the rigs (hil_tests.lockstep): the board sits
on an :class:`~cerebellum_rt.drivers.can.emulated.EmulatedBus` endpoint of a timed emulated medium
(1 Mbit/s, virtual clock); every cycle the host endpoint queues RPDO1 (control word), RPDO2
and SYNC on the medium, the clock moves 0.5 ms, the medium is run up to it (``has_rx``, as the
world's ``service`` does before it polls a board), the board's ``poll`` runs, the clock moves
another 0.5 ms and the host takes the replies. What is measured is the thread CPU time of the
``poll`` alone, less the window of a board whose ``poll`` does nothing (measured by the same loop
in the same run: the cost of reading the CPU clock twice); best of five alternating runs per
board (three with the plant):

* the Python board (JointBoard): python-can's ``recv`` on its EmulatedBus builds a ``can.Message``
  per frame, its CANopen stack in Python handles it, each reply is a ``can.Message`` that
  ``EmulatedBus.send`` turns into the medium's record and queues;
* the C image (FirmwareBoard, its default path on an emulated bus): one ``Medium.take`` of the
  delivered records (id, flags, data), each packed into the image's ``cbl_frame_t`` batch, one
  cffi call (frames then timers), the replies read out of the image's queue as records and
  queued with one ``Medium.submit_many``; no ``can.Message`` anywhere.

The medium's model (arbitration, exact wire time, delivery) runs outside the window for both:
it costs the same whatever board sends the frames. ``host_speedup`` = the C image's cycles per
CPU second over the Python board's; ``host_speedup_with_plant`` the same with a JointModule
behind each board (the plant's simulation then dominates both); ``host_cycle_us`` = the CPU time
of a whole cycle (host side, medium model and board) per board. ``host_bus_floor_us`` = the
window of a board that does nothing but the python-can I/O of the Python board's path (``recv``
every frame, send as many Messages as the C board answered), ``host_batch_floor_us`` the same on
the C board's record path (take, queue as many prepared records), and
``host_speedup_above_bus_floor`` = (Python board - bus floor) / (C image - batch floor).
``host_speedup_python_can`` = the ratio with both boards on a python-can bus of two in-process
queues (python-can Messages in and out for both; the C board reads them as its
:func:`~cerebellum_rt.drivers.board.cfirmware.raw_receiver` path does), the figure before the
record path existed.
"""

from __future__ import annotations

import argparse
import collections
import json
import struct
import time
from typing import Any

import can


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cycles", type=int, default=3000, help="SYNC cycles per host throughput run (default 3000)")
    p.add_argument("-o", "--out", default="build/bench-firmware", help="work directory")


class _QueueBus(can.BusABC):
    """An in-process bus of two queues (no threads): the cheapest python-can transport."""

    def __init__(self, rx: collections.deque, tx: collections.deque) -> None:
        super().__init__(channel="queue")
        self._rx, self._tx = rx, tx

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self._tx.append(msg)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return (self._rx.popleft() if self._rx else None), False


class _BusOnlyBoard:
    """A floor of the throughput figure: a board that does nothing but the I/O of a path (module
    doc): ``records`` False: python-can's ``recv`` of each frame and ``replies`` Messages sent;
    True: one ``Medium.take`` and ``replies`` prepared records queued with ``submit_many``; None:
    nothing at all (what the measuring itself costs a window)."""

    def __init__(self, bus: can.BusABC, replies: int, records: bool | None) -> None:
        from cerebellum_rt.drivers.can.emulated import batch_endpoint

        self.bus, self.state, self.replies = bus, "operation_enabled", replies if records is not None else -1
        self.port = batch_endpoint(bus) if records else None
        self._out = [(0x181 + 0x100 * k, 0, bytes(8)) for k in range(replies)]

    def poll(self) -> None:
        if self.replies < 0:
            return
        if self.port is not None:
            medium, ep = self.port
            medium.take(ep, 64)
            medium.submit_many(ep, list(self._out))
            return
        while self.bus.recv(timeout=0.0) is not None:
            pass
        for cob, _, data in self._out:
            self.bus.send(can.Message(arbitration_id=cob, data=bytearray(data), is_extended_id=False))

    def close(self) -> None:
        pass


def _msg(cob: int, data: bytes) -> can.Message:
    return can.Message(arbitration_id=cob, data=data, is_extended_id=False)


def _cycle_frames(board_type: str = "joint") -> list[tuple[tuple[int, bytes], ...]]:
    """The host's frames of the first three cycles (shutdown, switch on, enable operation), the
    last one repeated: RPDO1 (control word, mode CSP / hand: tensions 1-3 in 0.01 N), RPDO2, SYNC."""
    if board_type == "hand":
        return [((0x201, struct.pack("<Hhhh", cw, 500, 500, 500)), (0x301, bytes(6)), (0x80, b""))
                for cw in (0x06, 0x07, 0x0F)]
    return [((0x201, struct.pack("<HbI", cw, 8, 0)), (0x301, bytes(8)), (0x80, b"")) for cw in (0x06, 0x07, 0x0F)]


def _board(kind: str, bus: can.BusABC, module: Any, clock: Any, replies: int, board_type: str = "joint") -> Any:
    from cerebellum_rt.drivers.board import HandBoard, JointBoard
    from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard

    if kind in ("bus", "batch", "none"):
        return _BusOnlyBoard(bus, replies, records={"bus": False, "batch": True, "none": None}[kind])
    if board_type == "hand":
        if kind == "python":
            return HandBoard(1, bus, None, threaded=False, clock=clock)
        return FirmwareBoard(1, bus, None, threaded=False, clock=clock, board="hand")
    cls = JointBoard if kind == "python" else FirmwareBoard
    return cls(1, bus, module, threaded=False, clock=clock)


def _plant(with_plant: bool) -> Any:
    if not with_plant:
        return None
    from cerebellum_rt.actuators.joint import JointModule, load_preset

    return JointModule(load_preset("knee"), seed=1)


def _rig_cycle(kind: str, n: int, with_plant: bool, replies: int, timer: float,
               board_type: str = "joint") -> tuple[float, float, str, int]:
    """Board CPU seconds per cycle on the rig path (module doc; less ``timer``, the window of a
    board that does nothing), whole cycle CPU seconds, the board's CiA 402 state after the run and
    the frames it sent in the last cycle. ``kind``: 'python', 'c', or 'bus', 'batch', 'none'
    (:class:`_BusOnlyBoard` with ``replies``)."""
    from cerebellum_rt.drivers.can.emulated import EmulatedBus, Medium
    from cerebellum_rt.hil_tests.lockstep import VirtualClock

    clock = VirtualClock()
    clock.ns = 1_000_003_000
    medium = Medium("bench-firmware", 1_000_000, clock=clock)
    host = medium.attach("host")
    bus = EmulatedBus(medium_=medium, name="node1")
    board = _board(kind, bus, _plant(with_plant), clock, replies, board_type)
    cycles = [tuple((cob, 0, data) for cob, data in c) for c in _cycle_frames(board_type)]
    submit, has_rx, take, ep, tm = medium.submit, medium.has_rx, medium.take, bus.endpoint, time.thread_time
    submit(host, (0, 0, b"\x01\x00"))  # NMT start
    clock.ns += 500_000
    has_rx(ep)
    board.poll()
    poll, window, sent, start = board.poll, 0.0, 0, 0.0
    for k in range(n + 3):
        if k == 3:
            window, start = 0.0, tm()
        for f in cycles[min(k, 2)]:
            submit(host, f)
        clock.ns += 500_000
        has_rx(ep)
        a = tm()
        poll()
        window += tm() - a
        clock.ns += 501_000
        sent = len(take(host, 64))
    whole = (tm() - start) / n
    state = board.state
    board.close()
    bus.shutdown()
    return window / n - timer, whole, state, sent


def _queue_cycle(kind: str, n: int) -> float:
    """Board CPU seconds per cycle with both boards on :class:`_QueueBus` (python-can Messages)."""
    to_board, from_board = collections.deque(), collections.deque()
    bus = _QueueBus(to_board, from_board)
    t = [1.000003]
    board = _board(kind, bus, None, lambda: t[0], 0)
    cycles = [tuple(_msg(cob, data) for cob, data in c) for c in _cycle_frames()]
    to_board.append(_msg(0, b"\x01\x00"))
    board.poll()
    poll, extend, clear = board.poll, to_board.extend, from_board.clear
    for k in range(n + 3):
        if k == 3:
            start = time.thread_time()
        extend(cycles[min(k, 2)])
        t[0] += 0.001001
        poll()
        clear()
    per = (time.thread_time() - start) / n
    if board.state != "operation_enabled":
        raise RuntimeError(f"bench firmware: the {kind} board ended in {board.state} on the queue bus")
    board.close()
    bus.shutdown()
    return per


def host_figures(cycles: int) -> dict[str, Any]:
    """The host throughput keys of the joint board (module doc)."""
    # what a window costs by itself: the same loop around a board that does nothing
    timer = min(_rig_cycle("none", cycles, False, 0, 0.0)[0] for _ in range(3))
    board_s: dict[Any, float] = {}
    whole_s: dict[str, float] = {}
    replies = 0
    for plant in (False, True):
        for _ in range(5 if not plant else 3):  # alternate the boards, keep each one's best run (a shared machine is noisy)
            for kind in ("python", "c", "bus", "batch") if not plant else ("python", "c"):
                per, whole, state, sent = _rig_cycle(kind, cycles, plant, replies, timer)
                if state != "operation_enabled":
                    raise RuntimeError(f"bench firmware: the {kind} board ended in {state}, not operation_enabled")
                board_s[(kind, plant)] = min(board_s.get((kind, plant), 1.0), per)
                if not plant and kind in ("python", "c"):
                    whole_s[kind] = min(whole_s.get(kind, 1.0), whole)
                if kind == "c" and not plant:
                    replies = sent
    queue = {k: min(_queue_cycle(k, cycles) for _ in range(3)) for k in ("python", "c")}
    us = {k: board_s[(k, False)] * 1e6 for k in ("python", "c", "bus", "batch")}
    return {
        "host_cycles_per_s": {k: round(1e6 / us[k]) for k in ("python", "c")},
        "host_speedup": round(us["python"] / us["c"], 2),
        "host_speedup_with_plant": round(board_s[("python", True)] / board_s[("c", True)], 2),
        "host_cycle_us": {k: round(v * 1e6, 2) for k, v in whole_s.items()},
        "host_bus_floor_us": round(us["bus"], 2),
        "host_batch_floor_us": round(us["batch"], 2),
        "host_speedup_above_bus_floor": round((us["python"] - us["bus"]) / max(us["c"] - us["batch"], 1e-3), 2),
        "host_speedup_python_can": round(queue["python"] / queue["c"], 2),
        "host_replies_per_cycle": replies,
    }


def hand_host_figures(cycles: int) -> dict[str, Any]:
    """The hand board's host throughput on the rig path (module doc; no plant)."""
    timer = min(_rig_cycle("none", cycles, False, 0, 0.0, "hand")[0] for _ in range(3))
    board_s: dict[str, float] = {}
    for _ in range(5):
        for kind in ("python", "c"):
            per, _whole, state, _sent = _rig_cycle(kind, cycles, False, 0, timer, "hand")
            if state != "operation_enabled":
                raise RuntimeError(f"bench firmware: the {kind} hand board ended in {state}, not operation_enabled")
            board_s[kind] = min(board_s.get(kind, 1.0), per)
    return {"host_cycles_per_s": {k: round(1.0 / v) for k, v in board_s.items()},
            "host_speedup": round(board_s["python"] / board_s["c"], 2)}


def run(args: argparse.Namespace) -> int:
    from cerebellum_rt.drivers.firmware.image import build_image, run_selftest
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--cycles", args.cycles, 100, 1_000_000)
    images = {b: build_image(b, "cortex-m4f", f"{args.out}/image-{b}") for b in ("joint", "hand")}
    tests = {b: run_selftest(build_image(b, "cortex-m4f", f"{args.out}/selftest-{b}", selftest=True)["elf"])
             for b in ("joint", "hand")}
    for b, t in tests.items():
        if t["cia402_state"] != 4:
            raise RuntimeError(f"bench firmware: the {b} selftest image ended in CiA 402 state {t['cia402_state']}")
    if tests["joint"].get("power_on") != 1:  # the interrupts were timed with the power stage on
        raise RuntimeError(f"bench firmware: the joint selftest's cascade ended with the power stage off "
                           f"({tests['joint'].get('power_on')})")
    image, selftest = images["joint"], tests["joint"]
    joint = {
        "flash_bytes": image["flash_bytes"], "ram_bytes": image["ram_bytes"], "budgets": image["budgets"],
        "stack_worst_bytes": image["stack_worst_bytes"], "stack_used_bytes": selftest["stack_used_bytes"],
        "tick_insns": selftest["tick_insns"], "sync_insns": selftest["sync_insns"],
        "foc_insns": selftest["foc_insns"], "control_insns": selftest["control_insns"],
        **host_figures(args.cycles),
    }
    hand = {"flash_bytes": images["hand"]["flash_bytes"], "ram_bytes": images["hand"]["ram_bytes"],
            "budgets": images["hand"]["budgets"], "stack_worst_bytes": images["hand"]["stack_worst_bytes"],
            "stack_used_bytes": tests["hand"]["stack_used_bytes"], "tick_insns": tests["hand"]["tick_insns"],
            "sync_insns": tests["hand"]["sync_insns"], "control_insns": tests["hand"]["control_insns"],
            **hand_host_figures(args.cycles)}
    res = {"boards": {"joint": joint, "hand": hand},
           "not_measured": {"hand": "foc_insns (the hand's motors' current loops are in HandSim's plant)"}}
    if args.json:
        print(json.dumps(res))
        return 0
    b = joint["budgets"]
    print(f"joint image (Cortex-M4F): flash {joint['flash_bytes']} / {b['flash_bytes']} B, "
          f"RAM {joint['ram_bytes']} / {b['ram_bytes']} B (stack used {joint['stack_used_bytes']} B)")
    print(f"  one 1 kHz cycle: {joint['tick_insns']} instructions (SYNC alone {joint['sync_insns']}); "
          f"current-loop interrupt (FOC) {joint['foc_insns']}, control-loop interrupt (cascade) "
          f"{joint['control_insns']} instructions")
    print(f"  host: {joint['host_cycles_per_s']['c']} cycles/s C image vs {joint['host_cycles_per_s']['python']} "
          f"Python board = {joint['host_speedup']}x (with the plant: {joint['host_speedup_with_plant']}x; "
          f"above the floors ({joint['host_bus_floor_us']} us python-can, {joint['host_batch_floor_us']} us records): "
          f"{joint['host_speedup_above_bus_floor']}x; both on python-can Messages: {joint['host_speedup_python_can']}x)")
    print(f"hand image (Cortex-M4F): flash {hand['flash_bytes']} / {b['flash_bytes']} B, RAM {hand['ram_bytes']} / "
          f"{b['ram_bytes']} B; one 1 kHz cycle: {hand['tick_insns']} instructions, control tick "
          f"{hand['control_insns']}; host: {hand['host_cycles_per_s']['c']} cycles/s C image vs "
          f"{hand['host_cycles_per_s']['python']} Python board = {hand['host_speedup']}x")
    return 0
