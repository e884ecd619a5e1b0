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

PIL images (a batch of vectors stepped under QEMU) are ``cerebellum_rt.codegen.pil``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from cerebellum_rt.codegen.build import EXACT_FLAGS, Generated
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout


@dataclass(frozen=True)
class Target:
    name: str
    cc: str
    size: str
    cflags: tuple[str, ...]
    opt: str
    qemu: tuple[str, ...]
    bare: bool
    psram: int = 0  # bare boards: origin of the 16 MiB PSRAM that holds PIL input vectors


TARGETS: dict[str, Target] = {
    "host": Target("host", "gcc", "size", (), "-O2", (), False),
    "cortex-m4f": Target("cortex-m4f", "arm-none-eabi-gcc", "arm-none-eabi-size",
                         ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"), "-Os",
                         ("qemu-system-arm", "-M", "mps2-an386"), True, 0x21000000),
    "cortex-m7": Target("cortex-m7", "arm-none-eabi-gcc", "arm-none-eabi-size",
                        ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"), "-Os",
                        ("qemu-system-arm", "-M", "mps2-an500"), True, 0x60000000),
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


#: what ``--opt`` may be: an optimisation level (never -ffast-math, -Ofast or -ffp-contract=fast)
ALLOWED_OPT = ("-O0", "-O1", "-O2", "-O3", "-Os", "-Og", "-Oz")


def check_opt(opt: str | None) -> None:
    """ConfigError unless ``opt`` is None or one of :data:`ALLOWED_OPT`."""
    if opt is not None and opt not in ALLOWED_OPT:
        raise ConfigError(f"--opt '{opt}' is not one of {', '.join(ALLOWED_OPT)} (laws need IEEE float32: "
                          "no -ffast-math, -Ofast or -ffp-contract=fast)")


def undefined_symbols(target: Target, obj: str) -> list[str]:
    """Symbols the law object needs from elsewhere (libc, libm, libgcc): must be none."""
    nm = target.size[: -len("size")] + "nm"
    out = _sh([nm if shutil.which(nm) else "nm", "-u", obj], "nm")
    return [ln.split()[-1] for ln in out.splitlines() if ln.strip()]


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
