"""Console output paths: checked before any work runs, so no result is lost to a bad path."""

from __future__ import annotations

import os
from pathlib import Path

from cerebellum_rt.rtcore.errors import ConfigError


def output_dir(path: str | Path) -> Path:
    """``-o``: the directory for the PNG, created if needed, checked before anything runs
    (one-line ConfigError if it is a file or cannot be created or written)."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"-o {out}: cannot create ({exc.strerror})") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(f"-o {out}: is not writable")
    return out
