"""The per-tick paths of the emulated boards allocate nothing after warm-up: JointModule
command / advance / read_into, JointBank.advance, HandSim.step / finger_forces(out).

Python-heap size (tracemalloc) and allocated object blocks are sampled at the same point of
tick 100 and tick 100 + TICKS: the ticks in between must leave them unchanged, and the
transient peak within a tick stays under a few hundred bytes (argument tuples, floats). The
negative control (the allocating ``read``, ``run`` without a log) shows the probe sees
allocations."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable

import numpy as np

from cerebellum_rt.actuators.hand.sim import HandSim
from cerebellum_rt.actuators.joint import MODE_CSP, N_MEAS, JointBank, JointModule, load_preset

TICKS = 1000


def _probe(tick: Callable[[int], object]) -> tuple[int, int, int]:
    """(heap growth [B], block growth, largest transient peak [B]) over TICKS ticks after warm-up."""
    for k in range(200):
        tick(k)
    tracemalloc.start()
    try:
        for k in range(100):
            tick(k)
        cur0, _ = tracemalloc.get_traced_memory()
        blocks0 = sys.getallocatedblocks()
        tracemalloc.reset_peak()
        for k in range(TICKS):
            tick(k)
        cur1, peak = tracemalloc.get_traced_memory()
        blocks1 = sys.getallocatedblocks()
    finally:
        tracemalloc.stop()
    return cur1 - cur0, blocks1 - blocks0, peak - cur0


def test_joint_module_tick_allocates_nothing():
    jm = JointModule(load_preset("knee"), seed=1, initial_position_rad=1.0)
    buf = np.zeros(N_MEAS)

    def tick(k: int) -> None:
        jm.command(MODE_CSP, 1.0 + 1e-4 * (k % 50), 0.0, 0.0, True)
        jm.advance(0.001)
        jm.read_into(buf)

    grown, blocks, peak = _probe(tick)
    assert grown == 0 and blocks == 0, (grown, blocks)
    assert peak < 512, f"transient {peak} B per tick"

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

    grown, blocks, peak = _probe(tick)
    assert grown == 0 and blocks == 0, (grown, blocks)
    assert peak < 512


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
    assert peak < 1024, f"transient {peak} B per cycle"
    # negative control: the allocating forms (a fresh log per run, a fresh force array)
    _, _, peak_alloc = _probe(lambda k: (sim.run(1), sim.finger_forces()))
    assert peak_alloc > peak
