"""The ETG.2000 ESI XML of a board type, from the same layout (and SII image) as the emulator.

Vendor Id, ProductCode and RevisionNo equal 0x1018 and SII words 0x08-0x0D; the dictionary lists
every object of the table plus the EtherCAT communication objects the slave serves over CoE
(0x1C00, 0x1C12, 0x1C13); ``<Eeprom><ConfigData>`` is SII words 0-7 and ``<BootStrap>`` words 0x14-0x17.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from cerebellum_rt.drivers.ethercat.layout import SlaveLayout
from cerebellum_rt.drivers.ethercat.sii import sii_image
from cerebellum_rt.drivers.od import VENDOR_NAME

ESI_TYPES = {"BOOLEAN": "BOOL", "INTEGER8": "SINT", "INTEGER16": "INT", "INTEGER32": "DINT", "UNSIGNED8": "USINT",
             "UNSIGNED16": "UINT", "UNSIGNED32": "UDINT", "REAL32": "REAL"}


def _hex(v: int) -> str:
    return f"#x{v:04X}" if v <= 0xFFFF else f"#x{v:08X}"


def _esi_type(dtype: str, default: object) -> tuple[str, int]:
    if dtype in ESI_TYPES:
        bits = {"BOOL": 8, "SINT": 8, "USINT": 8, "INT": 16, "UINT": 16}.get(ESI_TYPES[dtype], 32)
        return ESI_TYPES[dtype], bits
    n = max(1, len(str(default).encode()) if dtype == "VISIBLE_STRING" else len(bytes(default or b"")))  # type: ignore[arg-type]
    return (f"STRING({n})" if dtype == "VISIBLE_STRING" else f"OCTET_STRING({n})"), 8 * n


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def _ec_objects(layout: SlaveLayout) -> list[tuple[int, str, list[tuple[int, str, int]]]]:
    """EtherCAT communication objects: (index, name, [(subindex, name, value u8/u16)])."""
    return [
        (0x1C00, "Sync manager type", [(1, "SM0", 1), (2, "SM1", 2), (3, "SM2", 3), (4, "SM3", 4)]),
        (0x1C12, "RxPDO assign", [(k + 1, f"PDO {k + 1}", p.index) for k, p in enumerate(layout.rx)]),
        (0x1C13, "TxPDO assign", [(k + 1, f"PDO {k + 1}", p.index) for k, p in enumerate(layout.tx)]),
    ]


def _dictionary(profile: ET.Element, layout: SlaveLayout) -> None:
    d = _sub(profile, "Dictionary")
    dtypes = _sub(d, "DataTypes")
    objs = _sub(d, "Objects")
    seen: set[str] = set()

    def base(name: str, bits: int) -> None:
        if name not in seen:
            seen.add(name)
            dt = _sub(dtypes, "DataType")
            _sub(dt, "Name", name)
            _sub(dt, "BitSize", str(bits))

    for obj in layout.table.objects.values():
        o = _sub(objs, "Object")
        _sub(o, "Index", _hex(obj.index))
        _sub(o, "Name", obj.name)
        if obj.kind == "VAR" and len(obj.entries) == 1:
            e = obj.entries[0]
            t, bits = _esi_type(e.dtype, e.default)
            base(t, bits)
            _sub(o, "Type", t)
            _sub(o, "BitSize", str(bits))
            flags = _sub(o, "Flags")
            _sub(flags, "Access", "ro" if e.access in ("ro", "const") else e.access)
            if e.pdo_mappable:
                _sub(flags, "PdoMapping", "R" if e.access in ("rw", "wo") else "T")
            continue
        tname = f"DT{obj.index:04X}"
        dt = _sub(dtypes, "DataType")
        _sub(dt, "Name", tname)
        off = 0
        for e in obj.entries:
            t, bits = _esi_type(e.dtype, e.default)
            base(t, bits)
            si = _sub(dt, "SubItem")
            _sub(si, "SubIdx", str(e.subindex))
            _sub(si, "Name", e.name)
            _sub(si, "Type", t)
            _sub(si, "BitSize", str(bits))
            _sub(si, "BitOffs", str(off))
            _sub(_sub(si, "Flags"), "Access", "ro" if e.access in ("ro", "const") else e.access)
            off += 16 if e.subindex == 0 and bits == 8 else bits
        _sub(dt, "BitSize", str(off))
        _sub(o, "Type", tname)
        _sub(o, "BitSize", str(off))
    base("USINT", 8)
    base("UINT", 16)
    for index, name, subs in _ec_objects(layout):
        tname = f"DT{index:04X}"
        dt = _sub(dtypes, "DataType")
        _sub(dt, "Name", tname)
        items = [(0, "Number of entries", len(subs), "USINT", 8), *[(k, n, v, "USINT" if index == 0x1C00 else "UINT",
                                                                     8 if index == 0x1C00 else 16) for k, n, v in subs]]
        off = 0
        for k, n, _v, t, bits in items:
            si = _sub(dt, "SubItem")
            for tag, text in (("SubIdx", str(k)), ("Name", n), ("Type", t), ("BitSize", str(bits)), ("BitOffs", str(off))):
                _sub(si, tag, text)
            _sub(_sub(si, "Flags"), "Access", "ro")
            off += 16 if k == 0 else bits
        _sub(dt, "BitSize", str(off))
        o = _sub(objs, "Object")
        _sub(o, "Index", _hex(index))
        _sub(o, "Name", name)
        _sub(o, "Type", tname)
        _sub(o, "BitSize", str(off))
        info = _sub(o, "Info")
        for _k, n, v, _t, bits in items:
            sub_el = _sub(info, "SubItem")
            _sub(sub_el, "Name", n)
            _sub(_sub(sub_el, "Info"), "DefaultData", v.to_bytes(bits // 8, "little").hex().upper())


def esi_xml(layout: SlaveLayout) -> str:
    """The ESI document of ``layout`` as text."""
    root = ET.Element("EtherCATInfo", {"Version": "1.6"})
    vendor = _sub(root, "Vendor")
    _sub(vendor, "Id", _hex(layout.vendor_id))
    _sub(vendor, "Name", VENDOR_NAME)
    desc = _sub(root, "Descriptions")
    group = _sub(_sub(desc, "Groups"), "Group")
    _sub(group, "Type", "cerebellum")
    _sub(group, "Name", "cerebellum actuator boards", LcId="1033")
    dev = _sub(_sub(desc, "Devices"), "Device", Physics="YY")
    _sub(dev, "Type", f"cerebellum-{layout.board}", ProductCode=_hex(layout.product_code),
         RevisionNo=_hex(layout.revision))
    _sub(dev, "Name", layout.name, LcId="1033")
    _sub(dev, "GroupType", "cerebellum")
    profile = _sub(dev, "Profile")
    _sub(profile, "ProfileNo", "402")
    _sub(profile, "AddInfo", "2")
    _dictionary(profile, layout)
    for f in ("Outputs", "Inputs", "MBoxState"):
        _sub(dev, "Fmmu", f)
    for (start, length, ctrl, _kind), text in zip(layout.sync_managers(), ("MBoxOut", "MBoxIn", "Outputs", "Inputs")):
        _sub(dev, "Sm", text, StartAddress=_hex(start), ControlByte=f"#x{ctrl:02X}", DefaultSize=str(length),
             Enable="1" if length else "0")
    for tag, sm, pdos in (("RxPdo", "2", layout.rx), ("TxPdo", "3", layout.tx)):
        for pdo in pdos:
            p = _sub(dev, tag, Sm=sm, Fixed="1", Mandatory="1")
            _sub(p, "Index", _hex(pdo.index))
            _sub(p, "Name", pdo.name)
            for e in pdo.entries:
                en = _sub(p, "Entry")
                _sub(en, "Index", _hex(e.index))
                _sub(en, "SubIndex", str(e.subindex))
                _sub(en, "BitLen", str(e.bits))
                _sub(en, "Name", e.name)
                _sub(en, "DataType", ESI_TYPES[e.dtype])
    mbx = _sub(dev, "Mailbox", DataLinkLayer="true")
    _sub(mbx, "CoE", SdoInfo="false", PdoAssign="false", PdoConfig="false", CompleteAccess="true")
    _sub(mbx, "FoE")  # the firmware image, in BOOT
    dc = _sub(dev, "Dc")
    for name, desc_, assign in (("FreeRun", "SM-synchronous, no DC", "#x0000"),
                                ("DC", "DC-synchronous: the law steps at each SYNC0 event", "#x0300")):
        om = _sub(dc, "OpMode")
        _sub(om, "Name", name)
        _sub(om, "Desc", desc_)
        _sub(om, "AssignActivate", assign)
        if assign != "#x0000":
            _sub(om, "CycleTimeSync0", "0", Factor="1")
    image = sii_image(layout)
    ee = _sub(dev, "Eeprom")
    _sub(ee, "ByteSize", str(len(image)))
    _sub(ee, "ConfigData", image[:16].hex().upper())
    _sub(ee, "BootStrap", image[0x28:0x30].hex().upper())
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
