"""Processor-in-the-loop: a law's C stepped on a target under QEMU over a batch of vectors.

A PIL image embeds its input vectors (``.incbin`` of the raw record bytes, read-only: flash on
Cortex-M), copies each vector into working records, steps the law once, and hashes the records
and the return value (``vectors.canonical_bytes``, FNV-1a 64). It prints one line per segment of
``SEGMENT`` vectors (``seg <index> <hash>``, the hash restarted per segment) and a final line
``hash <fnv64> n <N> ticks <law> <empty>``: the hash chained from the previous image's (so a
batch larger than one image's memory runs as several images and keeps one hash), and on
Cortex-M the SysTick ticks (QEMU ``-icount shift=0``: 40 instructions per tick) of the loop
stepping the law and of the same loop calling an empty function.

``run(gen, target, batch, ref)`` runs exactly ``len(batch[0])`` vectors in as few images as the
target's memory allows and, on a difference, rebuilds the first differing segment as a dump
image that prints each vector's bytes, to name the first differing vector and field.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass

import numpy as np

from cerebellum_rt.codegen import vectors
from cerebellum_rt.codegen.build import RUNTIME_DIR, Generated
from cerebellum_rt.codegen.ir import C_TYPES
from cerebellum_rt.codegen.targets import Target, _require, _sh, cflags
from cerebellum_rt.rtcore.errors import DeviceError

INSNS_PER_TICK = 40  # mps2: SysTick on the 25 MHz processor clock, -icount shift=0 = 1 GHz
SEGMENT = vectors.SEGMENT
#: input bytes per image: Cortex-M (the 16 MiB PSRAM of mps2), Linux user mode
IMAGE_BYTES = {True: 15 * 1024 * 1024, False: 64 * 1024 * 1024}
TIMED_VECTORS = 2048  # vectors of the timing image (a stride through the batch)
FNV0 = vectors.FNV0


def _incbin(sym: str, path: str) -> str:
    p = os.path.abspath(path).replace("\\", "\\\\").replace('"', '\\"')
    return (f'__asm__(".section .cbl_vectors.{sym},\\"a\\"\\n.balign 8\\n.global {sym}\\n{sym}:\\n'
            f'.incbin \\"{p}\\"\\n.previous");')


def harness_source(gen: Generated, batch: list[np.ndarray], tag: str, dump: bool = False, timed: bool = False) -> str:
    """main.c of a PIL image over ``batch`` (blobs written beside it as ``<tag>_in<k>.bin``)."""
    module = gen.module
    entry = module.functions[module.entry]
    n = len(batch[0])
    types = [p.record.__name__ if p.ty == "rec" else C_TYPES[p.ty] for p in entry.params]
    rt = C_TYPES[entry.ret] if entry.ret else "int32_t"
    lines = [f'#include "{gen.name}.h"', '#include "cbl_pil.h"', ""]
    for k, (ct, arr) in enumerate(zip(types, batch)):
        path = os.path.join(gen.out_dir, f"{tag}_in{k}.bin")
        with open(path, "wb") as fh:
            fh.write(np.ascontiguousarray(arr).tobytes())
        lines += [_incbin(f"cbl_in{k}", path), f"extern const {ct} cbl_in{k}[{n}];", f"static {ct} w{k};"]
    words = all(vectors.param_dtype(p).itemsize % 4 == 0 for p in entry.params)
    lines += [f"static {rt} res;", "",
              "static void cbl_copy(void *dst, const void *src, uint32_t n)", "{",
              *(["    uint32_t *d = dst; const uint32_t *s = src;", "    for (n /= 4; n--;) *d++ = *s++;"] if words else
                ["    uint8_t *d = dst; const uint8_t *s = src;", "    while (n--) *d++ = *s++;"]), "}", ""]
    ps = ", ".join(f"{t} *a{k}" if p.ty == "rec" else f"{t} a{k}" for k, (t, p) in enumerate(zip(types, entry.params)))
    args = ", ".join(f"&w{k}" if p.ty == "rec" else f"w{k}" for k, p in enumerate(entry.params))
    lines += [f"__attribute__((noinline)) static {rt} cbl_empty({ps})", "{",
              *[f"    (void)a{k};" for k in range(len(entry.params))], '    __asm__ volatile("" ::: "memory");',
              f"    return ({rt})0;", "}", "",
              "static uint64_t cbl_hash_vector(uint64_t h)", "{", "    const uint8_t *base;"]
    for k, ty, off, cnt in vectors.field_layout(module):
        lines.append(f"    base = (const uint8_t *)&w{k};")
        fn = {"f32": f"cbl_fnv_f32(h, base + {off}, {cnt})", "i32": f"cbl_fnv(h, base + {off}, {4 * cnt})",
              "bool": f"cbl_fnv(h, base + {off}, {cnt})"}[ty]
        lines.append(f"    h = {fn};")
    ret_hash = {"f32": "cbl_fnv_f32(h, (const uint8_t *)&res, 1)", "bool": "cbl_fnv(h, (const uint8_t *)&res, 1)"}
    lines += [f"    return {ret_hash.get(entry.ret or '', 'cbl_fnv(h, (const uint8_t *)&res, 4)')};", "}", ""]
    copy = [f"        cbl_copy(&w{k}, &cbl_in{k}[i], sizeof w{k});" for k in range(len(types))]
    call = f"{gen.name}_step_r({args})"
    lines += ["static char line[96];", "static void say(const char *a, uint64_t x, int dx, const char *b, uint64_t y, int dy)",
              "{", "    char *q = line;", "    while (*a) *q++ = *a++;", "    q = cbl_hex(q, x, dx);",
              "    while (*b) *q++ = *b++;", "    q = cbl_hex(q, y, dy);", "    *q++ = '\\n';", "    *q = 0;",
              "    cbl_puts(line);", "}", ""]
    if dump:
        lines += ["static void dump(const uint8_t *p, uint32_t nb)", "{", "    char *q = line;",
                  "    for (uint32_t j = 0; j < nb; j++) {", "        q = cbl_hex(q, p[j], 2);",
                  "        if (q - line >= 80) { *q++ = '\\n'; *q = 0; cbl_puts(line); q = line; }", "    }",
                  "    *q++ = '\\n'; *q = 0; cbl_puts(line);", "}", "",
                  "int main(void)", "{", f"    for (int32_t i = 0; i < {n}; i++) {{", *copy,
                  f"        {'res = ' if entry.ret else ''}{call};", '        cbl_puts("v\\n");',
                  *[f"        dump((const uint8_t *)&w{k}, sizeof w{k});" for k in range(len(types))],
                  "        dump((const uint8_t *)&res, sizeof res);", "    }", '    cbl_puts("end\\n");',
                  "    return 0;", "}", ""]
        return "\n".join(lines)
    nseg = -(-n // SEGMENT)
    if timed:  # the law loop and the same loop calling an empty function, between tick reads
        lines += ["int main(void)", "{", f"    uint64_t h = {FNV0}ULL, he = {FNV0}ULL;", "    cbl_timer_start();",
                  "    uint64_t t0 = cbl_ticks();", f"    for (int32_t i = 0; i < {n}; i++) {{", *copy,
                  f"        res = cbl_empty({args});", "        he = cbl_hash_vector(he);", "    }",
                  "    uint64_t t1 = cbl_ticks();", f"    for (int32_t i = 0; i < {n}; i++) {{", *copy,
                  f"        {'res = ' if entry.ret else ''}{call};", "        h = cbl_hash_vector(h);", "    }",
                  "    uint64_t t2 = cbl_ticks();", '    say("hash ", h, 16, " ", he, 16);',
                  '    say("ticks ", t2 - t1, 12, " ", t1 - t0, 12);', "    return 0;", "}", ""]
        return "\n".join(lines)
    lines += ["int main(void)", "{", f"    uint64_t hs = {FNV0}ULL;", f"    for (int32_t i = 0; i < {n}; i++) {{", *copy,
              f"        {'res = ' if entry.ret else ''}{call};", "        hs = cbl_hash_vector(hs);",
              f"        if ((i + 1) % {SEGMENT} == 0 || i == {n - 1}) {{",
              f'            say("seg ", (uint64_t)(i / {SEGMENT}), 8, " ", hs, 16);', f"            hs = {FNV0}ULL;",
              "        }", "    }", f'    say("done ", {nseg}U, 8, " ", {n}U, 8);', "    return 0;", "}", ""]
    return "\n".join(lines)


def build_image(gen: Generated, target: Target, batch: list[np.ndarray], opt: str | None = None,
                tag: str = "pil", dump: bool = False, timed: bool = False, extra: tuple[str, ...] = ()) -> str:
    """Compile and link a PIL image of ``gen`` over ``batch`` for ``target``; its path.
    ``extra`` replaces the exact flags (codegen's defaults) by an integrator's own (the law's
    pragmas must then keep the bits)."""
    _require(target, run=False)
    main_c = os.path.join(gen.out_dir, f"{gen.name}_{tag}_main.c")
    with open(main_c, "w") as fh:
        fh.write(harness_source(gen, batch, f"{gen.name}_{tag}", dump, timed))
    for f in ("cbl_pil.h", "cortexm_startup.c"):
        shutil.copy(os.path.join(RUNTIME_DIR, f), os.path.join(gen.out_dir, f))
    with open(os.path.join(RUNTIME_DIR, "cortexm.ld")) as fh:
        ld = fh.read().replace("ORIGIN = 0x21000000", f"ORIGIN = 0x{target.psram:08X}")
    with open(os.path.join(gen.out_dir, f"cortexm-{target.name}.ld"), "w") as fh:
        fh.write(ld)
    elf = os.path.join(gen.out_dir, f"{gen.name}_{tag}.{target.name}.elf")
    flags = [*target.cflags, *extra] if extra else cflags(target, opt)
    srcs = [main_c, os.path.join(gen.out_dir, f"{gen.name}.c")]
    inc = ["-I", gen.out_dir]
    if target.bare:
        cmd = [target.cc, *flags, *inc, *srcs, os.path.join(gen.out_dir, "cortexm_startup.c"),
               "-nostdlib", "-T", os.path.join(gen.out_dir, f"cortexm-{target.name}.ld"), "-Wl,--gc-sections",
               "-ffunction-sections", "-fdata-sections", "-lgcc", "-o", elf]
    else:
        cmd = [target.cc, *flags, *inc, *srcs, "-o", elf] + (["-static"] if target.qemu else [])
    _sh(cmd, f"link PIL image for {target.name}")
    return elf


def run_image(elf: str, target: Target, timeout: float = 300, icount: bool = True) -> str:
    """Run a PIL image; its output."""
    _require(target, run=True)
    if target.bare:
        cmd = [*target.qemu, "-nographic", "-semihosting", *(["-icount", "shift=0"] if icount else []), "-kernel", elf]
    elif target.qemu:
        cmd = [*target.qemu, elf]
    else:
        cmd = [elf]
    return _sh(cmd, f"run {os.path.basename(elf)} on {target.name}", timeout, both=True)  # semihosting: stderr


@dataclass
class PilResult:
    target: str
    hash: str  # vectors.hash_results of what the device computed
    n: int
    images: int
    insns_per_step: float | None  # Cortex-M only (QEMU icount + SysTick), law minus empty loop
    elf: str
    mismatch: str | None = None  # first differing vector and field (when a reference was given)


def _chunks(gen: Generated, target: Target, n: int) -> list[tuple[int, int]]:
    per = sum(vectors.param_dtype(p).itemsize for p in gen.module.functions[gen.module.entry].params)
    cap = max(SEGMENT, IMAGE_BYTES[target.bare] // max(per, 1) // SEGMENT * SEGMENT)
    return [(s, min(n, s + cap)) for s in range(0, n, cap)]


def _locate(gen: Generated, target: Target, batch: list[np.ndarray], ref: tuple, start: int, opt: str | None,
            extra: tuple[str, ...], timeout: float) -> str:
    """Dump one segment from the device and name its first differing vector and field."""
    seg = [a[start: start + SEGMENT] for a in batch]
    elf = build_image(gen, target, seg, opt, tag="dump", dump=True, extra=extra)
    out = run_image(elf, target, timeout, icount=False)
    entry = gen.module.functions[gen.module.entry]
    got_p = [a.copy() for a in seg]
    got_r = vectors.result_array(gen.module, len(seg[0]))
    for i, blk in enumerate(out.split("v\n")[1: len(seg[0]) + 1]):
        raw = bytes.fromhex("".join(blk.split("end")[0].split()))
        pos = 0
        for k, _p in enumerate(entry.params):
            size = got_p[k].dtype.itemsize
            got_p[k][i: i + 1] = np.frombuffer(raw[pos: pos + size], got_p[k].dtype)
            pos += size
        got_r[i: i + 1] = np.frombuffer(raw[pos: pos + got_r.dtype.itemsize], got_r.dtype)
    want = ([a[start: start + SEGMENT] for a in ref[0]], ref[1][start: start + SEGMENT])
    diff = vectors.first_difference(gen.module, want, (got_p, got_r))
    if diff is None:
        return f"segment at vector {start}: the hash differs but the dumped bytes match"
    m = re.match(r"vector (\d+) of \d+: (.*)", diff)
    return f"vector {start + int(m.group(1))} of {len(batch[0])}: {m.group(2)}" if m else diff


def time_law(gen: Generated, target: Target, batch: list[np.ndarray], opt: str | None = None,
             extra: tuple[str, ...] = (), timeout: float = 300) -> float:
    """Instructions per step on a bare target (QEMU -icount): law loop minus the same loop
    calling an empty function, over ``batch`` (at most TIMED_VECTORS, a stride through it)."""
    n = len(batch[0])
    idx = np.linspace(0, n - 1, min(n, TIMED_VECTORS)).astype(np.int64)
    elf = build_image(gen, target, [a[idx] for a in batch], opt, tag="time", timed=True, extra=extra)
    out = run_image(elf, target, timeout, icount=True)
    t = re.search(r"ticks ([0-9a-f]{12}) ([0-9a-f]{12})", out)
    if t is None:
        raise DeviceError(f"PIL image {os.path.basename(elf)} on {target.name} printed no ticks: {out[-200:]!r}")
    return (int(t.group(1), 16) - int(t.group(2), 16)) * INSNS_PER_TICK / len(idx)


def run(gen: Generated, target: Target, batch: list[np.ndarray], ref: tuple | None = None, opt: str | None = None,
        timeout: float = 300, extra: tuple[str, ...] = (), timed: bool = True) -> PilResult:
    """Step every vector of ``batch`` on ``target`` (as many images as memory needs); with the
    reference's results ``ref``, the first difference is named. ``extra``: the integrator's
    flags instead of codegen's exact ones."""
    n = len(batch[0])
    segs: list[int] = []
    want = vectors.segment_hashes(gen.module, *ref) if ref is not None else None
    images, elf, mismatch = 0, "", None
    for s, e in _chunks(gen, target, n):
        elf = build_image(gen, target, [a[s:e] for a in batch], opt, tag="pil", extra=extra)
        out = run_image(elf, target, timeout, icount=False)
        got = re.findall(r"seg ([0-9a-f]{8}) ([0-9a-f]{16})", out)
        if len(got) != -(-(e - s) // SEGMENT) or "done " not in out:
            raise DeviceError(f"PIL image {os.path.basename(elf)} on {target.name} stopped early: {out[-200:]!r}")
        images += 1
        segs += [int(h, 16) for _, h in got]
        if want is not None and mismatch is None:
            bad = [j for j in range(len(got)) if want[s // SEGMENT + j] != segs[s // SEGMENT + j]]
            if bad:
                mismatch = _locate(gen, target, batch, ref, s + bad[0] * SEGMENT, opt, extra, timeout)
                break
    insns = time_law(gen, target, batch, opt, extra, timeout) if target.bare and timed and mismatch is None else None
    return PilResult(target.name, vectors.fold_hashes(segs), n, images, insns, elf, mismatch)
