"""JointBank: many modules in one numba call, bit-identical to advancing them one by one."""

from __future__ import annotations

import math

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
