"""A veth pair whose far end lives in its own network namespace (needs root and iproute2).

``with VethLine() as v:``: ``v.host_if`` is the interface for the master (root namespace),
``v.emu_if`` the emulator's end inside netns ``v.netns``; :meth:`VethLine.socket` opens the
emulator's raw EtherCAT socket inside that namespace. Names are unique per process and call;
:meth:`close` deletes the pair and the namespace (idempotent, also after a failed start).
"""

from __future__ import annotations

import ctypes
import itertools
import os
import socket
import subprocess
import threading

from cerebellum_rt.rtcore.errors import DeviceError

CLONE_NEWNET = 0x40000000
ETH_P_ECAT = 0x88A4
_seq = itertools.count()


def _ip(*args: str, check: bool = True) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and r.returncode:
        raise DeviceError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")


class VethLine:
    """See module doc."""

    def __init__(self, prefix: str = "ec") -> None:
        tag = f"{prefix}{os.getpid() % 100000}x{next(_seq)}"
        self.netns, self.host_if, self.emu_if = f"cbl-{tag}", f"{tag}m", f"{tag}s"
        if len(self.host_if) > 15:
            raise DeviceError(f"interface name {self.host_if!r} is longer than 15 characters")
        self._up = False
        try:
            _ip("netns", "add", self.netns)
            self._up = True
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.emu_if, "netns", self.netns)
            _ip("link", "set", self.host_if, "up")
            _ip("-n", self.netns, "link", "set", self.emu_if, "up")
            _ip("-n", self.netns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def socket(self) -> socket.socket:
        """A raw socket bound to the emulator's end, created inside the namespace."""
        box: dict[str, object] = {}

        def make() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = os.open(f"/var/run/netns/{self.netns}", os.O_RDONLY)
                try:
                    if libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ECAT))
                s.bind((self.emu_if, ETH_P_ECAT))
                box["sock"] = s
            except OSError as exc:
                box["error"] = exc

        t = threading.Thread(target=make)  # setns changes only this short-lived thread's namespace
        t.start()
        t.join()
        if "error" in box:
            raise DeviceError(f"netns {self.netns}: cannot open a raw socket on {self.emu_if}: {box['error']}")
        return box["sock"]  # type: ignore[return-value]

    def close(self) -> None:
        if not self._up:
            return
        self._up = False
        _ip("link", "del", self.host_if, check=False)
        _ip("netns", "del", self.netns, check=False)

    def __enter__(self) -> VethLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
