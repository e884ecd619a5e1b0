"""Guard against stale numba caches of the hand kernels.

numba keys a function's on-disk cache on its own source file only, and ``_run_ticks``
(sim.py) compiles the plant (plant.py) and the laws (laws.py) into itself: after an edit of
either, its cached machine code would run the old physics. On import a digest of the kernel
sources is compared with the one stored beside the cache; on a mismatch this package's cache
files are dropped (they rebuild in ~10 s). Skipped when NUMBA_CACHE_DIR moves the cache or
the directory is read-only. (Same scheme as actuators/joint/_cache.py; a shared helper in
rtcore.jit would serve both.)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

KERNEL_SOURCES = ("plant.py", "laws.py", "sim.py")


def drop_stale_kernels() -> None:
    """Delete the hand package's numba cache files if a kernel source changed since they were built."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    try:
        digest = hashlib.sha1(b"".join((here / n).read_bytes() for n in KERNEL_SOURCES)).hexdigest()
        stamp = cache / "hand_kernels.sha1"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        cache.mkdir(exist_ok=True)
        for f in cache.glob("*.nb[ic]"):
            f.unlink(missing_ok=True)
        tmp = cache / f"hand_kernels.sha1.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        return
