"""CUDA C for batched policy evaluation: many robots (or many candidate observations) per launch.

:func:`emit_cuda` writes ``policy_batch.cu``: one thread block per robot, one thread per LSTM
gate row (256), the layers separated by ``__syncthreads()``. Each thread sums its row in the
law's order (bias, then input weights in index order, then recurrent weights), and the float32
``exp`` is the project's kernel (the device copy of ``codegen/runtime/cbl_mathf32.h``), built with
``--fmad=false -prec-div=true -ftz=false``: a GPU gives the same bits as the law's reference, the
host and the SoC C. ``extern "C" int cbl_policy_batch(...)`` copies in, launches and copies out, so
a host program (or cffi) drives it with plain float arrays.

:func:`build_cuda` compiles it with nvcc (PTX and a shared library; no GPU is needed to build);
:func:`run_cuda` loads the library through cffi and runs it where a CUDA device exists.

TensorRT / NPU path: the network's ONNX file (the same one :mod:`.onnx_import` reads) is the input
of ``trtexec --onnx=policy.onnx --saveEngine=policy.plan`` (FP32 or ``--fp16``) on the Jetson; the
LSTM state is explicit (h_in, c_in -> h_out, c_out), which is what TensorRT needs for a stateless
engine. That path runs NVIDIA's kernels (not bit-exact with the law); ours is the bit-exact one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from cerebellum_rt.codegen.nn import lstm_mlp as L
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

RUNTIME = Path(__file__).resolve().parents[1] / "runtime" / "cbl_mathf32.h"
NVCC_FLAGS = ["-O2", "--fmad=false", "-prec-div=true", "-prec-sqrt=true", "-ftz=false", "-std=c++17"]

KERNEL = r"""
#define N_OBS {N_OBS}
#define N_HID {N_HID}
#define N_GATE {N_GATE}
#define N_MID {N_MID}
#define N_ACT {N_ACT}

__device__ static inline float sigmoid_f(float x) {{ return 1.0F / (1.0F + cbl_expf(-x)); }}
__device__ static inline float tanh_f(float x) {{ return 2.0F / (1.0F + cbl_expf(-2.0F * x)) - 1.0F; }}

/* One block per robot r, blockDim.x == N_GATE. State h, c: [n][N_HID]; obs [n][N_OBS]; act [n][N_ACT]. */
__global__ void cbl_policy_kernel(const float *w_ih, const float *w_hh, const float *b_g, const float *w1,
                                  const float *b1, const float *w2, const float *b2, float *h, float *c,
                                  const float *obs, float *act, int n)
{{
    __shared__ float x[N_OBS];
    __shared__ float hs[N_HID];
    __shared__ float gates[N_GATE];
    __shared__ float mid[N_MID];
    const int r = blockIdx.x;
    const int j = threadIdx.x;
    if (r >= n) return;
    if (j < N_OBS) x[j] = obs[r * N_OBS + j];
    if (j < N_HID) hs[j] = h[r * N_HID + j];
    __syncthreads();
    float acc = b_g[j];
    for (int k = 0; k < N_OBS; k++) acc = acc + w_ih[j * N_OBS + k] * x[k];
    for (int k = 0; k < N_HID; k++) acc = acc + w_hh[j * N_HID + k] * hs[k];
    gates[j] = acc;
    __syncthreads();
    if (j < N_HID) {{
        const float gi = sigmoid_f(gates[j]);
        const float go = sigmoid_f(gates[N_HID + j]);
        const float gf = sigmoid_f(gates[2 * N_HID + j]);
        const float gc = tanh_f(gates[3 * N_HID + j]);
        const float c_new = gf * c[r * N_HID + j] + gi * gc;
        c[r * N_HID + j] = c_new;
        hs[j] = go * tanh_f(c_new);
        h[r * N_HID + j] = hs[j];
    }}
    __syncthreads();
    if (j < N_MID) {{
        float a = b1[j];
        for (int k = 0; k < N_HID; k++) a = a + w1[j * N_HID + k] * hs[k];
        mid[j] = (a > 0.0F) ? a : cbl_expf(a) - 1.0F;
    }}
    __syncthreads();
    if (j < N_ACT) {{
        float a = b2[j];
        for (int k = 0; k < N_MID; k++) a = a + w2[j * N_MID + k] * mid[k];
        act[r * N_ACT + j] = a;
    }}
}}

/* Host entry: weights as in PolicyWeights, n robots. Returns 0, or the CUDA error code. */
extern "C" int cbl_policy_batch(const float *w_ih, const float *w_hh, const float *b_g, const float *w1,
                                const float *b1, const float *w2, const float *b2, float *h, float *c,
                                const float *obs, float *act, int n)
{{
    const size_t sizes[11] = {{N_GATE * N_OBS, N_GATE * N_HID, N_GATE, N_MID * N_HID, N_MID, N_ACT * N_MID,
                               N_ACT, (size_t)n * N_HID, (size_t)n * N_HID, (size_t)n * N_OBS, (size_t)n * N_ACT}};
    const float *src[11] = {{w_ih, w_hh, b_g, w1, b1, w2, b2, h, c, obs, act}};
    float *dev[11] = {{0}};
    cudaError_t e = cudaSuccess;
    for (int i = 0; i < 11 && e == cudaSuccess; i++) {{
        e = cudaMalloc((void **)&dev[i], sizes[i] * sizeof(float));
        if (e == cudaSuccess && i < 10) e = cudaMemcpy(dev[i], src[i], sizes[i] * sizeof(float), cudaMemcpyHostToDevice);
    }}
    if (e == cudaSuccess) {{
        cbl_policy_kernel<<<n, N_GATE>>>(dev[0], dev[1], dev[2], dev[3], dev[4], dev[5], dev[6], dev[7], dev[8],
                                          dev[9], dev[10], n);
        e = cudaGetLastError();
    }}
    if (e == cudaSuccess) e = cudaMemcpy(h, dev[7], sizes[7] * sizeof(float), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) e = cudaMemcpy(c, dev[8], sizes[8] * sizeof(float), cudaMemcpyDeviceToHost);
    if (e == cudaSuccess) e = cudaMemcpy(act, dev[10], sizes[10] * sizeof(float), cudaMemcpyDeviceToHost);
    for (int i = 0; i < 11; i++) if (dev[i]) cudaFree(dev[i]);
    return (int)e;
}}
"""

CDEF = """int cbl_policy_batch(const float *w_ih, const float *w_hh, const float *b_g, const float *w1,
                     const float *b1, const float *w2, const float *b2, float *h, float *c,
                     const float *obs, float *act, int n);"""


def device_math() -> str:
    """cbl_mathf32.h with every kernel made a __host__ __device__ function (same operations)."""
    text = RUNTIME.read_text()
    anchor = "#if defined(__GNUC__) && defined(__aarch64__)"
    if anchor not in text:
        raise ConfigError(f"{RUNTIME}: the square-root dispatch changed; update codegen.nn.cuda.device_math")
    # on the device, CUDA's IEEE round-to-nearest square root (the host asm does not apply there)
    text = text.replace(anchor, "#if defined(__CUDA_ARCH__)\n    r = __fsqrt_rn(x);\n#elif defined(__GNUC__) && defined(__aarch64__)", 1)
    return text.replace("static inline", "static __host__ __device__ inline")


def emit_cuda() -> str:
    """The whole ``policy_batch.cu`` (math kernels + batch kernel + host entry)."""
    sizes = {k: getattr(L, k) for k in ("N_OBS", "N_HID", "N_GATE", "N_MID", "N_ACT")}
    head = "/* policy_batch.cu: generated by cerebellum codegen.nn.cuda for codegen/nn/lstm_mlp.py. Do not edit. */\n"
    return head + device_math() + KERNEL.format(**sizes)


def nvcc() -> str:
    exe = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
    if exe is None:
        raise ConfigError("the CUDA policy kernel needs nvcc (the CUDA toolkit) on PATH")
    return exe


def build_cuda(out_dir: str | Path) -> dict[str, Path]:
    """Write the .cu and build PTX and a shared library with nvcc; paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = out / "policy_batch.cu"
    text = emit_cuda()
    src.write_text(text)
    tag = hashlib.sha256((text + " ".join(NVCC_FLAGS)).encode()).hexdigest()[:12]
    ptx, so = out / f"policy_batch-{tag}.ptx", out / f"libpolicy_batch-{tag}.so"
    exe = nvcc()
    for cmd, what in (([exe, *NVCC_FLAGS, "-ptx", str(src), "-o", str(ptx)], "PTX"),
                      ([exe, *NVCC_FLAGS, "-shared", "-Xcompiler", "-fPIC", str(src), "-o", str(so)], "library")):
        if not (ptx if what == "PTX" else so).exists():
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                raise DeviceError(f"nvcc failed building the policy {what}: {r.stderr.strip()[-400:]}")
    return {"cu": src, "ptx": ptx, "so": so}


def run_cuda(so: Path, cfg: np.void, h: np.ndarray, c: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """Evaluate ``len(obs)`` robots on the GPU; ``h``, ``c`` updated in place; returns the actions."""
    import cffi

    ffi = cffi.FFI()
    ffi.cdef(CDEF)
    lib = ffi.dlopen(str(so))
    n = obs.shape[0]
    act = np.zeros((n, L.N_ACT), np.float32)
    arrays: list[Any] = [np.ascontiguousarray(cfg[k], np.float32) for k in ("w_ih", "w_hh", "b_g", "w1", "b1", "w2", "b2")]
    for a, shape in ((h, (n, L.N_HID)), (c, (n, L.N_HID)), (obs, (n, L.N_OBS))):
        if a.dtype != np.float32 or a.shape != shape or not a.flags.c_contiguous:
            raise ConfigError(f"policy batch array has dtype {a.dtype} shape {a.shape}, needs C-contiguous float32 {shape}")
    ptrs = [ffi.cast("float *", a.ctypes.data) for a in (*arrays, h, c, obs, act)]
    err = lib.cbl_policy_batch(*ptrs, n)
    if err != 0:
        raise DeviceError(f"cbl_policy_batch: CUDA error {err} (no CUDA device, or out of memory)")
    return act
