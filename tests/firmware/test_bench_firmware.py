"""`cbl bench firmware --json`: the keys under boards -> joint and hand, with figures that make sense
(the image inside its budgets, instructions per cycle measured, the C image faster on the host)."""

from __future__ import annotations

import json

from cerebellum_rt.hil_tests.prereq import require_tools
from cerebellum_rt.tools.cli import main as cbl


def test_bench_firmware_json(tmp_path, capsys):
    require_tools("arm-none-eabi-gcc", "qemu-system-arm")
    assert cbl(["bench", "firmware", "--json", "--cycles", "200", "-o", str(tmp_path)]) == 0
    boards = json.loads(capsys.readouterr().out)["boards"]
    h = boards["hand"]
    assert h["flash_bytes"] <= h["budgets"]["flash_bytes"] and h["tick_insns"] > 0 and h["control_insns"] > 0
    assert set(h["host_cycles_per_s"]) == {"python", "c"} and h["host_speedup"] > 1.0
    j = boards["joint"]
    assert j["flash_bytes"] <= j["budgets"]["flash_bytes"] and j["ram_bytes"] <= j["budgets"]["ram_bytes"]
    assert j["tick_insns"] > j["sync_insns"] > 0 and j["foc_insns"] > 0 and j["control_insns"] > 0
    assert j["host_speedup"] > 1.0  # the C image handles a cycle faster than the Python board
    assert set(j["host_cycles_per_s"]) == {"python", "c"}
    assert j["host_bus_floor_us"] > j["host_batch_floor_us"] > 0 and j["host_speedup_above_bus_floor"] > 0
    assert j["host_speedup_python_can"] > 1.0 and j["host_replies_per_cycle"] >= 1
    assert set(j["host_cycle_us"]) == {"python", "c"} and j["host_cycle_us"]["c"] < j["host_cycle_us"]["python"]
