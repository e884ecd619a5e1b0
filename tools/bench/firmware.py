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
its six actuators' tendon laws, ``cbl_hand_tick_isr``); ``host_speedup`` = SYNC cycles per CPU second of the C image behind FirmwareBoard
over those of the Python board (JointBoard; hand: HandBoard, its RPDOs carrying the controlword
and the tension targets), measured in this run on the same in-process bus
(python-can Messages in and out, no plant; thread CPU time, best of three alternating runs each),
and ``host_speedup_with_plant`` with a JointModule behind each board (the plant's simulation then
dominates both). ``host_bus_floor_us`` = the CPU time per cycle of a board that only receives the
cycle's Messages and sends as many as the C board answered (python-can's share, paid by both
boards), and ``host_speedup_above_bus_floor`` the same ratio with that floor taken off both.
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
    """An in-process bus of two queues (no threads): the cheapest transport, so the boards' own
    costs dominate the throughput figure."""

    def __init__(self, rx: collections.deque, tx: collections.deque) -> None:
        super().__init__(channel="queue")
        self._rx, self._tx = rx, tx

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self._tx.append(msg)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        return (self._rx.popleft() if self._rx else None), False


class _BusOnlyBoard:
    """The cost floor of the throughput figure: a board that does nothing but what every board
    on a python-can bus must do per cycle (receive each Message, send as many Messages as the C
    board answered, ``replies``), so that the bus's own share of both boards' time is shown. It
    reads the bus as the C board does (``raw_receiver``: python-can's ``recv`` less its per-frame
    clock reads and log line, where the bus allows), so the floor stays below the C board."""

    def __init__(self, bus: can.BusABC, replies: int) -> None:
        self.bus, self.state = bus, "operation_enabled"
        self._out = [bytearray(8) for _ in range(replies)]

    def poll(self) -> None:
        from cerebellum_rt.drivers.board.cfirmware import raw_receiver

        raw = raw_receiver(self.bus)
        if raw is None:
            while self.bus.recv(timeout=0.0) is not None:
                pass
        else:
            while raw(0.0)[0] is not None:
                pass
        for data in self._out:
            self.bus.send(can.Message(arbitration_id=0x181, data=bytearray(data), is_extended_id=False))

    def close(self) -> None:
        pass


def _cycles_per_s(kind: str, n: int, with_plant: bool, replies: int = 0,
                  board_type: str = "joint") -> tuple[float, str, int]:
    """SYNC cycles per CPU second of this thread (a shared machine preempts it: CPU time, not
    wall time, is the board's cost), the board's CiA 402 state after them and the frames it sent
    in the last cycle. ``kind``: 'python', 'c' or 'bus' (:class:`_BusOnlyBoard` with ``replies``);
    ``board_type`` 'hand': the hand boards (HandBoard, FirmwareBoard's hand image; no plant), its
    RPDOs carrying the controlword and six tension targets."""
    from cerebellum_rt.drivers.board import HandBoard, JointBoard
    from cerebellum_rt.drivers.board.cfirmware import FirmwareBoard

    module = None
    if with_plant:
        from cerebellum_rt.actuators.joint import JointModule, load_preset

        module = JointModule(load_preset("knee"), seed=1)
    to_board, from_board = collections.deque(), collections.deque()
    bus = _QueueBus(to_board, from_board)
    t = [1.000003]
    board: Any
    if kind == "bus":
        board = _BusOnlyBoard(bus, replies)
    elif board_type == "hand":
        board = (HandBoard(1, bus, None, threaded=False, clock=lambda: t[0]) if kind == "python" else
                 FirmwareBoard(1, bus, None, threaded=False, clock=lambda: t[0], board="hand"))
    else:
        cls = JointBoard if kind == "python" else FirmwareBoard
        board = cls(1, bus, module, threaded=False, clock=lambda: t[0])

    def msg(cob: int, data: bytes) -> can.Message:
        return can.Message(arbitration_id=cob, data=data, is_extended_id=False)

    # the frames of every cycle made once: the loop below costs the harness as little as it can,
    # so that the figure is the boards' own (both boards only read the Messages they receive)
    sync, rpdo2 = msg(0x80, b""), msg(0x301, bytes(8) if board_type == "joint" else bytes(6))
    rpdo1 = "<HbI" if board_type == "joint" else "<Hhhh"  # CSP target / tensions 1-3 (0.01 N)
    args = (8, 0) if board_type == "joint" else (500, 500, 500)
    cycles = [(msg(0x201, struct.pack(rpdo1, cw, *args)), rpdo2, sync) for cw in (0x06, 0x07, 0x0F)]
    to_board.append(msg(0, b"\x01\x00"))
    board.poll()
    poll, extend, clear = board.poll, to_board.extend, from_board.clear
    sent = 0
    for k in range(n + 3):
        if k == 3:
            start = time.thread_time()
        extend(cycles[min(k, 2)])
        t[0] += 0.001001
        poll()
        sent = len(from_board)
        clear()
    rate = n / (time.thread_time() - start)
    state = board.state
    board.close()
    bus.shutdown()
    return rate, state, sent


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
    rates: dict[Any, float] = {}
    replies = 0
    for plant in (False, True):
        for _ in range(3):  # alternate the boards, keep each one's best run (a shared machine is noisy)
            for kind in ("python", "c", "bus") if not plant else ("python", "c"):
                rate, state, sent = _cycles_per_s(kind, args.cycles, plant, replies)
                if state != "operation_enabled":
                    raise RuntimeError(f"bench firmware: the {kind} board ended in {state}, not operation_enabled")
                rates[(kind, plant)] = max(rates.get((kind, plant), 0.0), rate)
                if kind == "c":
                    replies = sent
    hand_rates: dict[str, float] = {}
    for _ in range(3):
        for kind in ("python", "c"):
            rate, state, _sent = _cycles_per_s(kind, args.cycles, False, board_type="hand")
            if state != "operation_enabled":
                raise RuntimeError(f"bench firmware: the {kind} hand board ended in {state}, not operation_enabled")
            hand_rates[kind] = max(hand_rates.get(kind, 0.0), rate)
    floor_us = 1e6 / rates[("bus", False)]
    us = {k: 1e6 / rates[(k, False)] for k in ("python", "c")}
    joint = {
        "flash_bytes": image["flash_bytes"], "ram_bytes": image["ram_bytes"], "budgets": image["budgets"],
        "stack_worst_bytes": image["stack_worst_bytes"], "stack_used_bytes": selftest["stack_used_bytes"],
        "tick_insns": selftest["tick_insns"], "sync_insns": selftest["sync_insns"],
        "foc_insns": selftest["foc_insns"], "control_insns": selftest["control_insns"],
        "host_cycles_per_s": {"python": round(rates[("python", False)]), "c": round(rates[("c", False)])},
        "host_speedup": round(rates[("c", False)] / rates[("python", False)], 2),
        "host_speedup_with_plant": round(rates[("c", True)] / rates[("python", True)], 2),
        "host_bus_floor_us": round(floor_us, 2),
        "host_speedup_above_bus_floor": round((us["python"] - floor_us) / max(us["c"] - floor_us, 1e-3), 2),
    }
    hand = {"flash_bytes": images["hand"]["flash_bytes"], "ram_bytes": images["hand"]["ram_bytes"],
            "budgets": images["hand"]["budgets"], "stack_worst_bytes": images["hand"]["stack_worst_bytes"],
            "stack_used_bytes": tests["hand"]["stack_used_bytes"], "tick_insns": tests["hand"]["tick_insns"],
            "sync_insns": tests["hand"]["sync_insns"], "control_insns": tests["hand"]["control_insns"],
            "host_cycles_per_s": {k: round(v) for k, v in hand_rates.items()},
            "host_speedup": round(hand_rates["c"] / hand_rates["python"], 2)}
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
          f"above the python-can floor of {joint['host_bus_floor_us']} us/cycle: "
          f"{joint['host_speedup_above_bus_floor']}x)")
    print(f"hand image (Cortex-M4F): flash {hand['flash_bytes']} / {b['flash_bytes']} B, RAM {hand['ram_bytes']} / "
          f"{b['ram_bytes']} B; one 1 kHz cycle: {hand['tick_insns']} instructions, control tick "
          f"{hand['control_insns']}; host: {hand['host_cycles_per_s']['c']} cycles/s C image vs "
          f"{hand['host_cycles_per_s']['python']} Python board = {hand['host_speedup']}x")
    return 0
