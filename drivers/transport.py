"""The small transport base every bus backend derives from (CAN, CAN-FD, EtherCAT).

A backend implements four things (STYLE.md 1, 3):

* ``cycle(tx, rx) -> int``: the hot path, ONE batched exchange per bus per tick. ``tx`` and
  ``rx`` are numpy structured arrays (one row per device) owned by the caller; the backend
  packs ``tx`` into frames, sends them, waits for the replies and unpacks them into ``rx`` in
  place. It never raises for a missing reply inside the tick: it returns a status code,
  ``0`` = every expected reply arrived, ``> 0`` = that many replies are missing.
* ``send(msg)`` / ``recv(timeout_s)``: the slow path (configuration, flashing, tuning), one
  message at a time, in whatever message type the bus family uses (``can.Message`` on CAN).
* ``_close()``: release the hardware. The public :meth:`Transport.close` is idempotent and the
  transport is a context manager, so ``with CanTransport(...) as t:`` always cleans up.

Errors at the edges (opening a bus, an absent device at start-up) are raised from the
``cerebellum_rt.rtcore.errors`` hierarchy; inside ``cycle`` only status codes and :class:`TransportStats`
counters change. The one exception ``cycle`` raises is a stop request (:meth:`request_stop`,
e.g. Ctrl-C turned into a request by :class:`~cerebellum_rt.drivers.tune.guard.DriveGuard`): it
is raised at the start of the next ``cycle``, a tick boundary where no lock of the bus stack is
held, never from inside a library's critical section.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from cerebellum_rt.rtcore.errors import DeviceError


@dataclass
class TransportStats:
    """Counters kept by a transport (plain ints; updating them allocates nothing).

    cycles: calls of ``cycle``; frames_tx / frames_rx: frames sent / received by ``cycle``;
    missed: expected replies that did not arrive before the tick's timeout (summed over ticks);
    late: replies that arrived after their tick's timeout (seen at the start of a later tick);
    other: frames received inside ``cycle`` that are not process data (handed to the slow path);
    bad: process-data frames with a wrong length (dropped).
    """

    cycles: int = 0
    frames_tx: int = 0
    frames_rx: int = 0
    missed: int = 0
    late: int = 0
    other: int = 0
    bad: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


class Transport(ABC):
    """Base of all bus transports: ``cycle`` (hot path), ``send``/``recv`` (slow path), ``close``."""

    def __init__(self) -> None:
        self._closed = False
        self.stats = TransportStats()
        self._stop_request: BaseException | None = None

    # -- stop requests (signals) at the tick boundary ---------------------------------------
    def request_stop(self, exc: BaseException) -> None:
        """Make the next :meth:`cycle` raise ``exc`` before it sends anything (signal-safe: one store)."""
        self._stop_request = exc

    def clear_stop_request(self) -> BaseException | None:
        """Withdraw a pending stop request; returns it (None when there was none)."""
        exc, self._stop_request = self._stop_request, None
        return exc

    @property
    def stop_requested(self) -> bool:
        return self._stop_request is not None

    def _raise_stop_request(self) -> None:
        exc = self.clear_stop_request()
        if exc is not None:
            raise exc

    # -- hot path ---------------------------------------------------------------------------
    @abstractmethod
    def cycle(self, tx: np.ndarray, rx: np.ndarray) -> int:
        """One batched exchange (callable inside the real-time tick): send ``tx``, fill ``rx``.

        Returns 0 when every expected reply arrived, else the number of missing replies.
        """

    def tx_array(self) -> np.ndarray:
        """A zeroed command array (one row per device) for :meth:`cycle`."""
        raise NotImplementedError(f"{type(self).__name__} has no command array")

    def rx_array(self) -> np.ndarray:
        """A zeroed reply array (one row per device) for :meth:`cycle`."""
        raise NotImplementedError(f"{type(self).__name__} has no reply array")

    # -- slow path --------------------------------------------------------------------------
    @abstractmethod
    def send(self, msg: Any) -> None:
        """Send one message (slow path; not for the real-time tick)."""

    @abstractmethod
    def recv(self, timeout_s: float | None = None) -> Any | None:
        """Receive one message or None after ``timeout_s`` (slow path)."""

    # -- lifecycle --------------------------------------------------------------------------
    @abstractmethod
    def _close(self) -> None:
        """Release the bus (called once by :meth:`close`)."""

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(f"{type(self).__name__} is closed")

    def close(self) -> None:
        """Release the bus; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # last resort; close() is the contract
        try:
            if not getattr(self, "_closed", True):
                self.close()
        except Exception:
            pass
