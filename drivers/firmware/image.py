"""Board images: the firmware tree compiled and linked for a target, with its size report.

``build_image(board, target, out_dir)`` writes ``cbl-<board>-<target>.elf``, ``.bin`` and
``.map`` (host: a shared library ``.so`` and its map) and returns a report: flash bytes (text +
read-only data + the initial values of .data), RAM bytes (.data + .bss + the reserved stack),
the worst stack depth along the call graph (GCC ``-fcallgraph-info=su``), and the budgets of a
G474-class joint MCU (:data:`BUDGETS`) with the verdict. Sizes are read from the ELF with
pyelftools. Cortex-M images link :file:`src/cortexm_fw.ld`, whose memory regions are the
budgets, and the QEMU board-support package :file:`src/bsp_qemu.c` (``selftest=True``: the
benchmark variant that feeds itself a 1 kHz SYNC/RPDO sequence).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cerebellum_rt.codegen import pil, targets
from cerebellum_rt.codegen.build import EXACT_FLAGS, RUNTIME_DIR
from cerebellum_rt.drivers.firmware.tree import SRC_DIR, generate_tree
from cerebellum_rt.drivers.od import Table, build_table
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

BUDGETS = {"flash_bytes": 64 * 1024, "ram_bytes": 16 * 1024}
STACK_RESERVED = 2048
IMAGE_TARGETS = ("cortex-m4f", "cortex-m7", "host")


def _run(cmd: list[str], what: str) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-6:])
        raise DeviceError(f"firmware {what}: '{cmd[0]}' exited with {r.returncode}: {tail}")
    return r.stdout


def worst_stack(ci_files: list[Path], roots: tuple[str, ...]) -> tuple[int, list[str]]:
    """The deepest stack (bytes) from ``roots`` through the call graph of GCC's .ci files, and
    the path. Calls through pointers or to unknown functions count as 0 (the BSP's callbacks
    are leaves here); recursion would make the figure unbounded and is reported as an error."""
    frame: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for f in ci_files:
        text = f.read_text()
        for title, size in re.findall(r'node: \{ title: "([^"]+)" label: "[^"]*?\\n[^"]*?\\n(\d+) bytes', text):
            frame[title] = max(frame.get(title, 0), int(size))
        for src, dst in re.findall(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"', text):
            calls.setdefault(src, set()).add(dst)
    memo: dict[str, tuple[int, list[str]]] = {}

    def depth(fn: str, active: frozenset[str]) -> tuple[int, list[str]]:
        if fn in active:
            raise ConfigError(f"firmware call graph: recursion through {fn}: the stack is unbounded")
        if fn not in memo:
            best = (0, [])
            for c in calls.get(fn, ()):
                best = max(best, depth(c, active | {fn}), key=lambda t: t[0])
            memo[fn] = (frame.get(fn, 0) + best[0], [fn, *best[1]])
        return memo[fn]

    return max((depth(r, frozenset()) for r in roots), key=lambda t: t[0])


def elf_sizes(path: Path) -> dict[str, int]:
    """Flash and RAM bytes of an ELF from its allocated sections (pyelftools)."""
    from elftools.elf.constants import SH_FLAGS
    from elftools.elf.elffile import ELFFile

    flash = ram = 0
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        for s in elf.iter_sections():
            if not s["sh_flags"] & SH_FLAGS.SHF_ALLOC or s.name == ".stack":
                continue
            size = s["sh_size"]
            writable = bool(s["sh_flags"] & SH_FLAGS.SHF_WRITE)
            nobits = s["sh_type"] == "SHT_NOBITS"
            if writable:
                ram += size
            if not nobits:
                flash += size
    return {"flash_bytes": flash, "ram_data_bytes": ram}


def build_image(board: str, target: str, out_dir: str | Path, table: Table | None = None,
                selftest: bool = False, opt: str | None = None) -> dict[str, Any]:
    """Build ``board``'s image for ``target`` into ``out_dir`` (see module doc); returns the report."""
    if target not in IMAGE_TARGETS:
        raise ConfigError(f"firmware target '{target}' is not one of {list(IMAGE_TARGETS)}")
    table = table or build_table(board)
    out = Path(out_dir)
    src = out / "src"
    sources = generate_tree(table, src)
    name = f"cbl-{board}-{target}{'-selftest' if selftest else ''}"
    t = targets.get_target(target)
    targets._require(t, run=False)
    if target == "host":
        lib = out / f"{name}.so"
        # exported: the host interface (cbl_host_*, cbl_fw_*); the rest is local, so that the
        # linker drops what nothing calls (as on the MCU) and the library fits a 64 KiB slot
        (src / "host_exports.map").write_text("{ global: cbl_host_*; cbl_fw_*; local: *; };\n")
        _run([t.cc, "-std=c99", opt or t.opt, *EXACT_FLAGS, "-Wall", "-fPIC", "-shared", "-ffunction-sections",
              "-fdata-sections", "-Wl,--gc-sections", f"-Wl,--version-script={src / 'host_exports.map'}",
              "-I", str(src), *map(str, sources), str(src / "bsp_host.c"), f"-Wl,-Map={out / (name + '.map')}",
              "-o", str(lib)], "host build")
        sizes = elf_sizes(lib)
        return {"board": board, "target": target, "elf": str(lib), "map": str(out / f"{name}.map"), **sizes,
                "ram_bytes": sizes["ram_data_bytes"], "note": "host library: the MCU budgets do not apply"}
    for f in ("bsp_qemu.c", "cortexm_fw.ld"):
        shutil.copyfile(SRC_DIR / f, src / f)
    shutil.copyfile(Path(RUNTIME_DIR) / "cortexm_startup.c", src / "cortexm_startup.c")
    objs, cis = [], []
    flags = [*targets.cflags(t, opt), "-ffunction-sections", "-fdata-sections", "-fcallgraph-info=su",
             *(["-DCBL_QEMU_SELFTEST"] if selftest else []), "-I", str(src)]
    obj_dir = out / f"obj-{name}"
    obj_dir.mkdir(parents=True, exist_ok=True)
    for c in [*sources, src / "bsp_qemu.c", src / "cortexm_startup.c"]:
        o = obj_dir / (c.stem + ".o")
        _run([t.cc, *flags, "-c", str(c), "-o", str(o)], f"compile {c.name}")
        objs.append(o)
        cis.append(o.with_suffix(".ci"))
    elf = out / f"{name}.elf"
    mapf = out / f"{name}.map"
    _run([t.cc, *t.cflags, "-nostdlib", "-T", str(src / "cortexm_fw.ld"), f"-Wl,--defsym=CBL_STACK={STACK_RESERVED}",
          "-Wl,--gc-sections", f"-Wl,-Map={mapf}", *map(str, objs), "-lgcc", "-o", str(elf)], "link")
    binf = out / f"{name}.bin"
    _run([t.cc.replace("gcc", "objcopy"), "-O", "binary", str(elf), str(binf)], "objcopy")
    sizes = elf_sizes(elf)
    stack, path = worst_stack([c for c in cis if c.exists()], ("Reset_Handler",))
    ram = sizes["ram_data_bytes"] + STACK_RESERVED
    rep = {"board": board, "target": target, "elf": str(elf), "bin": str(binf), "map": str(mapf),
           "flash_bytes": sizes["flash_bytes"], "ram_bytes": ram, "ram_static_bytes": sizes["ram_data_bytes"],
           "stack_reserved_bytes": STACK_RESERVED, "stack_worst_bytes": stack, "stack_worst_path": path,
           "budgets": dict(BUDGETS)}
    rep["fits"] = (rep["flash_bytes"] <= BUDGETS["flash_bytes"] and ram <= BUDGETS["ram_bytes"]
                   and stack <= STACK_RESERVED)
    return rep


def run_selftest(elf: str | Path, target: str = "cortex-m4f", timeout: float = 300) -> dict[str, int]:
    """Run the selftest image under QEMU (-icount shift=0): instructions per 1 kHz cycle."""
    t = targets.get_target(target)
    targets._require(t, run=True)
    elf = Path(elf).resolve()  # QEMU runs in the image's folder (its semihosting files land there)
    cmd = [*t.qemu, "-nographic", "-semihosting", "-icount", "shift=0,align=off,sleep=off", "-kernel", str(elf)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=os.path.dirname(str(elf)))
    except subprocess.TimeoutExpired:
        raise DeviceError(f"firmware selftest {elf}: QEMU did not finish within {timeout:.0f} s") from None
    out = r.stdout + r.stderr  # QEMU puts semihosting output on stderr with -nographic
    m = re.search(r"cycles (\d+) ticks (\d+) sync_ticks (\d+) state (\d+).* stack (\d+)", out)
    if r.returncode != 0 or m is None:
        raise DeviceError(f"firmware selftest {elf}: exit {r.returncode}, output {out.strip()[-200:]!r}")
    cycles, ticks, sync_ticks, state, stack = map(int, m.groups())
    per_tick = pil.INSNS_PER_TICK
    rep = {"cycles": cycles, "tick_insns": ticks * per_tick // cycles, "sync_insns": sync_ticks * per_tick // cycles,
           "cia402_state": state, "stack_used_bytes": stack}
    laws = re.search(r"loop_ticks (\d+) loops (\d+) pwm_ticks (\d+) pwms (\d+) power_on (\d+)", out)
    if laws is not None:  # the joint image's interrupts (control loop, current loop): per call
        lt, nl, pt, npwm, on = map(int, laws.groups())
        rep.update(control_insns=lt * per_tick // max(nl, 1), foc_insns=pt * per_tick // max(npwm, 1),
                   power_on=on)
    hand = re.search(r"hand_tick_ticks (\d+) hand_ticks (\d+)", out)
    if hand is not None:  # the hand image's control tick (its six actuators' laws): per call
        ht, nh = map(int, hand.groups())
        rep.update(control_insns=ht * per_tick // max(nh, 1))
    return rep
