"""Signing keys: Ed25519 private keys in imgtool's PEM format (PKCS#8), written 0600, never overwritten."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from cerebellum_rt.drivers.flash.image import key_hash, load_public_key
from cerebellum_rt.rtcore.errors import ConfigError


def new_key(path: str | Path) -> dict:
    """Generate an Ed25519 key with imgtool and write it to ``path`` (mode 0600; an existing file is
    refused) and its public half to ``<path>.pub`` (0644). Returns :func:`show_key`'s dict."""
    from imgtool import keys as imgtool_keys

    path = Path(path)
    pub = path.with_name(path.name + ".pub")
    for p in (path, pub):
        if p.exists():
            raise ConfigError(f"key file {p} exists: refusing to overwrite it")
    key = imgtool_keys.Ed25519.generate()
    pem = key.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise ConfigError(f"key file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    os.chmod(path, 0o600)  # whatever the umask
    fd = os.open(pub, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(key.get_public_pem())
    return show_key(path)


def show_key(path: str | Path) -> dict:
    """Type, public key (PEM), MCUboot KEYHASH of a key file (private or public), and whether it is private."""
    path = Path(path)
    key = load_public_key(path)
    private = b"PRIVATE KEY" in path.read_bytes()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    mode = path.stat().st_mode & 0o777
    return {"file": str(path), "type": "ed25519", "private": private, "mode": f"{mode:04o}",
            "keyhash": key_hash(key).hex(), "public_pem": pem}
