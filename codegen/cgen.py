"""C99 back end: ir.Module -> ``<name>.h`` / ``<name>.c`` (readable, no malloc, no recursion).

API of the generated code, for a law ``pi_step(cfg: PIConfig, st: PIState, err: f32) -> f32``::

    typedef struct PIConfig {...} PIConfig;         same layout as PIConfig.dtype() (aligned)
    void PIConfig_defaults(PIConfig *r);            the Record class defaults
    float pi_step_r(PIConfig *cfg, PIState *st, float err);   reentrant: records by pointer
    extern PIConfig pi_cfg; extern PIState pi_st;   static storage (zero-initialised)
    void pi_init(void);                             defaults into the static records
    float pi_step(float err);                       one step on the static records

Laws it calls become ``static`` functions ``<name>__<law>`` of the same file. Every function
carries a comment naming its Python file:line, every statement its line.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

from cerebellum_rt.codegen import ir
from cerebellum_rt.codegen.ir import BOOL, C_TYPES, F32, I32
from cerebellum_rt.codegen.law import ArrayType

C_KEYWORDS = set(["auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool", "true", "false", "int32_t", "uint32_t"])
_KERNEL_C = {"fabs": "cbl_fabsf", "fmin": "cbl_fminf", "fmax": "cbl_fmaxf", "clamp": "cbl_clampf",
             "sqrt": "cbl_sqrtf", "exp": "cbl_expf", "atan2": "cbl_atan2f"}
_INT_FN = {"+": "cbl_add_i32", "-": "cbl_sub_i32", "*": "cbl_mul_i32", "//": "cbl_floordiv_i32",
           "%": "cbl_mod_i32", "<<": "cbl_shl_i32"}


def law_name(module: ir.Module) -> str:
    """C prefix of a law: its function name without a trailing ``_step``."""
    n = module.entry
    return n[: -len("_step")] if n.endswith("_step") and len(n) > 5 else n


def c_float(v: float) -> str:
    """A float32 value as a C literal that parses back to the same float32 (shortest repr + F)."""
    f = np.float32(v)
    if not np.isfinite(f):
        return "__builtin_inff()" if f > 0 else "(-__builtin_inff())" if f < 0 else "__builtin_nanf(\"\")"
    s = str(f)
    if "." not in s and "e" not in s:
        s += ".0"
    return s + "F"


def _bare(c: str) -> str:
    """``(a < b)`` -> ``a < b`` when the outer parentheses enclose the whole expression."""
    if not (c.startswith("(") and c.endswith(")")):
        return c
    depth = 0
    for i, ch in enumerate(c):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(c) - 1:
            return c
    return c[1:-1]


def c_int(v: int) -> str:
    return "(-2147483647 - 1)" if v == -(2**31) else str(int(v))


def cid(name: str) -> str:
    return name + "_" if name in C_KEYWORDS or name.startswith("cbl_") else name


def c_ctype(t: object) -> str:
    return {np.float32: "float", np.int32: "int32_t", np.bool_: "bool"}[t]


class _Emitter:
    def __init__(self, module: ir.Module, rel: str):
        self.m, self.rel, self.prefix = module, rel, law_name(module)
        self.fn: ir.Function | None = None
        self.used: set[str] = set()  # module constants the C reads

    def fname(self, f: str) -> str:
        return f"{self.prefix}_step_r" if f == self.m.entry else f"{self.prefix}__{f}"

    def expr(self, e: ir.Expr) -> str:
        if isinstance(e, ir.Const):
            if e.name is not None:
                self.used.add(e.name)
                return e.name
            if e.ty == F32:
                return c_float(e.value)
            if e.ty == I32:
                return c_int(e.value)
            return "true" if e.value else "false"
        if isinstance(e, ir.Local):
            return cid(e.name)
        if isinstance(e, ir.Field):
            return f"{cid(e.rec)}->{e.name}"
        if isinstance(e, ir.Elem):
            return f"{cid(e.rec)}->{e.name}[{self.expr(e.index)}]"
        if isinstance(e, ir.RecRef):
            return cid(e.rec)
        if isinstance(e, ir.Cast):
            if e.ty == I32 and e.arg.ty == F32:
                return f"cbl_f32_to_i32({self.expr(e.arg)})"
            return f"(({C_TYPES[e.ty]})({self.expr(e.arg)}))"
        if isinstance(e, ir.Bin):
            a, b = self.expr(e.a), self.expr(e.b)
            if e.ty == I32 and e.op in _INT_FN:
                return f"{_INT_FN[e.op]}({a}, {b})"
            return f"({a} {e.op} {b})"
        if isinstance(e, ir.Unary):
            a = self.expr(e.a)
            if e.op == "not":
                return f"(!{a})"
            if e.op == "-" and e.ty == I32:
                return f"cbl_neg_i32({a})"
            return f"({e.op}{a})"
        if isinstance(e, ir.Cmp):
            return f"({self.expr(e.a)} {e.op} {self.expr(e.b)})"
        if isinstance(e, ir.BoolOp):
            return "(" + (" && " if e.op == "and" else " || ").join(self.expr(a) for a in e.args) + ")"
        if isinstance(e, ir.IfExp):
            return f"({self.expr(e.cond)} ? {self.expr(e.a)} : {self.expr(e.b)})"
        if isinstance(e, ir.Call):
            args = ", ".join(self.expr(a) for a in e.args)
            if e.kind == "kernel":
                return f"{_KERNEL_C[e.func]}({args})"
            return f"{self.fname(e.func)}({args})"
        raise TypeError(f"unknown IR expression {e!r}")

    def block(self, stmts: list[ir.Stmt], ind: str) -> list[str]:
        out: list[str] = []
        for s in stmts:
            out.extend(self.stmt(s, ind))
        return out

    def stmt(self, s: ir.Stmt, ind: str) -> list[str]:
        tag = f"  /* :{s.line} */"
        if isinstance(s, ir.Assign):
            return [f"{ind}{self.expr(s.target)} = {_bare(self.expr(s.value))};{tag}"]
        if isinstance(s, ir.SinCos):
            return [f"{ind}cbl_sin_cos({self.expr(s.arg)}, &{cid(s.s)}, &{cid(s.c)});{tag}"]
        if isinstance(s, ir.ExprStmt):
            return [f"{ind}(void){self.expr(s.value)};{tag}"]
        if isinstance(s, ir.If):
            lines = [f"{ind}if ({_bare(self.expr(s.cond))}) {{{tag}", *self.block(s.body, ind + "    ")]
            orelse = s.orelse
            while len(orelse) == 1 and isinstance(orelse[0], ir.If):  # else if chain
                e = orelse[0]
                lines += [f"{ind}}} else if ({_bare(self.expr(e.cond))}) {{  /* :{e.line} */", *self.block(e.body, ind + "    ")]
                orelse = e.orelse
            if orelse:
                lines += [f"{ind}}} else {{", *self.block(orelse, ind + "    ")]
            return [*lines, f"{ind}}}"]
        if isinstance(s, ir.For):
            v = cid(s.var)
            cmp = "<" if s.step > 0 else ">"
            inc = f"{v} += {s.step}" if s.step != 1 else f"{v}++"
            return [f"{ind}for ({v} = {c_int(s.start)}; {v} {cmp} {c_int(s.stop)}; {inc}) {{{tag}",
                    *self.block(s.body, ind + "    "), f"{ind}}}"]
        if isinstance(s, ir.Return):
            return [f"{ind}return{' ' + _bare(self.expr(s.value)) if s.value is not None else ''};{tag}"]
        if isinstance(s, ir.Break):
            return [f"{ind}break;{tag}"]
        if isinstance(s, ir.Continue):
            return [f"{ind}continue;{tag}"]
        raise TypeError(f"unknown IR statement {s!r}")

    def signature(self, f: ir.Function) -> str:
        ps = [f"{p.record.__name__} *{cid(p.name)}" if p.ty == "rec" else f"{C_TYPES[p.ty]} {cid(p.name)}"
              for p in f.params]
        ret = C_TYPES[f.ret] if f.ret else "void"
        return f"{ret} {self.fname(f.name)}({', '.join(ps) or 'void'})"

    def function(self, f: ir.Function) -> list[str]:
        self.fn = f
        static = "" if f.name == self.m.entry else "static "
        doc = f.doc.splitlines()[0] if f.doc else ""
        lines = [f"/* {f.name}: {self.rel}:{f.line}{' -- ' + doc if doc else ''} */",
                 f"{static}{self.signature(f)}", "{"]
        pnames = {p.name for p in f.params}
        for name, ty in f.locals.items():
            if name not in pnames:
                zero = {F32: "0.0F", I32: "0", BOOL: "false"}[ty]
                lines.append(f"    {C_TYPES[ty]} {cid(name)} = {zero};")
        lines += self.block(f.body, "    ")
        return [*lines, "}"]


def _where(obj: object) -> str:
    """``file:line`` of a class (relative to the working directory), never a module's name."""
    try:
        return f"{os.path.relpath(inspect.getsourcefile(obj))}:{inspect.getsourcelines(obj)[1]}"
    except (OSError, TypeError):
        return "<source unavailable>"


def _record_block(name: str, rec: type) -> list[str]:
    lines = [f"#ifndef CBL_RECORD_{name}", f"#define CBL_RECORD_{name}",
             f"/* {_where(rec)} {rec.__qualname__} (numpy dtype, aligned: {rec.dtype().itemsize} bytes) */",
             f"typedef struct {name} {{"]
    for fname, t in rec.fields():
        if isinstance(t, ArrayType):
            lines.append(f"    {c_ctype(t.elem)} {fname}[{t.n}];")
        else:
            lines.append(f"    {c_ctype(t)} {fname};")
    lines += [f"}} {name};", "", f"static inline void {name}_defaults({name} *r)", "{"]
    # field by field (a struct assignment or a zeroing loop may become a call to memset)
    d = rec.new()
    zero = {np.float32: "0.0F", np.int32: "0", np.bool_: "false"}
    for fname, t in rec.fields():
        elem = t.elem if isinstance(t, ArrayType) else t
        vals = np.atleast_1d(d[fname])
        lit = [c_float(v) if elem is np.float32 else c_int(int(v)) if elem is np.int32 else ("true" if v else "false")
               for v in vals]
        if isinstance(t, ArrayType):
            if any(v != 0 for v in vals):
                lines += [f"    r->{fname}[{i}] = {x};" for i, x in enumerate(lit)]
            else:
                lines.append(f"    for (int32_t i = 0; i < {t.n}; i++) r->{fname}[i] = {zero[elem]};")
        else:
            lines.append(f"    r->{fname} = {lit[0]};")
    return [*lines, "}", f"#endif /* CBL_RECORD_{name} */", ""]


#: Protects the law from the integrator's flags (gcc: push_options/optimize, clang: the STDC
#: pragma): no contraction into fused multiply-add, no errno paths (which call libm), no loop
#: turned into a memset/memcpy call; refuses -ffast-math and excess-precision evaluation.
EXACT_PROLOGUE = """#if defined(__FAST_MATH__)
#error "generated laws need IEEE float32 semantics: do not build them with -ffast-math"
#endif
#if defined(__FLT_EVAL_METHOD__) && (__FLT_EVAL_METHOD__ == 1 || __FLT_EVAL_METHOD__ == 2)
#error "generated laws need float evaluated as float (FLT_EVAL_METHOD 0): use SSE/VFP, not x87"
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off", "no-math-errno", "no-tree-loop-distribute-patterns")
#endif"""
EXACT_EPILOGUE = """#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif"""


def emit_c(module: ir.Module, rel_root: str | None = None) -> tuple[str, str]:
    """(header text, source text) of ``module``."""
    entry = module.functions[module.entry]
    rel = os.path.relpath(entry.file, rel_root) if rel_root else entry.file
    em = _Emitter(module, rel)
    name = em.prefix
    guard = f"CBL_LAW_{name.upper()}_H"
    recs = [p for p in entry.params if p.ty == "rec"]
    scalars = [p for p in entry.params if p.ty != "rec"]
    ret = C_TYPES[entry.ret] if entry.ret else "void"
    trace = [f" *   {em.fname(f.name)}: {os.path.relpath(f.file, rel_root) if rel_root else f.file}:{f.line} {f.name}"
             for f in module.functions.values()]
    h = [f"/* {name}.h: generated by cerebellum codegen from {rel}:{entry.line} {entry.name}. Do not edit.",
         " * float32 per operation in source order, no fused multiply-add (pragmas in the .c, whatever",
         " * the flags; never -ffast-math); int32 wraps (cbl_law.h).",
         " * Functions (C -> Python source):", *trace, " */", f"#ifndef {guard}", f"#define {guard}", "",
         "#include <stdbool.h>", "#include <stdint.h>", ""]
    for rname, rec in module.records.items():
        h += _record_block(rname, rec)
    h += [f"{em.signature(entry)};", "", "/* static storage: zero-initialised; <name>_init() sets the defaults */"]
    h += [f"extern {p.record.__name__} {name}_{p.name};" for p in recs]
    sc = ", ".join(f"{C_TYPES[p.ty]} {cid(p.name)}" for p in scalars) or "void"
    h += [f"void {name}_init(void);", f"{ret} {name}_step({sc});", "", f"#endif /* {guard} */", ""]
    c = [f"/* {name}.c: generated by cerebellum codegen from {rel}:{entry.line} {entry.name}. Do not edit. */",
         EXACT_PROLOGUE, "", f'#include "{name}.h"', '#include "cbl_law.h"', '#include "cbl_mathf32.h"', ""]
    bodies: list[str] = []
    for f in module.functions.values():
        bodies += [*em.function(f), ""]
    consts = [d for d in module.constants.values() if d.name in em.used]
    if consts:
        c.append("/* module constants of the law's Python source (name, value, where it is defined) */")
        for d in consts:
            lit = c_float(d.value) if d.ty == F32 else c_int(d.value) if d.ty == I32 else ("true" if d.value else "false")
            c.append(f"static const {C_TYPES[d.ty]} {d.name} = {lit};  /* {d.source} */")
        c.append("")
    for f in module.functions.values():
        if f.name != module.entry:
            c += [f"static {em.signature(f)};"]
    c.append("")
    c += bodies
    c += [f"{p.record.__name__} {name}_{p.name};" for p in recs]
    c += ["", f"void {name}_init(void)", "{", *[f"    {p.record.__name__}_defaults(&{name}_{p.name});" for p in recs], "}", ""]
    args = ", ".join(f"&{name}_{p.name}" if p.ty == "rec" else cid(p.name) for p in entry.params)
    c += [f"{ret} {name}_step({sc})", "{", f"    {'return ' if entry.ret else ''}{em.fname(entry.name)}({args});", "}", "",
          EXACT_EPILOGUE, ""]
    return "\n".join(h), "\n".join(c)
