"""The host build of the firmware: the C tree compiled into a CPython extension (cffi, API mode).

``load(table, flavour)`` returns the loaded module (``.ffi``, ``.lib``) for a board's table. The
build lives in a cache keyed by a hash of every source and flag (like codegen's SIL builds), so
a board built once loads in milliseconds afterwards. ``flavour="sanitize"`` adds
``-fsanitize=address,undefined`` for :func:`build_replay`'s standalone driver (ASan cannot be
loaded into a Python process that was not started with it).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cerebellum_rt.drivers.firmware.tree import SRC_DIR, generate_tree
from cerebellum_rt.drivers.firmware.tree import sources as tree_sources
from cerebellum_rt.drivers.od import Table
from cerebellum_rt.rtcore.errors import ConfigError

CFLAGS = ["-std=c99", "-O2", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-g", "-O1"]
TX_QUEUE = 512

CDEF = f"""
typedef struct {{ uint32_t id; uint8_t flags; uint8_t len; uint8_t data[64]; }} cbl_frame_t;
typedef struct {{ double position_rad, velocity_rad_s, torque_sensor_nm, torque_cmd_nm, iq_a, winding_temp_c;
                 uint32_t fault; }} cbl_sample_t;
typedef struct {{ int32_t mode; uint8_t enable; double position_rad, velocity_rad_s, torque_nm, dt_s; }} cbl_demand_t;
struct cbl_joint_cal;
struct cbl_hand_cal;
typedef struct {{ uint8_t node_id; uint32_t serial_number; double plant_loop_hz; double period_tolerance;
                 const struct cbl_joint_cal *joint_cal; const struct cbl_hand_cal *hand_cal; }} cbl_fw_config_t;
typedef struct {{ double x_m[6], v_m_s[6], i_a[6], tension_n[6], pad_force_n[6]; double stroke_min_m, stroke_max_m; }}
    cbl_hand_sample_t;
typedef struct {{ int32_t mode[6]; uint8_t set[6]; double i_cmd[6], x_cmd[6], t_cmd[6], f_ref[6]; int32_t ticks; }}
    cbl_hand_demand_t;
typedef struct cbl_fw cbl_fw_t;
typedef struct {{
    int (*sample)(void *user, cbl_sample_t *s);
    int (*demand)(void *user, const cbl_demand_t *d);
    int (*reset_fault)(void *user);
    int (*param)(void *user, uint16_t index, uint8_t sub, double value);
    int (*hand_sample)(void *user, cbl_hand_sample_t *s);
    int (*hand_demand)(void *user, const cbl_hand_demand_t *d);
}} cbl_host_plant_t;
typedef struct {{
    void *py;
    uint32_t flash_ops, n_tx, tx_dropped;
    cbl_frame_t tx[{TX_QUEUE}];
    ...;
}} cbl_host_t;
size_t cbl_host_size(void);
void cbl_host_set_boot(cbl_host_t *h, const void *boot_api);
int cbl_host_init(cbl_host_t *h, const cbl_fw_config_t *cfg, uint8_t *flash, uint32_t flash_bytes,
                  const cbl_host_plant_t *plant, uint64_t now_us);
uint32_t cbl_host_step(cbl_host_t *h, const cbl_frame_t *rx, uint32_t n_rx, uint64_t now_us, int tick);
cbl_fw_t *cbl_host_fw(cbl_host_t *h);
uint32_t cbl_fw_od_read(cbl_fw_t *fw, uint16_t index, uint8_t sub, uint8_t *buf, uint32_t *len);
int32_t cbl_fw_cia402_state(const cbl_fw_t *fw);
uint8_t cbl_fw_nmt_state(const cbl_fw_t *fw);
uint32_t cbl_host_joint_entries(uintptr_t *fn, uint32_t *layout, uint32_t max);
void cbl_host_joint_counts(const cbl_host_t *h, uint32_t *counts);
void *cbl_host_joint_record(cbl_host_t *h, uint32_t k);
uint32_t cbl_host_hand_entries(uintptr_t *fn, uint32_t *layout, uint32_t max);
uint32_t cbl_host_hand_ticks(const cbl_host_t *h);
extern "Python" int cbl_py_sample(void *user, cbl_sample_t *s);
extern "Python" int cbl_py_demand(void *user, const cbl_demand_t *d);
extern "Python" int cbl_py_reset_fault(void *user);
extern "Python" int cbl_py_param(void *user, uint16_t index, uint8_t sub, double value);
extern "Python" int cbl_py_hand_sample(void *user, cbl_hand_sample_t *s);
extern "Python" int cbl_py_hand_demand(void *user, const cbl_hand_demand_t *d);
"""
GLUE = '#include "bsp_host.h"\n'

_loaded: dict[str, Any] = {}
_prepared: dict[str, tuple[Path, list[Path], str]] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("CBL_FIRMWARE_CACHE", Path(tempfile.gettempdir()) / "cerebellum-firmware"))


def _digest(files: list[Path], extra: str) -> str:
    h = hashlib.sha1(extra.encode())
    for f in sorted(files):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cached_tree(name: str, write: Callable[[Path], Any], extra: str) -> tuple[Path, str]:
    """A generated source tree kept under the cache as ``<name>-<digest>`` (digest of its .c/.h
    files and ``extra``): ``write(folder)`` fills a fresh folder, which then takes that name once
    (concurrent builders race harmlessly). Returns (folder, digest)."""
    cache_dir().mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"gen-{name}-", dir=cache_dir()))
    try:
        write(tmp)
        digest = _digest([p for p in tmp.iterdir() if p.suffix in (".c", ".h")], extra)
        out = cache_dir() / f"{name}-{digest}"
        if not out.exists():
            with contextlib.suppress(OSError):  # another process put the same tree there first
                os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out, digest


def prepare(table: Table) -> tuple[Path, list[Path], str]:
    """Generate the tree under the cache: (directory, C sources, digest of all files). The tree
    lives in ``tree-<board>-<digest>`` (written once; concurrent builders race harmlessly)."""
    from cerebellum_rt.drivers.od_c import c_header

    key = hashlib.sha1((str(cache_dir()) + c_header(table, linkage="")).encode()).hexdigest()
    if key in _prepared and _prepared[key][0].exists():
        return _prepared[key]
    out, digest = cached_tree(f"tree-{table.board}", lambda d: generate_tree(table, d), " ".join(CFLAGS))
    srcs = [out / p for p in tree_sources(table)]
    _prepared[key] = (out, srcs, digest)
    return out, srcs, digest


def load(table: Table) -> Any:
    """The firmware of ``table``'s board as a cffi module (built once per source hash)."""

    out, sources, digest = prepare(table)
    modname = f"_cbl_fw_{table.board}_{digest}"
    if modname in _loaded:
        return _loaded[modname]
    mod = _loaded[modname] = build_module(modname, CDEF, GLUE, [*sources, out / "bsp_host.c"], out,
                                          f"firmware host build of the {table.board} board")
    return mod


def build_module(modname: str, cdef: str, source: str, sources: list[Path], include_dir: Path, what: str) -> Any:
    """A cffi module compiled once into the cache's ``lib`` folder (``modname`` carries the sources'
    hash), then imported from there; a compile error is a :class:`ConfigError` naming ``what``."""
    import cffi

    libdir = cache_dir() / "lib"
    libdir.mkdir(parents=True, exist_ok=True)
    built = sorted(libdir.glob(f"{modname}.*so"))
    if not built:
        ffi = cffi.FFI()
        ffi.cdef(cdef)
        ffi.set_source(modname, source, sources=[str(s) for s in sources], include_dirs=[str(include_dir)],
                       extra_compile_args=[*CFLAGS, "-fPIC"])
        build_dir = cache_dir() / f"build-{modname}-{os.getpid()}"
        try:
            path = Path(ffi.compile(tmpdir=str(build_dir), verbose=False))
        except Exception as exc:  # cffi raises VerificationError / CompileError with the compiler's text
            raise ConfigError(f"{what} failed: {exc}") from exc
        final = libdir / path.name
        os.replace(path, final)
        shutil.rmtree(build_dir, ignore_errors=True)
        built = [final]
    spec = importlib.util.spec_from_file_location(modname, built[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_replay(table: Table, sanitize: bool = True) -> Path:
    """A standalone program (src/replay.c) that feeds frames from a file to the firmware and
    prints what it sends; built with ASan + UBSan when ``sanitize``."""
    out, sources, digest = prepare(table)
    flags = [*CFLAGS, *(SANITIZE if sanitize else [])]
    (out / "replay.c").write_bytes((SRC_DIR / "replay.c").read_bytes())
    exe = cache_dir() / "lib" / f"replay-{table.board}-{digest}{'-san' if sanitize else ''}"
    if not exe.exists():
        exe.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["gcc", *flags, "-I", str(out), *map(str, sources), str(out / "bsp_host.c"), str(out / "replay.c"),
               "-o", str(exe) + ".tmp"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise ConfigError(f"firmware replay build failed: {r.stderr.strip()[-2000:]}")
        os.replace(str(exe) + ".tmp", exe)
    return exe
