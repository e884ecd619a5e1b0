"""The batched CUDA policy kernel: built with nvcc here; run against the reference where a GPU exists."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from cerebellum_rt.codegen.nn import lstm_mlp as L
from cerebellum_rt.codegen.nn.cuda import build_cuda, emit_cuda, run_cuda
from cerebellum_rt.codegen.nn.runtime import PolicyRuntime
from cerebellum_rt.hil_tests.prereq import unavailable


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_cuda(tmp_path_factory.mktemp("cuda"))


@pytest.mark.needs("nvcc")
def test_kernel_builds_without_contraction_or_approximate_math(built):
    ptx = built["ptx"].read_text()
    assert ".entry" in ptx and "cbl_policy_kernel" in ptx
    # bit-exactness on the GPU rests on these: no fused multiply-add, IEEE division, no fast exp
    assert not re.search(r"\bfma\.", ptx)
    assert "div.rn.f32" in ptx
    assert not re.search(r"ex2\.approx|div\.approx|div\.full", ptx)
    # negative control: the same source with nvcc's default --fmad=true does contract
    src = built["cu"]
    out = src.with_name("fmad.ptx")
    subprocess.run(["nvcc", "-O2", "-ptx", str(src), "-o", str(out)], check=True, capture_output=True)
    assert re.search(r"\bfma\.", out.read_text())


def test_emitted_sizes_follow_the_law():
    text = emit_cuda()
    for name in ("N_OBS", "N_HID", "N_GATE", "N_MID", "N_ACT"):
        assert f"#define {name} {getattr(L, name)}" in text


@pytest.mark.needs("nvcc")
def test_gpu_batch_gives_the_reference_bits(built, robot_dir):
    if subprocess.run(["sh", "-c", "command -v nvidia-smi && nvidia-smi -L"], capture_output=True).returncode != 0:
        unavailable("no CUDA device on this machine (the kernel is built and checked above; "
                    "this comparison runs where a GPU is present)")
    rt = PolicyRuntime(robot_dir / "policy.onnx")
    n = 64
    rng = np.random.default_rng(1)
    obs = rng.normal(0, 1.5, (n, L.N_OBS)).astype(np.float32)
    h = rng.uniform(-1, 1, (n, L.N_HID)).astype(np.float32)
    c = rng.uniform(-2, 2, (n, L.N_HID)).astype(np.float32)
    want = np.zeros((n, L.N_ACT), np.float32)
    for r in range(n):
        rt.st["h"][:] = h[r]
        rt.st["c"][:] = c[r]
        want[r] = rt.step(obs[r])
    act = run_cuda(built["so"], rt.cfg, h.copy(), c.copy(), obs)
    np.testing.assert_array_equal(act, want)
