"""The typed IR of a law: scalar types, expressions, statements and functions.

Scalar types are ``"f32"``, ``"i32"`` and ``"bool"``; every expression node carries its type
(``ty``) and the Python source line it came from, so both back ends (C99 and the Python
reference) emit the same operations in the same order with the same conversions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

F32, I32, BOOL = "f32", "i32", "bool"
C_TYPES = {F32: "float", I32: "int32_t", BOOL: "bool"}


@dataclass
class Expr:
    ty: str


@dataclass
class Const(Expr):
    value: Any  # float (exactly a float32), int (in int32 range) or bool
    name: str | None = None  # C name of the module constant it reads (None: a literal)


@dataclass
class ConstDef:
    """A module-level constant a law reads, kept by name in the C (``static const``)."""

    name: str  # C identifier
    ty: str
    value: Any
    source: str  # "file:line" of its assignment, or the Python expression (``math.pi``)


@dataclass
class Local(Expr):
    name: str


@dataclass
class Field(Expr):
    rec: str  # record parameter name
    name: str


@dataclass
class Elem(Expr):
    rec: str
    name: str
    index: Expr


@dataclass
class RecRef(Expr):
    """A whole record parameter, passed on to another law (ty is the Record class name)."""

    rec: str


@dataclass
class Cast(Expr):
    arg: Expr


@dataclass
class Bin(Expr):
    op: str  # + - * / // % & | ^ << >>
    a: Expr
    b: Expr


@dataclass
class Unary(Expr):
    op: str  # - not ~
    a: Expr


@dataclass
class Cmp(Expr):
    op: str  # < <= > >= == !=
    a: Expr
    b: Expr


@dataclass
class BoolOp(Expr):
    op: str  # and / or
    args: list[Expr]


@dataclass
class IfExp(Expr):
    cond: Expr
    a: Expr
    b: Expr


@dataclass
class Call(Expr):
    kind: str  # "kernel" (codegen.mathf32) or "law"
    func: str  # kernel name or law IR function name
    args: list[Expr]


@dataclass
class Stmt:
    line: int


@dataclass
class Assign(Stmt):
    target: Expr  # Local, Field or Elem
    value: Expr


@dataclass
class SinCos(Stmt):
    s: str  # local names
    c: str
    arg: Expr


@dataclass
class ExprStmt(Stmt):
    value: Call


@dataclass
class If(Stmt):
    cond: Expr
    body: list[Stmt]
    orelse: list[Stmt]


@dataclass
class For(Stmt):
    var: str
    start: int
    stop: int
    step: int
    body: list[Stmt]


@dataclass
class Return(Stmt):
    value: Expr | None


@dataclass
class Break(Stmt):
    pass


@dataclass
class Continue(Stmt):
    pass


@dataclass
class Param:
    name: str
    ty: str  # scalar type, or "rec"
    record: Any = None  # the Record subclass when ty == "rec"


@dataclass
class Function:
    name: str  # Python function name
    file: str
    line: int
    params: list[Param]
    ret: str | None  # scalar type or None
    locals: dict[str, str]
    body: list[Stmt]
    doc: str = ""
    callees: list[str] = field(default_factory=list)


@dataclass
class Module:
    """A law and every law it calls (callees first), with the record classes they use."""

    entry: str
    functions: dict[str, Function]
    records: dict[str, Any]  # class name -> Record subclass, in first-use order
    kernels: set[str] = field(default_factory=set)
    constants: dict[str, ConstDef] = field(default_factory=dict)  # C name -> definition, first-use order
