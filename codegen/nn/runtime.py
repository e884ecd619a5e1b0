"""PolicyRuntime: an ONNX policy executed by the law :func:`.lstm_mlp.policy_step` on the host.

The law's host execution is its IR reference compiled by numba (the code the generator also
turns into C), so the host, the SoC C and any emulated board give the same bits. Weights live in
one :class:`~.lstm_mlp.PolicyWeights` record; ``step`` writes into preallocated records and
allocates nothing (tests/policy checks with tracemalloc).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cerebellum_rt.codegen.nn import lstm_mlp as L
from cerebellum_rt.codegen.nn.onnx_import import ImportedNet, load_onnx
from cerebellum_rt.rtcore.errors import ConfigError


def weights_record(net: ImportedNet) -> np.void:
    """Fill a PolicyWeights record from an imported net, refusing any other architecture."""
    kinds = [ly.kind for ly in net.layers]
    if kinds != ["lstm", "dense", "elu", "dense"]:
        raise ConfigError(f"policy {Path(net.path).name}: layers {kinds} are not the law's "
                          "['lstm', 'dense', 'elu', 'dense'] (LSTM -> Dense+ELU -> Dense)")
    lstm, d1, _, d2 = net.layers
    want = {"lstm input weights": ((L.N_GATE, L.N_OBS), lstm.w.shape),
            "lstm recurrent weights": ((L.N_GATE, L.N_HID), lstm.r.shape),
            "dense 1 weights": ((L.N_MID, L.N_HID), d1.w.shape),
            "dense 2 weights": ((L.N_ACT, L.N_MID), d2.w.shape)}
    for what, (shape, got) in want.items():
        if tuple(got) != shape:
            raise ConfigError(f"policy {Path(net.path).name}: {what} have shape {tuple(got)}, "
                              f"the law is built for {shape} (codegen/nn/lstm_mlp.py constants)")
    cfg = L.PolicyWeights.new()
    cfg["w_ih"][:] = lstm.w.reshape(-1)
    cfg["w_hh"][:] = lstm.r.reshape(-1)
    cfg["b_g"][:] = lstm.b
    cfg["w1"][:] = d1.w.reshape(-1)
    cfg["b1"][:] = d1.b
    cfg["w2"][:] = d2.w.reshape(-1)
    cfg["b2"][:] = d2.b
    return cfg


def host_step():
    """The law's host executable: its IR reference compiled by numba (:func:`codegen.host_law`)."""
    from cerebellum_rt.codegen.host import host_law

    return host_law(L.policy_step)


class PolicyRuntime:
    """``PolicyRuntime("policy.onnx")``; ``action = rt.step(obs)`` (float32[N_OBS] -> view of
    float32[N_ACT], valid until the next step); ``reset()`` zeroes the recurrent state."""

    def __init__(self, onnx_path: str | Path) -> None:
        self.net = load_onnx(onnx_path)
        self.cfg = weights_record(self.net)
        self.st = L.PolicyState.new()
        self.inp = L.PolicyInput.new()
        self.out = L.PolicyOutput.new()
        from cerebellum_rt.rtcore.jit import law_update

        # one call on two floats into code with the records' addresses compiled in (rtcore.jit:
        # ~0.3 us of dispatch instead of ~2 us for a call passing the four records)
        self._update = law_update(host_step(), self.cfg, self.st, self.inp, self.out)
        self._obs = self.inp["obs"]
        self._action = self.out["action"]
        self._update(0.0, 0.0)  # compiled / loaded before the loop
        self.reset()

    def reset(self) -> None:
        self.st["h"][:] = 0.0
        self.st["c"][:] = 0.0
        self.st["steps"] = 0

    def step(self, obs: np.ndarray) -> np.ndarray:
        """One policy step. Real-time safe: copies ``obs`` into the input record, no allocation."""
        self._obs[:] = obs
        self._update(0.0, 0.0)
        return self._action

    @property
    def hidden(self) -> np.ndarray:
        return self.st["h"]

    @property
    def cell(self) -> np.ndarray:
        return self.st["c"]
