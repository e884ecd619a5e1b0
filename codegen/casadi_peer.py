"""The same law as a CasADi function (the peer the codegen benchmark compares against).

``to_casadi(module)`` evaluates the law's IR symbolically with CasADi SX: inputs are every
field of every record parameter (flattened, float), outputs every field of the records the
law writes. Control flow becomes ``if_else`` selections (statements run under a guard, an
early ``return`` clears an 'alive' flag), loops are unrolled, called laws inlined; the mathf32
kernels map to CasADi's sin, cos, atan2, exp, sqrt, fabs, fmin, fmax. Integer wrap-around and
floor division are not modelled (the benchmark laws use small integers only).
"""

from __future__ import annotations

from typing import Any

from cerebellum_rt.codegen import ir
from cerebellum_rt.codegen.law import ArrayType
from cerebellum_rt.rtcore.errors import ConfigError


def _fields(rec: Any) -> list[tuple[str, int]]:
    return [(n, t.n if isinstance(t, ArrayType) else 0) for n, t in rec.fields()]


class _Eval:
    def __init__(self, ca: Any, module: ir.Module):
        self.ca, self.m = ca, module

    def expr(self, e: ir.Expr, env: dict) -> Any:
        ca = self.ca
        if isinstance(e, ir.Const):
            return float(e.value)
        if isinstance(e, ir.Local):
            return env[e.name]
        if isinstance(e, ir.Field):
            return env[(e.rec, e.name)]
        if isinstance(e, ir.Elem):
            idx = self.expr(e.index, env)
            if not isinstance(idx, float):
                raise ConfigError(f"CasADi peer: array index of {e.rec}.{e.name} is not constant after unrolling")
            return env[(e.rec, e.name, int(idx))]
        if isinstance(e, ir.Cast):
            v = self.expr(e.arg, env)
            return ca.fix(v) if e.ty == "i32" and e.arg.ty == "f32" else v
        if isinstance(e, ir.Bin):
            a, b = self.expr(e.a, env), self.expr(e.b, env)
            ops = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
                   "//": lambda: ca.floor(a / b), "%": lambda: a - b * ca.floor(a / b),
                   "&": lambda: ca.logic_and(a, b) if e.ty == "bool" else None,
                   "|": lambda: ca.logic_or(a, b) if e.ty == "bool" else None}
            r = ops.get(e.op, lambda: None)()
            if r is None:
                raise ConfigError(f"CasADi peer: operator '{e.op}' on {e.ty} is not modelled")
            return r
        if isinstance(e, ir.Unary):
            a = self.expr(e.a, env)
            if e.op == "not":
                return ca.logic_not(a)
            if e.op == "-":
                return -a
            raise ConfigError("CasADi peer: '~' is not modelled")
        if isinstance(e, ir.Cmp):
            a, b = self.expr(e.a, env), self.expr(e.b, env)
            return {"<": ca.lt, "<=": ca.le, ">": ca.gt, ">=": ca.ge, "==": ca.eq, "!=": ca.ne}[e.op](a, b)
        if isinstance(e, ir.BoolOp):
            vals = [self.expr(a, env) for a in e.args]
            out = vals[0]
            for v in vals[1:]:
                out = ca.logic_and(out, v) if e.op == "and" else ca.logic_or(out, v)
            return out
        if isinstance(e, ir.IfExp):
            return ca.if_else(self.expr(e.cond, env), self.expr(e.a, env), self.expr(e.b, env))
        if isinstance(e, ir.Call):
            args = [self.expr(a, env) for a in e.args]
            if e.kind == "kernel":
                k = {"fabs": ca.fabs, "fmin": ca.fmin, "fmax": ca.fmax, "sqrt": ca.sqrt, "exp": ca.exp,
                     "atan2": ca.atan2, "clamp": lambda x, lo, hi: ca.fmin(ca.fmax(x, lo), hi)}[e.func]
                return k(*args)
            return self.call(self.m.functions[e.func], e.args, env)
        raise ConfigError(f"CasADi peer: expression {type(e).__name__} is not modelled")

    def call(self, f: ir.Function, arg_exprs: list[ir.Expr], env: dict) -> Any:
        """Inline a called law: its record parameters alias the caller's records."""
        if f.ret is not None:
            raise ConfigError(f"CasADi peer: law '{f.name}' returns a value (not modelled)")
        alias: dict[str, str] = {}
        inner: dict = {"__alive": 1.0}
        for p, a in zip(f.params, arg_exprs):
            if p.ty == "rec":
                alias[p.name] = a.rec
            else:
                inner[p.name] = self.expr(a, env)
        for k, v in env.items():  # record fields, renamed to the callee's parameter names
            if isinstance(k, tuple):
                for pn, rn in alias.items():
                    if k[0] == rn:
                        inner[(pn, *k[1:])] = v
        self.block(f.body, inner, 1.0)
        for k, v in inner.items():
            if isinstance(k, tuple) and k[0] in alias:
                env[(alias[k[0]], *k[1:])] = v
        return None

    def assign(self, key: Any, value: Any, env: dict, guard: Any) -> None:
        g = self.ca.logic_and(guard, env["__alive"]) if not (isinstance(guard, float) and guard == 1.0) else env["__alive"]
        if isinstance(g, float) and g == 1.0:
            env[key] = value
        else:
            env[key] = self.ca.if_else(g, value, env.get(key, 0.0))

    def block(self, stmts: list[ir.Stmt], env: dict, guard: Any) -> None:
        ca = self.ca
        for s in stmts:
            if isinstance(s, ir.Assign):
                t = s.target
                key = (t.name if isinstance(t, ir.Local) else (t.rec, t.name) if isinstance(t, ir.Field)
                       else (t.rec, t.name, int(self.expr(t.index, env))))
                self.assign(key, self.expr(s.value, env), env, guard)
            elif isinstance(s, ir.SinCos):
                x = self.expr(s.arg, env)
                self.assign(s.s, ca.sin(x), env, guard)
                self.assign(s.c, ca.cos(x), env, guard)
            elif isinstance(s, ir.ExprStmt):
                self.expr(s.value, env)
            elif isinstance(s, ir.If):
                c = self.expr(s.cond, env)
                self.block(s.body, env, ca.logic_and(guard, c))
                self.block(s.orelse, env, ca.logic_and(guard, ca.logic_not(c)))
            elif isinstance(s, ir.For):
                for i in range(s.start, s.stop, s.step):
                    env[s.var] = float(i)
                    self.block(s.body, env, guard)
            elif isinstance(s, ir.Return):
                if s.value is not None:
                    raise ConfigError("CasADi peer: laws returning a value are not modelled")
                g = guard if not isinstance(guard, float) else 1.0
                env["__alive"] = 0.0 if isinstance(g, float) else ca.if_else(g, 0.0, env["__alive"])
            else:
                raise ConfigError(f"CasADi peer: statement {type(s).__name__} is not modelled")


def to_casadi(module: ir.Module, name: str, outputs: list[str] | None = None,
              inputs: list[str] | None = None) -> tuple[Any, list, list]:
    """(casadi.Function, input layout, output layout) of the module's entry law.

    Layouts are lists of (param, field, count) in the order of the flat input / output vector;
    ``outputs`` names the record parameters whose fields are outputs (default: all records),
    ``inputs`` the parameters that are inputs (default: all; the others start at 0)."""
    import casadi as ca

    entry = module.functions[module.entry]
    env: dict = {"__alive": 1.0}
    syms, lay_in = [], []
    for p in entry.params:
        if p.ty != "rec":
            s = ca.SX.sym(p.name)
            env[p.name] = s
            syms.append(s)
            lay_in.append((p.name, None, 1))
            continue
        for fname, n in _fields(p.record):
            if inputs is not None and p.name not in inputs:
                env.update({(p.name, fname, i): 0.0 for i in range(n)} if n else {(p.name, fname): 0.0})
                continue
            s = ca.SX.sym(f"{p.name}_{fname}", max(n, 1))
            syms.append(s)
            lay_in.append((p.name, fname, max(n, 1)))
            if n:
                for i in range(n):
                    env[(p.name, fname, i)] = s[i]
            else:
                env[(p.name, fname)] = s
    _Eval(ca, module).block(entry.body, env, 1.0)
    outs, lay_out = [], []
    for p in entry.params:
        if p.ty != "rec" or (outputs is not None and p.name not in outputs):
            continue
        for fname, n in _fields(p.record):
            v = [env[(p.name, fname, i)] for i in range(n)] if n else [env[(p.name, fname)]]
            outs.append(ca.vertcat(*[ca.SX(x) if isinstance(x, float) else x for x in v]))
            lay_out.append((p.name, fname, max(n, 1)))
    x, y = ca.vertcat(*syms), ca.densify(ca.vertcat(*outs))  # dense: C writes every output
    return ca.Function(name, [x], [y]), lay_in, lay_out
