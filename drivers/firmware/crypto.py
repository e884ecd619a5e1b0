"""The bootloader's cryptography: C sources fetched from PyPI at build time, never committed.

* Ed25519 verification: Monocypher 4.0.3 (audited; BSD-2-Clause OR CC0-1.0), ``monocypher.c``
  from the ``pymonocypher`` sdist. Its own EdDSA hashes with BLAKE2b, so the bootloader uses
  its curve primitives (``crypto_eddsa_check_equation``, ``crypto_eddsa_reduce``) with SHA-512,
  which is exactly how Monocypher's optional ``crypto_ed25519_check`` is built.
* SHA-256 and SHA-512: libsodium's portable implementations (``crypto_hash/sha*/cp``, ISC
  licence) from the libsodium tree inside the ``pynacl`` sdist. (PyCryptodome's SHA-512 was
  tried first: fully unrolled, 34 KiB of Thumb code, it alone overflows the 32 KiB bootloader.)

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
_SODIUM = "src/libsodium/src/libsodium/"
PYNACL = Sdist("pynacl", "1.6.2", "018494d6d696ae03c7e656e5e74cdfd8ea1326962cc401bcf018f1ed8436811c",
               (f"{_SODIUM}crypto_hash/sha256/cp/hash_sha256_cp.c", f"{_SODIUM}crypto_hash/sha512/cp/hash_sha512_cp.c",
                f"{_SODIUM}include/sodium/crypto_hash_sha256.h", f"{_SODIUM}include/sodium/crypto_hash_sha512.h",
                f"{_SODIUM}include/sodium/export.h", f"{_SODIUM}include/sodium/utils.h",
                f"{_SODIUM}include/sodium/private/common.h", "src/libsodium/LICENSE"))
SDISTS = (MONOCYPHER, PYNACL)


def cache_root() -> Path:
    env = os.environ.get("CBL_CRYPTO_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cerebellum" / "crypto"


def _dest(member: str) -> str:
    """Where a member lands in the cache and in a build tree: its name (``private/common.h`` keeps
    its folder: libsodium includes it so; LICENSE files get their package's name)."""
    return "private/common.h" if member.endswith("private/common.h") else Path(member).name


def _fetch(sd: Sdist) -> Path:
    out = cache_root() / f"{sd.package}-{sd.version}-{sd.sha256[:12]}"
    if all((out / _dest(m)).exists() for m in sd.members):
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
        (stage / "private").mkdir(parents=True)
        top = f"{sd.package}-{sd.version}/"
        with tarfile.open(path) as tar:
            for m in sd.members:
                src = tar.extractfile(top + m)
                if src is None:
                    raise ConfigError(f"bootloader crypto: '{sd.archive}' lacks {m}")
                (stage / _dest(m)).write_bytes(src.read())
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
            files[f"LICENSE-{sd.package}" if Path(m).name.startswith("LICENSE") else _dest(m)] = d / _dest(m)
    return files


def copy_into(out_dir: Path) -> list[str]:
    """Copy the C sources into a build tree; returns the names copied."""
    names = []
    for name, path in sources().items():
        if name.endswith((".c", ".h")):
            dst = out_dir / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            data = path.read_bytes()
            if not dst.exists() or dst.read_bytes() != data:
                dst.write_bytes(data)
            names.append(name)
    return names
