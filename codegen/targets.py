"""Targets: toolchains, object builds with size and stack reports, PIL images run under QEMU.

=============  ========================  ==========================================  ===========
target         compiler                  flags (plus codegen.build.EXACT_FLAGS)       runs under
=============  ========================  ==========================================  ===========
host           gcc                       -O2                                          native
cortex-m4f     arm-none-eabi-gcc         -mcpu=cortex-m4 -mthumb -mfloat-abi=hard     qemu-system-arm
                                         -mfpu=fpv4-sp-d16 -Os                        -M mps2-an386
cortex-m7      arm-none-eabi-gcc         -mcpu=cortex-m7 -mthumb -mfloat-abi=hard     qemu-system-arm
                                         -mfpu=fpv5-sp-d16 -Os                        -M mps2-an500
aarch64        aarch64-linux-gnu-gcc     -mcpu=cortex-a78ae -O2 -static               qemu-aarch64
=============  ========================  ==========================================  ===========

A PIL image embeds a batch of input vectors (``cerebellum_rt.codegen.vectors``), steps the law once per
vector, and prints ``hash <fnv64> n <N> ticks <law> <empty>``: the canonical hash of every
result, and on Cortex-M the SysTick ticks (QEMU ``-icount shift=0``: 40 instructions per tick)
spent in the loop calling the law and in the same loop calling an empty function.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from cerebellum_rt.codegen import vectors
from cerebellum_rt.codegen.build import EXACT_FLAGS, RUNTIME_DIR, Generated, batch_body, batch_signature
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout

INSNS_PER_TICK = 40  # mps2: SysTick on the 25 MHz processor clock, -icount shift=0 = 1 GHz


@dataclass(frozen=True)
class Target:
    name: str
    cc: str
    size: str
    cflags: tuple[str, ...]
    opt: str
    qemu: tuple[str, ...]
    bare: bool


TARGETS: dict[str, Target] = {
    "host": Target("host", "gcc", "size", (), "-O2", (), False),
    "cortex-m4f": Target("cortex-m4f", "arm-none-eabi-gcc", "arm-none-eabi-size",
                         ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), "-Os",
                         ("qemu-system-arm", "-M", "mps2-an386"), True),
    "cortex-m7": Target("cortex-m7", "arm-none-eabi-gcc", "arm-none-eabi-size",
                        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), "-Os",
                        ("qemu-system-arm", "-M", "mps2-an500"), True),
    "aarch64": Target("aarch64", "aarch64-linux-gnu-gcc", "aarch64-linux-gnu-size", ("-mcpu=cortex-a78ae",), "-O2",
                      ("qemu-aarch64", "-cpu", "max"), False),
}


def get_target(name: str) -> Target:
    if name not in TARGETS:
        raise ConfigError(f"target '{name}' is not one of {list(TARGETS)}")
    return TARGETS[name]


def missing_tools(target: Target, run: bool = True) -> list[str]:
    """The executables this target needs that are not on PATH."""
    need = [target.cc, target.size] + ([target.qemu[0]] if run and target.qemu else [])
    return [t for t in need if shutil.which(t) is None]


def _require(target: Target, run: bool) -> None:
    miss = missing_tools(target, run)
    if miss:
        raise ConfigError(f"target {target.name} needs {', '.join(miss)} on PATH (./cbl.sh test installs them)")


def _sh(cmd: list[str], what: str, timeout: float = 300, both: bool = False) -> str:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeviceTimeout(f"{what}: '{cmd[0]}' did not finish within {timeout:.0f} s") from None
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-8:]
        raise DeviceError(f"{what}: '{' '.join(cmd[:3])} ...' exited with {p.returncode}: {' | '.join(tail)}")
    return p.stdout + (p.stderr if both else "")


def toolchain_version(target: Target) -> dict[str, str]:
    out = {target.cc: _sh([target.cc, "--version"], "version").splitlines()[0]}
    if target.qemu:
        out[target.qemu[0]] = _sh([target.qemu[0], "--version"], "version").splitlines()[0]
    return out


def cflags(target: Target, opt: str | None = None) -> list[str]:
    return [*target.cflags, opt or target.opt, *EXACT_FLAGS, "-Wall", "-Wno-unused-function"]


@dataclass
class ObjectReport:
    obj: str
    text: int
    data: int
    bss: int
    stack: int  # worst stack of <name>_step_r including the law functions it calls [bytes]


def size_of(target: Target, path: str) -> tuple[int, int, int]:
    """(text, data, bss) of an object or executable (Berkeley format of binutils size)."""
    line = _sh([target.size, path], "size").splitlines()[1].split()
    return int(line[0]), int(line[1]), int(line[2])


def compile_object(gen: Generated, target: Target, opt: str | None = None) -> ObjectReport:
    """Compile ``<name>.c`` for ``target`` with -fstack-usage; size and worst stack."""
    _require(target, run=False)
    obj = os.path.join(gen.out_dir, f"{gen.name}.{target.name}.o")
    src = os.path.join(gen.out_dir, f"{gen.name}.c")
    _sh([target.cc, *cflags(target, opt), "-fstack-usage", "-c", src, "-o", obj], f"compile {src}")
    su = obj[:-2] + ".su"
    usage: dict[str, int] = {}
    if os.path.exists(su):
        with open(su) as fh:
            for line in fh:
                parts = line.split("\t")
                usage[parts[0].rsplit(":", 1)[-1]] = int(parts[1])
    funcs = gen.module.functions
    cname = {f: (f"{gen.name}_step_r" if f == gen.module.entry else f"{gen.name}__{f}") for f in funcs}

    def worst(f: str) -> int:
        return usage.get(cname[f], 0) + max((worst(c) for c in funcs[f].callees), default=0)

    text, data, bss = size_of(target, obj)
    return ObjectReport(obj, text, data, bss, worst(gen.module.entry))


def _blob(arr: np.ndarray) -> str:
    b = arr.tobytes()
    rows = [", ".join(str(x) for x in b[i: i + 24]) for i in range(0, len(b), 24)]
    return ",\n    ".join(rows)


def harness_source(gen: Generated, batch: list[np.ndarray]) -> str:
    """main.c of a PIL image: the batch as initialised data, the timed loops, the hash."""
    module = gen.module
    entry = module.functions[module.entry]
    n = len(batch[0])
    from cerebellum_rt.codegen.ir import C_TYPES

    lines = [f'#include "{gen.name}.h"', '#include "cbl_pil.h"', ""]
    for k, (p, arr) in enumerate(zip(entry.params, batch)):
        ct = p.record.__name__ if p.ty == "rec" else C_TYPES[p.ty]
        lines += [f"static union {{ uint8_t b[{arr.nbytes}]; {ct} v[{n}]; }} u{k} = {{ .b = {{",
                  f"    {_blob(arr)}", "} };"]
    rt = C_TYPES[entry.ret] if entry.ret else "int32_t"
    lines += [f"static {rt} res[{n}];", ""]
    sig = batch_signature(module, "cbl_run")
    lines += [f"__attribute__((noinline)) static {sig}", "{", batch_body(module), "}", ""]
    ps = ", ".join(f"{p.record.__name__} *a{k}" if p.ty == "rec" else f"{C_TYPES[p.ty]} a{k}"
                   for k, p in enumerate(entry.params))
    args_i = ", ".join(f"&p{k}[i]" if p.ty == "rec" else f"p{k}[i]" for k, p in enumerate(entry.params))
    lines += [f"__attribute__((noinline)) static {rt} cbl_empty({ps})", "{",
              *[f"    (void)a{k};" for k in range(len(entry.params))], "    __asm__ volatile(\"\" ::: \"memory\");",
              f"    return ({rt})0;", "}", "",
              f"__attribute__((noinline)) static {sig.replace('cbl_run', 'cbl_run_empty')}", "{",
              f"    for (int32_t i = 0; i < n; i++) {{ res[i] = cbl_empty({args_i}); }}", "}", "",
              "int main(void)", "{", "    char line[96], *q = line;", "    uint64_t h = 14695981039346656037ULL;",
              "    cbl_timer_start();"]
    call_args = ", ".join([*[f"u{k}.v" for k in range(len(entry.params))], "res", str(n)])
    lines += ["    uint64_t t0 = cbl_ticks();", f"    cbl_run_empty({call_args});", "    uint64_t t1 = cbl_ticks();",
              f"    cbl_run({call_args});", "    uint64_t t2 = cbl_ticks();",
              f"    for (int32_t i = 0; i < {n}; i++) {{", "        const uint8_t *base;"]
    for k, ty, off, cnt in vectors.field_layout(module):
        lines.append(f"        base = (const uint8_t *)&u{k}.v[i];")
        fn = {"f32": f"cbl_fnv_f32(h, base + {off}, {cnt})", "i32": f"cbl_fnv(h, base + {off}, {4 * cnt})",
              "bool": f"cbl_fnv(h, base + {off}, {cnt})"}[ty]
        lines.append(f"        h = {fn};")
    ret_hash = {"f32": "cbl_fnv_f32(h, (const uint8_t *)&res[i], 1)", "bool": "cbl_fnv(h, (const uint8_t *)&res[i], 1)"}
    lines += [f"        h = {ret_hash.get(entry.ret or '', 'cbl_fnv(h, (const uint8_t *)&res[i], 4)')};", "    }",
              '    for (const char *s = "hash "; *s;) *q++ = *s++;', "    q = cbl_hex(q, h, 16);",
              '    for (const char *s = " n "; *s;) *q++ = *s++;', f"    q = cbl_hex(q, {n}U, 8);",
              '    for (const char *s = " ticks "; *s;) *q++ = *s++;', "    q = cbl_hex(q, t2 - t1, 12);",
              "    *q++ = ' ';", "    q = cbl_hex(q, t1 - t0, 12);", "    *q++ = '\\n';", "    *q = 0;",
              "    cbl_puts(line);", "    return 0;", "}", ""]
    return "\n".join(lines)


@dataclass
class PilResult:
    target: str
    hash: str
    n: int
    insns_per_step: float | None  # Cortex-M only (QEMU icount + SysTick), law minus empty loop
    elf: str


def build_image(gen: Generated, target: Target, batch: list[np.ndarray], opt: str | None = None,
                tag: str = "pil") -> str:
    """Compile and link a PIL image of ``gen`` with ``batch`` for ``target``; returns its path."""
    _require(target, run=False)
    main_c = os.path.join(gen.out_dir, f"{gen.name}_{tag}_main.c")
    with open(main_c, "w") as fh:
        fh.write(harness_source(gen, batch))
    for f in ("cbl_pil.h", "cortexm_startup.c", "cortexm.ld"):
        shutil.copy(os.path.join(RUNTIME_DIR, f), os.path.join(gen.out_dir, f))
    elf = os.path.join(gen.out_dir, f"{gen.name}_{tag}.{target.name}.elf")
    srcs = [main_c, os.path.join(gen.out_dir, f"{gen.name}.c")]
    inc = ["-I", gen.out_dir]
    if target.bare:
        cmd = [target.cc, *cflags(target, opt), *inc, *srcs, os.path.join(gen.out_dir, "cortexm_startup.c"),
               "-nostdlib", "-T", os.path.join(gen.out_dir, "cortexm.ld"), "-Wl,--gc-sections",
               "-ffunction-sections", "-fdata-sections", "-lgcc", "-o", elf]
    else:
        cmd = [target.cc, *cflags(target, opt), *inc, *srcs, "-o", elf] + (["-static"] if target.qemu else [])
    _sh(cmd, f"link PIL image for {target.name}")
    return elf


def run_image(elf: str, target: Target, timeout: float = 300) -> tuple[str, int, int, int]:
    """Run a PIL image; (hash, n, ticks_law, ticks_empty)."""
    _require(target, run=True)
    if target.bare:
        cmd = [*target.qemu, "-nographic", "-semihosting",
               "-icount", "shift=0", "-kernel", elf]
    elif target.qemu:
        cmd = [*target.qemu, elf]
    else:
        cmd = [elf]
    out = _sh(cmd, f"run {os.path.basename(elf)} on {target.name}", timeout, both=True)  # semihosting: stderr
    m = re.search(r"hash ([0-9a-f]{16}) n ([0-9a-f]{8}) ticks ([0-9a-f]{12}) ([0-9a-f]{12})", out)
    if m is None:
        raise DeviceError(f"PIL image {os.path.basename(elf)} on {target.name} printed no result line: {out[-200:]!r}")
    return m.group(1), int(m.group(2), 16), int(m.group(3), 16), int(m.group(4), 16)


def pil(gen: Generated, target: Target, batch: list[np.ndarray], opt: str | None = None, timeout: float = 300) -> PilResult:
    """Build and run a PIL image; instructions per step on Cortex-M."""
    elf = build_image(gen, target, batch, opt)
    h, n, t_law, t_empty = run_image(elf, target, timeout)
    insns = (t_law - t_empty) * INSNS_PER_TICK / n if target.bare else None
    return PilResult(target.name, h, n, insns, elf)
