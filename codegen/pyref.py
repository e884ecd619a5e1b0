"""Python back end: ir.Module -> the IR's own Python reference (the bit-exact oracle).

The reference is plain Python that numba compiles (``njit(error_model="numpy")``, so a float
division by zero gives inf/NaN as in C): every float operation is wrapped in ``_f`` (np.float32)
and every integer operation in ``_i`` (np.int32, which wraps), literals are float32 values,
and kernels are the ``cerebellum_rt.codegen.mathf32`` ones. It runs on the same records as the law
(``Rec.new()``, by reference). ``load_reference`` writes it next to the C files and imports it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from types import ModuleType

from cerebellum_rt.codegen import ir
from cerebellum_rt.codegen.ir import BOOL, F32, I32

_RUNTIME = '''import numpy as np
from cerebellum_rt.rtcore.jit import njit

from cerebellum_rt.codegen.mathf32 import atan2, clamp, exp, fabs, fmax, fmin, sin_cos, sqrt  # noqa: F401

_f = np.float32
_i = np.int32
_jit = njit(error_model="numpy", cache=True)


@_jit
def _toint(x):
    if x != x:
        return _i(0)
    if x >= _f(2147483648.0):
        return _i(2147483647)
    if x <= _f(-2147483648.0):
        return _i(-2147483648)
    return _i(x)


@_jit
def _floordiv(a, b):
    if b == 0:
        return _i(0)
    return _i(a // b)


@_jit
def _mod(a, b):
    if b == 0:
        return _i(0)
    return _i(a % b)
'''


def _kernels_digest() -> str:
    from cerebellum_rt.codegen import mathf32

    with open(mathf32.__file__, "rb") as fh:
        return hashlib.sha1(fh.read()).hexdigest()[:16]


def _f(v: float) -> str:
    return f"_f({float(v)!r})"


def branches(module: ir.Module) -> list[tuple[ir.Function, ir.Stmt | ir.IfExp, int]]:
    """Every branch of the IR (``if`` statements and conditional expressions, callees
    included) with its source line, in a fixed order: branch k of :func:`emit_reference`
    ``coverage=True``."""
    out: list[tuple[ir.Function, ir.Stmt | ir.IfExp, int]] = []

    def ex(f: ir.Function, e: ir.Expr, line: int) -> None:
        if isinstance(e, ir.IfExp):
            out.append((f, e, line))
        for v in vars(e).values():
            for x in (v if isinstance(v, list) else [v]):
                if isinstance(x, ir.Expr):
                    ex(f, x, line)

    def st(f: ir.Function, stmts: list[ir.Stmt]) -> None:
        for s in stmts:
            if isinstance(s, ir.If):
                out.append((f, s, s.line))
            for v in vars(s).values():
                for x in (v if isinstance(v, list) else [v]):
                    if isinstance(x, ir.Expr):
                        ex(f, x, s.line)
            if isinstance(s, ir.If):
                st(f, s.body)
                st(f, s.orelse)
            elif isinstance(s, ir.For):
                st(f, s.body)

    for f in module.functions.values():
        st(f, f.body)
    return out


class _PyEmitter:
    def __init__(self, module: ir.Module, coverage: bool = False):
        self.m = module
        self.cov = {id(node): k for k, (_, node, _) in enumerate(branches(module))} if coverage else None

    def _c(self, node: object, cond: str) -> str:
        """A branch condition; with coverage, recorded as taken/not taken in ``_cov``."""
        return cond if self.cov is None else f"_hit(_cov, {self.cov[id(node)]}, {cond})"

    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Const):
            if e.ty == F32:
                return _f(e.value)
            if e.ty == I32:
                return f"_i({int(e.value)})"
            return "True" if e.value else "False"
        if isinstance(e, ir.Local):
            return e.name
        if isinstance(e, ir.Field):
            return f"{e.rec}.{e.name}"
        if isinstance(e, ir.Elem):
            return f"{e.rec}.{e.name}[{self.expr(e.index)}]"
        if isinstance(e, ir.RecRef):
            return e.rec
        if isinstance(e, ir.Cast):
            if e.ty == I32 and e.arg.ty == F32:
                return f"_toint({self.expr(e.arg)})"
            return f"{'_f' if e.ty == F32 else '_i'}({self.expr(e.arg)})"
        if isinstance(e, ir.Bin):
            a, b = self.expr(e.a), self.expr(e.b)
            if e.ty == BOOL:
                return f"({a} {e.op} {b})"
            if e.op == "//":
                return f"_floordiv({a}, {b})"
            if e.op == "%":
                return f"_mod({a}, {b})"
            return f"{'_f' if e.ty == F32 else '_i'}({a} {e.op} {b})"
        if isinstance(e, ir.Unary):
            a = self.expr(e.a)
            if e.op == "not":
                return f"(not {a})"
            return f"{'_f' if e.ty == F32 else '_i'}({e.op}{a})"
        if isinstance(e, ir.Cmp):
            return f"({self.expr(e.a)} {e.op} {self.expr(e.b)})"
        if isinstance(e, ir.BoolOp):
            return "(" + f" {e.op} ".join(self.expr(a) for a in e.args) + ")"
        if isinstance(e, ir.IfExp):
            return f"({self.expr(e.a)} if {self._c(e, self.expr(e.cond))} else {self.expr(e.b)})"
        if isinstance(e, ir.Call):
            args = ", ".join(self.expr(a) for a in e.args)
            if e.kind == "kernel":
                return f"{e.func}({args})"
            return f"_law_{e.func}({args}{', _cov' if self.cov is not None else ''})"
        raise TypeError(f"unknown IR expression {e!r}")

    def block(self, stmts: list[ir.Stmt], ind: str) -> list[str]:
        out: list[str] = []
        for s in stmts:
            out.extend(self.stmt(s, ind))
        return out or [f"{ind}pass"]

    def stmt(self, s: ir.Stmt, ind: str) -> list[str]:
        tag = f"  # :{s.line}"
        if isinstance(s, ir.Assign):
            return [f"{ind}{self.expr(s.target)} = {self.expr(s.value)}{tag}"]
        if isinstance(s, ir.SinCos):
            return [f"{ind}{s.s}, {s.c} = sin_cos({self.expr(s.arg)}){tag}"]
        if isinstance(s, ir.ExprStmt):
            return [f"{ind}{self.expr(s.value)}{tag}"]
        if isinstance(s, ir.If):
            lines = [f"{ind}if {self._c(s, self.expr(s.cond))}:{tag}", *self.block(s.body, ind + "    ")]
            if s.orelse:
                lines += [f"{ind}else:", *self.block(s.orelse, ind + "    ")]
            return lines
        if isinstance(s, ir.For):
            return [f"{ind}for {s.var} in range({s.start}, {s.stop}, {s.step}):{tag}", *self.block(s.body, ind + "    ")]
        if isinstance(s, ir.Return):
            return [f"{ind}return{' ' + self.expr(s.value) if s.value is not None else ''}{tag}"]
        if isinstance(s, ir.Break):
            return [f"{ind}break{tag}"]
        if isinstance(s, ir.Continue):
            return [f"{ind}continue{tag}"]
        raise TypeError(f"unknown IR statement {s!r}")

    def function(self, f: ir.Function) -> list[str]:
        params = ", ".join([p.name for p in f.params] + (["_cov"] if self.cov is not None else []))
        lines = ["", "", "@_jit", f"def _law_{f.name}({params}):", f'    """{f.file}:{f.line} {f.name}"""']
        pnames = {p.name for p in f.params}
        for name, ty in f.locals.items():  # typed locals, like the C declarations
            if name not in pnames:
                lines.append(f"    {name} = {_f(0.0) if ty == F32 else '_i(0)' if ty == I32 else 'False'}")
        for p in f.params:
            if p.ty in (F32, I32):  # scalar arguments arrive as Python numbers: make them float32/int32
                lines.append(f"    {p.name} = {'_f' if p.ty == F32 else '_i'}({p.name})")
        return lines + self.block(f.body, "    ")


_COVERAGE_RUNTIME = '''

@_jit
def _hit(cov, k, c):
    if c:
        cov[k, 1] = 1
    else:
        cov[k, 0] = 1
    return c
'''


def emit_reference(module: ir.Module, coverage: bool = False) -> str:
    """Source text of the reference module; its ``step`` is the entry law. With ``coverage``,
    ``run_batch`` takes one more array ``cov[n, K, 2]`` (uint8): per vector, branch k of
    :func:`branches` taken (1) / not taken (0)."""
    em = _PyEmitter(module, coverage)
    entry = module.functions[module.entry]
    out = [f'"""Python reference of {entry.name} ({entry.file}:{entry.line}), generated by cerebellum codegen."""',
           f"# kernels: codegen/mathf32.py sha1 {_kernels_digest()} (a change invalidates numba's cache of this file)",
           "", _RUNTIME + (_COVERAGE_RUNTIME if coverage else "")]
    for f in module.functions.values():
        out += em.function(f)
    names = [f"p{k}" for k in range(len(entry.params))]
    call = f"_law_{module.entry}({', '.join([*(f'{n}[i]' for n in names), *(['cov[i]'] if coverage else [])])})"
    out += ["", "", f"step = _law_{module.entry}", "", "", "@_jit",
            f"def run_batch({', '.join([*names, 'res', *(['cov'] if coverage else [])])}):",
            '    """One step per vector: parameter arrays (records by reference), results into res."""',
            "    for i in range(res.shape[0]):", f"        {'res[i] = ' if entry.ret else ''}{call}", ""]
    return "\n".join(out)


def load_reference(module: ir.Module, directory: str, name: str, coverage: bool = False) -> ModuleType:
    """Write ``<directory>/<name>_ref.py`` (``_cov.py`` with coverage; if changed) and import it
    (numba-cached)."""
    path = os.path.join(directory, f"{name}_{'cov' if coverage else 'ref'}.py")
    text = emit_reference(module, coverage)
    old = None
    if os.path.exists(path):
        with open(path) as fh:
            old = fh.read()
    if old != text:  # an unchanged file keeps numba's on-disk cache valid
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)  # atomic: a concurrent run never imports half a file
    modname = f"_cbl_ref_{name}_{hashlib.sha1(os.path.abspath(path).encode()).hexdigest()[:12]}"  # stable: numba's cache imports it
    spec = importlib.util.spec_from_file_location(modname, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod
