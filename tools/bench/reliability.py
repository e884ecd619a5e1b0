"""`cbl bench reliability`: the device and the codecs under hostile input (issue 11 figures).

* ``frames_fuzzed`` / ``crashes`` / ``out_of_limit_accepted``: random frames into an emulated
  joint board (knee module) through its public bus path: the board's python-can bus
  (:class:`FeedBus`, which hands it prepared batches) read by ``poll()`` as on any bus, 64
  frames per millisecond of virtual time, biased towards its own COB-IDs (SDO
  requests, RPDOs, SYNC, NMT start/pre-operational) plus uniformly random 11-bit ids; after every
  chunk every writable object must hold a value inside its limits (and allowed values). Then the
  same number of random frames into each codec: the SLCAN line decoder (valid-looking and
  garbage lines; every decoded frame must have a legal id/length and survive encode-decode
  unchanged) and the PDO reply router (``codec.unpack_tick``; every frame must be counted once).
  ``crashes`` counts exceptions escaping a codec plus exceptions the board caught in itself.
* ``store_kills`` / ``store_lost``: a forked child saves parameter sets (0x1010) into a flash
  file in a tight loop and is killed with SIGKILL at a random moment; the file must then load
  and hold the last set the child acknowledged, or the one it was writing.
* ``loss_reaction_ms_max``: in lockstep (virtual time, 0.25 ms steps), a drive enabled over SDO
  in pre-operational, over SDO in operational before any SYNC, and over RPDO + SYNC, then left
  without commands: the time from the last command to EMCY 0x8100, minus nothing (the target is
  ``watchdog_ms + 2``).

Targets: 0 crashes, 0 out_of_limit_accepted, 0 store_lost, loss_reaction_ms_max <= watchdog_ms + 2.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_FRAMES = 1_000_000
CHUNK = 20_000
NODE = 5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames into the device and into each codec")
    p.add_argument("--kills", type=int, default=50, help="kill -9 trials of a parameter store")
    p.add_argument("--seed", type=int, default=1, help="random seed")


# ------------------------------------------------------------------ device fuzz
def _feed_bus_class() -> type:
    import can

    class FeedBus(can.BusABC):
        """A python-can bus that hands its reader a prepared batch of frames (one reused
        ``Message``), then None; what the board sends is counted and dropped."""

        def __init__(self) -> None:
            super().__init__(channel="fuzz")
            self.msg = can.Message(is_extended_id=False, check=False)
            self.ids: list[int] = []
            self.lens: list[int] = []
            self.raw = b""
            self.pos = self.end = 0
            self.sent = 0

        def load(self, ids: list[int], lens: list[int], raw: bytes) -> None:
            self.ids, self.lens, self.raw, self.pos, self.end = ids, lens, raw, 0, 0

        def release(self, n: int) -> None:
            """The next ``n`` frames become readable."""
            self.end = min(self.end + n, len(self.ids))

        def _recv_internal(self, timeout: float | None) -> tuple[Any, bool]:
            k = self.pos
            if k >= self.end:
                return None, True
            self.pos = k + 1
            m = self.msg
            m.arbitration_id = self.ids[k]
            m.data = self.raw[8 * k : 8 * k + self.lens[k]]
            m.dlc = self.lens[k]
            return m, True

        def send(self, msg: Any, timeout: float | None = None) -> None:
            self.sent += 1

    return FeedBus


FIRMWARE_MAINTAINED = {(0x1003, 0)}  # writable only to clear it (0); the board counts errors in it


def limit_violations(board: Any) -> list[str]:
    """Writable objects whose value is outside its entry's limits or allowed values."""
    bad = []
    for e in board.table.entries():
        if e.access not in ("rw", "wo") or not e.is_numeric or (e.index, e.subindex) in FIRMWARE_MAINTAINED:
            continue
        v = board.store.get(e.index, e.subindex)
        lo, hi = e.limits
        if (isinstance(v, float) and v != v) or not lo <= v <= hi or (e.values is not None and v not in e.values):
            bad.append(f"0x{e.index:04X}sub{e.subindex} = {v}")
    return bad


def fuzz_device(n_frames: int, seed: int = 1) -> dict[str, Any]:
    """Random frames into one joint board (see module doc); returns the figures."""
    from cerebellum_rt.actuators.joint import JointModule, load_preset
    from cerebellum_rt.drivers.board import JointBoard

    rng = np.random.default_rng(seed)
    t = [0.0]
    bus = _feed_bus_class()()
    board = JointBoard(NODE, bus, JointModule(load_preset("knee"), seed=seed), clock=lambda: t[0], threaded=False)
    own = np.array([0x600 + NODE, 0x200 + NODE, 0x300 + NODE, 0x400 + NODE, 0x080, 0x000, 0x700 + 1], np.int32)
    weights = np.array([0.12, 0.04, 0.04, 0.02, 0.02, 0.002, 0.01])  # the rest: uniformly random 11-bit ids
    keys = [(e.index, e.subindex) for e in board.table.entries()]
    violations: list[str] = []
    done = 0
    try:
        while done < n_frames:
            n = min(CHUNK, n_frames - done)
            pick = rng.choice(len(own) + 1, size=n, p=[*weights, 1.0 - weights.sum()])
            ids = np.where(pick < len(own), own[np.minimum(pick, len(own) - 1)], rng.integers(0, 0x800, n))
            lens = rng.integers(0, 9, n)
            lens[ids == 0x600 + NODE] = 8  # SDO requests are 8 bytes: reach the server's logic
            data = rng.integers(0, 256, (n, 8), dtype=np.uint8)
            # SDO: mostly valid command specifiers and existing objects, to get past the first check
            sdo = np.flatnonzero((ids == 0x600 + NODE) & (rng.random(n) < 0.8))
            pk = rng.integers(0, len(keys), sdo.size)
            idx = np.array([keys[k][0] for k in pk.tolist()], np.uint16)
            data[sdo, 1] = idx & 0xFF
            data[sdo, 2] = idx >> 8
            data[sdo, 3] = np.array([keys[k][1] for k in pk.tolist()], np.uint8)
            nmt = np.flatnonzero(ids == 0x000)
            data[nmt, 0] = rng.choice(np.array([0x01, 0x01, 0x01, 0x80, 0x81, 0x82, 0x02], np.uint8), nmt.size)
            data[nmt, 1] = rng.choice(np.array([0, NODE], np.uint8), nmt.size)
            lens[nmt] = 2
            bus.load(ids.tolist(), lens.tolist(), data.tobytes())
            for _ in range(0, n, 64):
                bus.release(64)
                t[0] += 0.001
                board.poll()  # bus.recv() until empty, each frame handled, then the timers
            done += bus.pos  # the frames the board actually read
            violations += limit_violations(board)
    finally:
        board.close()
        bus.shutdown()
    return {"frames": done, "crashes": board.crash_count, "crash_examples": [repr(e) for e in board.crashes[:3]],
            "out_of_limit_accepted": len(violations), "violations": violations[:5]}


# ------------------------------------------------------------------ codec fuzz
_PREFIX = np.frombuffer(b"tTrRdDbBxOCSVF", np.uint8)
_HEXCH = np.frombuffer(b"0123456789ABCDEFabcdefgz ", np.uint8)
_UPHEX = np.frombuffer(b"0123456789ABCDEF", np.uint8)
_SHAPED = np.frombuffer(b"tTdDbBrR", np.uint8)
_EXT = np.frombuffer(b"TDBR", np.uint8)
_FDP = np.frombuffer(b"dDbB", np.uint8)
_RTR = np.frombuffer(b"rR", np.uint8)
_FD_LEN = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64])


def fuzz_slcan(n_lines: int, seed: int = 1) -> dict[str, Any]:
    """Random SLCAN-like lines into the compiled decoder; decoded frames checked and round-tripped."""
    from cerebellum_rt.drivers.can import slcan_codec
    from cerebellum_rt.drivers.can.codec import FrameBuffer

    rng = np.random.default_rng(seed)
    crashes = bad = decoded = done = 0
    per = 4096
    fb, fb2 = FrameBuffer(per, fd=True), FrameBuffer(per, fd=True)
    spans = np.zeros((per, 2), np.int64)
    out = np.zeros(per * slcan_codec.max_line_bytes(True), np.uint8)
    while done < n_lines:
        n = min(per, n_lines - done)
        width = rng.integers(1, 140, n)
        body = _HEXCH[rng.integers(0, len(_HEXCH), (n, 141))]
        body[:, 0] = _PREFIX[rng.integers(0, len(_PREFIX), n)]
        # half the lines are shaped like frames (prefix, id digits, length digit, twice as many
        # data digits) with random upper-case hex: legal and out-of-range ids, lengths, FD codes
        shaped = np.flatnonzero(rng.random(n) < 0.5)
        kind = rng.integers(0, len(_SHAPED), shaped.size)
        body[shaped] = _UPHEX[rng.integers(0, 16, (shaped.size, 141))]
        body[shaped, 0] = _SHAPED[kind]
        nd = np.where(np.isin(_SHAPED[kind], _EXT), 8, 3)
        code = rng.integers(0, 16, shaped.size)
        fd = np.isin(_SHAPED[kind], _FDP)
        code = np.where(fd, code, code % 10)  # classic: 0-9 (9 is out of range)
        body[shaped, 1 + nd] = _UPHEX[code]
        ln = np.where(fd, _FD_LEN[code], np.minimum(code, 9))
        ln = np.where(np.isin(_SHAPED[kind], _RTR), 0, ln)
        width[shaped] = np.minimum(2 + nd + 2 * ln + rng.choice([0, 0, 0, 4, 1], shaped.size), 140)
        body[np.arange(n), width] = 13  # the line end
        lines = body[np.arange(141)[None, :] <= width[:, None]]  # row-major: line after line
        try:
            k, _, _ = slcan_codec.decode_frames(lines, len(lines), fb, spans)
        except Exception:
            crashes += 1
            done += n
            continue
        decoded += k
        for i in range(k):
            cid, ln, fl = int(fb.ids[i]), int(fb.lens[i]), int(fb.flags[i])
            ext, fd = fl & 1, fl & 2
            if not 0 <= cid <= (0x1FFFFFFF if ext else 0x7FF) or ln > (64 if fd else 8):
                bad += 1
        nbytes = slcan_codec.encode_frames(fb, k, out)
        k2, _, _ = slcan_codec.decode_frames(out, nbytes, fb2, spans)
        if k2 != k or not (np.array_equal(fb.ids[:k], fb2.ids[:k]) and np.array_equal(fb.lens[:k], fb2.lens[:k])):
            bad += 1
        done += n
    return {"frames": done, "decoded": decoded, "crashes": crashes, "out_of_limit_accepted": bad}


def fuzz_pdo_codec(n_frames: int, seed: int = 1) -> dict[str, Any]:
    """Random frames (any id, length, flags) into the PDO reply router; every frame counted once,
    nothing written outside the reply rows."""
    from cerebellum_rt.drivers.can import codec

    rng = np.random.default_rng(seed)
    nodes = np.arange(1, 7, dtype=np.int32)
    bases = np.array([0x180, 0x280, 0x380], np.int32)
    lut = codec.build_lut(nodes, bases)
    off = np.array([0, 7, 15], np.int32)
    size = np.array([7, 8, 8], np.int32)
    row = 24
    guard = np.zeros((len(nodes) + 2, row), np.uint8)  # rows 0 and -1 are guards that must stay 0
    rx = guard[1:-1]
    per = 65_536
    other = np.zeros(per, np.int32)
    crashes = bad = done = 0
    while done < n_frames:
        n = min(per, n_frames - done)
        ours = (bases[:, None] + nodes[None, :]).ravel()
        ids = np.where(rng.random(n) < 0.5, rng.choice(ours, n), rng.integers(-(2**31), 2**31 - 1, n)).astype(np.int32)
        lens = rng.integers(0, 65, n).astype(np.uint8)
        flags = rng.integers(0, 32, n).astype(np.uint8)
        data = rng.integers(0, 256, (n, 64), dtype=np.uint8)
        try:
            new, dup, nbad, n_other = codec.unpack_tick(ids, lens, flags, data, n, lut, len(bases), off, size,
                                                        rx, row - 1, False, other)
        except Exception:
            crashes += 1
            done += n
            continue
        if new + dup + nbad + n_other != n or guard[0].any() or guard[-1].any():
            bad += 1
        rx[:, row - 1] = 0
        done += n
    return {"frames": done, "crashes": crashes, "out_of_limit_accepted": bad}


# ------------------------------------------------------------------ kill -9 during a store
def store_kill_trials(kills: int, seed: int = 1, directory: str | None = None) -> dict[str, Any]:
    """Fork a child that saves parameter sets in a loop, SIGKILL it at a random moment, reload."""
    from cerebellum_rt.drivers.board.store import ObjectStore
    from cerebellum_rt.drivers.od import STORE_SIGNATURE, build_table

    table = build_table("joint")
    rnd = random.Random(seed)
    lost = 0
    examples: list[str] = []
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        path = Path(tmp) / "node5.json"
        for trial in range(kills):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child: save sets 1, 2, 3, ... and acknowledge each after it returned
                os.close(r)
                try:
                    store = ObjectStore(table, NODE, path)
                    i = 0
                    while True:
                        i += 1
                        v = trial * 1_000_000 + i
                        store.write(0x6065, 0, struct.pack("<I", v))  # following error window
                        store.write(0x2031, 0, struct.pack("<H", v % 10_000))
                        store.write(0x1010, 1, struct.pack("<I", STORE_SIGNATURE))
                        os.write(w, struct.pack("<Q", v))
                finally:
                    os._exit(1)
            os.close(w)
            time.sleep(rnd.uniform(0.002, 0.03))
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            acked = 0
            with os.fdopen(r, "rb") as fh:
                raw = fh.read()
            if len(raw) >= 8:
                acked = struct.unpack_from("<Q", raw, (len(raw) // 8 - 1) * 8)[0]
            store = ObjectStore(table, NODE, path)
            got = int(store.get(0x6065, 0))
            ok_values = {acked, acked + 1} if acked else {got}  # acked or the set being written
            if acked == 0 and trial > 0:
                ok_values = {got}  # killed before its first save: the previous trial's set stays
            if got not in ok_values or (int(store.get(0x2031, 0)) != got % 10_000 and got != 2**20 // 36):
                lost += 1
                examples.append(f"trial {trial}: acked {acked}, file holds {got}")
    return {"store_kills": kills, "store_lost": lost, "examples": examples[:3]}


# ------------------------------------------------------------------ command loss reaction
def loss_reaction(step_s: float = 0.00025) -> dict[str, Any]:
    """Milliseconds from the last command to EMCY 0x8100, per way of enabling (lockstep)."""
    import can

    from cerebellum_rt.actuators.joint import JointModule, load_preset
    from cerebellum_rt.drivers.board import JointBoard
    from cerebellum_rt.drivers.cia402 import next_controlword

    out: dict[str, float] = {}
    watchdog_ms = 0
    for case in ("sdo_pre_operational", "sdo_operational_before_sync", "rpdo_and_sync"):
        t = [0.0]
        clock = t.__getitem__
        ch = f"reaction-{case}-{os.getpid()}-{time.monotonic_ns()}"
        bus, host = can.Bus(interface="virtual", channel=ch), can.Bus(interface="virtual", channel=ch)
        board = JointBoard(NODE, bus, JointModule(load_preset("knee"), seed=1), clock=lambda c=clock: c(0),
                           threaded=False)
        watchdog_ms = int(board.store.get(0x2031))

        def send(cob: int, data: bytes, host: can.BusABC = host) -> None:
            host.send(can.Message(arbitration_id=cob, data=data, is_extended_id=False))

        try:
            if case != "sdo_pre_operational":
                send(0, bytes([1, NODE]))
            last = 0.0
            for _ in range(8):
                sw = int(board.store.get(0x6041))
                cw = next_controlword(sw, "operation_enabled")
                if case == "rpdo_and_sync":
                    send(0x200 + NODE, struct.pack("<HbI", cw, 8, int(board.store.get(0x6064)) & 0xFFFFFFFF))
                    send(0x080, b"")
                else:
                    send(0x600 + NODE, struct.pack("<BHBH2x", 0x2B, 0x6040, 0, cw))
                board.poll()
                last = t[0]
                t[0] += 0.001
                board.poll()
            assert board.state == "operation_enabled", board.state
            while host.recv(0.0) is not None:
                pass
            reaction = None
            while t[0] - last < 1.0 and reaction is None:
                t[0] += step_s
                board.poll()
                while (m := host.recv(0.0)) is not None:
                    if m.arbitration_id == 0x80 + NODE and struct.unpack_from("<H", m.data)[0] == 0x8100:
                        reaction = (t[0] - last) * 1e3
            out[case] = round(reaction, 3) if reaction is not None else float("inf")
        finally:
            board.close()
            bus.shutdown()
            host.shutdown()
    return {"watchdog_ms": watchdog_ms, "loss_reaction_ms": out, "loss_reaction_ms_max": max(out.values())}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """All figures as one dict (see module doc)."""
    from cerebellum_rt.rtcore.errors import check_range

    check_range("--frames", args.frames, 1_000, 100_000_000)
    check_range("--kills", args.kills, 1, 10_000)
    check_range("--seed", args.seed, 0, 2**32 - 1)
    t0 = time.perf_counter()
    dev = fuzz_device(args.frames, args.seed)
    sl = fuzz_slcan(args.frames, args.seed)
    pc = fuzz_pdo_codec(args.frames, args.seed)
    st = store_kill_trials(args.kills, args.seed)
    lr = loss_reaction()
    doc = {
        "area": "reliability",
        "frames_fuzzed": dev["frames"] + sl["frames"] + pc["frames"],
        "frames_fuzzed_per_target": {"device": dev["frames"], "slcan_codec": sl["frames"], "pdo_codec": pc["frames"]},
        "crashes": dev["crashes"] + sl["crashes"] + pc["crashes"],
        "out_of_limit_accepted": dev["out_of_limit_accepted"] + sl["out_of_limit_accepted"] + pc["out_of_limit_accepted"],
        "store_kills": st["store_kills"],
        "store_lost": st["store_lost"],
        "watchdog_ms": lr["watchdog_ms"],
        "loss_reaction_ms": lr["loss_reaction_ms"],
        "loss_reaction_ms_max": lr["loss_reaction_ms_max"],
        "details": {"device": dev, "slcan": sl, "pdo_codec": pc, "store": st},
        "seconds": round(time.perf_counter() - t0, 1),
    }
    doc["targets_met"] = (doc["crashes"] == 0 and doc["out_of_limit_accepted"] == 0 and doc["store_lost"] == 0
                          and doc["loss_reaction_ms_max"] <= doc["watchdog_ms"] + 2)
    return doc


def run(args: argparse.Namespace) -> int:
    doc = measure(args)
    if args.json:
        print(json.dumps(doc))
        return 0 if doc["targets_met"] else 1
    print(f"frames fuzzed {doc['frames_fuzzed']} ({doc['frames_fuzzed_per_target']}) in {doc['seconds']} s")
    print(f"crashes {doc['crashes']} (target 0), out-of-limit accepted {doc['out_of_limit_accepted']} (target 0)")
    print(f"store: {doc['store_kills']} kill -9 during saves, {doc['store_lost']} sets lost (target 0)")
    print(f"command loss: reaction {doc['loss_reaction_ms']} ms, max {doc['loss_reaction_ms_max']} ms "
          f"(target <= watchdog {doc['watchdog_ms']} + 2 ms, lockstep)")
    print("targets met" if doc["targets_met"] else "TARGETS MISSED")
    return 0 if doc["targets_met"] else 1
