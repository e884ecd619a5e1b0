"""Vectors that exercise a law: every branch both ways, comparisons at their boundary, long runs.

``exercise_batch(gen, n, seed)`` returns exactly ``n`` vectors (one array per parameter, as
``vectors.random_batch``) built from the law's IR:

- probes: for each comparison of an input (a record field or array element the entry law
  receives, through callees too, or a scalar parameter) with a constant, the input set to the
  constant and to one ulp (float32) / one (int32) either side; for a comparison of two inputs,
  the two made equal and one ulp apart;
- integer fields drawn mostly from the integer constants the law uses (mode numbers, limits,
  flags) and their neighbours, instead of uniform int32 (which sends nearly every vector down
  the default branch);
- IEEE specials (NaN, +-inf, -0, FLT_MAX, FLT_MIN, the smallest subnormal) in one float field
  of a twentieth of the vectors;
- sequences: trajectories of up to 2,000 steps with fixed inputs, the law's own outputs and state
  fed back (the reference steps them), each step's state a vector: integrators saturate,
  counters wrap, filters settle;
- coverage search: branch directions still missing are looked for among mutated vectors
  (random, probed and sequence states) and the hits replace plain random vectors.

Branch coverage (``coverage(gen, batch)``) is measured on the reference instrumented per branch
(``pyref.emit_reference(coverage=True)``): the fraction of the IR's ``if`` / conditional
expression directions (2 per branch) that at least one vector takes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from cerebellum_rt.codegen import ir, vectors
from cerebellum_rt.codegen.ir import BOOL, F32, I32
from cerebellum_rt.codegen.pyref import branches, load_reference

SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 3.4028235e38, -3.4028235e38, 1.1754944e-38, 1e-45, -1e-45],
                    np.float32)
SEQ_STEPS = 2000


@dataclass(frozen=True)
class Place:
    """An input of the entry law: parameter k, record field (None: a scalar), array element."""

    k: int
    field: str | None
    elem: int | None
    ty: str


def _param_map(module: ir.Module) -> dict[str, dict[str, int]]:
    """Per function, its record/scalar parameter names -> the entry parameter they alias."""
    entry = module.functions[module.entry]
    maps: dict[str, dict[str, int]] = {entry.name: {p.name: k for k, p in enumerate(entry.params)}}

    def calls(e: Any, out: list[ir.Call]) -> None:
        if isinstance(e, ir.Call) and e.kind == "law":
            out.append(e)
        for v in vars(e).values() if hasattr(e, "__dict__") else ():
            for x in (v if isinstance(v, list) else [v]):
                if isinstance(x, ir.Expr | ir.Stmt):
                    calls(x, out)

    for _ in range(len(module.functions)):  # callees first in the dict: iterate to a fixed point
        for f in module.functions.values():
            if f.name not in maps:
                continue
            found: list[ir.Call] = []
            for s in f.body:
                calls(s, found)
            for c in found:
                g = module.functions[c.func]
                m = maps.setdefault(g.name, {})
                for a, p in zip(c.args, g.params):
                    if isinstance(a, ir.RecRef) and a.rec in maps[f.name]:
                        m[p.name] = maps[f.name][a.rec]
    return maps


def _place(e: ir.Expr, pmap: dict[str, int], module: ir.Module) -> Place | None:
    entry = module.functions[module.entry]
    if isinstance(e, ir.Cast):
        return _place(e.arg, pmap, module)
    if isinstance(e, ir.Field) and e.rec in pmap:
        return Place(pmap[e.rec], e.name, None, e.ty)
    if isinstance(e, ir.Elem) and e.rec in pmap and isinstance(e.index, ir.Const):
        return Place(pmap[e.rec], e.name, int(e.index.value), e.ty)
    if isinstance(e, ir.Local) and e.name in pmap and entry.params[pmap[e.name]].ty != "rec":
        return Place(pmap[e.name], None, None, e.ty)
    return None


def _const(e: ir.Expr) -> float | int | None:
    if isinstance(e, ir.Cast):
        return _const(e.arg)
    if isinstance(e, ir.Const) and e.ty != BOOL:
        return e.value
    if isinstance(e, ir.Unary) and e.op == "-" and isinstance(e.a, ir.Const):
        return -e.a.value
    return None


def _walk(x: Any):
    yield x
    for v in vars(x).values() if hasattr(x, "__dict__") else ():
        for y in (v if isinstance(v, list) else [v]):
            if isinstance(y, ir.Expr | ir.Stmt):
                yield from _walk(y)


def _defs(f: ir.Function) -> dict[str, list[ir.Expr]]:
    """Per local of ``f``, the non-constant values assigned to it."""
    out: dict[str, list[ir.Expr]] = {}
    for s in f.body:
        for x in _walk(s):
            if isinstance(x, ir.Assign) and isinstance(x.target, ir.Local) and _const(x.value) is None:
                out.setdefault(x.target.name, []).append(x.value)
    return out


def _solve(e: ir.Expr, v: float | int, pmap: dict[str, int], module: ir.Module, defs: dict[str, list[ir.Expr]],
           depth: int = 0) -> list[dict[Place, Any]]:
    """Input assignments that make ``e`` equal ``v`` (through locals, fabs/abs, + - * with an
    input that can be made neutral), as far as simple inversion goes; [] when none is found."""
    p = _place(e, pmap, module)
    if p is not None:
        return [{p: v}]
    if depth > 4:
        return []
    out: list[dict[Place, Any]] = []
    if isinstance(e, ir.Cast):
        return _solve(e.arg, v, pmap, module, defs, depth + 1)
    if isinstance(e, ir.Local):
        for d in defs.get(e.name, [])[:3]:
            out += _solve(d, v, pmap, module, defs, depth + 1)
    elif isinstance(e, ir.Call) and e.kind == "kernel" and e.func == "fabs":
        out += _solve(e.args[0], v, pmap, module, defs, depth + 1) + _solve(e.args[0], -v, pmap, module, defs, depth + 1)
    elif isinstance(e, ir.IfExp):  # abs / min / max of integers
        out += _solve(e.a, v, pmap, module, defs, depth + 1) + _solve(e.b, v, pmap, module, defs, depth + 1)
    elif isinstance(e, ir.Bin) and e.op in ("+", "-", "*"):
        neutral = 1 if e.op == "*" else 0
        for x, y in ((e.a, e.b), (e.b, e.a)):
            if e.op == "-" and x is e.b:
                v_x: Any = -v  # 0 - x = v
            else:
                v_x = v
            py = _place(y, pmap, module)
            for sol in _solve(x, v_x, pmap, module, defs, depth + 1):
                if py is not None and py not in sol:
                    out.append({**sol, py: neutral})
    return out[:6]


def _satisfy(cond: ir.Expr, want: bool, pmap: dict[str, int], module: ir.Module) -> dict[Place, Any]:
    """An input assignment that gives ``cond`` the truth ``want`` when it is a simple comparison
    of an input with a constant (or a conjunction / negation of such); {} otherwise."""
    if isinstance(cond, ir.Unary) and cond.op == "not":
        return _satisfy(cond.a, not want, pmap, module)
    if isinstance(cond, ir.BoolOp) and ((cond.op == "and") == want):
        out: dict[Place, Any] = {}
        for a in cond.args:
            out.update(_satisfy(a, want, pmap, module))
        return out
    if isinstance(cond, ir.Field | ir.Local) and cond.ty == BOOL:
        p = _place(cond, pmap, module)
        return {p: np.bool_(want)} if p else {}
    if not isinstance(cond, ir.Cmp):
        return {}
    p, c, op = _place(cond.a, pmap, module), _const(cond.b), cond.op
    if p is None or c is None:
        p, c = _place(cond.b, pmap, module), _const(cond.a)
        op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
    if p is None or c is None:
        return {}
    lo, eq, hi = _neighbours(c, p.ty) if p.ty != BOOL else (c, c, c)
    truth = {"==": (eq, hi), "!=": (hi, eq), "<": (lo, eq), "<=": (eq, hi), ">": (hi, eq), ">=": (eq, lo)}[op]
    return {p: truth[0] if want else truth[1]}


def analyse(module: ir.Module) -> tuple[list[dict[Place, Any]], list[tuple[Place, Place]], list[int], list[float]]:
    """(probe assignments putting a compared value at a constant, input vs input pairs, integer
    constant pool, float constant pool)."""
    maps = _param_map(module)
    probes: list[dict[Place, Any]] = []
    pairs: list[tuple[Place, Place]] = []
    ints: set[int] = {0, 1, -1}
    floats: set[float] = {0.0, 1.0, -1.0}
    for f in module.functions.values():
        pmap = maps.get(f.name, {})
        defs = _defs(f)

        def visit(stmts: list[ir.Stmt], path: dict[Place, Any], pmap: dict[str, int] = pmap,
                  defs: dict[str, list[ir.Expr]] = defs) -> None:
            for s in stmts:
                exprs = [x for v in vars(s).values() for x in (v if isinstance(v, list) else [v]) if isinstance(x, ir.Expr)]
                for e in (y for x in exprs for y in _walk(x)):
                    if isinstance(e, ir.Const) and e.ty == I32:
                        ints.update((int(e.value) - 1, int(e.value), int(e.value) + 1))
                    elif isinstance(e, ir.Const) and e.ty == F32:
                        floats.add(float(e.value))
                    if not isinstance(e, ir.Cmp):
                        continue
                    pa, pb = _place(e.a, pmap, module), _place(e.b, pmap, module)
                    ca, cb = _const(e.a), _const(e.b)
                    sols = (_solve(e.a, cb, pmap, module, defs) if cb is not None else []) + (
                        _solve(e.b, ca, pmap, module, defs) if ca is not None else [])
                    # the probed input first; then what the enclosing ifs need to reach the comparison
                    probes.extend({**sol, **{q: w for q, w in path.items() if q not in sol}} for sol in sols)
                    if pa and pb:
                        pairs.append((pa, pb))
                if isinstance(s, ir.If):
                    visit(s.body, {**path, **_satisfy(s.cond, True, pmap, module)}, pmap, defs)
                    visit(s.orelse, {**path, **_satisfy(s.cond, False, pmap, module)}, pmap, defs)
                elif isinstance(s, ir.For):
                    visit(s.body, path, pmap, defs)

        visit(f.body, {})
    ints = {v for v in ints if -(2**31) <= v < 2**31}
    return probes, pairs, sorted(ints), sorted(floats)


def _set(batch: list[np.ndarray], i: int, p: Place, value: Any) -> None:
    arr = batch[p.k]
    if p.field is None:
        arr[i] = value
    elif p.elem is None:
        arr[p.field][i] = value
    else:
        arr[p.field][i, p.elem] = value


def _get(batch: list[np.ndarray], i: int, p: Place) -> Any:
    arr = batch[p.k]
    if p.field is None:
        return arr[i]
    return arr[p.field][i] if p.elem is None else arr[p.field][i, p.elem]


def _neighbours(value: float | int, ty: str) -> list[Any]:
    if ty == F32:
        v = np.float32(value)
        return [np.nextafter(v, np.float32(-np.inf)), v, np.nextafter(v, np.float32(np.inf))]
    if ty == I32:
        return [np.int32(np.clip(int(value) + d, -(2**31), 2**31 - 1)) for d in (-1, 0, 1)]
    return [np.bool_(False), np.bool_(True)]


def _columns(batch: list[np.ndarray]) -> list[tuple[int, str | None, np.dtype]]:
    out = []
    for k, arr in enumerate(batch):
        for name in arr.dtype.names or (None,):
            out.append((k, name, (arr[name] if name else arr).dtype.base))
    return out


def _mix_ints(rng: np.random.Generator, batch: list[np.ndarray], pool: np.ndarray, frac: float) -> None:
    """Replace a fraction ``frac`` of every int32 field by values of the law's constant pool."""
    n = len(batch[0])
    for k, name, base in _columns(batch):
        if base != np.int32:
            continue
        col = batch[k][name] if name else batch[k]
        pick = rng.random(col.shape) < frac
        col[pick] = rng.choice(pool, int(pick.sum()))
        if name is None:
            batch[k][...] = col
    del n


def _specials(rng: np.random.Generator, batch: list[np.ndarray], frac: float) -> None:
    n = len(batch[0])
    floats = [(k, name) for k, name, base in _columns(batch) if base == np.float32]
    if not floats:
        return
    rows = np.nonzero(rng.random(n) < frac)[0]
    for i in rows:
        k, name = floats[rng.integers(len(floats))]
        col = batch[k][name] if name else batch[k]
        if col.ndim > 1:
            col[i, rng.integers(col.shape[1])] = rng.choice(SPECIALS)
        else:
            col[i] = rng.choice(SPECIALS)


def _base(gen: Any, n: int, rng: np.random.Generator, pool: np.ndarray) -> list[np.ndarray]:
    b = vectors.random_batch(gen.module, n, int(rng.integers(2**31)))
    _mix_ints(rng, b, pool, 0.7)
    _specials(rng, b, 0.05)
    return b


def _probe_batch(gen: Any, probes: list, pairs: list, rng: np.random.Generator, pool: np.ndarray,
                 want: int) -> list[np.ndarray]:
    """About ``want`` probe vectors (each probe repeated on other random backgrounds)."""
    rows: list[tuple[Any, Any, Place | None]] = []
    for sol in probes:  # the first input at the constant and one ulp / one either side
        (p, c), *rest = sol.items()
        rows += [(p, v, rest) for v in _neighbours(c, p.ty)]
    for a, b in pairs:
        rows += [(a, None, b)] * 3
    rows = rows * max(1, min(64, want // max(1, len(rows))))
    b = _base(gen, max(1, len(rows)), rng, pool)
    for i, (p, v, other) in enumerate(rows):
        if isinstance(other, list):
            _set(b, i, p, v)
            for q, w in other:
                _set(b, i, q, w)
        else:
            x = _get(b, i, p)
            step = (i % 3) - 1
            if p.ty == F32 and other.ty == F32:
                x = np.float32(x)
                with np.errstate(all="ignore"):  # NaN / inf inputs stay what they are
                    x = x if step == 0 else np.nextafter(x, np.float32(np.inf * step))
            _set(b, i, other, x)
    return b if rows else [a[:0] for a in b]


def _sequences(gen: Any, n: int, rng: np.random.Generator, pool: np.ndarray) -> list[np.ndarray]:
    """``n`` vectors: the states along trajectories of the reference with inputs held."""
    if n <= 0:
        return [a[:0] for a in vectors.random_batch(gen.module, 1)]
    steps = min(SEQ_STEPS, max(1, n // 4))
    m = -(-n // steps)
    cur = vectors.random_batch(gen.module, m, int(rng.integers(2**31)))
    _mix_ints(rng, cur, pool, 0.7)
    # a quarter of the trajectories start from the records' defaults (a configured, running law)
    entry = gen.module.functions[gen.module.entry]
    for k, p in enumerate(entry.params):
        if p.ty == "rec":
            d = p.record.new()
            for name in cur[k].dtype.names:
                keep = rng.random(m) < 0.25
                cur[k][name][keep] = d[name]
    res = vectors.result_array(gen.module, m)
    out: list[list[np.ndarray]] = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            out.append(vectors.copy_batch(cur))
            gen.reference.run_batch(*cur, res)
    b = [np.concatenate([o[k] for o in out]) for k in range(len(cur))]
    return [a[:n] for a in b]


def _coverage_ref(gen: Any) -> Any:
    if getattr(gen, "coverage_ref", None) is None:
        gen.coverage_ref = load_reference(gen.module, gen.out_dir, gen.name, coverage=True)
    return gen.coverage_ref


def hits(gen: Any, batch: list[np.ndarray], chunk: int = 8192) -> np.ndarray:
    """Per vector, per branch, per direction (not taken, taken): uint8 ``[n, K, 2]``."""
    k = len(branches(gen.module))
    n = len(batch[0])
    out = np.zeros((n, k, 2), np.uint8)
    if k == 0 or n == 0:
        return out
    cref = _coverage_ref(gen)
    b = vectors.copy_batch(batch)
    res = vectors.result_array(gen.module, n)
    with np.errstate(all="ignore"):
        for s in range(0, n, chunk):
            cref.run_batch(*[a[s: s + chunk] for a in b], res[s: s + chunk], out[s: s + chunk])
    return out


def deepest_path(gen: Any, batch: list[np.ndarray]) -> np.ndarray:
    """Indices of the vectors that evaluate the most branch conditions (the longest path, e.g.
    a controller running rather than holding); all vectors for a law without branches."""
    depth = hits(gen, batch).sum(axis=(1, 2))
    return np.nonzero(depth == depth.max())[0] if depth.size and depth.max() > 0 else np.arange(len(batch[0]))


def coverage(gen: Any, batch: list[np.ndarray]) -> dict[str, Any]:
    """Branch coverage of ``batch``: fraction of directions taken, and the missing ones."""
    br = branches(gen.module)
    if not br:
        return {"branches": 0, "branch_coverage": 1.0, "missing": []}
    h = hits(gen, batch).any(axis=0)
    missing = [f"{os.path.relpath(f.file)}:{line} "
               f"{'if' if isinstance(node, ir.If) else 'conditional expression'} never {'taken' if d else 'skipped'}"
               for (f, node, line), row in zip(br, h) for d in (1, 0) if not row[d]]
    return {"branches": len(br), "branch_coverage": round(float(h.sum()) / (2 * len(br)), 4), "missing": missing}


def _mutate(gen: Any, pools: list[list[np.ndarray]], n: int, rng: np.random.Generator, ipool: np.ndarray,
            fpool: np.ndarray) -> list[np.ndarray]:
    """``n`` candidates: rows of the pools with some fields redrawn (random, constants, specials)."""
    src = [np.concatenate([p[k] for p in pools]) for k in range(len(pools[0]))]
    idx = rng.integers(len(src[0]), size=n)
    c = [a[idx].copy() for a in src]
    fresh = _base(gen, n, rng, ipool)
    rate = rng.choice(np.array([0.02, 0.1, 0.3]), n)  # per candidate: how much of it is redrawn
    for k, name, base in _columns(c):
        col = c[k][name] if name else c[k]
        new = fresh[k][name] if name else fresh[k]
        pick = rng.random(col.shape) < rate.reshape((n,) + (1,) * (col.ndim - 1))
        col[pick] = new[pick]
        if base == np.float32 and len(fpool):
            pick = rng.random(col.shape) < 0.1
            v = rng.choice(fpool, int(pick.sum())).astype(np.float32)
            col[pick] = np.where(rng.random(v.shape) < 0.5, v, np.nextafter(v, np.float32(np.inf)))
        if name is None:
            c[k][...] = col
    return c


def exercise_batch(gen: Any, n: int, seed: int = 0, search_rounds: int = 12) -> list[np.ndarray]:
    """Exactly ``n`` vectors for ``gen`` (a ``build.Generated`` with its reference) that exercise
    the law (see the module doc)."""
    rng = np.random.default_rng(seed)
    probes, pairs, ints, floats = analyse(gen.module)
    ipool = np.array(ints, np.int64).astype(np.int32)
    fpool = np.array(floats, np.float32)
    probe = _probe_batch(gen, probes, pairs, rng, ipool, n // 8)
    probe = [a[: n // 4] for a in probe]
    n_seq = min(n // 4, n - len(probe[0]))
    seq = _sequences(gen, n_seq, rng, ipool)
    n_rand = n - len(probe[0]) - len(seq[0])
    rand = _base(gen, n_rand, rng, ipool)
    parts = [probe, seq, rand]
    br = branches(gen.module)
    if br and n_rand > 0:
        have = np.zeros((len(br), 2), bool)
        for p in parts:
            have |= hits(gen, p).any(axis=0)
        found: list[list[np.ndarray]] = []
        n_found = 0
        parents = [p for p in parts if len(p[0])]
        for _ in range(search_rounds):
            if have.all() or n_found >= n_rand // 2:
                break
            cand = _mutate(gen, parents, 4096, rng, ipool, fpool)
            h = hits(gen, cand)
            # rows that reach a branch with a direction still missing: the next parents
            near = np.nonzero(h[:, ~have.all(axis=1), :].any(axis=(1, 2)))[0][:2048]
            if len(near):
                parents = [[a[near] for a in cand]]
            new = h.any(axis=0) & ~have
            if not new.any():
                continue
            rows = sorted({int(np.nonzero(h[:, b, d])[0][0]) for b, d in zip(*np.nonzero(new))})
            found.append([a[rows] for a in cand])
            n_found += len(rows)
            have |= new
        if found:
            extra = [np.concatenate([f[k] for f in found])[: n_rand] for k in range(len(rand))]
            m = len(extra[0])
            rand = [np.concatenate([e, r[: n_rand - m]]) for e, r in zip(extra, rand)]
    out = [np.concatenate([p[k] for p in (probe, seq, rand)]) for k in range(len(rand))]
    assert len(out[0]) == n
    return out
