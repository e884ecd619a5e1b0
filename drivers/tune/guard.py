"""DriveGuard: whatever ends a host program, the drives it enabled end stopped and disabled.

A context manager around any code that enables CiA 402 drives over a :class:`CanTransport`
(``cbl tune``'s experiments; ``cbl demo`` and HIL scenarios can use it the same way)::

    with DriveGuard(transport, tx, rx) as guard:
        guard.enabling(node)          # before the first controlword that leaves switch-on-disabled
        ... the 1 kHz loop (transport.cycle(tx, rx)) ...

On leaving the block (normally, by an exception, by Ctrl-C or SIGTERM, or with a lost bus) every
node marked by :meth:`enabling` is brought to a controlled stop and disabled:

1. controlword QUICK STOP (0x0002) in the node's RPDO row, exchanged every tick, until the
   drive reports SWITCH ON DISABLED (quick-stop option 0x605A 1-4: ramp to standstill, then
   disable) or ``stop_ticks`` ticks passed; then DISABLE VOLTAGE (0x0000) for a few ticks;
2. if process data no longer flows (``lost_after`` ticks in a row without a reply), the same
   controlwords by SDO;
3. NMT "enter pre-operational" to the node (process data off; SDO still answers).

:meth:`report` says what happened per node.

Signals (main thread only): while the block runs, Ctrl-C (SIGINT) and ``kill`` (SIGTERM) do not
raise where they land: the guard turns them into a stop request on the transport
(:meth:`Transport.request_stop`), which the next ``transport.cycle`` raises as
``KeyboardInterrupt`` at the tick boundary. Raised asynchronously, the interrupt could land
inside a bus library's critical section (a ``queue.Queue`` lock of python-can's virtual bus, a
serial port's write lock) and leave that lock held: the stop's own frames would then wait on it
forever. A second signal while the first request is still pending (the loop is not cycling)
raises at once, like pressing Ctrl-C twice. Signals during the stop itself are ignored: the stop
always completes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any

import numpy as np

from cerebellum_rt.drivers.cia402 import CW_DISABLE_VOLTAGE, CW_QUICK_STOP, decode_state

STOP_TICKS = 3000  # 3 s at 1 kHz: quick-stop ramps of the presets end well within
LOST_AFTER = 20
SILENT_TIMEOUT_S = 0.1  # per-tick wait for replies during the stop (a board answers within a period)


class DriveGuard:
    """See module doc. ``tx``/``rx``: the transport's rows used by the loop (the guard keeps the
    other fields of the row as they are: targets stay, only the controlword changes)."""

    def __init__(self, transport: Any, tx: np.ndarray, rx: np.ndarray, *, stop_ticks: int = STOP_TICKS,
                 lost_after: int = LOST_AFTER) -> None:
        self.transport = transport
        self.tx, self.rx = tx, rx
        self.stop_ticks, self.lost_after = stop_ticks, lost_after
        self.enabled: set[int] = set()
        self.outcome: dict[int, str] = {}
        self._old_handlers: dict[int, Any] = {}
        self._stopping = False

    def enabling(self, node: int) -> None:
        """Mark ``node`` as enabled by this host (call before sending it an enabling controlword)."""
        self.enabled.add(int(node))

    def released(self, node: int) -> None:
        """``node`` was disabled by the program itself (confirmed SWITCH ON DISABLED)."""
        self.enabled.discard(int(node))

    def __enter__(self) -> DriveGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._old_handlers[signum] = signal.signal(signum, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stopping:
            return  # the stop is running; it completes whatever arrives
        name = signal.Signals(signum).name
        if self.transport.stop_requested:  # asked before and the loop has not cycled since: now
            self.transport.clear_stop_request()
            raise KeyboardInterrupt(name)
        self.transport.request_stop(KeyboardInterrupt(name))

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self._stopping = True
        try:
            self.transport.clear_stop_request()  # a request that came after the last tick
            self.stop_all()
        finally:
            for signum, old in self._old_handlers.items():
                signal.signal(signum, old)
            self._old_handlers.clear()
            self._stopping = False

    # ------------------------------------------------------------------ the stop
    def _row(self, node: int) -> int:
        return self.transport.nodes.index(node)

    def stop_all(self) -> dict[int, str]:
        """Quick stop, disable, NMT pre-operational for every enabled node; returns the outcome."""
        if not self.enabled:
            return self.outcome
        nodes = sorted(self.enabled)
        lost = self._stop_by_pdo(nodes)
        for n in nodes:
            state = decode_state(int(self.rx[self._row(n)]["statusword"]))
            if lost or state != "switch_on_disabled":
                state = self._stop_by_sdo(n)
            self._nmt_preop(n)
            self.outcome[n] = state
            self.enabled.discard(n)
        with contextlib.suppress(Exception):
            self.transport.end_cycling()
        return self.outcome

    def _stop_by_pdo(self, nodes: list[int]) -> bool:
        rows = [self._row(n) for n in nodes]
        tx, rx, t = self.tx, self.rx, self.transport
        silent, disabled_ticks = 0, 0
        keep = t.timeout_s
        t.timeout_s = min(keep, SILENT_TIMEOUT_S)  # a silent bus is found within lost_after * this
        try:
            return self._stop_ticks(rows, tx, rx, t, silent, disabled_ticks)
        finally:
            t.timeout_s = keep

    def _stop_ticks(self, rows: list[int], tx: np.ndarray, rx: np.ndarray, t: Any, silent: int,
                    disabled_ticks: int) -> bool:
        for _ in range(self.stop_ticks):
            done = all(decode_state(int(rx[r]["statusword"])) == "switch_on_disabled" for r in rows)
            for r in rows:
                tx[r]["controlword"] = CW_DISABLE_VOLTAGE if done else CW_QUICK_STOP
            rx_before = t.stats.frames_rx
            try:
                missing = t.cycle(tx, rx)
            except Exception:
                return True  # the bus is gone: SDO (if anything answers) and NMT
            silent = silent + 1 if missing >= t.expected and t.stats.frames_rx == rx_before else 0
            if silent >= self.lost_after:
                return True
            if done:
                disabled_ticks += 1
                if disabled_ticks >= 3:
                    return False
        return False

    def _stop_by_sdo(self, node: int) -> str:
        t = self.transport
        with contextlib.suppress(Exception):
            t.end_cycling()
        state = "unknown (no reply)"
        for cw in (CW_QUICK_STOP, CW_DISABLE_VOLTAGE):
            with contextlib.suppress(Exception):
                t.node(node).sdo.download(0x6040, 0, int(cw).to_bytes(2, "little"))
        with contextlib.suppress(Exception):
            raw = t.node(node).sdo.upload(0x6041, 0)
            state = decode_state(int.from_bytes(raw[:2], "little"))
        return state

    def _nmt_preop(self, node: int) -> None:
        with contextlib.suppress(Exception):
            self.transport.node(node).nmt.send_command(0x80)

    def report(self) -> str:
        return ", ".join(f"node {n}: {s}" for n, s in sorted(self.outcome.items())) or "no drive was enabled"
