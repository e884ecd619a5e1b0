"""Firmware files over EtherCAT from the host: the BOOT state and FoE through SOEM (pysoem).

``master`` is a ``pysoem.Master`` after ``config_init`` (or an
:class:`~cerebellum_rt.drivers.ethercat.master.EtherCatTransport`); ``slave`` the position on the
line. :func:`enter_boot` does what SOEM's firmware-update sample does: INIT, the bootstrap
mailboxes from the slave's SII (words 0x14-0x17) into SM0/SM1, then BOOT (reachable only from
INIT; a refusal names the AL status code). :func:`foe_write` / :func:`foe_read` move one file
(ETG.1000.6 FoE: request, DATA/ACK per mailbox, BUSY, ERR). Our boards take a write only in
BOOT and with :data:`FOE_PASSWORD`; the file goes into the board's inactive image slot through its
bootloader's checks (file names and refusals:
:mod:`cerebellum_rt.drivers.ethercat.esc.firmware`). :func:`leave_boot` goes back to INIT with
the standard mailboxes (a board holding a verified image resets into its test boot). A failed
transfer raises :class:`FoeTransferError` naming the slave, the file and SOEM's result:
``refused`` when the slave answered with an FoE ERR (SOEM does not pass its code or text on: the
board's 0x1F57 names the check, over CoE once out of BOOT), else the line or the slave went
silent. This module owns no policy: the update procedure is :mod:`cerebellum_rt.drivers.ethercat.flash`'s.
"""

from __future__ import annotations

import struct
from typing import Any

from cerebellum_rt.drivers.ethercat.esc.foe import FOE_MAX_BYTES, FOE_PASSWORD
from cerebellum_rt.drivers.ethercat.esc.regs import STATE_NAMES, al_code_name
from cerebellum_rt.rtcore.errors import DeviceError

INIT, PREOP, BOOT = 0x01, 0x02, 0x03
SII_BOOT_MAILBOX, SII_STD_MAILBOX = 0x14, 0x18  # word addresses: out start, out length, in start, in length
FOE_ERROR = -5  # SOEM's EC_ERR_TYPE_FOE_ERROR: the slave answered with an FoE ERR
SOEM_RESULTS = {-3: "packet error (unexpected mailbox)", -5: "FoE error (the slave refused)",
                -6: "FoE buffer too small", -7: "FoE packet number", -10: "FoE file not found"}
TIMEOUT_US = 2_000_000

__all__ = ["FOE_MAX_BYTES", "FOE_PASSWORD", "FoeTransferError", "enter_boot", "enter_preop", "foe_read", "foe_write", "leave_boot"]


class FoeTransferError(DeviceError):
    """An FoE write that failed: ``result`` is SOEM's; ``refused``: the slave sent an FoE ERR."""

    def __init__(self, message: str, result: int) -> None:
        super().__init__(message)
        self.result = result
        self.refused = result == FOE_ERROR


def _soem(master: Any) -> Any:
    return getattr(master, "soem", master)


def _slave(master: Any, slave: int) -> Any:
    slaves = _soem(master).slaves
    if not 0 <= slave < len(slaves):
        raise DeviceError(f"EtherCAT slave {slave}: no such position (line of {len(slaves)})")
    return slaves[slave]


def _request(s: Any, slave: int, state: int, timeout_us: int) -> None:
    s.state = state
    s.write_state()
    got = s.state_check(state, timeout_us)
    if got & 0x0F != state:
        code = int(s.al_status)
        raise DeviceError(f"EtherCAT slave {slave}: {STATE_NAMES[state]} refused, stays in "
                          f"{STATE_NAMES.get(got & 0x0F, hex(got))} (AL status 0x{code:04X} {al_code_name(code)})")


def _mailboxes(s: Any, word: int) -> None:
    raw = s.eeprom_read(word) + s.eeprom_read(word + 2)
    out_start, out_len, in_start, in_len = struct.unpack("<4H", raw)
    s.amend_mbx("out", out_start, out_len)
    s.amend_mbx("in", in_start, in_len)


def enter_boot(master: Any, slave: int, timeout_us: int = TIMEOUT_US) -> None:
    """INIT, bootstrap mailboxes from the SII, BOOT (see module doc)."""
    s = _slave(master, slave)
    _request(s, slave, INIT, timeout_us)
    _mailboxes(s, SII_BOOT_MAILBOX)
    _request(s, slave, BOOT, timeout_us)


def leave_boot(master: Any, slave: int, timeout_us: int = TIMEOUT_US) -> None:
    """Back to INIT with the standard mailboxes (the slave starts its new image from there)."""
    s = _slave(master, slave)
    _request(s, slave, INIT, timeout_us)
    _mailboxes(s, SII_STD_MAILBOX)


def enter_preop(master: Any, slave: int, timeout_us: int = TIMEOUT_US) -> None:
    """Out of BOOT (or any state): INIT with the standard mailboxes, then PRE-OP (CoE served again)."""
    leave_boot(master, slave, timeout_us)
    _request(_slave(master, slave), slave, PREOP, timeout_us)


def _name(name: str) -> str:
    if not name or len(name) > 100 or not name.isascii() or not name.isprintable():
        raise DeviceError(f"FoE file name {name!r}: 1-100 printable ASCII characters")
    return name


def foe_write(master: Any, slave: int, name: str, data: bytes, password: int = FOE_PASSWORD,
              timeout_us: int = TIMEOUT_US) -> None:
    """Write ``data`` as file ``name`` to ``slave`` (in BOOT for our boards)."""
    s = _slave(master, slave)
    if not 0 <= password <= 0xFFFFFFFF:
        raise DeviceError(f"FoE password {password}: out of range [0, 0xFFFFFFFF]")
    result = s.foe_write(_name(name), password, bytes(data), timeout_us)
    if result <= 0:
        why = SOEM_RESULTS.get(result, "no answer" if result == 0 else f"SOEM result {result}")
        raise FoeTransferError(f"EtherCAT slave {slave}: FoE write of {name!r} ({len(data)} bytes) failed: {why}",
                               result)


def foe_read(master: Any, slave: int, name: str, password: int = FOE_PASSWORD, max_bytes: int = FOE_MAX_BYTES,
             timeout_us: int = TIMEOUT_US) -> bytes:
    """Read file ``name`` from ``slave``. SOEM reports a refused read as an empty file: an empty
    result is an error here (a firmware image is never empty)."""
    s = _slave(master, slave)
    data = s.foe_read(_name(name), password, max_bytes, timeout_us)
    if not data:
        raise DeviceError(f"EtherCAT slave {slave}: FoE read of {name!r} returned nothing "
                          "(no such file, wrong password or no answer)")
    return bytes(data)
