"""CiA 306 EDS generation from the object dictionary table (:mod:`cerebellum_rt.drivers.od`).

The output loads in python ``canopen`` (``canopen.import_od``) and follows CiA 306 v1.3 as
CANOPEN.md §5 describes it: ``[FileInfo]``, ``[DeviceInfo]`` (every number filled),
``[DummyUsage]`` (all seven keys), object lists, one section per object and per sub-index
(sub-index in hex), numbers as ``0x..`` or plain decimal (signed values as negative decimal),
node-relative defaults as ``$NODEID+0x...``. The text is ASCII (units transliterated) and
deterministic: the same table always gives the same bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from cerebellum_rt.drivers.od import DTYPES, KINDS, Entry, Obj, Table

_ASCII = {"·": ".", "°": "deg", "‰": "permille", "µ": "u", "²": "^2", "—": "-", "–": "-", "→": "->"}
_DATE = "01-01-2026"  # fixed: the file must not change between identical builds


def ascii_text(text: str) -> str:
    """``text`` as ASCII (units transliterated; ';' would start an INI comment)."""
    for k, v in _ASCII.items():
        text = text.replace(k, v)
    text = text.replace(";", ",").replace("\n", " ")
    return text.encode("ascii", "replace").decode("ascii")


def _num(e: Entry, v: int | float) -> str:
    if e.dtype == "REAL32":
        return repr(float(v))
    v = int(v)
    if v < 0:
        return str(v)
    return f"0x{v:X}" if e.dtype.startswith("UNSIGNED") else str(v)


def _entry_lines(e: Entry) -> list[str]:
    code = DTYPES[e.dtype][0]
    lines = [
        f"ParameterName={ascii_text(e.name)}",
        "ObjectType=0x7",
        f"DataType=0x{code:04X}",
        f"AccessType={e.access}",
    ]
    if e.relative:
        lines.append(f"DefaultValue=$NODEID+0x{int(e.default):X}")
    elif e.dtype in ("VISIBLE_STRING",):
        lines.append(f"DefaultValue={ascii_text(str(e.default))}")
    elif e.dtype in ("OCTET_STRING", "DOMAIN"):
        lines.append(f"DefaultValue={bytes(e.default).hex()}")  # type: ignore[arg-type]
    else:
        lines.append(f"DefaultValue={_num(e, e.default)}")  # type: ignore[arg-type]
    lines.append(f"PDOMapping={int(e.pdo_mappable)}")
    if e.is_numeric and e.dtype != "REAL32":
        if e.low is not None:
            lines.append(f"LowLimit={_num(e, e.low)}")
        if e.high is not None:
            lines.append(f"HighLimit={_num(e, e.high)}")
    if e.unit:
        lines.append(f"Unit={ascii_text(e.unit)}")
    if e.description:
        lines.append(f"Description={ascii_text(e.description)}")
    return lines


def _object_sections(o: Obj) -> list[str]:
    out = [f"[{o.index:04X}]"]
    if o.kind == "VAR":
        e = o.entries[0]
        out += _entry_lines(e)
        out[1] = f"ParameterName={ascii_text(o.name)}"
        return [*out, ""]
    out += [f"ParameterName={ascii_text(o.name)}", f"ObjectType=0x{KINDS[o.kind]:X}", f"SubNumber=0x{len(o.entries):X}", ""]
    for e in o.entries:
        out.append(f"[{o.index:04X}sub{e.subindex:X}]")
        out += [*_entry_lines(e), ""]
    return out


def eds_text(table: Table) -> str:
    """The EDS of ``table`` as a string (see module doc)."""
    ident = table.objects[0x1018]
    product = int(ident.sub(2).default)
    revision = int(ident.sub(3).default)
    name = str(table.objects[0x1008].entries[0].default)
    nr_rx = sum(1 for i in table.objects if 0x1400 <= i <= 0x15FF)
    nr_tx = sum(1 for i in table.objects if 0x1800 <= i <= 0x19FF)
    mandatory = [i for i in (0x1000, 0x1001, 0x1018) if i in table.objects]
    manufacturer = [i for i in table.objects if 0x2000 <= i <= 0x5FFF]
    optional = [i for i in table.objects if i not in mandatory and i not in manufacturer]
    fname = f"cerebellum_{table.board}{'_fd' if table.fd else ''}.eds"
    lines = [
        "[FileInfo]",
        f"FileName={fname}",
        "FileVersion=1",
        "FileRevision=0",
        "EDSVersion=4.0",
        f"Description={ascii_text(name)}{' (CANopen FD: 64-byte PDOs)' if table.fd else ''}",
        "CreationTime=12:00PM",
        f"CreationDate={_DATE}",
        "CreatedBy=cerebellum cbl eds",
        "ModificationTime=12:00PM",
        f"ModificationDate={_DATE}",
        "ModifiedBy=cerebellum cbl eds",
        "",
        "[DeviceInfo]",
        "VendorName=cerebellum project",
        f"VendorNumber=0x{int(ident.sub(1).default):X}",
        f"ProductName={ascii_text(name)}",
        f"ProductNumber=0x{product:X}",
        f"RevisionNumber=0x{revision:X}",
        f"OrderCode={table.board}",
        *[f"BaudRate_{b}={int(b in (125, 250, 500, 1000))}" for b in (10, 20, 50, 125, 250, 500, 800, 1000)],
        "SimpleBootUpMaster=0",
        "SimpleBootUpSlave=1",
        "Granularity=8",
        "DynamicChannelsSupported=0",
        "CompactPDO=0",
        "GroupMessaging=0",
        f"NrOfRXPDO={nr_rx}",
        f"NrOfTXPDO={nr_tx}",
        "LSS_Supported=0",
        "",
        "[DummyUsage]",
        *[f"Dummy000{k}={int(k >= 2)}" for k in range(1, 8)],
        "",
        "[Comments]",
        "Lines=2",
        f"Line1=Generated from drivers/od.py ({table.board} board). Units: positions 2**20 counts/rev,",
        "Line2=torques per mille of 0x6076, current per mille of 0x6075, 0x2001 mN.m, 0x2002 0.1 degC.",
        "",
    ]
    for title, idxs in (("MandatoryObjects", mandatory), ("OptionalObjects", optional),
                        ("ManufacturerObjects", manufacturer)):
        lines += [f"[{title}]", f"SupportedObjects={len(idxs)}"]
        lines += [f"{k}=0x{i:04X}" for k, i in enumerate(idxs, 1)]
        lines.append("")
    for i in mandatory + optional + manufacturer:
        lines += _object_sections(table.objects[i])
    return "\n".join(lines)


def write_eds(table: Table, path: str | os.PathLike) -> Path:
    """Write the EDS of ``table`` to ``path`` (which must end in .eds for python canopen)."""
    p = Path(path)
    p.write_text(eds_text(table), encoding="ascii")
    return p
