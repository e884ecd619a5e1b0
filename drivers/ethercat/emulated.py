"""An emulated EtherCAT line for tests, benchmarks and ``cbl emulate --ethercat``.

``with EmulatedLine(["joint:knee", "joint", "hand"]) as line:`` creates a veth pair whose far
end sits in a fresh network namespace, starts the ESC emulator process there
(:mod:`cerebellum_rt.drivers.ethercat.esc.serve`) and waits until it serves; ``line.iface`` is
the interface a master opens. :meth:`status`, :meth:`reach` and :meth:`mangle` talk to the
emulator over its control pipe. :meth:`close` stops the process and removes the pair and the
namespace. ``workers``: processes running the slaves' applications (0: one per CPU, -1: inside
the ESC process); ``state_dir``: where each slave keeps its saved parameters and its image slots
(``STATE_DIR/ethercat/slave<N>.json`` and ``.slots``; None: memory only); ``image_key``: the
Ed25519 public key (PEM file) the slaves' bootloader trusts for images written over FoE (None:
every image is refused); ``slot_size``: bytes of each slave's image slots (None: the firmware
layout's); ``engine``: the emulator's datagram engine ("c": compiled, "python": the
specification); ``engine_priority``: the SCHED_FIFO priority of the emulator's frame
engine (0: none). :meth:`cut` is a fault: the line goes dead after a number of frames. Needs root
and iproute2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

from cerebellum_rt.drivers.ethercat.netns import VethLine
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

ENGINE_PRIORITY = 60  # SCHED_FIFO of the emulator's frame engine (below a 1 kHz loop's usual 80)
START_TIMEOUT_S = 600.0  # the first start compiles the boards (numba): minutes on a loaded host


def slave_specs(slaves: list[str] | int) -> list[str]:
    if isinstance(slaves, int):
        slaves = ["joint"] * slaves
    if not 1 <= len(slaves) <= 64:
        raise ConfigError(f"EtherCAT line: {len(slaves)} slaves is out of range [1, 64]")
    for s in slaves:
        if s.partition(":")[0] not in ("joint", "hand"):
            raise ConfigError(f"EtherCAT slave {s!r}: board type is not one of 'joint', 'hand'")
    return list(slaves)


def check_slot_size(slot_size: int | None) -> None:
    """An emulated slave's image slot size: a positive multiple of the flash sector (None: default)."""
    from cerebellum_rt.drivers.board.slots import SECTOR

    if slot_size is not None and (slot_size <= 0 or slot_size % SECTOR or slot_size > 1 << 24):
        raise ConfigError(f"EtherCAT slave image slot size {slot_size} bytes: not a multiple of the {SECTOR}-byte "
                          f"sector in [{SECTOR}, {1 << 24}]")


class EmulatedLine:
    """See module doc."""

    def __init__(self, slaves: list[str] | int, watchdog_ms: float = 100.0, workers: int = 0,
                 state_dir: str | os.PathLike | None = None, engine_priority: int = ENGINE_PRIORITY,
                 image_key: str | os.PathLike | None = None, engine: str = "c", slot_size: int | None = None) -> None:
        check_slot_size(slot_size)
        self.slaves = slave_specs(slaves)
        self._proc: subprocess.Popen | None = None
        self._veth = VethLine()
        self.iface = self._veth.host_if
        try:
            cmd = ["ip", "netns", "exec", self._veth.netns, sys.executable, "-m",
                   "cerebellum_rt.drivers.ethercat.esc.serve", "--iface", self._veth.emu_if,
                   "--slaves", ",".join(self.slaves), "--watchdog-ms", str(watchdog_ms),
                   "--workers", str(workers), "--engine-priority", str(engine_priority), "--engine", engine]
            if state_dir is not None:
                cmd += ["--state-dir", str(state_dir)]
            if image_key is not None:
                cmd += ["--image-key", os.path.abspath(image_key)]
            if slot_size is not None:
                cmd += ["--slot-size", str(slot_size)]
            # own session: Ctrl-C goes to the tool, which stops the emulator (its stdin closing does too)
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                          start_new_session=True)
            self.ready = self._line(START_TIMEOUT_S)
            if not self.ready.get("ready"):
                raise DeviceError(f"ESC emulator on {self.iface}: did not start ({self.ready})")
        except BaseException:
            self.close()
            raise

    def _line(self, timeout_s: float) -> dict[str, Any]:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        box: dict[str, str] = {}
        t = threading.Thread(target=lambda: box.setdefault("line", proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout_s)
        line = box.get("line", "")
        if not line:
            raise DeviceError(f"ESC emulator on {self.iface}: no answer within {timeout_s:.0f} s (exit code {proc.poll()})")
        return json.loads(line)

    def command(self, **cmd: Any) -> dict[str, Any]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            raise DeviceError(f"ESC emulator on {self.iface} is not running")
        proc.stdin.write(json.dumps(cmd) + "\n")
        proc.stdin.flush()
        return self._line(10.0)

    def status(self) -> dict[str, Any]:
        return self.command(cmd="status")

    def reach(self, n: int) -> None:
        self.command(cmd="reach", n=n)

    def cut(self, after: int, seconds: float | None = None) -> None:
        """Fault: the line goes dead (no frame answered) after ``after`` more frames, for ``seconds``
        (None: until ``cut(-1)``, which mends it)."""
        self.command(cmd="cut", after=after, seconds=seconds)

    def mangle(self, mode: str, p: float = 1.0, seed: int = 0) -> None:
        self.command(cmd="mangle", mode=mode, p=p, seed=seed)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                if proc.poll() is None and proc.stdin is not None:
                    proc.stdin.write('{"cmd": "quit"}\n')
                    proc.stdin.flush()
                proc.wait(5.0)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        self._veth.close()

    def __enter__(self) -> EmulatedLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
