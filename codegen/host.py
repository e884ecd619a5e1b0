"""Laws on the host: what a loop runner, an emulated board or a simulation calls is the law's IR.

``host_law(law)`` compiles ``law`` (and the laws it calls) through the front end and returns the
``step`` of its Python reference (``pyref``): numba machine code produced from the same IR as
the C, with the C's semantics (float32 literals and module constants, int32 wrap, saturating
float -> int). So a law written in plain Python (``e = 0.0``, ``DEADBAND = 1e-6``, ``math.pi``)
gives the same bits in the host loop as on the MCU; ``f32(...)`` around literals is harmless and
never needed. The callable is a numba dispatcher: call it from Python or from other ``@njit``
code, on the same records (``Rec.new()``, by reference) and scalars as the law.

The reference file lives in ``__pycache__/cbl_host/`` beside the law (``CBL_HOST_LAW_DIR``
moves it; a read-only package falls back to the temp directory), so numba's on-disk cache
survives runs. When the file changes (the law or codegen changed), the numba cache files of the
calling package are dropped too: numba keys a cached caller on its own source file only.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from cerebellum_rt.codegen.frontend import compile_law
from cerebellum_rt.codegen.frontend_expr import py_function
from cerebellum_rt.codegen.pyref import load_reference
from cerebellum_rt.rtcore.errors import ConfigError

_cache: dict[Any, Any] = {}


def _law_dir(src: str) -> Path:
    env = os.environ.get("CBL_HOST_LAW_DIR")
    if env:
        return Path(env) / hashlib.sha1(os.path.abspath(src).encode()).hexdigest()[:12]
    d = Path(src).resolve().parent / "__pycache__" / "cbl_host"
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = d / f".w{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        return d
    except OSError:
        return Path(tempfile.gettempdir()) / "cerebellum-host-laws" / hashlib.sha1(src.encode()).hexdigest()[:12]


def _drop_numba_cache(directory: Path) -> None:
    cache = directory / "__pycache__"
    if os.environ.get("NUMBA_CACHE_DIR") or not cache.is_dir():
        return
    for f in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
        f.unlink(missing_ok=True)


def host_law(law: Any, _caller_depth: int = 1) -> Any:
    """The host executable of ``law`` (a law function or a numba dispatcher of one): the numba
    dispatcher of its IR reference, compiled with the generated C's semantics."""
    pyf = py_function(law)
    if pyf is None:
        raise ConfigError(f"host_law: {law!r} is not a law function")
    if pyf in _cache:
        return _cache[pyf]
    module = compile_law(pyf)
    src = module.functions[module.entry].file
    directory = _law_dir(src)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module.entry}_ref.py"
    before = path.read_bytes() if path.exists() else None
    ref = load_reference(module, str(directory), module.entry)
    if before is not None and before != path.read_bytes():
        dirs = {Path(src).resolve().parent}
        frame = sys._getframe(1)
        for _ in range(_caller_depth - 1):  # the caller's package: its cached kernels call this law
            frame = frame.f_back if frame.f_back is not None else frame
        dirs.add(Path(frame.f_code.co_filename).resolve().parent)
        for d in dirs:
            _drop_numba_cache(d)
    step = ref.step
    step.ir_module = module  # type: ignore[attr-defined]  # for checks and codegen tools
    step.run_batch = ref.run_batch  # type: ignore[attr-defined]  # the same machine code over a batch
    _cache[pyf] = step
    return step
