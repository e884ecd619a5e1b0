"""`cbl bench codegen --json`: the keys of the issue, and our code at 0 ulp on every target."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cerebellum_rt.codegen import targets
from cerebellum_rt.codegen.peer_bench import max_ulp
from cerebellum_rt.hil_tests.prereq import require_tools


def test_max_ulp():
    a = np.array([1.0, -0.0, np.nan, 2.0], np.float32)
    assert max_ulp(a, a) == 0
    assert max_ulp(np.float32([1.0]), np.nextafter(np.float32([1.0]), np.float32(2))) == 1
    assert max_ulp(np.float32([0.0]), np.float32([-0.0])) == 0
    assert max_ulp(np.float32([np.nextafter(np.float32(0), np.float32(1))]),
                   np.float32([np.nextafter(np.float32(0), np.float32(-1))])) == 2


@pytest.mark.toolchain
def test_bench_codegen_json(tmp_path):
    for t in ("cortex-m4f", "aarch64"):
        require_tools(*targets.missing_tools(targets.get_target(t)))
    p = subprocess.run([sys.executable, "-m", "cerebellum_rt.tools.cli", "bench", "codegen", "--json", "--vectors", "40",
                        "-o", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)["functions"]
    assert set(res) == {"ur5_fk", "ur5_fk_jac", "cascade", "pi", "wholebody"}
    for name, r in res.items():
        for k in ("branch_coverage", "ours_max_ulp_default_flags", "ours_insns_run_path"):
            assert k in r
        assert r["branch_coverage"] == 1.0 and r["ours_max_ulp_default_flags"] == 0, (name, r)
        assert r["ours_insns_run_path"] > 0
        if name in ("pi", "wholebody"):  # the laws with hand-written C twins
            assert r["handwritten_insns"] > 0 and r["ours_vs_handwritten_insns"] <= 1.05, (name, r)
            continue
        for k in ("ours_bytes", "casadi_bytes", "ours_insns", "casadi_insns", "ours_max_ulp", "casadi_max_ulp"):
            assert k in r
        assert r["ours_max_ulp"] == 0 and all(r["ours_bit_exact"].values())
        assert r["ours_bytes"] > 0 and r["ours_insns"] > 0
