"""Front end: a law's Python source -> typed IR (``codegen.ir``), or a one-line SubsetError.

The subset (see ``codegen/__init__.py`` for the semantics): parameters annotated with Record
subclasses or f32 / i32 / boolean (``float`` / ``int`` / ``bool`` accepted); local scalar
variables; record field and fixed-size array element reads and writes; arithmetic, comparisons,
``and`` / ``or`` / ``not``, conditional expressions; ``if`` / ``elif`` / ``else``;
``for i in range(CONST...)`` with ``break`` / ``continue``; ``return``; calls to other laws, to
the kernels of ``codegen.mathf32``, to ``abs`` / ``min`` / ``max`` (2 arguments) and to the
casts ``float`` / ``int`` / ``f32`` / ``i32`` / ``np.float32`` / ``np.int32``; module-level
numeric constants. Everything else is rejected naming file:line and the construct.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from typing import Any

import numpy as np

from codegen import ir, mathf32
from codegen.ir import BOOL, F32, I32
from codegen.law import SCALARS, ArrayType, Record
from rtcore.errors import ConfigError


class SubsetError(ConfigError):
    """A law uses a construct outside the codegen subset (message: file:line: construct)."""


_SCALAR_NAMES = {"f32": F32, "float32": F32, "float": F32, "i32": I32, "int32": I32, "int": I32,
                 "boolean": BOOL, "bool_": BOOL, "bool": BOOL}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
          ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_CMP = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!="}
_KERNELS = {getattr(mathf32, k): k for k in mathf32.KERNELS}
_CASTS = {np.float32: F32, np.int32: I32, float: F32, int: I32, np.bool_: BOOL, bool: BOOL}
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _py_function(obj: Any) -> types.FunctionType | None:
    obj = getattr(obj, "py_func", obj)  # numba dispatcher -> the Python function
    return obj if isinstance(obj, types.FunctionType) else None


def _scalar_of(typ: Any) -> str | None:
    if typ in SCALARS:
        return {"f32": F32, "i32": I32, "bool": BOOL}[SCALARS[typ]]
    return {float: F32, int: I32, bool: BOOL}.get(typ)


class _FnBuilder:
    """Builds one ir.Function. ``fixed`` = local types from a previous inference pass."""

    def __init__(self, fn: types.FunctionType, mod: ModuleBuilder, fixed: dict[str, str] | None):
        self.fn, self.mod, self.fixed = fn, mod, fixed
        self.file = inspect.getsourcefile(fn) or "<unknown>"
        lines, self.first = inspect.getsourcelines(fn)
        tree = ast.parse(textwrap.dedent("".join(lines)))
        self.node = tree.body[0]
        self.locals: dict[str, str] = dict(fixed or {})
        self.g = fn.__globals__
        self.returns: list[str | None] = []
        self.callees: list[str] = []

    # -- errors and helpers ----------------------------------------------------------------
    def line(self, node: ast.AST) -> int:
        return self.first + getattr(node, "lineno", 1) - 1

    def err(self, node: ast.AST, what: str) -> SubsetError:
        return SubsetError(f"{self.file}:{self.line(node)}: {what}")

    def resolve(self, node: ast.expr) -> Any:
        """The Python object a Name / Attribute chain names in the law's module (or a marker)."""
        if isinstance(node, ast.Name):
            if node.id in self.g:
                return self.g[node.id]
            import builtins

            if hasattr(builtins, node.id):
                return getattr(builtins, node.id)
            raise self.err(node, f"name '{node.id}' is not defined in the law's module")
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            if isinstance(base, types.ModuleType) and hasattr(base, node.attr):
                return getattr(base, node.attr)
            raise self.err(node, f"attribute '{ast.unparse(node)}' is not a module constant or function")
        raise self.err(node, f"'{ast.unparse(node)}' is not a name")

    def annotation(self, ann: ast.expr | None, what: str, node: ast.AST) -> tuple[str, Any]:
        if ann is None:
            raise self.err(node, f"{what} has no type annotation (a Record subclass, f32, i32 or boolean)")
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            ann = ast.parse(ann.value, mode="eval").body
        if isinstance(ann, ast.Constant) and ann.value is None:
            return "none", None
        try:
            obj = eval(compile(ast.Expression(ann), self.file, "eval"), self.g)
        except Exception as exc:
            raise self.err(node, f"{what}: annotation '{ast.unparse(ann)}' cannot be resolved ({exc})") from None
        if obj is None:
            return "none", None
        if isinstance(obj, type) and issubclass(obj, Record):
            return "rec", obj
        sc = _scalar_of(obj)
        if sc is None:
            raise self.err(node, f"{what}: annotation '{ast.unparse(ann)}' is not a Record, f32, i32 or boolean")
        return sc, None

    # -- function ----------------------------------------------------------------------------
    def build(self) -> ir.Function:
        fn = self.node
        if not isinstance(fn, ast.FunctionDef):
            raise self.err(fn, "a law must be a plain 'def' function")
        a = fn.args
        if a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs or a.defaults:
            raise self.err(fn, f"law '{fn.name}': only plain positional parameters without defaults")
        if fn.decorator_list and not all("njit" in ast.unparse(d) or "jit" in ast.unparse(d) for d in fn.decorator_list):
            raise self.err(fn, f"law '{fn.name}': decorator '{ast.unparse(fn.decorator_list[0])}'")
        self.params: dict[str, ir.Param] = {}
        for arg in a.args:
            ty, rec = self.annotation(arg.annotation, f"parameter '{arg.arg}' of '{fn.name}'", arg)
            if ty == "none":
                raise self.err(arg, f"parameter '{arg.arg}' cannot be None")
            self.params[arg.arg] = ir.Param(arg.arg, ty, rec)
            if rec is not None:
                self.mod.records.setdefault(rec.__name__, rec)
                if self.mod.records[rec.__name__] is not rec:
                    raise self.err(arg, f"two different Record classes are named '{rec.__name__}'")
        ret: str | None = None
        ret_known = fn.returns is not None
        if ret_known:
            r, _ = self.annotation(fn.returns, f"return type of '{fn.name}'", fn)
            if r == "rec":
                raise self.err(fn, "a law cannot return a record (write into an output record)")
            ret = None if r == "none" else r
        self.ret = ret
        self.ret_known = ret_known
        body = self.block(fn.body)
        if not ret_known:
            tys = {t for t in self.returns if t is not None}
            ret = (F32 if F32 in tys else I32 if I32 in tys else BOOL) if tys else None
            if len(tys) > 1 and BOOL in tys:
                raise self.err(fn, f"'{fn.name}' returns both bool and numbers")
        return ir.Function(fn.name, self.file, self.first, list(self.params.values()), ret,
                           self.locals, body, ast.get_docstring(fn) or "", self.callees)

    # -- statements --------------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt]) -> list[ir.Stmt]:
        out: list[ir.Stmt] = []
        for s in stmts:
            out.extend(self.stmt(s))
        return out

    def stmt(self, s: ast.stmt) -> list[ir.Stmt]:
        ln = self.line(s)
        if isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant) and isinstance(s.value.value, str):
                return []  # docstring / comment string
            if isinstance(s.value, ast.Call):
                call = self.expr(s.value, allow_void=True)
                if isinstance(call, ir.Call):
                    return [ir.ExprStmt(ln, call)]
            raise self.err(s, f"expression statement '{ast.unparse(s)}' has no effect")
        if isinstance(s, ast.Pass):
            return []
        if isinstance(s, ast.Assign):
            if len(s.targets) != 1:
                raise self.err(s, "chained assignment 'a = b = ...'")
            tgt = s.targets[0]
            if isinstance(tgt, ast.Tuple) and isinstance(s.value, ast.Tuple):
                return self.parallel_assign(s, tgt, s.value)
            if isinstance(tgt, ast.Tuple):
                return [self.tuple_assign(s, tgt, s.value)]
            return [self.assign(s, tgt, self.expr(s.value))]
        if isinstance(s, ast.AnnAssign):
            if s.value is None:
                raise self.err(s, "annotation without a value")
            v = self.expr(s.value)
            if isinstance(s.target, ast.Name) and s.target.id not in self.locals:
                ty, _ = self.annotation(s.annotation, f"local '{s.target.id}'", s)
                if ty not in (F32, I32, BOOL):
                    raise self.err(s, f"local '{s.target.id}' must be f32, i32 or boolean")
                self.locals[s.target.id] = ty
            return [self.assign(s, s.target, v)]
        if isinstance(s, ast.AugAssign):
            op = _ARITH.get(type(s.op))
            if op is None:
                raise self.err(s, f"augmented operator '{type(s.op).__name__}'")
            load = ast.copy_location(_as_load(s.target), s)
            return [self.assign(s, s.target, self.binop(s, op, self.expr(load), self.expr(s.value)))]
        if isinstance(s, ast.If):
            return [ir.If(ln, self.cond(s.test), self.block(s.body), self.block(s.orelse))]
        if isinstance(s, ast.For):
            return [self.for_loop(s)]
        if isinstance(s, ast.Return):
            if s.value is None or (isinstance(s.value, ast.Constant) and s.value.value is None):
                self.returns.append(None)
                if self.ret_known and self.ret is not None:
                    raise self.err(s, f"'return' without a value in a law returning {self.ret}")
                return [ir.Return(ln, None)]
            v = self.expr(s.value)
            self.returns.append(v.ty)
            if self.ret_known:
                if self.ret is None:
                    raise self.err(s, "'return <value>' in a law annotated '-> None'")
                v = self.convert(s, v, self.ret)
            return [ir.Return(ln, v)]
        if isinstance(s, ast.Break):
            return [ir.Break(ln)]
        if isinstance(s, ast.Continue):
            return [ir.Continue(ln)]
        kind = {ast.While: "'while' loop (use 'for i in range(N)')", ast.FunctionDef: "nested function",
                ast.Import: "import inside a law", ast.ImportFrom: "import inside a law",
                ast.Try: "'try'", ast.With: "'with'", ast.Raise: "'raise'", ast.Assert: "'assert'",
                ast.Global: "'global'", ast.Nonlocal: "'nonlocal'", ast.Delete: "'del'",
                ast.ClassDef: "class definition", ast.Match: "'match'"}.get(type(s), type(s).__name__)
        raise self.err(s, f"{kind} is outside the law subset")

    def for_loop(self, s: ast.For) -> ir.For:
        if s.orelse:
            raise self.err(s, "'for ... else'")
        if not isinstance(s.target, ast.Name):
            raise self.err(s, "loop target must be one name")
        it = s.iter
        if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range"
                and 1 <= len(it.args) <= 3 and not it.keywords):
            raise self.err(s, f"loop over '{ast.unparse(it)}' (only 'for i in range(CONST[, CONST[, CONST]])')")
        vals = [self.const_int(a) for a in it.args]
        start, stop, step = (0, vals[0], 1) if len(vals) == 1 else (vals[0], vals[1], vals[2] if len(vals) == 3 else 1)
        if step == 0:
            raise self.err(s, "range step 0")
        var = s.target.id
        if var in self.params:
            raise self.err(s, f"loop variable '{var}' shadows a parameter")
        if self.locals.setdefault(var, I32) != I32:
            raise self.err(s, f"loop variable '{var}' is already a {self.locals[var]} local")
        return ir.For(self.line(s), var, start, stop, step, self.block(s.body))

    def const_int(self, node: ast.expr) -> int:
        e = self.expr(node)
        if not (isinstance(e, ir.Const) and e.ty == I32):
            raise self.err(node, f"'{ast.unparse(node)}' is not a constant integer (loop bounds are fixed)")
        return int(e.value)

    def parallel_assign(self, s: ast.stmt, tgt: ast.Tuple, value: ast.Tuple) -> list[ir.Stmt]:
        """``a, b = e1, e2``: all right-hand sides are evaluated before any target is written
        (through temporaries when a later right-hand side reads an earlier target)."""
        if len(tgt.elts) != len(value.elts):
            raise self.err(s, f"{len(tgt.elts)} targets but {len(value.elts)} values")
        vals = [self.expr(v) for v in value.elts]
        keys = [ast.unparse(t) for t in tgt.elts]
        reads = [{ast.unparse(n) for n in ast.walk(v) if isinstance(n, ast.Name | ast.Attribute | ast.Subscript)}
                 for v in value.elts]
        clash = any(keys[i] in reads[j] for j in range(len(vals)) for i in range(j))
        if not clash:
            return [self.assign(s, t, v) for t, v in zip(tgt.elts, vals)]
        out: list[ir.Stmt] = []
        temps = []
        for k, v in enumerate(vals):
            name = f"_t{self.line(s)}_{k}"
            self.locals[name] = v.ty
            out.append(ir.Assign(self.line(s), ir.Local(v.ty, name), v))
            temps.append(ir.Local(v.ty, name))
        return out + [self.assign(s, t, v) for t, v in zip(tgt.elts, temps)]

    def tuple_assign(self, s: ast.stmt, tgt: ast.Tuple, value: ast.expr) -> ir.Stmt:
        call = value
        ok = (isinstance(call, ast.Call) and len(tgt.elts) == 2 and all(isinstance(e, ast.Name) for e in tgt.elts))
        if ok:
            f = self.resolve(call.func)
            ok = f is mathf32.sin_cos
        if not ok:
            raise self.err(s, "tuple assignment (only 's, c = sin_cos(x)' into two local names)")
        (arg,) = self.args(call, 1)
        names = [e.id for e in tgt.elts]
        for n in names:
            if n in self.params:
                raise self.err(s, f"'{n}' is a parameter (sin_cos results go to locals)")
            if self.locals.setdefault(n, F32) != F32:
                raise self.err(s, f"local '{n}' is {self.locals[n]}, sin_cos gives f32")
        self.mod.kernels.add("sin_cos")
        return ir.SinCos(self.line(s), names[0], names[1], self.convert(s, arg, F32))

    def assign(self, s: ast.stmt, tgt: ast.expr, v: ir.Expr) -> ir.Stmt:
        ln = self.line(s)
        if isinstance(tgt, ast.Name):
            name = tgt.id
            if name in self.params:
                p = self.params[name]
                if p.ty == "rec":
                    raise self.err(s, f"assignment to record parameter '{name}' (assign its fields)")
                return ir.Assign(ln, ir.Local(p.ty, name), self.convert(s, v, p.ty))
            if name in self.g and not isinstance(self.g[name], types.ModuleType) and name not in self.locals:
                pass  # a local shadowing a module name is fine
            cur = self.locals.get(name)
            if cur is None:
                cur = self.locals[name] = v.ty
            elif cur != v.ty:
                if self.fixed is None and {cur, v.ty} == {I32, F32}:
                    cur = self.locals[name] = F32  # inference pass: promote to f32
                elif not (cur == F32 and v.ty in (I32, BOOL)) and not (cur == I32 and v.ty == BOOL):
                    raise self.err(s, f"local '{name}' is {cur} but is assigned a {v.ty} value "
                                      f"(write a float literal like 0.0 or use float()/int())")
            return ir.Assign(ln, ir.Local(cur, name), self.convert(s, v, cur))
        if isinstance(tgt, ast.Attribute | ast.Subscript):
            place = self.place(tgt)
            return ir.Assign(ln, place, self.convert(s, v, place.ty))
        raise self.err(s, f"assignment target '{ast.unparse(tgt)}'")

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
            return ir.Elem(_scalar_of(ftype.elem), rec, base.attr, idx)
        rec, ftype = self.field_type(node)
        if isinstance(ftype, ArrayType):
            raise self.err(node, f"'{ast.unparse(node)}' is an array field: index it (whole-array operations are outside the subset)")
        return ir.Field(_scalar_of(ftype), rec, node.attr)

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
            return self.const(node, self.resolve(node))
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id in self.params:
                return self.place(node)
            return self.const(node, self.resolve(node))
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
        pyf = _py_function(f)
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


def _as_load(node: ast.expr) -> ast.expr:
    n = ast.parse(ast.unparse(node), mode="eval").body
    return ast.fix_missing_locations(ast.copy_location(n, node))


class ModuleBuilder:
    """Compiles a law and, transitively, the laws it calls (no recursion)."""

    def __init__(self) -> None:
        self.functions: dict[str, ir.Function] = {}
        self.records: dict[str, Any] = {}
        self.kernels: set[str] = set()
        self._active: list[types.FunctionType] = []
        self._by_obj: dict[types.FunctionType, ir.Function] = {}

    def function(self, fn: types.FunctionType, node: ast.AST | None = None, caller: _FnBuilder | None = None) -> ir.Function:
        if fn in self._by_obj:
            return self._by_obj[fn]
        if fn in self._active:
            chain = " -> ".join(f.__name__ for f in [*self._active, fn])
            raise caller.err(node, f"recursion ({chain})") if caller else SubsetError(f"recursion ({chain})")
        if fn.__name__ in self.functions:
            raise SubsetError(f"two different laws are named '{fn.__name__}'")
        self._active.append(fn)
        try:
            first = _FnBuilder(fn, self, None).build()  # inference pass: local types
            out = _FnBuilder(fn, self, first.locals).build()
        finally:
            self._active.pop()
        self._by_obj[fn] = out
        self.functions[out.name] = out
        return out


def compile_law(fn: Any) -> ir.Module:
    """Parse ``fn`` (a law function or numba dispatcher) and its callees into an ir.Module."""
    pyf = _py_function(fn)
    if pyf is None:
        raise ConfigError(f"law {fn!r} is not a Python function")
    try:
        inspect.getsourcelines(pyf)
    except (OSError, TypeError) as exc:
        raise ConfigError(f"law '{pyf.__name__}': its source is not available ({exc})") from None
    mb = ModuleBuilder()
    mb.function(pyf)
    return ir.Module(pyf.__name__, mb.functions, mb.records, mb.kernels)
