"""The one place numba is imported: ``njit`` (cached), and laws as C function pointers.

A law ``name_step(cfg, st, inp, out)`` (see ``codegen/law.py``) runs as the numba code of its
IR (``codegen.host_law``: the generated C's float32 / int32 semantics, the same bits)

- under the Python loop runner through :func:`law_update`: an ``update(t_s, dt_s)`` compiled
  with the records' addresses as constants, so a call dispatches on two floats only (~0.3 µs
  here, against ~2 µs for a call passing the four records);
- under the Cython runner through :func:`law_cfunc`, a numba ``cfunc`` with the C signature
  ``int32_t step(double t_s, double dt_s, void *ctx)``, where ``ctx`` points at the four record
  addresses built by :func:`law_context` (``ctx[0..3]`` = cfg, st, inp, out). It returns 0, or
  the law's own nonzero status when the law returns an integer.

:func:`call_c` calls a C function by its run-time address from compiled code (an emulated
module calling its board image's interrupts, ``actuators/joint/module.py``).

Fixed-step semantics: both receive the runner's ``(t_s, dt_s)`` and pass neither to the law. A
law integrates with the ``dt`` of its config record, which is the loop period; the measured
``dt_s`` of a tick goes to the runner's statistics and overrun policy. Both wrappers carry the
records as ``law_records``, so the runners check at construction that ``cfg.dt`` is their
period (:func:`cerebellum_rt.rtcore.loop.runner_settings`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.extending import intrinsic

from cerebellum_rt.rtcore.errors import ConfigError

STEP_SIG = types.int32(types.float64, types.float64, types.voidptr)


def njit(fn_or_signature: Callable | str | None = None, **kw: Any) -> Any:
    """``numba.njit`` with ``cache=True`` by default (compile once per machine, not per run).

    Used as numba's: ``@njit``, ``@njit(**options)``, ``@njit("float32(float32)", **options)``
    or ``njit(fn, **options)``."""
    kw.setdefault("cache", True)
    if fn_or_signature is None:
        return numba.njit(**kw)
    if callable(fn_or_signature):
        return numba.njit(**kw)(fn_or_signature)
    return numba.njit(fn_or_signature, **kw)


@intrinsic
def ptr_at(typingctx: Any, base: Any, idx: Any) -> Any:
    """``((void **)base)[idx]`` inside compiled code."""
    sig = types.voidptr(types.voidptr, types.intp)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        b, i = args
        pp = builder.bitcast(b, ir.PointerType(ir.IntType(8).as_pointer()))
        return builder.load(builder.gep(pp, [i]))

    return sig, codegen


@intrinsic
def addr_ptr(typingctx: Any, addr: Any) -> Any:
    """``(void *)addr`` for an integer address inside compiled code."""
    if not isinstance(addr, types.Integer):
        return None
    sig = types.voidptr(addr)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], ir.IntType(8).as_pointer())

    return sig, codegen


@intrinsic
def call_c(typingctx: Any, fn: Any, ctx: Any, buf: Any, off_in: Any, off_out: Any) -> Any:
    """``((void (*)(void *, void *, void *))fn)(ctx, buf + off_in, buf + off_out)`` inside compiled
    code: a C function whose address (``fn``) and first argument (``ctx``) are integers known only
    at run time (so kernels calling it stay ``cache=True``), its two records at byte offsets of
    the array ``buf``'s data (e.g. one row of a structured array)."""
    ints = (fn, ctx, off_in, off_out)
    if not all(isinstance(t, types.Integer) for t in ints) or not isinstance(buf, types.Array):
        return None
    sig = types.void(fn, ctx, buf, off_in, off_out)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i8p = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i8p, i8p])
        f = builder.inttoptr(args[0], fnty.as_pointer())
        c = builder.inttoptr(args[1], i8p)
        data = builder.bitcast(context.make_array(signature.args[2])(context, builder, args[2]).data, i8p)
        a = builder.gep(data, [args[3]])
        b = builder.gep(data, [args[4]])
        builder.call(f, [c, a, b])
        return context.get_dummy_value()

    return sig, codegen


def _base(rec: np.void | np.ndarray, what: str) -> np.ndarray:
    """The 1-element structured array behind a law record (``Rec.new()``)."""
    arr = rec if isinstance(rec, np.ndarray) else rec.base
    if not isinstance(arr, np.ndarray) or arr.dtype.names is None or arr.shape != (1,):
        raise ConfigError(f"law record {what} = {type(rec).__name__} is not a record made by Rec.new()")
    return arr


def law_context(cfg: np.void, st: np.void, inp: np.void, out: np.void) -> np.ndarray:
    """The ``ctx`` of :func:`law_cfunc`: a uint64[4] array of the records' addresses. Keep it
    (and the records) alive while a runner uses it; its address is ``ctx.ctypes.data``."""
    recs = [_base(r, n) for r, n in ((cfg, "cfg"), (st, "st"), (inp, "inp"), (out, "out"))]
    return np.array([a.ctypes.data for a in recs], dtype=np.uint64)


def law_cfunc(law: Callable, cfg: np.void, st: np.void, inp: np.void, out: np.void) -> Any:
    """Compile ``law`` (its host executable, ``codegen.host_law(fn)``) as a C step function for
    these record types; returns the numba ``cfunc`` (``.address`` is the C function pointer)."""
    kernel = _host(law)
    dts = [_base(r, n).dtype for r, n in ((cfg, "cfg"), (st, "st"), (inp, "inp"), (out, "out"))]
    d0, d1, d2, d3 = dts
    returns_status = _returns_int(kernel, dts)

    if returns_status:

        def step(t_s: float, dt_s: float, ctx: Any) -> int:
            c = carray(ptr_at(ctx, 0), 1, dtype=d0)
            s = carray(ptr_at(ctx, 1), 1, dtype=d1)
            i = carray(ptr_at(ctx, 2), 1, dtype=d2)
            o = carray(ptr_at(ctx, 3), 1, dtype=d3)
            return np.int32(kernel(c[0], s[0], i[0], o[0]))
    else:

        def step(t_s: float, dt_s: float, ctx: Any) -> int:
            c = carray(ptr_at(ctx, 0), 1, dtype=d0)
            s = carray(ptr_at(ctx, 1), 1, dtype=d1)
            i = carray(ptr_at(ctx, 2), 1, dtype=d2)
            o = carray(ptr_at(ctx, 3), 1, dtype=d3)
            kernel(c[0], s[0], i[0], o[0])
            return np.int32(0)

    cf = numba.cfunc(STEP_SIG, cache=False)(step)
    cf.law_records = (cfg, st, inp, out)  # the runner checks cfg.dt against its period
    return cf


def _host(law: Callable) -> Any:
    """The law's host executable. rtcore is the base layer and does not compile laws itself:
    callers pass ``cerebellum_rt.codegen.host_law(fn)`` (the law's IR as numba code with the
    generated C's semantics); a plain function would run with numba's float64 literals."""
    if getattr(law, "ir_module", None) is None or not isinstance(law, numba.core.dispatcher.Dispatcher):
        raise ConfigError(f"{getattr(law, '__name__', law)!r} is not a law's host executable: "
                          "pass cerebellum_rt.codegen.host_law(law) (C semantics), not the plain function")
    return law


def _returns_int(kernel: Any, dts: list[np.dtype]) -> bool:
    recs = [numba.from_dtype(d) for d in dts]
    kernel.compile(tuple(recs))
    ret = kernel.overloads[tuple(recs)].signature.return_type
    return isinstance(ret, types.Integer | types.Boolean)


def law_update(law: Callable, cfg: np.void, st: np.void, inp: np.void, out: np.void) -> Callable:
    """A compiled ``update(t_s, dt_s)`` for :class:`~rtcore.loop.LoopRunner` that steps ``law``
    (its host executable, ``codegen.host_law(fn)``) on these records (compiled here, before any loop starts; it holds the records alive). The
    law steps by its ``cfg.dt`` (fixed step); ``t_s`` and the measured ``dt_s`` are not passed."""
    kernel = _host(law)
    ctx = law_context(cfg, st, inp, out)
    d0, d1, d2, d3 = (_base(r, n).dtype for r, n in ((cfg, "cfg"), (st, "st"), (inp, "inp"), (out, "out")))
    a0, a1, a2, a3 = (int(a) for a in ctx)  # compile-time constants of this wrapper

    @numba.njit
    def update(t_s: float, dt_s: float) -> None:
        c = carray(addr_ptr(a0), 1, dtype=d0)
        s = carray(addr_ptr(a1), 1, dtype=d1)
        i = carray(addr_ptr(a2), 1, dtype=d2)
        o = carray(addr_ptr(a3), 1, dtype=d3)
        kernel(c[0], s[0], i[0], o[0])

    update.compile((types.float64, types.float64))  # compile before any loop starts
    # Keeps the addresses valid, and lets the runner check cfg.dt against its period.
    update.law_records = (cfg, st, inp, out)  # type: ignore[attr-defined]
    return update
