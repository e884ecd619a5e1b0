"""A lock-free single-producer / single-consumer telemetry ring, optionally in shared memory.

The loop (the one producer) pushes fixed-width rows of float64 with :meth:`TelemetryRing.try_push`;
a reader in another thread or process drains them with :meth:`TelemetryRing.drain`. Neither side
ever waits for the other: when the ring is full the producer drops the row and counts it.

Memory layout (one buffer, so the Cython runner and another process see the same ring)::

    offset   0: int64 head     rows ever pushed      (written by the producer only)
    offset  64: int64 tail     rows ever drained     (written by the reader only)
    offset 128: int64 dropped  rows refused when full (written by the producer only)
    offset 192: int64 capacity, width, magic
    offset 256: float64 rows[capacity][width]

Row ``n`` lives in slot ``n mod capacity``; ``head - tail`` rows are pending, ``0 <= head - tail
<= capacity``. Each counter sits on its own cache line (no false sharing). The producer writes
the row, then publishes ``head`` (release); the reader reads ``head`` (acquire), copies, then
publishes ``tail``. The C producer (Cython runner) uses ``__atomic`` acquire/release; the Python
and numpy side relies on x86-64 store ordering (TSO) and on CPython's GIL between threads.
"""

from __future__ import annotations

from multiprocessing import resource_tracker, shared_memory

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError, check_range

HEADER_BYTES = 256
MAGIC = 0x43424C52494E4731  # "CBLRING1"
_HEAD, _TAIL, _DROPPED, _CAP, _WIDTH, _MAGIC = 0, 8, 16, 24, 25, 26


class TelemetryRing:
    """An SPSC ring of ``capacity`` rows of ``width`` float64 values.

    ``TelemetryRing(capacity, width)`` lives in process memory; :meth:`create_shared` /
    :meth:`attach` put it in POSIX shared memory for a reader process.
    """

    def __init__(self, capacity: int, width: int, _buf: memoryview | None = None,
                 _shm: shared_memory.SharedMemory | None = None) -> None:
        self._shm = _shm
        if _buf is None:
            check_range("TelemetryRing.capacity", capacity, 1, 1 << 24, "rows")
            check_range("TelemetryRing.width", width, 1, 1024, "values")
            _buf = memoryview(np.full(self.nbytes(capacity, width), 0, dtype=np.uint8))
        self.buf = np.frombuffer(_buf, dtype=np.uint8)
        self.hdr = self.buf[:HEADER_BYTES].view(np.int64)
        if self.hdr[_MAGIC] == 0:
            self.hdr[_CAP], self.hdr[_WIDTH], self.hdr[_MAGIC] = capacity, width, MAGIC
        elif self.hdr[_MAGIC] != MAGIC:
            raise ConfigError(f"telemetry ring: magic {int(self.hdr[_MAGIC]):#x} is not {MAGIC:#x}")
        self.capacity = int(self.hdr[_CAP])
        self.width = int(self.hdr[_WIDTH])
        n = self.capacity * self.width
        self.rows = self.buf[HEADER_BYTES:HEADER_BYTES + 8 * n].view(np.float64).reshape(self.capacity, self.width)

    @staticmethod
    def nbytes(capacity: int, width: int) -> int:
        """Buffer size of a ring [bytes]."""
        return HEADER_BYTES + 8 * capacity * width

    @property
    def address(self) -> int:
        """Address of the buffer (for compiled producers)."""
        return int(self.buf.ctypes.data)

    @classmethod
    def create_shared(cls, capacity: int, width: int, name: str | None = None) -> TelemetryRing:
        """A new ring in POSIX shared memory (``.name`` for :meth:`attach`); ``close(unlink=True)``
        when done."""
        check_range("TelemetryRing.capacity", capacity, 1, 1 << 24, "rows")
        check_range("TelemetryRing.width", width, 1, 1024, "values")
        shm = shared_memory.SharedMemory(name=name, create=True, size=cls.nbytes(capacity, width))
        shm.buf[:HEADER_BYTES] = bytes(HEADER_BYTES)
        return cls(capacity, width, _buf=shm.buf, _shm=shm)

    @classmethod
    def attach(cls, name: str) -> TelemetryRing:
        """Attach to a ring made by :meth:`create_shared` in another process."""
        try:
            shm = shared_memory.SharedMemory(name=name)
        except FileNotFoundError:
            raise ConfigError(f"telemetry ring '{name}': no such shared memory") from None
        # The creator owns the segment: do not let this process's tracker unlink it at exit.
        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
        return cls(0, 0, _buf=shm.buf, _shm=shm)

    @property
    def name(self) -> str | None:
        return self._shm.name if self._shm is not None else None

    def close(self, unlink: bool = False) -> None:
        """Release the shared memory (and remove it if ``unlink``); no-op for a local ring."""
        if self._shm is not None:
            self.hdr = self.rows = self.buf = None  # type: ignore[assignment]
            self._shm.close()
            if unlink:
                self._shm.unlink()
            self._shm = None

    # -- producer side (the loop) --------------------------------------------------------
    def try_push(self, row: np.ndarray) -> bool:
        """Append ``row`` (``width`` values) or count a drop if the ring is full; never blocks.
        Real-time safe (producer thread only)."""
        hdr = self.hdr
        head = hdr[_HEAD]
        if head - hdr[_TAIL] >= self.capacity:
            hdr[_DROPPED] += 1
            return False
        self.rows[head % self.capacity] = row
        hdr[_HEAD] = head + 1  # publish after the row is written
        return True

    # -- consumer side (telemetry reader) ------------------------------------------------
    def drain(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` pending rows, oldest first, into ``out`` (shape (n, width));
        return how many. Never blocks (reader thread/process only)."""
        hdr = self.hdr
        head = int(hdr[_HEAD])
        tail = int(hdr[_TAIL])
        n = min(head - tail, out.shape[0])
        if n <= 0:
            return 0
        s = tail % self.capacity
        first = min(n, self.capacity - s)
        out[:first] = self.rows[s:s + first]
        if n > first:
            out[first:n] = self.rows[:n - first]
        hdr[_TAIL] = tail + n  # free the slots after copying them
        return n

    @property
    def pushed(self) -> int:
        """Rows accepted so far."""
        return int(self.hdr[_HEAD])

    @property
    def drained(self) -> int:
        """Rows read so far."""
        return int(self.hdr[_TAIL])

    @property
    def dropped(self) -> int:
        """Rows refused because the ring was full."""
        return int(self.hdr[_DROPPED])

    def pending(self) -> int:
        """Rows waiting for the reader."""
        return int(self.hdr[_HEAD] - self.hdr[_TAIL])
