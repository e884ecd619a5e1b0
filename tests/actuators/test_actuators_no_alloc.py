"""The per-tick paths of the emulated boards allocate nothing after warm-up: JointModule
command / advance / read_into, JointBank.advance, HandSim.step / finger_forces(out).

Python-heap size (tracemalloc) and allocated object blocks are sampled at the same point of
two ticks TICKS apart: the ticks in between must leave them unchanged. Negative controls: the
allocating hand forms (``run`` without a log, ``finger_forces()``) raise the transient peak
(numpy buffers), and keeping what ``read`` returns grows the heap."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable

import numpy as np

from cerebellum_rt.actuators.hand.sim import HandSim
from cerebellum_rt.actuators.joint import MODE_CSP, N_MEAS, JointBank, JointModule, load_preset

TICKS = 1000


def _probe(tick: Callable[[int], object]) -> tuple[int, int, int]:
    """(heap growth [B], block growth, largest transient peak [B]) over TICKS ticks after warm-up,
    sampled at the same point of two ticks (both loop counters are non-cached ints)."""
    for k in range(200):
        tick(k)
    samples = np.zeros((2, 3), dtype=np.int64)  # [traced bytes, blocks, transient peak]
    first, last = 1000, 1000 + TICKS
    tracemalloc.start()
    try:
        for k in range(900, last + 1):
            tick(k)
            if k in (first, last):
                j = 0 if k == first else 1
                cur, peak = tracemalloc.get_traced_memory()
                samples[j, 0] = cur
                samples[j, 1] = sys.getallocatedblocks()
                samples[j, 2] = peak - cur
                del cur, peak  # not alive at the next sample
                tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    return int(samples[1, 0] - samples[0, 0]), int(samples[1, 1] - samples[0, 1]), int(samples[1, 2])


def test_joint_module_tick_allocates_nothing():
    jm = JointModule(load_preset("knee"), seed=1, initial_position_rad=1.0)
    buf = np.zeros(N_MEAS)

    def tick(k: int) -> None:
        jm.command(MODE_CSP, 1.0 + 1e-4 * (k % 50), 0.0, 0.0, True)
        jm.advance(0.001)
        jm.read_into(buf)

    grown, blocks, _ = _probe(tick)
    assert grown == 0 and blocks == 0, (grown, blocks)

    def tick_alloc(k: int) -> None:  # negative control: keeps one NamedTuple per tick
        tick(k)
        kept.append(jm.read())

    kept: list = []
    grown, blocks, _ = _probe(tick_alloc)
    assert grown > 0 and blocks > 0


def test_joint_bank_tick_allocates_nothing():
    bank = JointBank([load_preset("hip"), load_preset("knee")], seeds=[1, 2], initial_positions_rad=[0.0, 1.0])
    bufs = [np.zeros(N_MEAS), np.zeros(N_MEAS)]

    def tick(k: int) -> None:
        bank[0].command(MODE_CSP, 0.0, 0.0, 0.0, True)
        bank[1].command(MODE_CSP, 1.0, 0.0, 0.0, True)
        bank.advance(0.001)
        bank[0].read_into(bufs[0])
        bank[1].read_into(bufs[1])

    grown, blocks, _ = _probe(tick)
    assert grown == 0 and blocks == 0, (grown, blocks)


def test_hand_board_cycle_allocates_nothing():
    sim = HandSim("hand_prs6", "cylinder")
    sim.mode[:] = 3  # grasp
    sim.f_ref[:] = 2.0
    forces = np.zeros(len(sim.p.fingers))

    def tick(k: int) -> None:
        sim.step(1)
        for _ in range(sim.p.n_act):  # the board samples every axis each cycle
            sim.finger_forces(forces)

    grown, blocks, peak = _probe(tick)
    assert grown == 0 and blocks == 0, (grown, blocks)
    # negative control: the allocating forms (a fresh log per run, a fresh force array) show up
    # in the probe's transient peak
    _, _, peak_alloc = _probe(lambda k: (sim.run(1), sim.finger_forces()))
    assert peak_alloc > peak, (peak, peak_alloc)
