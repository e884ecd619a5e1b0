"""`cbl bench can --json`: the JSON contract and the deterministic (virtual-time) figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cerebellum_rt.tools.bench.can_buses import tick_time

ROOT = Path(__file__).resolve().parents[2]


def test_bench_can_json_contract():
    r = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "bench", "can", "--json", "--ticks", "20", "--repeats", "1",
                        "--no-slcan"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    for key in ("host_us_per_tick", "frames_per_tick", "pythoncan_us_per_tick", "joints_per_bus",
                "theoretical_joints_per_bus"):
        assert key in out
    assert out["frames_per_tick"] == 6 * (5 * 2 + 1 + 5 * 3)
    assert out["host_us_per_tick"] > 0 and out["pythoncan_us_per_tick"] > 0
    for bus in ("can_1m", "canfd_1m_5m", "canfd_1m_8m", "canfd_1m_5m_packed"):
        assert out["guaranteed_joints_per_bus"][bus] <= out["joints_per_bus"][bus]
        assert out["joints_per_bus"][bus] <= out["theoretical_joints_per_bus"][bus]
        assert 0 < out["tick_time_us"][bus] <= 1000.0
    assert out["joints_per_bus"]["canfd_1m_5m_packed"] > out["joints_per_bus"]["canfd_1m_5m"]


def test_tick_time_grows_with_joints_and_shrinks_with_data_rate():
    one, two = tick_time(1, 1_000_000, False, None), tick_time(2, 1_000_000, False, None)
    assert 500e-6 < one < two  # 5 PDOs + SYNC: more than half a millisecond at 1 Mbit/s
    assert tick_time(2, 1_000_000, True, 5_000_000) < two
