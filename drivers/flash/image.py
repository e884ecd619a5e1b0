"""MCUboot images: made and signed by MCUboot's ``imgtool``, parsed and verified with ``cryptography``.

Layout (MCUboot ``image.h``, little endian): a 32-byte header (magic 0x96F3B83D, load address,
header size, protected TLV size, image size, flags, version major.minor.revision+build), the
header padded to ``header size``, the payload (``image size`` bytes), the protected TLV area
(info magic 0x6908: security counter 0x50, the board type 0xA0), the TLV area (info magic 0x6907:
SHA-256 0x10 over header + payload + protected TLVs, KEYHASH 0x01 = SHA-256 of the signing key's
public DER, ED25519 0x24 = Ed25519 signature of that SHA-256 digest, as imgtool makes it).

:func:`verify` is the one check that the host (``cbl image inspect``, ``cbl flash --dry-run``)
and the Python board (before a test boot) run. Its checks, in order, each a named
:class:`ImageError` with the CiA 302-3 / manufacturer error code that 0x1F57 reports:
header (13), size (11), TLV layout (3), hash (12), signature (8: unsigned, other key, bad
signature), board type (9), security counter (10). Nothing here is home-made cryptography: the
digest and the signature check are ``cryptography``'s.
"""

from __future__ import annotations

import contextlib
import io
import struct
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from cerebellum_rt.rtcore.errors import ConfigError

IMAGE_MAGIC = 0x96F3B83D
HEADER_STRUCT = struct.Struct("<IIHHIIBBHII")  # magic, load, hdr size, prot TLV size, img size, flags, ver, pad
HEADER_SIZE_DEFAULT = 0x200  # bytes reserved for the header at the slot start (Cortex-M vector alignment)
TLV_INFO_MAGIC = 0x6907
TLV_PROT_INFO_MAGIC = 0x6908
TLV_KEYHASH, TLV_SHA256, TLV_ED25519, TLV_SEC_CNT = 0x01, 0x10, 0x24, 0x50
TLV_BOARD_TYPE = 0xA0  # custom protected TLV: the product code (0x1018:2), u32 little endian
TLV_NAMES = {0x01: "KEYHASH", 0x02: "PUBKEY", 0x10: "SHA256", 0x24: "ED25519", 0x25: "SIG_PURE",
             0x50: "SEC_CNT", 0xA0: "BOARD_TYPE"}
FLAG_NAMES = {0x01: "PIC", 0x04: "ENCRYPTED_AES128", 0x08: "ENCRYPTED_AES256", 0x10: "NON_BOOTABLE",
              0x20: "RAM_LOAD", 0x100: "ROM_FIXED", 0x200: "COMPRESSED_LZMA1", 0x400: "COMPRESSED_LZMA2",
              0x800: "COMPRESSED_ARM_THUMB"}
UNSUPPORTED_FLAGS = 0x04 | 0x08 | 0x10 | 0x200 | 0x400 | 0x800  # encrypted, non-bootable, compressed

# error codes of 0x1F57 bits 1..7 (CiA 302-3 0-7, manufacturer from 8)
ERR_OK, ERR_NO_PROGRAM, ERR_FORMAT_UNKNOWN, ERR_FORMAT, ERR_NOT_CLEARED = 0, 1, 2, 3, 4
ERR_WRITE, ERR_ADDRESS, ERR_SECURED = 5, 6, 7
ERR_SIGNATURE, ERR_BOARD_TYPE, ERR_COUNTER, ERR_TOO_LARGE, ERR_HASH, ERR_HEADER = 8, 9, 10, 11, 12, 13
ERROR_TEXT = {
    ERR_OK: "ok", ERR_NO_PROGRAM: "no valid program", ERR_FORMAT_UNKNOWN: "data format unknown",
    ERR_FORMAT: "data format error", ERR_NOT_CLEARED: "flash not cleared", ERR_WRITE: "flash write error",
    ERR_ADDRESS: "general address error", ERR_SECURED: "flash secured", ERR_SIGNATURE: "signature invalid",
    ERR_BOARD_TYPE: "wrong board type", ERR_COUNTER: "security counter lower than installed",
    ERR_TOO_LARGE: "image larger than the slot", ERR_HASH: "hash mismatch", ERR_HEADER: "image header invalid",
}


class ImageError(ConfigError):
    """An image refused by one named check; ``code`` is the 0x1F57 error code."""

    def __init__(self, check: str, code: int, message: str) -> None:
        super().__init__(f"image {check} check failed: {message}")
        self.check = check
        self.code = code


@dataclass
class ImageInfo:
    """What an image's header and TLVs say (see :func:`parse`)."""

    header_size: int
    image_size: int
    protected_tlv_size: int
    load_addr: int
    flags: int
    version: tuple[int, int, int, int]  # major, minor, revision, build
    total_size: int  # header + payload + TLV areas
    tlvs: list[tuple[int, bool, bytes]] = field(default_factory=list)  # (type, protected, value)
    sha256_ok: bool | None = None
    signature: str = "unsigned"  # unsigned | valid | invalid | not checked (no key) | other key

    def tlv(self, kind: int) -> bytes | None:
        for t, _, v in self.tlvs:
            if t == kind:
                return v
        return None

    @property
    def version_u32(self) -> int:
        """0x1F56's encoding: major << 24 | minor << 16 | revision (revision cut to 16 bits)."""
        major, minor, rev, _ = self.version
        return (major << 24) | (minor << 16) | (rev & 0xFFFF)

    @property
    def version_text(self) -> str:
        major, minor, rev, build = self.version
        return f"{major}.{minor}.{rev}" + (f"+{build}" if build else "")

    @property
    def board_type(self) -> int | None:
        v = self.tlv(TLV_BOARD_TYPE)
        return struct.unpack("<I", v)[0] if v is not None and len(v) == 4 else None

    @property
    def security_counter(self) -> int | None:
        v = self.tlv(TLV_SEC_CNT)
        return struct.unpack("<I", v)[0] if v is not None and len(v) == 4 else None

    def as_dict(self) -> dict:
        return {
            "header_size": self.header_size, "image_size": self.image_size,
            "protected_tlv_size": self.protected_tlv_size, "load_addr": self.load_addr,
            "flags": [n for b, n in FLAG_NAMES.items() if self.flags & b], "version": self.version_text,
            "version_u32": self.version_u32, "total_size": self.total_size,
            "board_type": self.board_type, "security_counter": self.security_counter,
            "sha256_ok": self.sha256_ok, "signature": self.signature,
            "tlvs": [{"type": t, "name": TLV_NAMES.get(t, f"0x{t:02X}"), "protected": p, "length": len(v),
                      "value": v.hex()} for t, p, v in self.tlvs],
        }


def version_u32_text(v: int) -> str:
    """0x1F56's value as major.minor.revision."""
    return f"{v >> 24}.{(v >> 16) & 0xFF}.{v & 0xFFFF}"


def _tlv_area(data: bytes, off: int, magic: int, protected: bool, out: list) -> int:
    """Parse one TLV area at ``off``; returns its length. Raises ImageError('tlv') on a bad layout."""
    if off + 4 > len(data):
        raise ImageError("tlv", ERR_FORMAT, f"TLV area at byte {off} is past the end ({len(data)} bytes): truncated")
    got_magic, total = struct.unpack_from("<HH", data, off)
    if got_magic != magic:
        raise ImageError("tlv", ERR_FORMAT, f"TLV info magic 0x{got_magic:04X} at byte {off}, expected 0x{magic:04X}")
    end = off + total
    if total < 4 or end > len(data):
        raise ImageError("tlv", ERR_FORMAT, f"TLV area at byte {off} claims {total} bytes, only {len(data) - off} "
                         "present: truncated")
    k = off + 4
    while k < end:
        if k + 4 > end:
            raise ImageError("tlv", ERR_FORMAT, f"TLV entry at byte {k} crosses the area's end {end}")
        kind, length = struct.unpack_from("<HH", data, k)
        if k + 4 + length > end:
            raise ImageError("tlv", ERR_FORMAT, f"TLV 0x{kind:02X} at byte {k} ({length} bytes) crosses the area's "
                             f"end {end}")
        out.append((kind, protected, bytes(data[k + 4 : k + 4 + length])))
        k += 4 + length
    return total


def parse(data: bytes, slot_size: int | None = None) -> ImageInfo:
    """Header and TLVs of ``data`` (checks: header, size, TLV layout); no hash or signature check."""
    if len(data) < HEADER_STRUCT.size:
        raise ImageError("header", ERR_HEADER, f"{len(data)} bytes is shorter than the 32-byte header")
    magic, load, hdr, prot, size, flags, major, minor, rev, build, _ = HEADER_STRUCT.unpack_from(data, 0)
    if magic != IMAGE_MAGIC:
        raise ImageError("header", ERR_HEADER, f"magic 0x{magic:08X} is not MCUboot's 0x{IMAGE_MAGIC:08X}")
    if hdr < HEADER_STRUCT.size:
        raise ImageError("header", ERR_HEADER, f"header size {hdr} < {HEADER_STRUCT.size}")
    if flags & UNSUPPORTED_FLAGS:
        names = [n for b, n in FLAG_NAMES.items() if flags & b & UNSUPPORTED_FLAGS]
        raise ImageError("header", ERR_HEADER, f"flags 0x{flags:X} ({', '.join(names) or 'unknown'}) not supported")
    tlvs: list[tuple[int, bool, bytes]] = []
    off = hdr + size
    if slot_size is not None and off > slot_size:
        raise ImageError("size", ERR_TOO_LARGE, f"header + payload {off} bytes > slot size {slot_size}")
    if prot:
        got = _tlv_area(data, off, TLV_PROT_INFO_MAGIC, True, tlvs)
        if got != prot:
            raise ImageError("tlv", ERR_FORMAT, f"protected TLV area is {got} bytes, the header says {prot}")
        off += prot
    off += _tlv_area(data, off, TLV_INFO_MAGIC, False, tlvs)
    if slot_size is not None and off > slot_size:
        raise ImageError("size", ERR_TOO_LARGE, f"image {off} bytes > slot size {slot_size}")
    return ImageInfo(hdr, size, prot, load, flags, (major, minor, rev, build), off, tlvs)


def image_extent(prefix: bytes) -> int | None:
    """The total size of the image that ``prefix`` begins (header + payload + both TLV areas), as
    far as ``prefix`` tells it: None while it is too short to tell; 0 when its header or TLV info
    is not valid (the full :func:`parse` then names the check). A download that arrives in parts
    (FoE ``NAME@OFFSET``) is complete when the bytes programmed reach this size."""
    if len(prefix) < HEADER_STRUCT.size:
        return None
    magic, _load, hdr, prot, size, *_ = HEADER_STRUCT.unpack_from(prefix, 0)
    if magic != IMAGE_MAGIC or hdr < HEADER_STRUCT.size:
        return 0
    off = hdr + size + prot
    if len(prefix) < off + 4:
        return None
    info_magic, total = struct.unpack_from("<HH", prefix, off)
    return off + total if info_magic == TLV_INFO_MAGIC else 0


def load_public_key(path: str | Path) -> ed25519.Ed25519PublicKey:
    """An Ed25519 public key from a PEM file (public key, or the private key whose public half it is)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"key file {path}: {exc.strerror}") from exc
    key: object
    try:
        key = serialization.load_pem_private_key(raw, password=None)
        key = key.public_key()  # type: ignore[union-attr]
    except (ValueError, TypeError):
        try:
            key = serialization.load_pem_public_key(raw)
        except ValueError as exc:
            raise ConfigError(f"key file {path}: not a PEM key") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ConfigError(f"key file {path}: {type(key).__name__} is not an Ed25519 key")
    return key


def key_hash(key: ed25519.Ed25519PublicKey) -> bytes:
    """MCUboot's KEYHASH: SHA-256 of the public key's DER SubjectPublicKeyInfo."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _sha256(der)


def key_id(key: ed25519.Ed25519PublicKey) -> int:
    """0x5F50:5: the first 4 bytes of :func:`key_hash`, little endian."""
    return struct.unpack_from("<I", key_hash(key))[0]


def _sha256(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    return h.finalize()


def verify(data: bytes, key: ed25519.Ed25519PublicKey | None, *, board_type: int | None = None,
           min_security_counter: int | None = None, slot_size: int | None = None) -> ImageInfo:
    """Every check of the module doc; raises :class:`ImageError` naming the first that fails.

    ``key=None`` checks the layout and the hash only (``signature`` reads "not checked").
    """
    info = parse(data, slot_size)
    protected_end = info.header_size + info.image_size + info.protected_tlv_size
    unprotected = [(t, v) for t, p, v in info.tlvs if not p]
    digests = [v for t, v in unprotected if t == TLV_SHA256]
    if len(digests) != 1:
        raise ImageError("hash", ERR_HASH, f"{len(digests)} SHA-256 TLVs (one expected)")
    digest = _sha256(bytes(data[:protected_end]))
    info.sha256_ok = digest == digests[0]
    if not info.sha256_ok:
        raise ImageError("hash", ERR_HASH, f"SHA-256 of the image {digest.hex()[:16]}... != TLV "
                         f"{digests[0].hex()[:16]}...")
    sigs = [v for t, v in unprotected if t == TLV_ED25519]
    if not sigs:
        info.signature = "unsigned"
        if key is not None:
            raise ImageError("signature", ERR_SIGNATURE, "the image is unsigned (no ED25519 TLV)")
    elif key is None:
        info.signature = "not checked (no key)"
    else:
        hashes_ = [v for t, v in unprotected if t == TLV_KEYHASH]
        if key_hash(key) not in hashes_:
            info.signature = "other key"
            raise ImageError("signature", ERR_SIGNATURE, "signed by another key (KEYHASH "
                             f"{hashes_[0].hex()[:16] if hashes_ else 'missing'}..., trusted key "
                             f"{key_hash(key).hex()[:16]}...)")
        for sig in sigs:
            try:
                key.verify(sig, digest)
                info.signature = "valid"
                break
            except InvalidSignature:
                continue
        else:
            info.signature = "invalid"
            raise ImageError("signature", ERR_SIGNATURE, "Ed25519 signature does not verify with the trusted key")
    if board_type is not None and info.board_type != board_type:
        got = "missing" if info.board_type is None else f"0x{info.board_type:08X}"
        raise ImageError("board type", ERR_BOARD_TYPE, f"image board type (TLV 0xA0) {got} != board's 0x{board_type:08X}")
    if min_security_counter is not None:
        got_cnt = info.security_counter
        if got_cnt is None or got_cnt < min_security_counter:
            raise ImageError("security counter", ERR_COUNTER,
                             f"image security counter {'missing' if got_cnt is None else got_cnt} < installed "
                             f"{min_security_counter}")
    return info


def make_image(payload: bytes, key_path: str | Path, *, version: str, board_type: int,
               security_counter: int = 0, header_size: int = HEADER_SIZE_DEFAULT, slot_size: int = 0) -> bytes:
    """A signed MCUboot image of ``payload``, made by imgtool's own ``Image`` (what ``imgtool sign`` runs):
    Ed25519 with ``key_path``, ``version`` 'X.Y.Z', the security counter and the board type TLV 0xA0."""
    from imgtool import image as imgtool_image
    from imgtool import keys as imgtool_keys
    from imgtool import version as imgtool_version

    try:
        key = imgtool_keys.load(str(key_path))
    except OSError as exc:
        raise ConfigError(f"key file {key_path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"key file {key_path}: {exc}") from exc
    if not isinstance(key, imgtool_keys.Ed25519):
        raise ConfigError(f"key file {key_path}: {type(key).__name__} is not an Ed25519 private key")
    try:
        ver = imgtool_version.decode_version(version)
    except ValueError as exc:
        raise ConfigError(f"version {version!r}: {exc}") from exc
    if not 0 <= security_counter <= 0xFFFFFFFF:
        raise ConfigError(f"security counter {security_counter} is out of range [0, 4294967295]")
    img = imgtool_image.Image(version=ver, header_size=header_size, pad_header=True, slot_size=slot_size,
                              security_counter=security_counter)
    img.payload = bytes([img.erased_val] * header_size) + bytes(payload)
    img.infile_data = bytes(payload)
    img.image_size = len(payload)
    with contextlib.redirect_stdout(io.StringIO()):  # imgtool prints "sign the digest"
        img.create(key, "hash", None, custom_tlvs={TLV_BOARD_TYPE: struct.pack("<I", board_type)})
    return bytes(img.payload)
