"""Guard against stale numba on-disk caches across source files.

numba keys a cached function on its own source file only: a kernel that compiles in code from
other files (a plant, a law, the codegen math kernels) keeps its old machine code after those
files are edited, and silently runs the old physics or the old law. :func:`drop_stale_cache`
keeps a digest of every source a package's cached kernels depend on beside the package's
cache; on a mismatch it deletes the package's cache files (they rebuild on first call).

Call it at import of the package, before any cached kernel loads (numba loads them lazily).
Skipped when NUMBA_CACHE_DIR moves the cache elsewhere or the directory is read-only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def drop_stale_cache(package_dir: str | os.PathLike, sources: Iterable[str | os.PathLike], tag: str) -> bool:
    """Delete ``package_dir``'s numba cache files if any of ``sources`` changed since the last
    check (digest stored as ``__pycache__/<tag>.sha1``). Returns True if files were dropped."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    cache = Path(package_dir) / "__pycache__"
    try:
        h = hashlib.sha1()
        for src in sources:
            h.update(Path(src).read_bytes())
        digest = h.hexdigest()
        stamp = cache / f"{tag}.sha1"
        if stamp.is_file() and stamp.read_text() == digest:
            return False
        cache.mkdir(exist_ok=True)
        for f in cache.glob("*.nb[ic]"):
            f.unlink(missing_ok=True)
        tmp = cache / f"{tag}.sha1.{os.getpid()}"
        tmp.write_text(digest)
        tmp.replace(stamp)
        return True
    except OSError:
        return False
