"""ONNX -> layer list -> the weight record of :mod:`.lstm_mlp` (the ``onnx`` package reads the file).

Supported graph (what exporters emit for recurrent MLP policies with batch 1): shape-only nodes
(Constant, Unsqueeze, Squeeze, Reshape, Flatten, Identity) are skipped; LSTM (one direction,
forward, default activations, no peepholes, ``hidden_size`` from the file, bias optional; the
state comes in and goes out as graph inputs / outputs), Gemm (alpha = beta = 1, ``transB`` 0 or
1), MatMul followed by Add, and Elu (alpha 1) become :class:`Layer` entries. Any other node, a
branching graph or a layer sequence that is not LSTM -> Dense(ELU) -> Dense is refused with a
ConfigError naming the node, its operator and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError

SHAPE_OPS = {"Constant", "Unsqueeze", "Squeeze", "Reshape", "Flatten", "Identity"}


@dataclass
class Layer:
    """One computing layer: ``kind`` is "lstm", "dense" or "elu"; arrays are float32."""

    kind: str
    node: str
    w: np.ndarray | None = None  # dense [out, in]; lstm input weights [4H, in], gates i, o, f, c
    r: np.ndarray | None = None  # lstm recurrent weights [4H, H]
    b: np.ndarray | None = None  # dense [out]; lstm input + recurrent bias summed [4H]
    extra: dict = field(default_factory=dict)


@dataclass
class ImportedNet:
    path: str
    layers: list[Layer]
    inputs: list[str]
    outputs: list[str]


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def load_onnx(path: str | Path) -> ImportedNet:
    """Read an ONNX policy and return its computing layers in order (see module doc)."""
    import onnx
    from onnx import numpy_helper

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"policy file {p} does not exist")
    try:
        model = onnx.load(str(p))
    except Exception as exc:  # protobuf decode errors: a file that is not ONNX
        raise ConfigError(f"policy file {p} is not an ONNX model ({type(exc).__name__}: {exc})") from None
    g = model.graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float32) for t in g.initializer}
    layers: list[Layer] = []
    pending_matmul: tuple[str, np.ndarray] | None = None
    for node in g.node:
        op, name = node.op_type, node.name or node.output[0]
        a = _attrs(node)
        if op in SHAPE_OPS:
            continue
        if pending_matmul is not None and op != "Add":
            raise ConfigError(f"policy {p.name}: node '{pending_matmul[0]}' MatMul is not followed by Add (got {op})")
        if op == "LSTM":
            if a.get("direction", b"forward") not in (b"forward", "forward"):
                raise ConfigError(f"policy {p.name}: LSTM '{name}' direction {a['direction']!r} (forward only)")
            if "activations" in a or (len(node.input) > 7 and node.input[7]):
                raise ConfigError(f"policy {p.name}: LSTM '{name}' with custom activations or peepholes")
            hidden = int(a["hidden_size"])
            w = init[node.input[1]][0]
            r = init[node.input[2]][0]
            if w.shape[0] != 4 * hidden or r.shape != (4 * hidden, hidden):
                raise ConfigError(f"policy {p.name}: LSTM '{name}' weight shapes {w.shape}, {r.shape} "
                                  f"do not match hidden_size {hidden}")
            bias = (init[node.input[3]][0] if len(node.input) > 3 and node.input[3]
                    else np.zeros(8 * hidden, np.float32))
            b = (bias[: 4 * hidden] + bias[4 * hidden:]).astype(np.float32)
            layers.append(Layer("lstm", name, w, r, b, {"hidden": hidden}))
        elif op == "Gemm":
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise ConfigError(f"policy {p.name}: Gemm '{name}' with alpha/beta != 1 or transA")
            w = init[node.input[1]]
            w = w if a.get("transB", 0) else w.T
            b = init[node.input[2]] if len(node.input) > 2 else np.zeros(w.shape[0], np.float32)
            layers.append(Layer("dense", name, np.ascontiguousarray(w), None, b.reshape(-1)))
        elif op == "MatMul":
            pending_matmul = (name, np.ascontiguousarray(init[node.input[1]].T))
        elif op == "Add" and pending_matmul is not None:
            bname = node.input[1] if node.input[1] in init else node.input[0]
            layers.append(Layer("dense", pending_matmul[0], pending_matmul[1], None, init[bname].reshape(-1)))
            pending_matmul = None
        elif op == "Elu":
            if a.get("alpha", 1.0) != 1.0:
                raise ConfigError(f"policy {p.name}: Elu '{name}' alpha {a['alpha']} (1.0 only)")
            layers.append(Layer("elu", name))
        else:
            raise ConfigError(f"policy {p.name}: node '{name}' operator {op} is not supported "
                              f"(supported: LSTM, Gemm, MatMul+Add, Elu and shape-only nodes)")
    return ImportedNet(str(p), layers, [i.name for i in g.input], [o.name for o in g.output])
