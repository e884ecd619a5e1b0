"""Build-on-first-use of compiled parts, into a cache keyed by the sources' hash.

- :func:`cyloop` cythonizes ``rtcore/_cyloop.pyx`` and compiles it with the system gcc into a
  CPython extension, then imports it;
- :func:`c_executable` compiles a C program (given its sources and include folders) into an
  executable; the loop benchmark's C reference loop (``cerebellum_rt.tools.bench.refloop``) is one.

The cache is ``$CBL_CACHE`` or ``~/.cache/cerebellum``; an entry's name carries the SHA-256 of
every input (sources, headers, flags, Cython and Python versions), so an edit rebuilds and
nothing is ever rebuilt needlessly. Builds go to a temporary name and are renamed into place,
so concurrent first uses are safe. A missing compiler is a :class:`~rtcore.errors.ConfigError`
naming the command.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from types import ModuleType

from cerebellum_rt.rtcore.errors import ConfigError

HERE = Path(__file__).resolve().parent
C_FLAGS = ["-O2", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Werror=implicit-function-declaration"]
_loaded: dict[str, ModuleType] = {}


def cache_dir() -> Path:
    """Where built artefacts live (``$CBL_CACHE`` or ``~/.cache/cerebellum``)."""
    d = Path(os.environ.get("CBL_CACHE") or Path.home() / ".cache" / "cerebellum")
    d.mkdir(parents=True, exist_ok=True)
    return d


def _key(paths: list[Path], extra: list[str]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    for e in extra:
        h.update(e.encode())
    return h.hexdigest()[:16]


def _gcc() -> str:
    cc = os.environ.get("CC", "gcc")
    if shutil.which(cc) is None:
        raise ConfigError(f"C compiler '{cc}' not found on PATH (install gcc, or set CC)")
    return cc


def _run(cmd: list[str], what: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise ConfigError(f"building {what} failed (exit {res.returncode}): {' '.join(cmd)}\n{res.stderr[-2000:]}")


def c_executable(name: str, main: Path, headers: list[Path], include_dirs: list[Path]) -> Path:
    """Path of the executable ``name`` built with gcc from ``main`` (which includes ``headers``,
    found in ``include_dirs``); built on first use, rebuilt when any of them changes."""
    srcs = [main, *headers]
    cc = _gcc()
    exe = cache_dir() / f"{name}-{_key(srcs, [cc, *C_FLAGS])}"
    if not exe.exists():
        tmp = exe.with_name(f"{exe.name}.{os.getpid()}.tmp")
        _run([cc, *C_FLAGS, *(f"-I{d}" for d in include_dirs), "-o", str(tmp), str(main)], name)
        os.replace(tmp, exe)
    return exe


def cyloop() -> ModuleType:
    """The compiled Cython runner module ``cerebellum_rt.rtcore._cyloop`` (cythonized and built on first use)."""
    if "cyloop" in _loaded:
        return _loaded["cyloop"]
    import Cython

    pyx = HERE / "_cyloop.pyx"
    cc = _gcc()
    inc = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    flags = [*C_FLAGS, "-fPIC", "-shared", "-fno-strict-aliasing", "-fwrapv", "-Wno-unused-function"]
    key = _key([pyx], [cc, *flags, Cython.__version__, sys.version])
    so = cache_dir() / f"cyloop-{key}" / f"_cyloop{suffix}"
    if not so.exists():
        so.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=so.parent) as tmp:
            c_file = Path(tmp) / "_cyloop.c"
            _run([sys.executable, "-m", "cython", "-3", "-o", str(c_file), str(pyx)], "the Cython runner (cython)")
            out = Path(tmp) / so.name
            _run([cc, *flags, f"-I{inc}", "-o", str(out), str(c_file)], "the Cython runner (gcc)")
            os.replace(out, so)
    spec = importlib.util.spec_from_file_location("cerebellum_rt.rtcore._cyloop", so)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load the Cython runner from {so}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    _loaded["cyloop"] = mod
    return mod
