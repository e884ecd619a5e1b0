"""Neural-network policies as laws: ONNX import, the LSTM + MLP law, its host runtime and CUDA batch kernel.

A learned policy (e.g. Unitree's G1 walking policy: one LSTM layer then a two-layer MLP with
ELU) is imported from ONNX (:mod:`.onnx_import`, the ``onnx`` package reads the file; no torch)
into the weight record of the law :func:`.lstm_mlp.policy_step`. That law goes through the code
generator like every other law, so the SoC's C (aarch64, float32) and the host's execution (its
IR reference compiled by numba, :class:`.runtime.PolicyRuntime`) give the same bits;
onnxruntime is the independent oracle in the tests. :mod:`.cuda` emits a CUDA C kernel that
evaluates the same network for many robots (or many candidate observations) at once.
"""
