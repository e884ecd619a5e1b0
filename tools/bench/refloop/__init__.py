"""The C reference loop of ``cbl bench loop`` (``refloop.c`` here), run on the whole-body workload.

``refloop.c`` steps ``wholebody.h``, the C twin of the law
:func:`cerebellum_rt.codegen.examples.wholebody.wholebody_step`, with the project's float32
math from ``codegen/runtime``. The executable is built from source with gcc on first use
(:func:`build_refloop`, cached by :func:`cerebellum_rt.rtcore.build.c_executable`) and run as a child process with its own real-time set-up (SCHED_FIFO, mlockall, affinity, timer
slack). Its raw per-tick arrays come back into a :class:`~rtcore.stats.LoopStats`, so the C
loop is summarised by exactly the same code as the Python and Cython runners.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from cerebellum_rt.codegen.build import RUNTIME_DIR
from cerebellum_rt.rtcore.build import c_executable
from cerebellum_rt.rtcore.errors import ConfigError, RtSetupError, check_range
from cerebellum_rt.rtcore.rt import RtConfig
from cerebellum_rt.rtcore.stats import HIST_BIN_NS, LoopStats

HERE = Path(__file__).resolve().parent
MAGIC = 0x43424C5245464C31
REFUSED_BITS = ("mlockall", "sched_fifo", "affinity", "timer_slack")


def build_refloop() -> Path:
    """Path of the C reference loop executable (built on first use)."""
    runtime = Path(RUNTIME_DIR)
    return c_executable("refloop", HERE / "refloop.c", [HERE / "wholebody.h", runtime / "cbl_mathf32.h"],
                        [HERE, runtime])


def run_c_reference(records: tuple[np.void, np.void, np.void, np.void], period_ns: int, cycles: int,
                    rt: RtConfig) -> tuple[LoopStats, list[str]]:
    """Run ``cycles`` ticks of the C loop stepping ``records`` (updated in place with the
    records after the run); return its statistics and the real-time steps it had refused."""
    check_range("C reference period_ns", period_ns, 10_000, 10_000_000_000, "ns")
    check_range("C reference cycles", cycles, 1, 1 << 31)
    exe = build_refloop()
    blobs = [r.base.tobytes() for r in records]
    cpu = rt.cpus[0] if rt.cpus else -1
    with tempfile.TemporaryDirectory(prefix="cbl-refloop-") as tmp:
        rec_path, out_path = Path(tmp) / "records.bin", Path(tmp) / "out.bin"
        rec_path.write_bytes(b"".join(blobs))
        cmd = [str(exe), str(rec_path), str(out_path), str(period_ns), str(cycles), str(rt.priority),
               str(cpu), "1" if rt.strict else "0"]
        timeout = cycles * period_ns * 3e-9 + 30
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if res.returncode == 3:
            raise RtSetupError(f"C reference loop: {res.stderr.strip()}")
        if res.returncode != 0:
            raise ConfigError(f"C reference loop exited {res.returncode}: {res.stderr.strip()}")
        raw = out_path.read_bytes()
    hdr = np.frombuffer(raw, dtype=np.int64, count=8)
    if hdr[0] != MAGIC or hdr[1] != cycles:
        raise ConfigError(f"C reference loop output: header {hdr[:2].tolist()} is not ({MAGIC:#x}, {cycles})")
    stats = LoopStats(cycles, period_ns)
    off = 64
    for arr in (stats.wake_latency_ns, stats.step_ns, stats.period_ns):
        arr[:] = np.frombuffer(raw, dtype=np.int64, count=cycles, offset=off)
        off += 8 * cycles
    stats.overrun[:] = np.frombuffer(raw, dtype=np.uint8, count=cycles, offset=off)
    off += cycles
    for rec, blob in zip(records, blobs):
        rec.base[:] = np.frombuffer(raw, dtype=rec.dtype, count=1, offset=off)
        off += len(blob)
    stats.cycles, stats.overruns, stats.skipped = cycles, int(hdr[2]), int(hdr[3])
    stats.max_consecutive_overruns, stats.minor_faults = int(hdr[4]), int(hdr[5])
    np.add.at(stats.histogram, np.clip(stats.wake_latency_ns // HIST_BIN_NS, 0, len(stats.histogram) - 1), 1)
    refused = [name for i, name in enumerate(REFUSED_BITS) if int(hdr[6]) >> i & 1]
    return stats, refused
