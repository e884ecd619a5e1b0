"""Guard against stale numba caches of the joint kernels.

numba's on-disk cache of a function is keyed on its own source file only: ``_advance``
(module.py), ``_advance_bank`` (bank.py) and ``_current_run`` (response.py) compile the laws (foc.py, cascade.py) and the
plant (plant.py) into themselves, so after an edit of one of those files their cached machine
code would silently run the old physics or the old law. On import, a digest of all joint kernel
sources is compared with the one stored beside the cache; on a mismatch the joint package's
cache files are dropped (they rebuild in a few seconds). Skipped when NUMBA_CACHE_DIR moves the
cache elsewhere or the package directory is read-only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

KERNEL_SOURCES = ("plant.py", "foc.py", "cascade.py", "module.py", "response.py", "bank.py")


def drop_stale_kernels() -> None:
    """Delete this package's numba cache files if any kernel source changed since they were built."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    try:
        digest = hashlib.sha1(b"".join((here / n).read_bytes() for n in KERNEL_SOURCES)).hexdigest()
        stamp = cache / "joint_kernels.sha1"
        if stamp.is_file() and stamp.read_text() == digest:
            return
        cache.mkdir(exist_ok=True)
        for f in cache.glob("*.nb[ic]"):
            f.unlink(missing_ok=True)
        tmp = cache / f"joint_kernels.sha1.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
    except OSError:
        return
