"""The bootloader's cryptography: C sources fetched from PyPI at build time, never committed.

* Ed25519 verification: Monocypher 4.0.3 (audited; BSD-2-Clause OR CC0-1.0), ``monocypher.c``
  from the ``pymonocypher`` sdist. Its own EdDSA hashes with BLAKE2b, so the bootloader uses
  its curve primitives (``crypto_eddsa_check_equation``, ``crypto_eddsa_reduce``) with SHA-512,
  which is exactly how Monocypher's optional ``crypto_ed25519_check`` is built.
* SHA-256 and SHA-512: PyCryptodome's portable C (``src/SHA256.c``, ``src/SHA512.c`` and the
  template they include; public domain / BSD-2-Clause) from the ``pycryptodome`` sdist. Only the
  one-shot functions are used: no allocation (their ``_init`` would calloc; the linker drops it).

Each archive is pinned by version and SHA-256, downloaded with pip (``pip download
--no-binary``), checked, and the needed members are unpacked into the user cache
(``$CBL_CRYPTO_CACHE`` or ``~/.cache/cerebellum/crypto/<package>-<version>-<sha256[:12]>``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cerebellum_rt.rtcore.errors import ConfigError


@dataclass(frozen=True)
class Sdist:
    package: str
    version: str
    sha256: str
    members: tuple[str, ...]  # paths inside the archive, below its top folder

    @property
    def archive(self) -> str:
        return f"{self.package}-{self.version}.tar.gz"


MONOCYPHER = Sdist("pymonocypher", "4.0.3.4", "5e56e3d3eb770a53e0b9f6274146663c11a11f3d0de5cd48e3be0428d1b07a4a",
                   ("monocypher.c", "monocypher.h", "LICENSE.txt"))
PYCRYPTODOME = Sdist("pycryptodome", "4.5.0", "51e97a8d1cf101974bc40c20b3191cb1903891e5c172346943d5d4f3bc4f9d83",
                     ("src/SHA256.c", "src/SHA512.c", "src/hash_SHA2_template.c", "src/hash_SHA2_compress_portable.c",
                      "src/common.h",
                      "src/endianess.h", "src/errors.h", "LICENSE.rst"))
SDISTS = (MONOCYPHER, PYCRYPTODOME)


def cache_root() -> Path:
    env = os.environ.get("CBL_CRYPTO_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cerebellum" / "crypto"


def _fetch(sd: Sdist) -> Path:
    out = cache_root() / f"{sd.package}-{sd.version}-{sd.sha256[:12]}"
    if all((out / Path(m).name).exists() for m in sd.members):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cbl-crypto-", dir=out.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", sd.package,
               "--disable-pip-version-check", "-q", "-d", tmp, f"{sd.package}=={sd.version}"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        path = Path(tmp) / sd.archive
        if r.returncode != 0 or not path.exists():
            tail = " | ".join((r.stderr or r.stdout).strip().splitlines()[-3:])
            raise ConfigError(f"bootloader crypto: could not fetch the sdist of '{sd.package}=={sd.version}' from the "
                              f"package index (pip download: {tail or 'no archive'}); it holds the C sources of "
                              f"SHA-256/SHA-512/Ed25519")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sd.sha256:
            raise ConfigError(f"bootloader crypto: '{sd.archive}' has sha256 {digest}, pinned {sd.sha256}")
        stage = Path(tmp) / "stage"
        stage.mkdir()
        top = f"{sd.package}-{sd.version}/"
        with tarfile.open(path) as tar:
            for m in sd.members:
                src = tar.extractfile(top + m)
                if src is None:
                    raise ConfigError(f"bootloader crypto: '{sd.archive}' lacks {m}")
                (stage / Path(m).name).write_bytes(src.read())
        if out.exists():
            shutil.rmtree(out, ignore_errors=True)
        with contextlib.suppress(OSError):  # another process unpacked the same archive first
            os.replace(stage, out)
    return out


def sources() -> dict[str, Path]:
    """file name -> path of every fetched crypto source and licence (fetched on first use)."""
    files: dict[str, Path] = {}
    for sd in SDISTS:
        d = _fetch(sd)
        for m in sd.members:
            files[Path(m).name] = d / Path(m).name
    return files


def copy_into(out_dir: Path) -> list[str]:
    """Copy the C sources into a build tree; returns the names copied."""
    names = []
    for name, path in sources().items():
        if name.endswith((".c", ".h")):
            dst = out_dir / name
            data = path.read_bytes()
            if not dst.exists() or dst.read_bytes() != data:
                dst.write_bytes(data)
            names.append(name)
    return names
