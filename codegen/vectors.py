"""Test vectors for a law: one step per vector, every parameter given (records and scalars).

A batch is a list of numpy arrays, one per law parameter (a record array of the parameter's
Record dtype, or a float32 / int32 / bool array for a scalar), plus a result array for the
return value. The same bytes feed the Python reference, the host C (cffi) and the target C
(embedded in the PIL image). Results are compared by a canonical FNV-1a 64 hash over every
field of every parameter after the step, then the return value; float32 NaNs hash as the one
quiet NaN 0x7FC00000 (x86 and Arm produce different NaN payloads, IEEE leaves them open).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cerebellum_rt.codegen import ir
from cerebellum_rt.codegen.ir import BOOL, F32, I32
from cerebellum_rt.codegen.law import ArrayType
from cerebellum_rt.rtcore.jit import njit

_NP = {F32: np.float32, I32: np.int32, BOOL: np.bool_}


def param_dtype(p: ir.Param) -> np.dtype:
    return p.record.dtype() if p.ty == "rec" else np.dtype(_NP[p.ty])


def _floats(rng: np.random.Generator, n: int) -> np.ndarray:
    """A mix: zeros, +-1, values of magnitude 1e-3..1e3, a few huge, a few subnormal."""
    mag = 10.0 ** rng.uniform(-3, 3, n) * rng.choice([-1.0, 1.0], n)
    pick = rng.random(n)
    v = np.where(pick < 0.05, 0.0, np.where(pick < 0.1, np.sign(mag), mag))
    v = np.where((pick > 0.98), mag * 1e30, v)
    v = np.where((pick > 0.97) & (pick <= 0.98), 1e-40 * np.sign(mag), v)
    return v.astype(np.float32)


def _ints(rng: np.random.Generator, n: int) -> np.ndarray:
    small = rng.integers(-4, 17, n)
    big = rng.integers(-(2**31), 2**31, n)
    return np.where(rng.random(n) < 0.8, small, big).astype(np.int32)


def _fill(rng: np.random.Generator, dtype: np.dtype, n: int, defaults: np.void | None) -> np.ndarray:
    arr = np.zeros(n, dtype)
    names = dtype.names or (None,)
    for name in names:
        sub = arr[name] if name else arr
        base = sub.dtype.base if name else dtype
        shape = sub.shape
        size = int(np.prod(shape))
        if base == np.float32:
            v = _floats(rng, size)
        elif base == np.int32:
            v = _ints(rng, size)
        else:
            v = rng.random(size) < 0.5
        v = v.reshape(shape)
        if defaults is not None and name:
            # a third of the vectors keep the record's defaults for this field (realistic configs)
            keep = rng.random(n) < 1 / 3
            v[keep] = defaults[name]
        if name:
            arr[name] = v
        else:
            arr[...] = v
    return arr


def random_batch(module: ir.Module, n: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` random vectors for the entry law of ``module`` (one array per parameter)."""
    rng = np.random.default_rng(seed)
    entry = module.functions[module.entry]
    return [_fill(rng, param_dtype(p), n, p.record.new() if p.ty == "rec" else None) for p in entry.params]


def result_array(module: ir.Module, n: int) -> np.ndarray:
    ret = module.functions[module.entry].ret
    return np.zeros(n, _NP[ret] if ret else np.int32)


def copy_batch(batch: list[np.ndarray]) -> list[np.ndarray]:
    return [a.copy() for a in batch]


def field_layout(module: ir.Module) -> list[tuple[int, str, int, int]]:
    """Per parameter, per field: (param index, scalar type, byte offset, element count)."""
    out = []
    for k, p in enumerate(module.functions[module.entry].params):
        if p.ty != "rec":
            out.append((k, p.ty, 0, 1))
            continue
        dt = p.record.dtype()
        for name, t in p.record.fields():
            elem, cnt = (t.elem, t.n) if isinstance(t, ArrayType) else (t, 1)
            ty = {np.float32: F32, np.int32: I32, np.bool_: BOOL}[elem]
            out.append((k, ty, dt.fields[name][1], cnt))
    return out


@njit(cache=True)
def _fnv(h: np.uint64, data: np.ndarray) -> np.uint64:
    prime = np.uint64(1099511628211)
    for b in data:
        h = (h ^ np.uint64(b)) * prime
    return h


def canonical_bytes(module: ir.Module, batch: list[np.ndarray], result: np.ndarray) -> np.ndarray:
    """The byte stream the device hashes: per vector, per field element (f32/i32 as 4 bytes
    little-endian, NaN canonical; bool as 1 byte), then the return value."""
    n = len(result)
    cols: list[np.ndarray] = []
    for k, ty, off, cnt in field_layout(module):
        raw = batch[k].view(np.uint8).reshape(n, -1)
        width = 1 if ty == BOOL else 4
        blk = np.ascontiguousarray(raw[:, off: off + width * cnt])
        if ty == F32:
            f = blk.view(np.float32).copy()
            u = f.view(np.uint32)
            u[np.isnan(f)] = 0x7FC00000
            blk = u.view(np.uint8).reshape(n, -1)
        cols.append(blk)
    ret = module.functions[module.entry].ret
    rv = result.view(np.uint8).reshape(n, -1)
    if ret == F32:
        f = result.copy()
        f.view(np.uint32)[np.isnan(f)] = 0x7FC00000
        rv = f.view(np.uint8).reshape(n, -1)
    elif ret == BOOL:
        rv = rv[:, :1]
    cols.append(rv)
    return np.ascontiguousarray(np.concatenate(cols, axis=1)).reshape(-1)


SEGMENT = 1024  # vectors per segment hash (a PIL image prints one per segment)
FNV0 = 14695981039346656037


def segment_hashes(module: ir.Module, batch: list[np.ndarray], result: np.ndarray) -> list[int]:
    """FNV-1a 64 of :func:`canonical_bytes` per segment of :data:`SEGMENT` vectors."""
    n = len(result)
    width = len(canonical_bytes(module, [a[:1] for a in batch], result[:1]))
    data = canonical_bytes(module, batch, result)
    return [int(_fnv(np.uint64(FNV0), data[s * width: min(n, s + SEGMENT) * width])) for s in range(0, n, SEGMENT)]


def fold_hashes(segs: list[int]) -> str:
    """The hash of a whole batch: FNV-1a 64 over its segment hashes (8 bytes little-endian each)."""
    h = _fnv(np.uint64(FNV0), np.array(segs, np.uint64).view(np.uint8))
    return f"{int(h):016x}"


def hash_results(module: ir.Module, batch: list[np.ndarray], result: np.ndarray) -> str:
    """Hex hash of a batch's results, as the PIL harness prints it (:func:`fold_hashes` of
    :func:`segment_hashes`)."""
    return fold_hashes(segment_hashes(module, batch, result))


def run_reference(ref: Any, module: ir.Module, batch: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Step the Python reference once per vector on a copy of ``batch``: (params after, results)."""
    b = copy_batch(batch)
    res = result_array(module, len(b[0]))
    ref.run_batch(*b, res)
    return b, res


def first_difference(module: ir.Module, a: tuple[list[np.ndarray], np.ndarray],
                     b: tuple[list[np.ndarray], np.ndarray]) -> str | None:
    """None if two runs agree bit for bit (NaN payloads aside), else a description of the first
    differing vector and parameter."""
    ca = canonical_bytes(module, *a).reshape(len(a[1]), -1)
    cb = canonical_bytes(module, *b).reshape(len(b[1]), -1)
    bad = np.nonzero((ca != cb).any(axis=1))[0]
    if bad.size == 0:
        return None
    i = int(bad[0])
    entry = module.functions[module.entry]
    for k, p in enumerate(entry.params):
        ra, rb = a[0][k][i], b[0][k][i]
        for name in ra.dtype.names or (None,):
            va, vb = (ra[name], rb[name]) if name else (ra, rb)
            va, vb = np.atleast_1d(va), np.atleast_1d(vb)
            same = va.view(np.uint8).tobytes() == vb.view(np.uint8).tobytes() or (
                va.dtype == np.float32 and np.array_equal(va, vb, equal_nan=True)
                and np.array_equal(np.signbit(va), np.signbit(vb)))
            if not same:
                where = f"{p.name}.{name}" if name else p.name
                return f"vector {i} of {len(a[1])}: {where} = {va.tolist()} vs {vb.tolist()}"
    return f"vector {i} of {len(a[1])}: return value {a[1][i]!r} vs {b[1][i]!r}"
