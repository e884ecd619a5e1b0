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

import platform
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
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


# --- atomics on an int64 array element (a spin handshake between threads in nogil kernels) ---
def _i64_slot(context: Any, builder: Any, arrty: Any, arr: Any, idx: Any) -> Any:
    data = context.make_array(arrty)(context, builder, arr).data
    return builder.gep(data, [idx])


def _i64_array(arr: Any, idx: Any) -> bool:
    return isinstance(arr, types.Array) and arr.dtype == types.int64 and isinstance(idx, types.Integer)


@intrinsic
def atomic_load(typingctx: Any, arr: Any, idx: Any) -> Any:
    """``arr[idx]`` (an int64 array) as an acquire load: what the thread that stored it with
    :func:`atomic_swap` wrote before is visible after it; the compiler never caches it in a loop."""
    if not _i64_array(arr, idx):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.load_atomic(_i64_slot(context, builder, signature.args[0], *args), "acquire", 8)

    return types.int64(arr, idx), codegen


@intrinsic
def atomic_swap(typingctx: Any, arr: Any, idx: Any, value: Any) -> Any:
    """``old = arr[idx]; arr[idx] = value; return old`` (int64 array) as one sequentially
    consistent atomic exchange (a release of everything written before it)."""
    if not _i64_array(arr, idx) or not isinstance(value, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        v = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("xchg", _i64_slot(context, builder, signature.args[0], args[0], args[1]), v, "seq_cst")

    return types.int64(arr, idx, value), codegen


@intrinsic
def atomic_cas(typingctx: Any, arr: Any, idx: Any, expected: Any, value: Any) -> Any:
    """``arr[idx] = value`` if it holds ``expected`` (int64 array), atomically (sequentially
    consistent); returns the value it held."""
    if not _i64_array(arr, idx) or not isinstance(expected, types.Integer) or not isinstance(value, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        e = context.cast(builder, args[2], signature.args[2], types.int64)
        v = context.cast(builder, args[3], signature.args[3], types.int64)
        pair = builder.cmpxchg(_i64_slot(context, builder, signature.args[0], args[0], args[1]), e, v, "seq_cst", "seq_cst")
        return builder.extract_value(pair, 0)

    return types.int64(arr, idx, expected, value), codegen


@intrinsic
def atomic_add(typingctx: Any, arr: Any, idx: Any, value: Any) -> Any:
    """``old = arr[idx]; arr[idx] += value; return old`` (int64 array), one sequentially
    consistent atomic fetch-and-add."""
    if not _i64_array(arr, idx) or not isinstance(value, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        v = context.cast(builder, args[2], signature.args[2], types.int64)
        return builder.atomic_rmw("add", _i64_slot(context, builder, signature.args[0], args[0], args[1]), v, "seq_cst")

    return types.int64(arr, idx, value), codegen


_MACHINE = platform.machine().lower()


@intrinsic
def spin_pause(typingctx: Any) -> Any:
    """The CPU's spin-wait hint (x86 ``pause``, Arm ``yield``; nothing elsewhere): the body of a
    spin loop on :func:`atomic_load`."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        mod = builder.module
        if _MACHINE in ("x86_64", "amd64", "i686"):
            builder.call(cgutils.get_or_insert_function(mod, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause"), [])
        elif _MACHINE in ("aarch64", "arm64"):
            hint = cgutils.get_or_insert_function(mod, ir.FunctionType(ir.VoidType(), [ir.IntType(32)]), "llvm.aarch64.hint")
            builder.call(hint, [ir.Constant(ir.IntType(32), 1)])  # HINT #1 = YIELD
        return context.get_dummy_value()

    return types.void(), codegen


def entry_point(dispatcher: Any, args: tuple) -> Callable:
    """The compiled entry of the ``@njit`` ``dispatcher`` for the types of ``args`` (compiled or
    loaded from the cache now): calling it skips numba's per-call type resolution (~1-2 us for a
    call passing a dozen arrays). Later calls must pass arguments of the same types."""
    sig = tuple(dispatcher.typeof_pyval(a) for a in args)
    dispatcher.compile(sig)
    return dispatcher.overloads[sig].entry_point


# --- futex (Linux): block a thread on an int64 word (its low 32 bits) until another wakes it ---
_SYS_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}.get(_MACHINE) if platform.system() == "Linux" else None
FUTEX_AVAILABLE = _SYS_FUTEX is not None and np.little_endian
_FUTEX_WAIT_PRIVATE, _FUTEX_WAKE_PRIVATE = 128, 129


def _futex(context: Any, builder: Any, slot: Any, op: int, val: Any) -> Any:
    i64 = ir.IntType(64)
    fnty = ir.FunctionType(i64, [i64], var_arg=True)  # long syscall(long number, ...)
    fn = cgutils.get_or_insert_function(builder.module, fnty, "syscall")
    addr = builder.ptrtoint(slot, i64)
    zero = ir.Constant(i64, 0)
    v32 = builder.trunc(val, ir.IntType(32))
    return builder.call(fn, [ir.Constant(i64, _SYS_FUTEX or 0), addr, ir.Constant(ir.IntType(32), op), v32, zero, zero,
                             ir.Constant(ir.IntType(32), 0)])


@intrinsic
def futex_wait(typingctx: Any, arr: Any, idx: Any, expected: Any) -> Any:
    """Block while the low 32 bits of ``arr[idx]`` (int64 array) equal those of ``expected``
    (checked atomically by the kernel: a change before the call returns at once), until a
    :func:`futex_wake` on the same word, or spuriously: callers re-check in a loop. Linux only
    (``FUTEX_AVAILABLE``)."""
    if not _i64_array(arr, idx) or not isinstance(expected, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        e = context.cast(builder, args[2], signature.args[2], types.int64)
        _futex(context, builder, _i64_slot(context, builder, signature.args[0], args[0], args[1]), _FUTEX_WAIT_PRIVATE, e)
        return context.get_dummy_value()

    return types.void(arr, idx, expected), codegen


@intrinsic
def futex_wake(typingctx: Any, arr: Any, idx: Any, count: Any) -> Any:
    """Wake up to ``count`` threads blocked in :func:`futex_wait` on ``arr[idx]``."""
    if not _i64_array(arr, idx) or not isinstance(count, types.Integer):
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        c = context.cast(builder, args[2], signature.args[2], types.int64)
        _futex(context, builder, _i64_slot(context, builder, signature.args[0], args[0], args[1]), _FUTEX_WAKE_PRIVATE, c)
        return context.get_dummy_value()

    return types.void(arr, idx, count), codegen
