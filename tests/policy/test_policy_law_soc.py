"""The policy law on the SoC: generated C for aarch64 under qemu-aarch64 gives the reference's bits."""

from __future__ import annotations

import numpy as np
import pytest

from cerebellum_rt.codegen import pil, targets, vectors
from cerebellum_rt.codegen.build import generate
from cerebellum_rt.codegen.nn import lstm_mlp as L
from cerebellum_rt.codegen.nn.onnx_import import load_onnx
from cerebellum_rt.codegen.nn.runtime import PolicyRuntime, weights_record

N = 8  # vectors per image (each carries the 124 KB weight record)


def _batch(robot_dir, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    cfg = np.repeat(weights_record(load_onnx(robot_dir / "policy.onnx")).base, N)
    st = L.PolicyState.array(N)
    st["h"] = rng.uniform(-1, 1, (N, L.N_HID))
    st["c"] = rng.uniform(-2, 2, (N, L.N_HID))
    inp = L.PolicyInput.array(N)
    inp["obs"] = rng.normal(0, 1.5, (N, L.N_OBS))
    return [cfg, st, inp, L.PolicyOutput.array(N)]


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    return generate(L.policy_step, str(tmp_path_factory.mktemp("policy")))


@pytest.mark.needs("aarch64-linux-gnu-gcc", "qemu-aarch64")
def test_aarch64_policy_is_bit_exact_with_the_host(gen, robot_dir):
    batch = _batch(robot_dir, 3)
    ref = vectors.run_reference(gen.reference, gen.module, batch)
    res = pil.run(gen, targets.get_target("aarch64"), batch, ref, timeout=300)
    assert res.n == N and res.mismatch is None and res.hash == vectors.hash_results(gen.module, *ref)
    # the host runtime is that same reference: one vector through PolicyRuntime gives the same action
    rt = PolicyRuntime(robot_dir / "policy.onnx")
    rt.st["h"][:] = batch[1]["h"][0]
    rt.st["c"][:] = batch[1]["c"][0]
    np.testing.assert_array_equal(rt.step(batch[2]["obs"][0]), ref[0][3]["action"][0])
    # negative control: a batch that differs in one weight bit hashes differently
    bad = vectors.copy_batch(batch)
    bad[0]["w2"][0, 0] = np.nextafter(bad[0]["w2"][0, 0], np.float32(1))
    assert vectors.hash_results(gen.module, *vectors.run_reference(gen.reference, gen.module, bad)) != res.hash
