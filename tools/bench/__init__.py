"""Benchmarks for `cbl bench <area>`: one module per area, each measuring a ratio against a reference in the same run.

A benchmark's peers (casadi, onnxruntime, ...) are the ``bench`` extra: ``./cbl.sh bench AREA``
installs it; :func:`require_peer` turns a missing peer into the console's one-line error."""

from __future__ import annotations

import importlib
from types import ModuleType

from cerebellum_rt.rtcore.errors import ConfigError


def require_peer(module: str, bench: str) -> ModuleType:
    """Import the reference package ``module`` that ``cbl bench {bench}`` measures against, or
    raise ConfigError naming it and the extra that installs it (exit 2, no traceback)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:  # the peer is there but broken: show the real failure
            raise
        raise ConfigError(f"cbl bench {bench}: its reference '{module}' is not installed; "
                          f"run './cbl.sh bench {bench}' or pip install 'cerebellum-rt[bench]'") from None
