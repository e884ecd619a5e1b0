"""An emulated CAN segment with a timing model: arbitration, bit time, faults (python-can bus).

:class:`Medium` is one bus segment shared by any number of :class:`EmulatedBus` endpoints (a
python-can ``BusABC``, interface name ``emulated``; endpoints that name the same channel in
one process share one medium). It is a discrete-event model evaluated lazily under one lock,
against a clock (``time.monotonic`` by default; tests pass a manual clock):

* every endpoint has a transmit FIFO (the head frame competes, like one CAN controller queue);
* when the bus falls idle at ``t_free``, the start time is ``s = max(t_free, earliest
  submission)`` and every head frame submitted at or before ``s`` contends; the lowest
  identifier wins (11-bit ids compare on the id, a standard id beats an extended one with the
  same base id); the winner occupies the bus for its exact wire time
  (:func:`cerebellum_rt.drivers.can.timing.frame_bits_raw`, real stuffing, nominal/data bit rates);
* at the end of the frame every other endpoint receives it (plus ``Faults.delay_s``).

Faults (:class:`Faults`, seeded): ``drop`` probability that a frame is lost for every receiver;
``corrupt`` probability of a bit error: the frame is destroyed, an error frame (17 bits:
6-bit flag + 8-bit delimiter + 3-bit intermission) follows, the sender's transmit error
counter rises by 8 (falls by 1 per good frame), the frame is retransmitted, and a sender above
255 goes bus-off (its queue is flushed and ``send`` raises ``CanOperationError``);
``delay_s`` extra delivery latency; ``drop_ids`` frames with these ids are lost (e.g. one
board's RPDO: a command timeout); ``babble_id`` a babbling node that sends that id back to
back whenever it wins arbitration (its frames occupy the bus but are not handed to the
endpoints, which would only flood them). :meth:`Medium.force_bus_off` puts an endpoint bus-off.
"""

from __future__ import annotations

import collections
import itertools
import math
import operator
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import can
import numpy as np

from cerebellum_rt.drivers.can import timing
from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_EXT, FLAG_FD, FLAG_RTR, FrameBuffer
from cerebellum_rt.rtcore.errors import ConfigError, check_range

ERROR_FRAME_BITS = 17
_TIME, _FRAME = operator.itemgetter(0), operator.itemgetter(1)  # of an (time, frame) queue entry
Frame = tuple[int, int, bytes]  # (id, flags, payload)


@dataclass
class Faults:
    """Fault injection settings of a medium (probabilities in [0, 1], delay in s)."""

    drop: float = 0.0
    corrupt: float = 0.0
    delay_s: float = 0.0
    babble_id: int | None = None
    babble_len: int = 8
    seed: int = 0
    drop_ids: frozenset[int] = frozenset()  # frames with these ids are lost (a command stream cut)

    def validate(self) -> None:
        check_range("faults.drop", self.drop, 0.0, 1.0)
        check_range("faults.corrupt", self.corrupt, 0.0, 1.0)
        check_range("faults.delay_s", self.delay_s, 0.0, 10.0, "s")
        if self.babble_id is not None:
            check_range("faults.babble_id", self.babble_id, 0, 0x7FF)
        check_range("faults.babble_len", self.babble_len, 0, 8)


@dataclass
class MediumStats:
    frames: int = 0
    busy_s: float = 0.0
    error_frames: int = 0
    dropped: int = 0
    bus_off_events: int = 0
    max_latency_s: float = 0.0
    first_t: float | None = None
    last_t: float = 0.0

    def load(self) -> float:
        """Busy fraction between the first frame start and the last frame end."""
        if self.first_t is None or self.last_t <= self.first_t:
            return 0.0
        return self.busy_s / (self.last_t - self.first_t)


@dataclass
class _Endpoint:
    name: str
    tx: collections.deque = field(default_factory=collections.deque)  # (submit_t, frame)
    rx: collections.deque = field(default_factory=collections.deque)  # (deliver_t, frame)
    tec: int = 0
    bus_off: bool = False
    sent: int = 0
    received: int = 0
    accept: tuple[tuple[int, int, int], ...] | None = None  # acceptance filter: (id, mask, ext: 0/1/-1 any)
    accept_std: frozenset[int] | None = None  # the same when it is a list of exact 11-bit ids

    def accepts(self, frame: Frame) -> bool:
        """The controller's acceptance filter (python-can filter semantics; None: every frame)."""
        if self.accept is None:
            return True
        cid, flags, _ = frame
        if self.accept_std is not None:
            return not flags & FLAG_EXT and cid in self.accept_std
        ext = 1 if flags & FLAG_EXT else 0
        return any((cid & m) == (i & m) and (e < 0 or e == ext) for i, m, e in self.accept)


class Medium:
    """One emulated CAN segment (see module doc)."""

    def __init__(self, name: str = "default", bitrate: float = 1_000_000, fd: bool = False,
                 data_bitrate: float | None = None, faults: Faults | None = None,
                 clock: Callable[[], float] = time.monotonic, timed: bool = True) -> None:
        check_range(f"bus '{name}' bitrate", bitrate, 10_000, 1_000_000, "bit/s")
        if data_bitrate is not None:
            check_range(f"bus '{name}' data_bitrate", data_bitrate, bitrate, 8_000_000, "bit/s")
        self.name = name
        self.bitrate = float(bitrate)
        self.fd = bool(fd)
        self.data_bitrate = float(data_bitrate or bitrate)
        self._faults = faults or Faults()
        self._faults.validate()
        self.clock = clock
        self.timed = bool(timed)
        self._stats = MediumStats()
        self._submitted_t = -math.inf  # clock time of the last submission (see _catch_up)
        self._tx_maybe = False  # a transmit queue may hold a frame (set by every submission)
        self._rng = random.Random(self._faults.seed)
        self._eps: list[_Endpoint] = []
        self._mutex = threading.RLock()  # taken directly on the hot paths (cheaper than the Condition's)
        self._cv = threading.Condition(self._mutex)
        self._waiting = 0  # threads inside receive()'s wait: notify only when there is one
        self._free_t = clock()
        self._inflight: tuple[float, float, _Endpoint | None, Frame, bool] | None = None
        self._scratch = np.zeros(1024, dtype=np.uint8)
        self._babbler = _Endpoint("babbler")

    # -- endpoints --------------------------------------------------------------------------
    def attach(self, name: str) -> _Endpoint:
        with self._mutex:
            ep = _Endpoint(name)
            self._eps.append(ep)
            return ep

    def detach(self, ep: _Endpoint) -> None:
        with self._mutex:
            self._catch_up()
            if ep in self._eps:
                self._eps.remove(ep)
            empty = not self._eps
        if empty:
            with _MEDIA_LOCK:
                if _MEDIA.get(self.name) is self:
                    del _MEDIA[self.name]  # the channel's last endpoint left: forget the segment

    @property
    def endpoints(self) -> int:
        return len(self._eps)

    def force_bus_off(self, ep: _Endpoint, on: bool = True) -> None:
        """Put an endpoint bus-off (flushing its queue) or recover it."""
        with self._mutex:
            self._catch_up()
            self._tx_maybe = True  # a recovered controller sends what it still holds
            ep.bus_off = on
            ep.tec = 256 if on else 0
            if on:
                ep.tx.clear()
                self._stats.bus_off_events += 1

    # -- timing -----------------------------------------------------------------------------
    def wire_time(self, frame: Frame) -> float:
        """Exact seconds on the wire of ``frame`` (remote frames: as a 0-byte data frame); 0 when
        the medium is not ``timed`` (an ideal bus, to measure everything but the wire)."""
        if not self.timed:
            return 0.0
        cid, flags, data = frame
        payload = np.frombuffer(data, dtype=np.uint8) if data and not flags & FLAG_RTR else self._scratch[:0]
        fd = bool(flags & FLAG_FD)
        nom, dat = timing.frame_bits_raw(cid, bool(flags & FLAG_EXT) and not fd, fd, bool(flags & FLAG_BRS),
                                         payload, len(payload), self._scratch)
        return nom / self.bitrate + dat / self.data_bitrate

    # -- the model --------------------------------------------------------------------------
    def submit(self, ep: _Endpoint, frame: Frame) -> None:
        """Queue ``frame`` on ``ep`` now (raises ``CanOperationError`` when ``ep`` is bus-off).
        A timed medium starts it on the wire at the next query (``has_rx``, ``receive``, ...), which
        runs the model up to its own time first: the same starts and deliveries as starting it here,
        since a frame lasts more than zero seconds (no completion can fall between the two)."""
        with self._mutex:
            if ep.bus_off:
                raise can.CanOperationError(f"emulated bus '{self.name}': endpoint {ep.name} is bus-off")
            now = self.clock()
            self._advance(now)
            ep.tx.append((now, frame))
            self._submitted_t = now
            self._tx_maybe = True
            if not self.timed:
                self._advance(now)  # an ideal bus delivers at once
            if self._waiting:
                self._cv.notify_all()

    def submit_many(self, ep: _Endpoint, frames: list[Frame]) -> int:
        """``submit`` of each frame in order at one clock reading, under one lock; a frame that
        ``submit`` would refuse (bus-off) is dropped, as a controller drops it. Returns the number
        queued. The batched transmit path of an emulated board (no ``can.Message``)."""
        with self._mutex:
            if ep.bus_off or not frames:
                return 0
            now = self.clock()
            if self._inflight is not None or self._tx_maybe or self._faults.babble_id is not None:
                self._advance(now)
            if self.timed:
                # as submit() frame by frame: the bus-off test of the second and later frames sees
                # the state the first frame's advance left (nothing completes at this same time)
                if ep.bus_off:
                    ep.tx.append((now, frames[0]))
                    sent = 1
                else:
                    ep.tx.extend(zip(itertools.repeat(now), frames))
                    sent = len(frames)
            else:
                sent = 0
                for k, f in enumerate(frames):
                    if k and ep.bus_off:  # (the first frame's test was made before the bus ran)
                        break
                    if k:
                        self._advance(now)
                    ep.tx.append((now, f))
                    self._advance(now)
                    sent += 1
            self._submitted_t = now
            self._tx_maybe = True
            if self._waiting:
                self._cv.notify_all()
            return sent

    def _catch_up(self) -> None:
        """The model as ``submit`` used to leave it (run up to the last submission): before
        anything that reads or changes the state without running it to the clock first. Caller
        holds the lock."""
        self._advance(self._submitted_t)

    @property
    def faults(self) -> Faults:
        """The fault settings, which a fault injection changes in place: the model is first run
        as far as ``submit`` used to run it (``_catch_up``), so that a frame queued before the
        change started under the settings it started under then."""
        with self._mutex:
            self._catch_up()
            return self._faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        with self._mutex:
            self._catch_up()
            self._faults = faults

    @property
    def stats(self) -> MediumStats:
        with self._mutex:
            self._catch_up()
            return self._stats

    def _key(self, frame: Frame) -> tuple[int, int, int]:
        cid, flags, _ = frame
        if flags & FLAG_EXT:
            return (cid >> 18, 1, cid)
        return (cid, 0, cid)

    def _advance(self, now: float) -> None:
        """Run the bus up to ``now`` (caller holds the lock)."""
        f = self._faults
        if self._inflight is None and not self._tx_maybe and f.babble_id is None:
            return  # an idle bus with no transmit queue to look at (the common case of a query)
        while True:
            if self._inflight is not None:
                start, end, sender, frame, ok = self._inflight
                if end > now:
                    return
                self._inflight = None
                self._free_t = end
                self._complete(start, end, sender, frame, ok)
                continue
            heads = [(ep.tx[0][0], ep) for ep in self._eps if ep.tx and not ep.bus_off]
            babble = f.babble_id is not None
            if not heads and not babble:
                self._tx_maybe = False  # until the next submission or bus-off recovery
                return
            earliest = self._free_t if babble else min(h[0] for h in heads)
            start = max(self._free_t, earliest)
            if start > now:
                return
            contenders = [(self._key(ep.tx[0][1]), i, ep) for i, (t, ep) in enumerate(heads) if t <= start]
            if babble:
                bframe = (f.babble_id, 0, bytes(f.babble_len))
                contenders.append((self._key(bframe), -1, self._babbler))
                if self._babbler.tx:
                    self._babbler.tx.clear()
                self._babbler.tx.append((start, bframe))
            if not contenders:
                return
            _, _, winner = min(contenders, key=lambda c: (c[0], c[1]))
            if self._stats.first_t is None:
                self._stats.first_t = start
            frame = winner.tx[0][1]
            duration = self.wire_time(frame)
            ok = not (f.corrupt and winner is not self._babbler and self._rng.random() < f.corrupt)
            if not ok:
                duration += ERROR_FRAME_BITS / self.bitrate
            self._inflight = (start, start + duration, winner, frame, ok)

    def _complete(self, start: float, end: float, sender: _Endpoint, frame: Frame, ok: bool) -> None:
        st = self._stats
        st.busy_s += end - start
        st.last_t = end
        if not ok:
            st.error_frames += 1
            sender.tec += 8
            if sender.tec > 255:
                sender.bus_off = True
                sender.tx.clear()
                st.bus_off_events += 1
            return  # the head stays queued: automatic retransmission
        submit_t, _ = sender.tx.popleft()
        sender.tec = max(0, sender.tec - 1)
        sender.sent += 1
        st.frames += 1
        if sender is self._babbler:
            return
        f = self._faults
        if frame[0] in f.drop_ids or (f.drop and self._rng.random() < f.drop):
            st.dropped += 1
            return
        t = end + f.delay_s
        st.max_latency_s = max(st.max_latency_s, t - submit_t)
        for ep in self._eps:
            if ep is not sender and (ep.accept is None or ep.accepts(frame)):
                ep.rx.append((t, frame))
        if self._waiting:
            self._cv.notify_all()

    def _next_event(self) -> float | None:
        times = [ep.rx[0][0] for ep in self._eps if ep.rx]
        free = self._free_t
        if self._inflight is not None:
            free = self._inflight[1]
            times.append(free)
        times += [max(ep.tx[0][0], free) for ep in self._eps if ep.tx and not ep.bus_off]
        return min(times) if times else None

    def next_change_after(self, now: float) -> float | None:
        """Clock time after ``now`` of the next frame end, frame start or delivery (None: nothing
        pending); frames already delivered and waiting to be read do not count. A lockstep world
        (:mod:`cerebellum_rt.hil_tests.lockstep`) jumps its virtual clock to it."""
        with self._mutex:
            self._advance(now)
            times = [t for ep in self._eps for t, _ in ep.rx if t > now]
            if self._inflight is not None:
                times.append(self._inflight[1])
            free = self._inflight[1] if self._inflight is not None else self._free_t
            times += [max(ep.tx[0][0], free, now) for ep in self._eps if ep.tx and not ep.bus_off]
            if self._faults.babble_id is not None and self._inflight is None:
                times.append(max(free, now))
            later = [t for t in times if t > now]
            return min(later) if later else (now if times else None)

    def has_rx(self, ep: _Endpoint) -> bool:
        """True when a frame has been delivered to ``ep`` by now (runs the bus up to now)."""
        with self._mutex:
            now = self.clock()
            self._advance(now)
            return bool(ep.rx) and ep.rx[0][0] <= now

    def next_event_time(self) -> float | None:
        """Clock time of the next delivery or frame end (None when the bus is idle and empty)."""
        with self._mutex:
            self._advance(self.clock())
            return self._next_event()

    def take(self, ep: _Endpoint, limit: int) -> list[Frame]:
        """Up to ``limit`` frames delivered to ``ep`` by now, without their times and without
        waiting (``receive(ep, 0.0, limit)`` less its wall-clock deadline): the batched receive
        path of an emulated board."""
        with self._mutex:
            now = self.clock()
            if self._inflight is not None or self._tx_maybe or self._faults.babble_id is not None:
                self._advance(now)
            rx = ep.rx
            if not rx:
                return []
            if len(rx) <= limit and max(map(_TIME, rx)) <= now:  # all of it has arrived (any order: delays change)
                out = list(map(_FRAME, rx))
                rx.clear()
            else:
                out = []
                while rx and rx[0][0] <= now and len(out) < limit:
                    out.append(rx.popleft()[1])
            ep.received += len(out)
            return out

    def receive(self, ep: _Endpoint, timeout_s: float | None, limit: int = 1) -> list[tuple[float, Frame]]:
        """Frames delivered to ``ep`` by now (waiting up to ``timeout_s`` for the first)."""
        deadline = None if timeout_s is None else time.monotonic() + max(timeout_s, 0.0)
        with self._mutex:
            while True:
                now = self.clock()
                self._advance(now)
                out = []
                while ep.rx and ep.rx[0][0] <= now and len(out) < limit:
                    out.append(ep.rx.popleft())
                if out:
                    ep.received += len(out)
                    return out
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return []
                nxt = self._next_event()
                wait = left
                if nxt is not None and nxt > now:
                    wait = (nxt - now) if wait is None else min(wait, nxt - now)
                elif nxt is not None:
                    wait = 0.0 if wait is None else min(wait, 1e-4)
                self._waiting += 1
                try:
                    self._cv.wait(wait)
                finally:
                    self._waiting -= 1


_MEDIA: dict[str, Medium] = {}
_MEDIA_LOCK = threading.Lock()


def medium(channel: str, **kwargs: Any) -> Medium:
    """The in-process medium of ``channel`` (created with ``kwargs`` on first use)."""
    with _MEDIA_LOCK:
        m = _MEDIA.get(channel)
        if m is None:
            m = _MEDIA[channel] = Medium(channel, **kwargs)
        return m


class EmulatedBus(can.BusABC):
    """python-can bus on an emulated :class:`Medium` (interface name ``emulated``)."""

    def __init__(self, channel: str = "default", bitrate: int = 1_000_000, fd: bool = False,
                 data_bitrate: int | None = None, medium_: Medium | None = None, name: str | None = None,
                 **kwargs: Any) -> None:
        self.medium = medium_ or medium(str(channel), bitrate=bitrate, fd=fd, data_bitrate=data_bitrate)
        if medium_ is None and self.medium.bitrate != bitrate:
            raise ConfigError(
                f"emulated bus '{channel}' runs at {self.medium.bitrate:.0f} bit/s; asked for {bitrate} bit/s"
            )
        self.channel_info = f"emulated '{self.medium.name}'"
        self._ep = self.medium.attach(name or f"ep{self.medium.endpoints}")
        self._is_shutdown = False
        super().__init__(channel=channel, **kwargs)

    @property
    def endpoint(self) -> _Endpoint:
        return self._ep

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        flags = ((FLAG_EXT if msg.is_extended_id else 0) | (FLAG_FD if msg.is_fd else 0)
                 | (FLAG_BRS if msg.bitrate_switch else 0) | (FLAG_RTR if msg.is_remote_frame else 0))
        self.medium.submit(self._ep, (msg.arbitration_id, flags, bytes(msg.data)))

    def _apply_filters(self, filters: can.typechecking.CanFilters | None) -> None:
        """Filters run in the medium (as a controller's acceptance filter): frames that do not
        match are never queued for this endpoint."""
        if not filters:
            self._ep.accept = None
            self._ep.accept_std = None
            return
        acc = tuple((int(f["can_id"]), int(f["can_mask"]), int(f["extended"]) if "extended" in f else -1)
                    for f in filters)
        exact = all(m == 0x7FF and e == 0 and i <= 0x7FF for i, m, e in acc)
        self._ep.accept_std = frozenset(i for i, _, _ in acc) if exact else None
        self._ep.accept = acc

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        got = self.medium.receive(self._ep, timeout)
        if not got:
            return None, self._ep.accept is not None
        t, (cid, flags, data) = got[0]
        msg = can.Message(timestamp=t, arbitration_id=cid, data=data, is_extended_id=bool(flags & FLAG_EXT),
                          is_fd=bool(flags & FLAG_FD), bitrate_switch=bool(flags & FLAG_BRS),
                          is_remote_frame=bool(flags & FLAG_RTR), channel=self.medium.name)
        return msg, self._ep.accept is not None

    def raw_port(self, cap: int, fd: bool) -> EmulatedPort:
        return EmulatedPort(self)

    def flush_tx_buffer(self) -> None:
        """Discard the frames still queued for transmission (python-can's API; a host aborts
        its stale commands after a bus fault)."""
        with self.medium._mutex:
            self.medium._catch_up()
            self._ep.tx.clear()

    def shutdown(self) -> None:
        if self._is_shutdown:
            return
        self._is_shutdown = True
        self.medium.detach(self._ep)
        super().shutdown()


def batch_endpoint(bus: can.BusABC) -> tuple[Medium, _Endpoint] | None:
    """(medium, endpoint) of ``bus`` when it is an :class:`EmulatedBus` that receives and sends
    as EmulatedBus itself does, so that taking its frames from the medium (:meth:`Medium.take`)
    and queueing frames on it (:meth:`Medium.submit_many`) is what python-can's ``recv`` and
    ``send`` would do, less the ``can.Message`` of every frame (the acceptance filters run in the
    medium either way); else None (a subclass that changes either, any other bus)."""
    if not isinstance(bus, EmulatedBus) or bus._is_shutdown:
        return None
    cls = type(bus)
    if (cls.send is not EmulatedBus.send or cls._recv_internal is not EmulatedBus._recv_internal
            or cls.recv is not can.BusABC.recv):
        return None
    return bus.medium, bus.endpoint


class EmulatedPort:
    """Batched frame I/O on an emulated bus (no ``can.Message``)."""

    def __init__(self, bus: EmulatedBus) -> None:
        self.medium, self.ep = bus.medium, bus.endpoint

    def send_batch(self, fb: FrameBuffer, n: int) -> None:
        for k in range(n):
            self.medium.submit(self.ep, (int(fb.ids[k]), int(fb.flags[k]), fb.data[k, : fb.lens[k]].tobytes()))

    def recv_batch(self, fb: FrameBuffer, timeout_s: float) -> int:
        got = self.medium.receive(self.ep, timeout_s, limit=fb.cap)
        for k, (_, (cid, flags, data)) in enumerate(got):
            fb.ids[k] = cid
            fb.flags[k] = flags
            fb.lens[k] = len(data)
            if data:
                fb.data[k, : len(data)] = np.frombuffer(data, dtype=np.uint8)
        return len(got)
