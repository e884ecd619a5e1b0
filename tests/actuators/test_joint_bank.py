"""JointBank: many modules in one numba call, bit-identical to advancing them one by one."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from cerebellum_rt.actuators.joint import MODE_CSP, MODE_CST, MODE_CSV, JointBank, JointModule, load_preset
from cerebellum_rt.rtcore.errors import ConfigError

NAMES = ["hip", "knee", "ankle", "arm", "wrist", "arm_hd"]


def _command(k: int, i: int, jm: JointModule) -> None:
    q0 = 0.5 * sum(jm.preset.position_limits_rad)
    mode = (MODE_CSP, MODE_CSV, MODE_CST)[i % 3]
    jm.command(mode, q0 + 0.1 * math.sin(k / 40 + i), 0.5 * math.cos(k / 30), 0.2 * math.sin(k / 25), True)


def test_bank_matches_modules_one_by_one_bit_for_bit():
    presets = [load_preset(n) for n in NAMES]
    q0s = [0.5 * sum(p.position_limits_rad) for p in presets]
    bank = JointBank(presets, seeds=[10 + i for i in range(len(NAMES))], initial_positions_rad=q0s)
    solo = [JointModule(p, seed=10 + i, initial_position_rad=q) for i, (p, q) in enumerate(zip(presets, q0s))]
    for k in range(300):
        for i in range(len(NAMES)):
            _command(k, i, bank[i])
            _command(k, i, solo[i])
            solo[i].advance(0.001)
        bank.advance(0.001)
    for b, s in zip(bank.modules, solo):
        assert b.read() == s.read()
        assert b.truth == s.truth
        assert b.read().fault == 0
    # a module of the bank still advances on its own (its arrays are rows of the bank's)
    before = bank[1].truth.time_s
    bank[1].advance(0.002)
    assert bank[1].truth.time_s == pytest.approx(before + 0.002)
    assert bank[0].truth.time_s == pytest.approx(before)


def test_bank_refuses_bad_shapes_and_periods():
    with pytest.raises(ConfigError, match="2 presets but 1 seeds"):
        JointBank([load_preset("knee")] * 2, seeds=[1])
    with pytest.raises(ConfigError, match="1 to 256"):
        JointBank([])
    bank = JointBank([load_preset("knee")])
    with pytest.raises(ConfigError, match="period_s"):
        bank.advance(1.234e-5)
    assert np.isfinite(bank[0].read().position_rad)


@pytest.mark.parametrize("threads", [2, 3])
def test_threaded_bank_matches_one_thread_bit_for_bit_and_wakes_parked_workers(threads):
    presets = [load_preset(n) for n in NAMES * 2]
    q0s = [0.5 * sum(p.position_limits_rad) for p in presets]
    seeds = [20 + i for i in range(len(presets))]
    one = JointBank(presets, seeds=seeds, initial_positions_rad=q0s)
    many = JointBank(presets, seeds=seeds, initial_positions_rad=q0s, threads=threads)
    assert many.threads == threads
    for k in range(150):
        for i in range(len(presets)):
            _command(k, i, one[i])
            _command(k, i, many[i])
        one.advance(0.001)
        many.advance(0.001)
        if k == 60:  # as after a wait on a preempted worker: the caller alone for 30 advances
            many._pool._solo_left = 30
        if k in (40, 100):  # idle long enough for every worker to park: the next advance wakes them
            deadline = time.monotonic() + 5.0
            while not all(many._pool.parked()):
                assert time.monotonic() < deadline, "a worker never parked"
                time.sleep(0.005)
    for key in ("s", "meas", "fs", "fo", "cs", "co", "ring", "rng"):
        assert one._arrays[key].tobytes() == many._arrays[key].tobytes(), key
    assert all(m.read().fault == 0 for m in many.modules)
    workers = many._pool.threads
    assert len(workers) == threads - 1
    assert all(t.is_alive() for t in workers)
    many.close()
    assert not any(t.is_alive() for t in workers) and many.threads == 1
    many.advance(0.001)  # closed: one thread, same results
    one.advance(0.001)
    assert one._arrays["s"].tobytes() == many._arrays["s"].tobytes()


def test_bank_threads_split_and_limits():
    from cerebellum_rt.actuators.joint.bank_threads import split_rows

    assert split_rows(np.ones(29), 2) == [(0, 15), (15, 29)]
    assert split_rows(np.array([1.0, 1.0, 1.0, 3.0]), 2) == [(0, 3), (3, 4)]
    assert split_rows(np.ones(2), 4) == [(0, 1), (1, 2)]
    with pytest.raises(ConfigError, match="threads = 0"):
        JointBank([load_preset("knee")], threads=0)
    assert JointBank([load_preset("knee")], threads=4).threads == 1
