"""Open a python-can bus from a config string, with one-line errors naming what is wrong.

Interface names are python-can's (``virtual``, ``slcan``, ``socketcan``, ...) plus this
project's ``emulated`` (an in-process bus with the timing model of
:mod:`cerebellum_rt.drivers.can.timing`, see :mod:`cerebellum_rt.drivers.can.emulated`). Hardware libraries stay
python-can's optional extras: a backend that fails to import only fails when it is asked for.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

if TYPE_CHECKING:
    import can

#: project backends: name -> (module, class), imported lazily (STYLE.md 2)
PROJECT_BACKENDS: dict[str, tuple[str, str]] = {
    "emulated": ("cerebellum_rt.drivers.can.emulated", "EmulatedBus"),
}

CLASSIC_BITRATES = (10_000, 20_000, 50_000, 83_300, 100_000, 125_000, 250_000, 500_000, 750_000, 1_000_000)


def add_bus_arguments(p: Any, default_interface: str = "slcan", channel_required: bool = True) -> None:
    """The CAN transport's own CLI flags (STYLE.md 14): -i/--interface, -c/--channel, -b/--bitrate,
    --fd, --data-bitrate. A verb calls this, then :func:`bus_from_args`."""
    p.add_argument("-i", "--interface", default=default_interface,
                   help="python-can interface (slcan, socketcan, virtual, emulated, ...)")
    p.add_argument("-c", "--channel", required=channel_required, help="/dev/pts/N for slcan, can0 for socketcan")
    p.add_argument("-b", "--bitrate", type=int, default=1_000_000, help="nominal bit rate, bit/s")
    p.add_argument("--fd", action="store_true", help="CAN-FD frames")
    p.add_argument("--data-bitrate", type=int, default=None, help="CAN-FD data-phase bit rate, bit/s")


def bus_from_args(args: Any) -> can.BusABC:
    """open_bus() from the flags of :func:`add_bus_arguments`."""
    return open_bus(args.interface, args.channel, bitrate=args.bitrate, fd=args.fd, data_bitrate=args.data_bitrate)


def valid_interfaces() -> list[str]:
    """Every interface name open_bus accepts."""
    import can
    return sorted(set(can.interfaces.VALID_INTERFACES) | set(PROJECT_BACKENDS))


SLCAN_BITRATE_CODES = {10_000: b"S0", 20_000: b"S1", 50_000: b"S2", 100_000: b"S3", 125_000: b"S4",
                       250_000: b"S5", 500_000: b"S6", 750_000: b"S7", 1_000_000: b"S8", 83_300: b"S9"}


def _check_slcan_bitrate(bus: Any, channel: Any, bitrate: int, timeout_s: float = 0.5) -> None:
    """Ask the SLCAN adapter for ``bitrate`` again and read its answers (python-can does not):
    close, set the rate, open; a BEL (0x07) to the rate command means the adapter (or the
    emulator, which knows its bus's rate) refuses it: DeviceError. An adapter that answers
    nothing cannot be checked and is taken as is."""
    import select
    import time

    code = SLCAN_BITRATE_CODES.get(bitrate)
    ser = getattr(bus, "serialPortOrig", None)
    if code is None or ser is None:
        return
    fd = ser.fileno()
    ser.write(b"C\r" + code + b"\r" + b"O\r")
    ser.flush()
    answers: list[int] = []
    line = bytearray()
    deadline = time.monotonic() + timeout_s
    while len(answers) < 3:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return  # no (complete) answer: nothing to judge
        for byte in ser.read(ser.in_waiting or 1):
            if byte in (0x0D, 0x07):
                if not line or line[:1] not in b"tTrRdDbB":  # a frame line is traffic, not an answer
                    answers.append(byte)
                line.clear()
            else:
                line.append(byte)
    if answers[1] == 0x07:
        bus.shutdown()
        raise DeviceError(f"CAN interface 'slcan' channel '{channel}': the adapter refused bitrate {bitrate} bit/s "
                          "(the bus runs at another rate)")


def open_bus(
    interface: str,
    channel: str | int | None,
    bitrate: int = 1_000_000,
    fd: bool = False,
    data_bitrate: int | None = None,
    **kwargs: Any,
) -> can.BusABC:
    """Open one bus; raise ConfigError (bad name/option) or DeviceError (unreachable channel)."""
    import can
    names = valid_interfaces()
    if interface not in names:
        raise ConfigError(f"CAN interface '{interface}' is unknown; valid interfaces: {', '.join(names)}")
    if bitrate not in CLASSIC_BITRATES:
        raise ConfigError(f"CAN bitrate {bitrate} bit/s is not one of {', '.join(map(str, CLASSIC_BITRATES))}")
    if fd and data_bitrate is not None and not (bitrate <= data_bitrate <= 8_000_000):
        raise ConfigError(f"CAN-FD data bitrate {data_bitrate} bit/s is out of range [{bitrate}, 8000000]")
    if channel in (None, "") and interface not in ("virtual", "emulated"):
        raise ConfigError(f"CAN interface '{interface}' needs a channel (e.g. -c /dev/pts/3 or -c can0)")
    if interface in PROJECT_BACKENDS:
        import importlib

        module, cls_name = PROJECT_BACKENDS[interface]
        cls = getattr(importlib.import_module(module), cls_name)
        return cls(channel=channel or "default", bitrate=bitrate, fd=fd, data_bitrate=data_bitrate, **kwargs)
    opts: dict[str, Any] = dict(kwargs)
    if interface == "slcan":
        opts.setdefault("sleep_after_open", 0)
        opts["bitrate"] = bitrate  # CAN-FD frames need no extra option: 'd'/'b' lines
    elif interface == "virtual":
        opts.setdefault("receive_own_messages", False)
    else:
        opts["bitrate"] = bitrate
        if fd:
            opts["fd"] = True
            if data_bitrate:
                opts["data_bitrate"] = data_bitrate
    try:
        bus = can.Bus(interface=interface, channel=channel, **opts)
        if interface == "slcan":
            _check_slcan_bitrate(bus, channel, bitrate)
        return bus
    except ImportError as exc:
        raise DeviceError(f"CAN interface '{interface}' needs the Python package '{exc.name}' (pip install it)") from exc
    except (can.CanError, OSError, ValueError) as exc:
        cause = exc.__cause__ or exc.__context__ or exc
        detail = str(cause) or type(cause).__name__
        if isinstance(cause, OSError) and cause.errno == errno.EAFNOSUPPORT:
            detail = "this host has no SocketCAN (socket(AF_CAN) -> EAFNOSUPPORT); use slcan or virtual"
        raise DeviceError(f"CAN interface '{interface}' channel '{channel}' is unreachable: {detail}") from exc
