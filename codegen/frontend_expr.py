"""Expression half of the front end: typing, conversions and calls (mixed into the builder).

Typing rules (the semantics of ``codegen/__init__.py``): an operation with a float32 operand is
float32 (the other operand converted first), ``/`` is always float32, integer operations are
int32 with wrap-around, comparisons and ``and`` / ``or`` / ``not`` give bool; literals become
float32 / int32 constants; module-level numbers are constants.
"""

from __future__ import annotations

import ast
import types
from typing import Any

import numpy as np

from cerebellum_rt.codegen import ir, mathf32
from cerebellum_rt.codegen.ir import BOOL, F32, I32
from cerebellum_rt.codegen.law import SCALARS, ArrayType

_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
          ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_KERNELS = {getattr(mathf32, k): k for k in mathf32.KERNELS}
_CASTS = {np.float32: F32, np.int32: I32, float: F32, int: I32, np.bool_: BOOL, bool: BOOL}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def py_function(obj: Any) -> types.FunctionType | None:
    """The Python function behind a law (a numba dispatcher's ``py_func``), or None."""
    obj = getattr(obj, "py_func", obj)
    return obj if isinstance(obj, types.FunctionType) else None


def scalar_of(typ: Any) -> str | None:
    if typ in SCALARS:
        return {"f32": F32, "i32": I32, "bool": BOOL}[SCALARS[typ]]
    return {float: F32, int: I32, bool: BOOL}.get(typ)


class ExprMixin:
    """Builds typed ir expressions; the host class provides err, resolve, params, locals, g, mod."""

    def place(self, node: ast.expr) -> ir.Field | ir.Elem:
        """``rec.field`` or ``rec.field[i]`` (load or store)."""
        if isinstance(node, ast.Subscript):
            base = node.value
            if not (isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name)):
                raise self.err(node, f"subscript '{ast.unparse(node)}' (only record array fields: rec.arr[i])")
            rec, ftype = self.field_type(base)
            if not isinstance(ftype, ArrayType):
                raise self.err(node, f"'{ast.unparse(base)}' is a scalar field, not an array")
            idx = self.expr(node.slice)
            if idx.ty != I32:
                raise self.err(node, f"array index '{ast.unparse(node.slice)}' is {idx.ty}, not an integer")
            if isinstance(idx, ir.Const) and not (0 <= idx.value < ftype.n):
                raise self.err(node, f"index {idx.value} of '{ast.unparse(base)}' is out of range [0, {ftype.n - 1}]")
            return ir.Elem(scalar_of(ftype.elem), rec, base.attr, idx)
        rec, ftype = self.field_type(node)
        if isinstance(ftype, ArrayType):
            raise self.err(node, f"'{ast.unparse(node)}' is an array field: index it (whole-array operations are outside the subset)")
        return ir.Field(scalar_of(ftype), rec, node.attr)

    def field_type(self, node: ast.Attribute) -> tuple[str, Any]:
        if not isinstance(node.value, ast.Name) or node.value.id not in self.params:
            raise self.err(node, f"'{ast.unparse(node)}' is not a field of a record parameter")
        p = self.params[node.value.id]
        if p.ty != "rec":
            raise self.err(node, f"'{p.name}' is a {p.ty} scalar, it has no field '{node.attr}'")
        ftypes = dict(p.record.fields())
        if node.attr not in ftypes:
            raise self.err(node, f"record {p.record.__name__} has no field '{node.attr}'; fields are {list(ftypes)}")
        return p.name, ftypes[node.attr]

    # -- expressions -------------------------------------------------------------------------
    def cond(self, node: ast.expr) -> ir.Expr:
        e = self.expr(node)
        if e.ty == BOOL:
            return e
        return ir.Cmp(BOOL, "!=", e, ir.Const(e.ty, 0.0 if e.ty == F32 else 0))

    def convert(self, node: ast.AST, e: ir.Expr, ty: str) -> ir.Expr:
        if e.ty == ty:
            return e
        if ty == BOOL:
            raise self.err(node, f"a {e.ty} value where a bool is expected (compare it, e.g. x != 0)")
        if e.ty not in (F32, I32, BOOL):
            raise self.err(node, f"record '{getattr(e, 'rec', '?')}' used as a number")
        if isinstance(e, ir.Const) and e.name is not None and e.ty != BOOL:
            return ir.Cast(ty, e)  # a named module constant stays named in the C: (float)N
        if isinstance(e, ir.Const):
            if ty == F32:
                return ir.Const(F32, float(np.float32(e.value)))
            if e.ty == BOOL:
                return ir.Const(I32, int(e.value))
        return ir.Cast(ty, e)

    def binop(self, node: ast.AST, op: str, a: ir.Expr, b: ir.Expr) -> ir.Expr:
        if op in ("&", "|", "^") and a.ty == BOOL and b.ty == BOOL:
            return ir.Bin(BOOL, op, a, b)
        if op == "/":
            return ir.Bin(F32, op, self.convert(node, a, F32), self.convert(node, b, F32))
        if op in ("//", "%", "&", "|", "^", "<<", ">>"):
            if F32 in (a.ty, b.ty):
                raise self.err(node, f"operator '{op}' on a float32 value")
            a, b = self.convert(node, a, I32), self.convert(node, b, I32)
            if op in ("<<", ">>") and not (isinstance(b, ir.Const) and 0 <= b.value <= 31):
                raise self.err(node, f"shift '{op}' needs a constant amount in [0, 31]")
            return self.fold(ir.Bin(I32, op, a, b))
        ty = F32 if F32 in (a.ty, b.ty) else I32
        return self.fold(ir.Bin(ty, op, self.convert(node, a, ty), self.convert(node, b, ty)))

    def fold(self, e: ir.Bin) -> ir.Expr:
        """Fold integer constant expressions (loop bounds like range(N - 1))."""
        if e.ty == I32 and isinstance(e.a, ir.Const) and isinstance(e.b, ir.Const):
            a, b = int(e.a.value), int(e.b.value)
            v = {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0, "%": a % b if b else 0,  # x // 0 = x % 0 = 0
                 "&": a & b, "|": a | b, "^": a ^ b, "<<": a << b, ">>": a >> b}[e.op]
            return ir.Const(I32, int(np.int64(v).astype(np.int32)))
        return e

    def const(self, node: ast.expr, v: Any) -> ir.Const:
        if isinstance(v, bool | np.bool_):
            return ir.Const(BOOL, bool(v))
        if isinstance(v, int | np.integer):
            if not (INT_MIN <= int(v) <= INT_MAX):
                raise self.err(node, f"integer constant {v} is out of the int32 range")
            return ir.Const(I32, int(v))
        if isinstance(v, float | np.floating):
            return ir.Const(F32, float(np.float32(v)))
        raise self.err(node, f"'{ast.unparse(node)}' = {type(v).__name__} is not a number (lists, strings and objects are outside the subset)")

    def expr(self, node: ast.expr, allow_void: bool = False) -> ir.Expr:
        if isinstance(node, ast.Constant):
            return self.const(node, node.value)
        if isinstance(node, ast.Name):
            if node.id in self.params:
                p = self.params[node.id]
                return ir.RecRef(p.record.__name__, p.name) if p.ty == "rec" else ir.Local(p.ty, p.name)
            if node.id in self.locals:
                return ir.Local(self.locals[node.id], node.id)
            if node.id in ("True", "False"):
                return ir.Const(BOOL, node.id == "True")
            return self.mod.constant(self, node, self.const(node, self.resolve(node)))
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in self.params:
                return self.place(node)
            return self.mod.constant(self, node, self.const(node, self.resolve(node)))
        if isinstance(node, ast.Subscript):
            return self.place(node)
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                raise self.err(node, f"operator '{type(node.op).__name__}' (e.g. ** or @) is outside the subset")
            return self.binop(node, op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.UnaryOp):
            a = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return ir.Unary(BOOL, "not", self.cond(node.operand) if a.ty != BOOL else a)
            if isinstance(node.op, ast.UAdd):
                return a
            if isinstance(node.op, ast.USub):
                if isinstance(a, ir.Const) and a.ty == F32 and a.name is not None:
                    return ir.Unary(F32, "-", a)  # -NAME (exact) keeps the name in the C
                if isinstance(a, ir.Const) and a.ty != BOOL:
                    return ir.Const(a.ty, -a.value if a.ty == F32 else int(np.int64(-a.value).astype(np.int32)))
                a = self.convert(node, a, I32) if a.ty == BOOL else a
                return ir.Unary(a.ty, "-", a)
            if a.ty == F32:
                raise self.err(node, "'~' on a float32 value")
            return ir.Unary(I32, "~", self.convert(node, a, I32))
        if isinstance(node, ast.Compare):
            parts = []
            left = self.expr(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                if type(op) not in _CMP:
                    raise self.err(node, f"comparison '{type(op).__name__}' (is / in) is outside the subset")
                right = self.expr(right_node)
                ty = F32 if F32 in (left.ty, right.ty) else (I32 if I32 in (left.ty, right.ty) else BOOL)
                parts.append(ir.Cmp(BOOL, _CMP[type(op)], self.convert(node, left, ty), self.convert(node, right, ty)))
                left = right
            return parts[0] if len(parts) == 1 else ir.BoolOp(BOOL, "and", parts)
        if isinstance(node, ast.BoolOp):
            vals = [self.expr(v) for v in node.values]
            for v, vn in zip(vals, node.values):
                if v.ty != BOOL:
                    raise self.err(vn, f"'{ast.unparse(vn)}' is {v.ty} inside and/or (compare it to get a bool)")
            return ir.BoolOp(BOOL, "and" if isinstance(node.op, ast.And) else "or", vals)
        if isinstance(node, ast.IfExp):
            c, a, b = self.cond(node.test), self.expr(node.body), self.expr(node.orelse)
            ty = a.ty if a.ty == b.ty else (F32 if F32 in (a.ty, b.ty) else I32)
            return ir.IfExp(ty, c, self.convert(node, a, ty), self.convert(node, b, ty))
        if isinstance(node, ast.Call):
            return self.call(node, allow_void)
        kind = {ast.List: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.Set: "set", ast.Lambda: "lambda",
                ast.ListComp: "list comprehension", ast.JoinedStr: "f-string", ast.NamedExpr: "':='"}
        raise self.err(node, f"{kind.get(type(node), type(node).__name__)} '{ast.unparse(node)}' is outside the law subset")

    def args(self, node: ast.Call, n: int) -> list[ir.Expr]:
        if node.keywords or len(node.args) != n:
            raise self.err(node, f"'{ast.unparse(node.func)}' takes exactly {n} positional argument(s)")
        return [self.expr(a) for a in node.args]

    def call(self, node: ast.Call, allow_void: bool) -> ir.Expr:
        f = self.resolve(node.func)
        name = ast.unparse(node.func)
        if f in _CASTS:
            (a,) = self.args(node, 1)
            ty = _CASTS[f]
            if ty == BOOL:
                return self.cond(node.args[0]) if a.ty != BOOL else a
            return self.convert(node, a, ty)
        if f is abs:
            (a,) = self.args(node, 1)
            if a.ty == F32:
                self.mod.kernels.add("fabs")
                return ir.Call(F32, "kernel", "fabs", [a])
            a = self.convert(node, a, I32)
            return ir.IfExp(I32, ir.Cmp(BOOL, "<", a, ir.Const(I32, 0)), ir.Unary(I32, "-", a), a)
        if f in (min, max):
            a, b = self.args(node, 2)
            if F32 in (a.ty, b.ty):
                k = "fmin" if f is min else "fmax"
                self.mod.kernels.add(k)
                return ir.Call(F32, "kernel", k, [self.convert(node, a, F32), self.convert(node, b, F32)])
            a, b = self.convert(node, a, I32), self.convert(node, b, I32)
            return ir.IfExp(I32, ir.Cmp(BOOL, "<" if f is min else ">", a, b), a, b)
        if f in _KERNELS:
            k = _KERNELS[f]
            if k == "sin_cos":
                raise self.err(node, "sin_cos returns (s, c): write 's, c = sin_cos(x)'")
            _, nargs, _ = mathf32.KERNELS[k]
            self.mod.kernels.add(k)
            return ir.Call(F32, "kernel", k, [self.convert(node, a, F32) for a in self.args(node, nargs)])
        pyf = py_function(f)
        if pyf is None:
            raise self.err(node, f"call of '{name}' (only other laws, codegen.mathf32 kernels, abs/min/max and casts)")
        callee = self.mod.function(pyf, node, self)
        if len(node.args) != len(callee.params) or node.keywords:
            raise self.err(node, f"'{name}' takes {len(callee.params)} positional arguments")
        args: list[ir.Expr] = []
        for a_node, p in zip(node.args, callee.params):
            a = self.expr(a_node)
            if p.ty == "rec":
                if not (isinstance(a, ir.RecRef) and a.ty == p.record.__name__):
                    raise self.err(a_node, f"argument '{ast.unparse(a_node)}' of '{name}' must be a {p.record.__name__} record parameter")
                args.append(a)
            else:
                args.append(self.convert(a_node, a, p.ty))
        if callee.name not in self.callees:
            self.callees.append(callee.name)
        if callee.ret is None and not allow_void:
            raise self.err(node, f"'{name}' returns nothing; its value is used")
        return ir.Call(callee.ret or "void", "law", callee.name, args)
