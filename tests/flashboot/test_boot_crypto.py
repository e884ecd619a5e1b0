"""The bootloader's crypto sources come from PyPI sdists at build time (pinned by SHA-256, cached),
and a fetch that fails names the package; the C Ed25519 check agrees with `cryptography`."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from cerebellum_rt.drivers.firmware import crypto
from cerebellum_rt.rtcore.errors import ConfigError


def test_sources_are_cached_with_their_licences():
    files = crypto.sources()
    for name in ("monocypher.c", "hash_sha256_cp.c", "hash_sha512_cp.c", "private/common.h",
                 "LICENSE-pymonocypher", "LICENSE-pynacl"):
        assert files[name].is_file(), name
    assert str(crypto.cache_root()) in str(files["monocypher.c"])


def test_a_failed_fetch_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("CBL_CRYPTO_CACHE", str(tmp_path))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    with pytest.raises(ConfigError, match=r"could not fetch the sdist of 'pymonocypher==4\.0\.3\.4'"):
        crypto.sources()


def test_c_ed25519_check_agrees_with_cryptography():
    """RFC 8032 signatures made by `cryptography` (32-byte messages, as image digests): the C check
    accepts each, and refuses it after any one-bit change of signature, message or key."""
    from cerebellum_rt.drivers.firmware.bootloader import load

    lib = load().lib
    for seed in range(8):
        key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
        pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        msg = bytes((seed * 7 + k) & 0xFF for k in range(32))
        sig = key.sign(msg)
        assert lib.cbl_ed25519_verify(sig, pub, msg, 32) == 0
        for blob, pos in ((sig, seed * 8 % 64), (msg, seed * 4 % 32), (pub, seed * 4 % 32)):
            bad = bytearray(blob)
            bad[pos] ^= 1 << (seed % 8)
            args = {id(sig): (bytes(bad), pub, msg), id(msg): (sig, pub, bytes(bad)), id(pub): (sig, bytes(bad), msg)}
            s, p, m = args[id(blob)]
            assert lib.cbl_ed25519_verify(s, p, m, 32) != 0
