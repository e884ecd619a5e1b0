"""Drive the boards' update generators on buses: one thread per bus, the boards of a bus interleaved.

:class:`BusDriver` runs any number of exchange generators (:mod:`cerebellum_rt.drivers.flash.sdo`)
on one python-can bus from one thread: it sends each step's frames, routes every received frame
to the generator waiting for its COB-ID (frames that arrive before their step is waiting are
kept, a few per COB-ID, and purged when that step sends its request), and answers ``None`` at a
step's deadline. ``wait`` is how the driver waits for a frame: the bus's own ``recv`` on a real
bus, or :class:`VirtualTime` (the timed bus model advanced event by event with the emulated boards
polled in between: the benchmark and the lockstep tests).

:func:`flash_buses` runs one driver per bus in its own thread (several buses at once).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import can

from cerebellum_rt.drivers.flash.sdo import Exchange
from cerebellum_rt.rtcore.errors import CblError

KEEP_PER_ID = 4


@dataclass
class _Job:
    key: Any
    gen: Generator
    step: Exchange | None = None
    deadline: float = 0.0  # inf while the step waits in the outbox
    frames: int = 0  # frames of the step sent and not yet answered (the window's count)
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class VirtualTime:
    """``wait`` for a :class:`BusDriver` on an emulated medium with a manual clock: polls the
    emulated boards, advances the clock to the medium's next event (or the deadline)."""

    def __init__(self, bus: can.BusABC, medium: Any, clock: Any, boards: list) -> None:
        self.bus, self.medium, self.clock, self.boards = bus, medium, clock, boards

    def __call__(self, timeout_s: float) -> can.Message | None:
        deadline = self.clock.t + max(timeout_s, 0.0)
        while True:
            for b in self.boards:
                b.poll()
            msg = self.bus.recv(0.0)
            if msg is not None:
                return msg
            nxt = self.medium.next_event_time()
            if nxt is None or nxt > deadline:
                self.clock.t = max(self.clock.t, deadline)
                for b in self.boards:
                    b.poll()
                return self.bus.recv(0.0)
            self.clock.t = max(self.clock.t, nxt)


class BusDriver:
    """Runs exchange generators on one bus (see module doc).

    ``window``: the most frames of steps still waiting for their reply (an adapter's transmit
    queue holds a few hundred frames; SLCAN emulation: 256). A step that does not fit waits until
    earlier steps are answered, so the boards of a bus take turns by sub-block and no frame is
    dropped by a full queue.
    """

    def __init__(self, bus: can.BusABC, *, fd: bool = False, clock: Callable[[], float] = time.monotonic,
                 wait: Callable[[float], can.Message | None] | None = None, window: int = 254) -> None:
        self.bus = bus
        self.fd = fd
        self.clock = clock
        self.window = window
        self.wait = wait or (lambda t: bus.recv(timeout=t))
        self._kept: dict[int, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=KEEP_PER_ID))
        self._outbox: collections.deque[_Job] = collections.deque()
        self._inflight = 0

    def _send(self, cob: int, data: bytes) -> None:
        self.bus.send(can.Message(arbitration_id=cob, data=data, is_extended_id=False, is_fd=self.fd,
                                  bitrate_switch=self.fd))

    def _advance(self, job: _Job, reply: bytes | None, first: bool = False) -> None:
        """The job's step is over (``reply`` or None): feed it and queue the next step."""
        self._inflight -= job.frames
        job.frames, job.step = 0, None
        try:
            step = next(job.gen) if first else job.gen.send(reply)
        except StopIteration as stop:
            job.done, job.result = True, stop.value
            return
        except (CblError, can.CanError, OSError) as exc:
            job.done, job.error = True, exc
            return
        job.step, job.deadline = step, float("inf")
        self._outbox.append(job)

    def _pump(self) -> None:
        """Send the queued steps that fit the window, in order; answer those whose reply is kept."""
        while self._outbox:
            job = self._outbox[0]
            step = job.step
            n = len(step.frames)
            if self._inflight and self._inflight + n > self.window:
                return
            self._outbox.popleft()
            if step.frames and step.expect_id is not None:
                self._kept.pop(step.expect_id, None)
            try:
                for cob, data in step.frames:
                    self._send(cob, data)
            except (can.CanError, OSError):  # a bus that refuses frames is a cut bus: the step times out
                pass
            job.frames = n
            self._inflight += n
            job.deadline = self.clock() + step.timeout_s
            kept = self._take(step)
            if kept is not None or step.timeout_s <= 0:
                self._advance(job, kept)

    def _take(self, step: Exchange) -> bytes | None:
        kept = self._kept.get(step.expect_id) if step.expect_id is not None else None
        while kept:
            data = kept.popleft()
            if step.expect_prefix is None or data.startswith(step.expect_prefix):
                return data
        return None

    def run(self, jobs: dict[Any, Generator]) -> dict[Any, tuple[Any, BaseException | None]]:
        """Run every generator to its end; returns key -> (return value, exception or None)."""
        state = [_Job(k, g) for k, g in jobs.items()]
        for job in state:
            self._advance(job, None, first=True)
        self._pump()
        while not all(j.done for j in state):
            now = self.clock()
            live = [j for j in state if not j.done]
            due = [j for j in live if j.deadline <= now]
            for job in due:
                self._advance(job, None)
            if due:
                self._pump()
                continue
            msg = self.wait(max(0.0, min(j.deadline for j in live) - now))
            if msg is None or msg.is_error_frame or msg.is_remote_frame:
                continue
            data = bytes(msg.data)
            for job in live:
                s = job.step
                if s is not None and job.frames >= 0 and job.deadline != float("inf") and s.expect_id == \
                        msg.arbitration_id and (s.expect_prefix is None or data.startswith(s.expect_prefix)):
                    self._advance(job, data)
                    self._pump()
                    break
            else:
                self._kept[msg.arbitration_id].append(data)
        return {j.key: (j.result, j.error) for j in state}


def flash_buses(plans: list[tuple[can.BusABC, bool, dict[Any, Generator]]]) -> dict[Any, tuple[Any, BaseException | None]]:
    """One :class:`BusDriver` thread per (bus, fd, jobs); returns every job's outcome."""
    out: dict[Any, tuple[Any, BaseException | None]] = {}
    lock = threading.Lock()

    def one(bus: can.BusABC, fd: bool, jobs: dict[Any, Generator]) -> None:
        try:
            got = BusDriver(bus, fd=fd).run(jobs)
        except BaseException as exc:  # a driver that died: every one of its boards failed with it
            got = {k: (None, exc) for k in jobs}
        with lock:
            out.update(got)

    threads = [threading.Thread(target=one, args=p, name=f"flash-bus-{k}", daemon=True) for k, p in enumerate(plans)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return out
