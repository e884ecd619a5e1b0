"""Bus cuts during an update: the host side of the bus goes dead after a random number of frames
(both directions), for a while or for good. A short cut: the tool resumes from the board's
acknowledged offset and the update completes. A cut that lasts: the tool stops, naming the byte
the board acknowledged; the board stays usable; a later run with ``resume`` completes."""

from __future__ import annotations

import random
import threading
import time

import can

from cerebellum_rt.drivers.flash import image as img


class CutBus(can.BusABC):
    """A python-can bus in front of another whose link dies after ``cut_after`` sent frames, for
    ``cut_s`` seconds (None: until :meth:`mend`). Frames sent or arriving while cut are lost."""

    def __init__(self, inner: can.BusABC, cut_after: int, cut_s: float | None) -> None:
        self.inner, self.cut_after, self.cut_s = inner, cut_after, cut_s
        self.sent = 0
        self._until: float | None = None
        self._lock = threading.Lock()
        super().__init__(channel=inner.channel_info)

    def _cut(self) -> bool:
        if self._until is None:
            return False
        if time.monotonic() >= self._until:
            self._until = None
            return False
        return True

    def mend(self) -> None:
        self._until = None

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        with self._lock:
            self.sent += 1
            if self.sent == self.cut_after:
                self._until = float("inf") if self.cut_s is None else time.monotonic() + self.cut_s
            if self._cut():
                return
        self.inner.send(msg, timeout)

    def _recv_internal(self, timeout: float | None):
        msg = self.inner.recv(timeout)
        if msg is not None and self._cut():
            return None, False
        return msg, False

    def shutdown(self) -> None:
        self.inner.shutdown()
        super().shutdown()


def test_short_cuts_at_random_points_resume_and_complete(keys, kit, channel):
    data = keys.image("2.0.0", size=12_000)
    frames = len(data) // 7 + 30
    rng = random.Random(11)
    points = sorted(rng.sample(range(8, frames), 5))
    bus = kit.virtual_bus(channel)
    board = kit.make_board("joint", 5, bus, None, keys.good_pub)
    try:
        for k, point in enumerate(points):
            host = CutBus(kit.virtual_bus(channel), point, 0.25)
            try:
                res, err = kit.flash(host, 5, keys.image(f"2.{k}.0", size=12_000, seed=k), sdo_timeout_s=0.1,
                                     resume_wait_s=2.0)
            finally:
                host.shutdown()
            assert err is None, (point, err)
            assert res.status == "ok" and res.resumes >= 1 and res.acked == res.bytes, (point, res)
            assert img.version_u32_text(board.store.get(0x1F56, 1)) == f"2.{k}.0"
        print(f"\nbus cuts after host frames {points}: every update resumed and completed")
    finally:
        board.close()
        bus.shutdown()


def test_a_lasting_cut_stops_naming_the_byte_and_a_resumed_run_completes(keys, kit, channel):
    data = keys.image("3.0.0", size=12_000)
    bus = kit.virtual_bus(channel)
    board = kit.make_board("joint", 8, bus, None, keys.good_pub)
    try:
        host = CutBus(kit.virtual_bus(channel), 10**9, None)
        assert kit.flash(host, 8, keys.image("1.0.0"))[1] is None
        host.sent, host.cut_after = 0, 900
        res, err = kit.flash(host, 8, data, sdo_timeout_s=0.1, resume_wait_s=0.3)
        assert res.stage == "download" and 0 < res.acked < len(data)
        assert str(err) == (f"node 8: bus cut: stopped at byte {res.acked} of {len(data)} (acknowledged by the "
                            "board); run again with --resume to continue")
        host.mend()
        # the board is usable and still runs its image; its offset is the acknowledged bytes
        assert img.version_u32_text(board.store.get(0x1F56, 1)) == "1.0.0"
        res2, err = kit.flash(host, 8, data, resume=True, sdo_timeout_s=0.1)
        assert err is None and res2.status == "ok", err
        assert img.version_u32_text(board.store.get(0x1F56, 1)) == "3.0.0"
        host.shutdown()
    finally:
        board.close()
        bus.shutdown()
