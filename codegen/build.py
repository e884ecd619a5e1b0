"""Generate a law's files into a directory, and build the host (SIL) version through cffi.

``generate(law, out_dir)`` writes ``<name>.h``, ``<name>.c``, the runtime headers
(``cbl_law.h``, ``cbl_mathf32.h``) and the Python reference ``<name>_ref.py``.
``build_host(gen)`` compiles the C with gcc into a CPython extension (cffi, API mode) exposing
``<name>_step_r`` and a batch driver; ``Sil.run(batch)`` steps it once per vector.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import shutil
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from cerebellum_rt.codegen import ir, vectors
from cerebellum_rt.codegen.cgen import emit_c, law_name
from cerebellum_rt.codegen.frontend import compile_law
from cerebellum_rt.codegen.ir import C_TYPES
from cerebellum_rt.codegen.law import ArrayType
from cerebellum_rt.codegen.pyref import load_reference
from cerebellum_rt.rtcore.errors import ConfigError

RUNTIME_DIR = os.path.join(os.path.dirname(__file__), "runtime")
RUNTIME_HEADERS = ("cbl_law.h", "cbl_mathf32.h")
#: C flags that make the generated C bit-identical to the reference (never -ffast-math).
EXACT_FLAGS = ["-std=c99", "-ffp-contract=off", "-fno-math-errno"]


@dataclass
class Generated:
    name: str
    out_dir: str
    module: ir.Module
    header: str
    source: str
    reference: ModuleType | None = None
    files: list[str] = field(default_factory=list)
    coverage_ref: ModuleType | None = None  # the reference instrumented per branch (codegen.exercise)


def load_law(spec: str) -> Any:
    """``module.path:function`` or ``path/to/file.py:function`` -> the law function."""
    if ":" not in spec:
        raise ConfigError(f"law '{spec}' is not 'module:function' or 'path/file.py:function'")
    where, fname = spec.rsplit(":", 1)
    if where.endswith(".py") or os.sep in where:
        if not os.path.isfile(where):
            raise ConfigError(f"law file '{where}' does not exist")
        modname = "_cbl_law_" + hashlib.sha1(os.path.abspath(where).encode()).hexdigest()[:12]
        s = importlib.util.spec_from_file_location(modname, where)
        mod = importlib.util.module_from_spec(s)
        sys.modules[modname] = mod
        try:  # a law file is code: importing it runs it
            s.loader.exec_module(mod)
        except (Exception, SystemExit) as exc:
            raise ConfigError(f"law file '{where}' failed to import: {type(exc).__name__}: {exc}") from None
    else:
        try:
            mod = importlib.import_module(where)
        except (Exception, SystemExit) as exc:
            raise ConfigError(f"law module '{where}' cannot be imported: {type(exc).__name__}: {exc}") from None
    if not hasattr(mod, fname):
        raise ConfigError(f"law '{fname}' is not defined in '{where}'")
    return getattr(mod, fname)


def generate(law: Any, out_dir: str, reference: bool = True) -> Generated:
    """Compile ``law`` to IR and write the C files, runtime headers and (optionally) the reference."""
    module = compile_law(law)
    name = law_name(module)
    os.makedirs(out_dir, exist_ok=True)
    root = os.getcwd()
    h, c = emit_c(module, root)
    files = []
    for fname, text in ((f"{name}.h", h), (f"{name}.c", c)):
        path = os.path.join(out_dir, fname)
        with open(path, "w") as fh:
            fh.write(text)
        files.append(path)
    for hdr in RUNTIME_HEADERS:
        shutil.copy(os.path.join(RUNTIME_DIR, hdr), os.path.join(out_dir, hdr))
        files.append(os.path.join(out_dir, hdr))
    gen = Generated(name, out_dir, module, h, c, files=files)
    if reference:
        gen.reference = load_reference(module, out_dir, name)
        files.append(os.path.join(out_dir, f"{name}_ref.py"))
    return gen


def cdef_records(module: ir.Module) -> str:
    """The record structs as a cffi cdef (no preprocessor lines)."""
    out = []
    for rname, rec in module.records.items():
        out.append(f"typedef struct {rname} {{")
        for fname, t in rec.fields():
            base = t.elem if isinstance(t, ArrayType) else t
            ct = {np.float32: "float", np.int32: "int32_t", np.bool_: "_Bool"}[base]
            out.append(f"    {ct} {fname}{f'[{t.n}]' if isinstance(t, ArrayType) else ''};")
        out.append(f"}} {rname};")
    return "\n".join(out)


def batch_signature(module: ir.Module, fn: str = "cbl_batch") -> str:
    entry = module.functions[module.entry]
    ps = [f"{p.record.__name__} *p{k}" if p.ty == "rec" else f"{C_TYPES[p.ty]} *p{k}"
          for k, p in enumerate(entry.params)]
    rt = C_TYPES[entry.ret] if entry.ret else "int32_t"
    return f"void {fn}({', '.join([*ps, f'{rt} *res', 'int32_t n'])})"


def batch_body(module: ir.Module) -> str:
    entry = module.functions[module.entry]
    args = ", ".join(f"&p{k}[i]" if p.ty == "rec" else f"p{k}[i]" for k, p in enumerate(entry.params))
    call = f"{law_name(module)}_step_r({args})"
    return f"    for (int32_t i = 0; i < n; i++) {{ {'res[i] = ' if entry.ret else ''}{call}; }}"


class Sil:
    """The host build of a law, loaded through cffi (software-in-the-loop)."""

    def __init__(self, gen: Generated, ffi: Any, lib: Any):
        self.gen, self.ffi, self.lib = gen, ffi, lib

    def run(self, batch: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
        """One C step per vector on a copy of ``batch``: (parameters after, results)."""
        b = vectors.copy_batch(batch)
        res = vectors.result_array(self.gen.module, len(b[0]))
        ptrs = [self.ffi.cast("void *", self.ffi.from_buffer(a)) for a in [*b, res]]
        self.lib.cbl_batch(*ptrs, len(res))
        return b, res

    def offsets(self) -> dict[str, dict[str, int]]:
        """C field offsets of every record (to check them against the numpy dtypes)."""
        return {r: {f: self.ffi.offsetof(r, f) for f, _ in rec.fields()} | {"sizeof": self.ffi.sizeof(r)}
                for r, rec in self.gen.module.records.items()}


def build_host(gen: Generated, opt: str = "-O2", flags: list[str] | None = None) -> Sil:
    """Compile the generated C for this machine (gcc, cffi API mode) and load it. ``flags``
    replaces codegen's exact flags (``opt`` + EXACT_FLAGS) by an integrator's own."""
    import cffi

    if shutil.which("gcc") is None and shutil.which("cc") is None:
        raise ConfigError("cbl build --target host needs a C compiler (gcc) on PATH")
    ffi = cffi.FFI()
    sig = batch_signature(gen.module)
    entry = gen.module.functions[gen.module.entry]
    ps = ", ".join(f"{p.record.__name__} *" if p.ty == "rec" else C_TYPES[p.ty] for p in entry.params)
    proto = f"{C_TYPES[entry.ret] if entry.ret else 'void'} {gen.name}_step_r({ps});"
    ffi.cdef(cdef_records(gen.module) + "\n" + proto + "\n" + sig.replace("bool", "_Bool") + ";")
    src = f'#include "{gen.name}.c"\n{sig}\n{{\n{batch_body(gen.module)}\n}}\n'
    cc_flags = flags if flags is not None else [opt, *EXACT_FLAGS]
    digest = hashlib.sha1((gen.source + gen.header + src + " ".join(cc_flags)).encode()).hexdigest()[:10]
    modname = f"_cbl_sil_{gen.name}_{digest}"
    ffi.set_source(modname, src, include_dirs=[os.path.abspath(gen.out_dir)],
                   extra_compile_args=[*cc_flags, "-Wall", "-Wno-unused-function"])
    import glob

    built = glob.glob(os.path.join(gen.out_dir, f"{modname}.*.so")) + glob.glob(os.path.join(gen.out_dir, f"{modname}.so"))
    path = built[0] if built else ffi.compile(tmpdir=gen.out_dir, verbose=False)
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return Sil(gen, mod.ffi, mod.lib)
