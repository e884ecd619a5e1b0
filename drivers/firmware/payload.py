"""The host build's slot payload: the board firmware as a plain shared library.

On a Cortex-M board a slot holds the firmware linked for that slot and the bootloader jumps to
its vector table. The host build does the same with a shared object: :func:`build_payload`
compiles a board's firmware tree (the runtime, the generated tables and law, ``bsp_host.c``)
into a stripped, position-independent library whose bytes become the payload of a signed image
(``cbl build firmware --target host --image``); :func:`load_payload` "jumps" to the payload a
slot holds: it loads exactly those bytes (cffi ABI mode; the plant callbacks as cffi callbacks),
so that the emulated board runs what its bootloader booted. The bytes are written once into the
firmware cache under their SHA-256.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from cerebellum_rt.drivers.firmware.host import CDEF, cache_dir, prepare
from cerebellum_rt.drivers.od import Table
from cerebellum_rt.rtcore.errors import ConfigError

PAYLOAD_CFLAGS = ["-std=c99", "-Os", "-ffp-contract=off", "-fno-math-errno", "-fPIC", "-shared", "-s",
                  "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-Wl,-Bsymbolic",
                  "-Wl,--build-id=none"]
# the cffi declarations in ABI mode: cbl_host_t as its public prefix, no "extern Python"
ABI_CDEF = "\n".join(line for line in CDEF.replace("    ...;\n", "").splitlines()
                     if not line.startswith('extern "Python"'))
CALLBACKS = {"cbl_py_sample": "int(void *, cbl_sample_t *)", "cbl_py_demand": "int(void *, const cbl_demand_t *)",
             "cbl_py_reset_fault": "int(void *)", "cbl_py_param": "int(void *, uint16_t, uint8_t, double)",
             "cbl_py_hand_sample": "int(void *, cbl_hand_sample_t *)",
             "cbl_py_hand_demand": "int(void *, const cbl_hand_demand_t *)"}

_loaded: dict[str, Any] = {}


def build_payload(table: Table) -> bytes:
    """The firmware of ``table``'s board as a stripped shared library (the bytes a slot holds)."""
    out, sources, digest = prepare(table)
    so = cache_dir() / "lib" / f"payload-{table.board}-{digest}.so"
    if not so.exists():
        so.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["gcc", *PAYLOAD_CFLAGS, "-I", str(out), *map(str, sources), str(out / "bsp_host.c"),
               "-o", f"{so}.{os.getpid()}.tmp", "-lm"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise ConfigError(f"firmware payload build of the {table.board} board failed: {r.stderr.strip()[-2000:]}")
        os.replace(f"{so}.{os.getpid()}.tmp", so)
    return so.read_bytes()


class _Lib:
    """The loaded payload's functions, plus the plant callbacks (set by the board's binder)."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)


class Payload:
    """A loaded payload, shaped like a cffi API module (``ffi``, ``lib``) for FirmwareBoard."""

    abi_mode = True

    def __init__(self, path: Path, sha256: str) -> None:
        import cffi

        self.ffi = cffi.FFI()
        self.ffi.cdef(ABI_CDEF)
        self.path, self.sha256 = path, sha256
        try:
            self.lib = _Lib(self.ffi.dlopen(str(path)))
        except OSError as exc:
            raise ConfigError(f"slot payload {sha256[:12]}: not a loadable host firmware ({exc})") from exc


def load_payload(data: bytes) -> Payload:
    """Load the payload bytes a slot holds (cached by their SHA-256)."""
    sha = hashlib.sha256(data).hexdigest()
    if sha in _loaded:
        return _loaded[sha]
    path = cache_dir() / "lib" / f"slot-{sha[:24]}.so"
    if not path.exists() or path.read_bytes() != data:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    _loaded[sha] = Payload(path, sha)
    return _loaded[sha]
