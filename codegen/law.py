"""The law-authoring API: typed records that map one-to-one onto C structs.

A control law is written once as restricted Python::

    from cerebellum_rt.codegen.law import Record, f32, i32, boolean, array

    class PIConfig(Record):
        kp: f32 = 0.5           # [V/A]
        ki: f32 = 200.0         # [V/(A s)]
        limit: f32 = 24.0       # [V]

    class PIState(Record):
        integ: f32

    def pi_step(cfg: PIConfig, st: PIState, err: f32, dt: f32) -> f32: ...

Field types are ``f32``, ``i32``, ``boolean`` or ``array(f32|i32, N)``; a field may
carry a default. ``Rec.new(**values)`` returns a numpy structured record (``numpy.void``)
whose memory lives in a private 1-element array: numba passes it by reference (writes made by
an ``@njit`` law are seen by the caller), and codegen emits the same layout as a C struct.

Laws are fixed-step. A law that the loop runners step, ``name_step(cfg, st, inp, out)``, reads
its period from ``cfg.dt`` [s]: that is the loop period, which the runners check at
construction (``cerebellum_rt.rtcore.loop.runner_settings``); the measured period of a tick
goes to the loop statistics and overrun policy, never into the law.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import sys
import types
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError

f32 = np.float32
i32 = np.int32
boolean = np.bool_

SCALARS: dict[Any, str] = {f32: "f32", i32: "i32", boolean: "bool"}


@dataclass(frozen=True)
class ArrayType:
    """A fixed-size array field: element type and length (C: ``float name[N]``)."""

    elem: Any
    n: int

    def __post_init__(self) -> None:
        if self.elem not in SCALARS:
            raise ConfigError(f"array element type {self.elem!r} is not one of f32, i32")
        if self.elem is boolean:  # numba cannot type boolean arrays nested in records
            raise ConfigError("array(boolean, N): numba does not support boolean arrays in records; use array(i32, N)")
        if not (1 <= self.n <= 65536):
            raise ConfigError(f"array length {self.n} is out of range [1, 65536]")


def array(elem: Any, n: int) -> ArrayType:
    """Annotation for a fixed-size array field of f32 or i32 (C: ``float name[N]``)."""
    return ArrayType(elem, int(n))


_INT_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
            ast.FloorDiv: lambda a, b: a // b}


def resolve_annotation(ann: str | ast.expr, namespace: dict[str, Any]) -> Any:
    """The object an annotation names, without evaluating it: a name (looked up in ``namespace``,
    then the builtins ``float`` / ``int`` / ``bool``), ``module.name``, ``None``, or
    ``array(T, N)`` with N an integer expression of literals and names (+ - * //)."""
    node = ast.parse(ann, mode="eval").body if isinstance(ann, str) else ann

    def val(n: ast.expr) -> Any:
        if isinstance(n, ast.Constant) and (n.value is None or type(n.value) is int):
            return n.value
        if isinstance(n, ast.Name):
            if n.id in namespace:
                return namespace[n.id]
            if n.id in ("float", "int", "bool"):
                return getattr(builtins, n.id)
            raise ConfigError(f"annotation name '{n.id}' is not defined in the law's module")
        if isinstance(n, ast.Attribute):
            base = val(n.value)
            if isinstance(base, types.ModuleType) and hasattr(base, n.attr):
                return getattr(base, n.attr)
            raise ConfigError(f"annotation '{ast.unparse(n)}' is not a module attribute")
        if isinstance(n, ast.BinOp) and type(n.op) in _INT_OPS:
            a, b = val(n.left), val(n.right)
            if type(a) is int and type(b) is int:
                return _INT_OPS[type(n.op)](a, b)
        if isinstance(n, ast.Call) and not n.keywords and len(n.args) == 2 and val(n.func) is array:
            return array(val(n.args[0]), val(n.args[1]))
        raise ConfigError(f"annotation '{ast.unparse(n)}' is not a type name, module.name or array(T, N)")

    return val(node)


class Record:
    """Base of law records. Subclasses declare fields as annotations (see module doc)."""

    _fields: ClassVar[tuple[tuple[str, Any], ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _dtype: ClassVar[np.dtype]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        fields: list[tuple[str, Any]] = []
        defaults: dict[str, Any] = {}
        for base in reversed(cls.__mro__[1:]):
            if issubclass(base, Record) and base is not Record:
                fields.extend(base._fields)
                defaults.update(base._defaults)
        ann = inspect.get_annotations(cls)
        namespace = vars(sys.modules[cls.__module__]) if cls.__module__ in sys.modules else {}
        for name, typ in ann.items():
            if isinstance(typ, str):  # from __future__ import annotations: resolved, never evaluated
                try:
                    typ = resolve_annotation(typ, {**namespace, **vars(cls)})
                except ConfigError as exc:
                    raise ConfigError(f"{cls.__qualname__}.{name}: {exc}") from None
            if typ not in SCALARS and not isinstance(typ, ArrayType):
                raise ConfigError(
                    f"{cls.__qualname__}.{name}: field type {typ!r} is not f32, i32, boolean or array(...)"
                )
            fields.append((name, typ))
            if name in cls.__dict__:
                defaults[name] = cls.__dict__[name]
        cls._fields = tuple(fields)
        cls._defaults = defaults
        cls._dtype = np.dtype(
            [(n, t.elem, (t.n,)) if isinstance(t, ArrayType) else (n, t) for n, t in fields], align=True
        )

    @classmethod
    def dtype(cls) -> np.dtype:
        return cls._dtype

    @classmethod
    def fields(cls) -> tuple[tuple[str, Any], ...]:
        return cls._fields

    @classmethod
    def new(cls, **values: Any) -> np.void:
        """A zero-initialised record with the class defaults, then ``values``, applied."""
        unknown = set(values) - {n for n, _ in cls._fields}
        if unknown:
            raise ConfigError(
                f"{cls.__qualname__}: unknown field(s) {sorted(unknown)}; fields are {[n for n, _ in cls._fields]}"
            )
        arr = np.zeros(1, cls._dtype)
        rec = arr[0]
        for name, val in {**cls._defaults, **values}.items():
            rec[name] = val
        return rec

    @classmethod
    def array(cls, n: int) -> np.ndarray:
        """``n`` records with defaults, as a structured array (e.g. one per axis)."""
        arr = np.zeros(n, cls._dtype)
        for name, val in cls._defaults.items():
            arr[name] = val
        return arr
