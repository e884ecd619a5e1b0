"""Front end: a law's Python source -> typed IR (``cerebellum_rt.codegen.ir``), or a one-line SubsetError.

The subset (see ``codegen/__init__.py`` for the semantics): parameters annotated with Record
subclasses or f32 / i32 / boolean (``float`` / ``int`` / ``bool`` accepted); local scalar
variables; record field and fixed-size array element reads and writes; arithmetic, comparisons,
``and`` / ``or`` / ``not``, conditional expressions; ``if`` / ``elif`` / ``else``;
``for i in range(CONST...)`` with ``break`` / ``continue``; ``return``; calls to other laws, to
the kernels of ``cerebellum_rt.codegen.mathf32``, to ``abs`` / ``min`` / ``max`` (2 arguments) and to the
casts ``float`` / ``int`` / ``f32`` / ``i32`` / ``np.float32`` / ``np.int32``; module-level
numeric constants. Everything else is rejected naming file:line and the construct.
"""

from __future__ import annotations

import ast
import inspect
import os
import textwrap
import types
from typing import Any

from cerebellum_rt.codegen import ir, mathf32
from cerebellum_rt.codegen.cgen import cid
from cerebellum_rt.codegen.frontend_expr import _ARITH, ExprMixin, py_function, scalar_of
from cerebellum_rt.codegen.ir import BOOL, F32, I32
from cerebellum_rt.codegen.law import Record, resolve_annotation
from cerebellum_rt.rtcore.errors import ConfigError


class SubsetError(ConfigError):
    """A law uses a construct outside the codegen subset (message: file:line: construct)."""


class _FnBuilder(ExprMixin):
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
            obj = resolve_annotation(ann, self.g)  # names only: an annotation is never evaluated
        except ConfigError as exc:
            raise self.err(node, f"{what}: {exc}") from None
        if obj is None:
            return "none", None
        if isinstance(obj, type) and issubclass(obj, Record):
            return "rec", obj
        sc = scalar_of(obj)
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

def _as_load(node: ast.expr) -> ast.expr:
    n = ast.parse(ast.unparse(node), mode="eval").body
    return ast.fix_missing_locations(ast.copy_location(n, node))


def _assign_lines(path: str) -> dict[str, int]:
    """Line of each module-level assignment ``NAME = ...`` / ``A, B = ...`` of a source file."""
    if path not in _LINES:
        out: dict[str, int] = {}
        try:
            with open(path) as fh:
                tree = ast.parse(fh.read())
        except (OSError, SyntaxError, ValueError):
            tree = ast.Module(body=[], type_ignores=[])
        for s in tree.body:
            targets = s.targets if isinstance(s, ast.Assign) else [s.target] if isinstance(s, ast.AnnAssign) else []
            for t in targets:
                for n in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(n, ast.Name):
                        out.setdefault(n.id, s.lineno)
        _LINES[path] = out
    return _LINES[path]


_LINES: dict[str, dict[str, int]] = {}


class ModuleBuilder:
    """Compiles a law and, transitively, the laws it calls (no recursion)."""

    def __init__(self) -> None:
        self.functions: dict[str, ir.Function] = {}
        self.records: dict[str, Any] = {}
        self.kernels: set[str] = set()
        self.constants: dict[str, ir.ConstDef] = {}
        self._active: list[types.FunctionType] = []
        self._by_obj: dict[types.FunctionType, ir.Function] = {}

    def constant(self, fb: _FnBuilder, node: ast.expr, c: ir.Const) -> ir.Const:
        """``c`` (the value of module constant ``node``), named: the C keeps the Python name."""
        pyname = ast.unparse(node)
        if isinstance(node, ast.Name):
            file = fb.file
            line = _assign_lines(file).get(node.id)
        else:
            base = fb.resolve(node.value) if isinstance(node, ast.Attribute) else None
            file = getattr(base, "__file__", None) or ""
            line = _assign_lines(file).get(node.attr) if file.endswith(".py") else None
        source = f"{os.path.relpath(file)}:{line}" if line else pyname
        base_name = cid(pyname.replace(".", "_"))
        name, k = base_name, 1
        while name in self.constants:
            d = self.constants[name]
            if (d.ty, d.value, d.source) == (c.ty, c.value, source):
                return ir.Const(c.ty, c.value, name)
            k += 1
            name = f"{base_name}_{k}"
        self.constants[name] = ir.ConstDef(name, c.ty, c.value, source)
        return ir.Const(c.ty, c.value, name)

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
    pyf = py_function(fn)
    if pyf is None:
        raise ConfigError(f"law {fn!r} is not a Python function")
    try:
        inspect.getsourcelines(pyf)
    except (OSError, TypeError) as exc:
        raise ConfigError(f"law '{pyf.__name__}': its source is not available ({exc})") from None
    mb = ModuleBuilder()
    mb.function(pyf)
    return ir.Module(pyf.__name__, mb.functions, mb.records, mb.kernels, mb.constants)
