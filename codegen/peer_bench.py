"""Generated C vs CasADi-generated C for the same function, on Cortex-M4F under QEMU.

Both sides run in the same bare-metal harness (``cortexm_startup.c``, semihosting, QEMU
``-icount shift=0`` + SysTick): a loop over embedded input vectors calls the function through a
small adapter; a second loop calls an empty adapter; instructions per call = the difference of
the two, in SysTick ticks x 40, over the vector count. Bytes = (text + data) of the image with
the call minus the same image with the call compiled out (``--gc-sections``), i.e. the function
and everything it pulls in (math kernels, or newlib's libm for CasADi's double ``sin``).

CasADi's C is compiled with ``casadi_real`` = float and ``-fsingle-precision-constant`` (its
literals would otherwise be double), and measured twice: as generated (math from newlib libm:
``sin``, ``cos``, ``fmin``... in double) and with its math calls mapped to our float32 kernels
(``casadi_kernels``), which compares the generated code itself.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import numpy as np

from cerebellum_rt.codegen import targets
from cerebellum_rt.codegen.build import EXACT_FLAGS, RUNTIME_DIR
from cerebellum_rt.codegen.pil import INSNS_PER_TICK

_SHIM = """/* CasADi's math calls -> the project's float32 kernels (bench variant casadi_kernels) */
#include <math.h>
#include "cbl_mathf32.h"
static inline float cbl_sinf(float x) { float s, c; cbl_sin_cos(x, &s, &c); return s; }
static inline float cbl_cosf(float x) { float s, c; cbl_sin_cos(x, &s, &c); return c; }
#define sin(x) cbl_sinf(x)
#define cos(x) cbl_cosf(x)
#define fmin(x, y) cbl_fminf(x, y)
#define fmax(x, y) cbl_fmaxf(x, y)
#define fabs(x) cbl_fabsf(x)
#define sqrt(x) cbl_sqrtf(x)
#define exp(x) cbl_expf(x)
#define atan2(y, x) cbl_atan2f(y, x)
"""


def _blob(b: bytes) -> str:
    return ",\n".join(", ".join(str(x) for x in b[i: i + 24]) for i in range(0, len(b), 24))


def harness(decls: str, call: str, empty: str, n: int) -> str:
    """main.c: ``decls`` (data + includes), ``call`` / ``empty`` adapter bodies using ``i``."""
    return f"""{decls}
#include "cbl_pil.h"
__attribute__((noinline)) static void call_fn(int i) {{
#if CBL_CALL
{call}
#else
{empty}
#endif
}}
__attribute__((noinline)) static void call_empty(int i) {{
{empty}
}}
int main(void) {{
    char line[64], *q = line;
    cbl_timer_start();
    uint64_t t0 = cbl_ticks();
    for (int i = 0; i < {n}; i++) call_empty(i);
    uint64_t t1 = cbl_ticks();
    for (int i = 0; i < {n}; i++) call_fn(i);
    uint64_t t2 = cbl_ticks();
    for (const char *s = "ticks "; *s;) *q++ = *s++;
    q = cbl_hex(q, t2 - t1, 12);
    *q++ = ' ';
    q = cbl_hex(q, t1 - t0, 12);
    *q++ = '\\n';
    *q = 0;
    cbl_puts(line);
    return 0;
}}
"""


def measure_m4f(work: str, tag: str, main_c: str, sources: list[str], extra: list[str], n: int,
                libs: list[str]) -> dict[str, Any]:
    """Build the harness with and without the call; (bytes, insns per call) on Cortex-M4F."""
    t = targets.get_target("cortex-m4f")
    for f in ("cbl_pil.h", "cortexm_startup.c", "cortexm.ld", "cbl_mathf32.h", "cbl_law.h"):
        shutil.copy(os.path.join(RUNTIME_DIR, f), os.path.join(work, f))
    path = os.path.join(work, f"{tag}_main.c")
    with open(path, "w") as fh:
        fh.write(main_c)
    sizes = {}
    for call in (1, 0):
        elf = os.path.join(work, f"{tag}.{call}.elf")
        cmd = [t.cc, *t.cflags, "-Os", *EXACT_FLAGS, *extra, f"-DCBL_CALL={call}", "-I", work, path, *sources,
               os.path.join(work, "cortexm_startup.c"), "-nostdlib", "-T", os.path.join(work, "cortexm.ld"),
               "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", *libs, "-lgcc", "-o", elf]
        targets._sh(cmd, f"build bench image {tag}")
        text, data, _ = targets.size_of(t, elf)
        sizes[call] = text + data
    out = targets._sh([*t.qemu, "-nographic", "-semihosting", "-icount", "shift=0", "-kernel",
                       os.path.join(work, f"{tag}.1.elf")], f"run bench image {tag}", 300, both=True)
    parts = out.split("ticks ")[-1].split()
    t_fn, t_empty = int(parts[0], 16), int(parts[1], 16)
    return {"bytes": sizes[1] - sizes[0], "insns": round((t_fn - t_empty) * INSNS_PER_TICK / n, 1)}


def casadi_sources(fn: Any, work: str, name: str) -> str:
    """Generate ``<name>.c`` with CasADi (float) into ``work``; returns its path."""
    cwd = os.getcwd()
    os.chdir(work)
    try:
        fn.generate(f"{name}.c", {"casadi_real": "float", "casadi_int": "int", "with_header": False})
    finally:
        os.chdir(cwd)
    with open(os.path.join(work, "casadi_shim.h"), "w") as fh:
        fh.write(_SHIM)
    return os.path.join(work, f"{name}.c")


def casadi_decls(fn: Any, name: str, x: np.ndarray, n_out: int) -> tuple[str, str, str]:
    """(decls, call, empty) of the CasADi adapter: arg/res pointer arrays per vector."""
    n, n_in = x.shape
    decls = f"""#include <stdint.h>
int {name}(const float **arg, float **res, int *iw, float *w, int mem);
static union {{ uint8_t b[{x.nbytes}]; float v[{n}][{n_in}]; }} X = {{ .b = {{ {_blob(x.astype(np.float32).tobytes())} }} }};
static float Y[{n}][{n_out}];
static float W[{max(int(fn.sz_w()), 1)}];
static int IW[{max(int(fn.sz_iw()), 1)}];
static const float *ARG[{max(int(fn.sz_arg()), 1)}];
static float *RES[{max(int(fn.sz_res()), 1)}];"""
    call = f"    ARG[0] = X.v[i]; RES[0] = Y[i]; {name}(ARG, RES, IW, W, 0);"
    empty = ("    ARG[0] = X.v[i]; RES[0] = Y[i];\n"
             "    __asm__ volatile(\"\" :: \"r\"(X.v[i]), \"r\"(Y[i]), \"r\"(ARG), \"r\"(RES), \"r\"(W), \"r\"(IW) : \"memory\");")
    return decls, call, empty


def casadi_host(fn: Any, work: str, name: str, src: str, x: np.ndarray, n_out: int, shim: bool) -> np.ndarray:
    """Run the CasADi C on this machine (cffi) over ``x``; outputs [n, n_out] float32."""
    import importlib.util

    import cffi

    ffi = cffi.FFI()
    ffi.cdef("void run_all(const float *x, float *y, int n, int nin, int nout);")
    body = f"""#include "{os.path.basename(src)}"
void run_all(const float *x, float *y, int n, int nin, int nout) {{
    static float w[{max(int(fn.sz_w()), 1)}]; static int iw[{max(int(fn.sz_iw()), 1)}];
    const float *arg[{max(int(fn.sz_arg()), 1)}]; float *res[{max(int(fn.sz_res()), 1)}];
    for (int i = 0; i < n; i++) {{ arg[0] = x + i * nin; res[0] = y + i * nout; {name}(arg, res, iw, w, 0); }}
}}"""
    mod = f"_cbl_casadi_{name}_{'k' if shim else 'm'}"
    args = ["-O2", *EXACT_FLAGS, "-std=gnu99", "-fsingle-precision-constant", "-w"] + (["-include", "casadi_shim.h"] if shim else [])
    ffi.set_source(mod, body, include_dirs=[work], extra_compile_args=args, libraries=["m"])
    path = ffi.compile(tmpdir=work)
    spec = importlib.util.spec_from_file_location(mod, path)
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    xs = np.ascontiguousarray(x, np.float32)
    y = np.zeros((len(x), n_out), np.float32)
    m.lib.run_all(m.ffi.cast("float *", m.ffi.from_buffer(xs)), m.ffi.cast("float *", m.ffi.from_buffer(y)),
                  len(x), x.shape[1], n_out)
    return y


def max_ulp(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in float32 units in the last place (NaN == NaN; NaN vs number: 2^32)."""
    a, b = np.asarray(a, np.float32).ravel(), np.asarray(b, np.float32).ravel()
    na, nb = np.isnan(a), np.isnan(b)
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    oa = np.where(ia < 0, -(2**31) - ia, ia)
    ob = np.where(ib < 0, -(2**31) - ib, ib)
    d = np.abs(oa - ob)
    d = np.where(na & nb, 0, np.where(na | nb, 2**32, d))
    return int(d.max()) if d.size else 0
