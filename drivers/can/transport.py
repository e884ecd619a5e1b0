"""CanTransport: CANopen process data of many boards on one bus, one batched exchange per tick.

Hot path (:meth:`CanTransport.cycle`, callable inside the real-time tick)::

    drain frames left from earlier ticks (counted 'late', data kept, not marked fresh)
    pack every node's selected RPDOs + one SYNC (0x080)   -- compiled, drivers.can.codec
    send the batch                                          -- one write on slcan
    until every expected TPDO arrived or timeout_s passed:
        receive what is waiting, route TPDOs into rx rows   -- compiled
    return the number of TPDOs still missing (0 = ok)

Frames that are not this transport's TPDOs (SDO replies, heartbeats, EMCY) go to the slow
path: the python ``canopen`` network (:attr:`CanTransport.network`) and :meth:`recv`.

Slow path: ``t.network`` is a ``canopen.Network`` on the same bus; ``t.node(n)`` a
``canopen.RemoteNode`` (SDO, NMT, EMCY). Its receive thread runs until the first ``cycle``;
while cycling, ``cycle`` itself feeds the network, so SDO requests issued from another thread
are answered. :meth:`end_cycling` hands the bus back to the receive thread.
"""

from __future__ import annotations

import collections
import io
import threading
import time
from collections.abc import Iterable
from typing import Any

import can
import canopen
import numpy as np

from cerebellum_rt.drivers.can import codec, layout
from cerebellum_rt.drivers.can.codec import FLAG_BRS, FLAG_FD, FrameBuffer
from cerebellum_rt.drivers.can.ports import port_for
from cerebellum_rt.drivers.transport import Transport
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout


class _Recent(can.Listener):
    """Bounded queue of slow-path frames for :meth:`CanTransport.recv`."""

    def __init__(self, maxlen: int = 1024) -> None:
        self.q: collections.deque[can.Message] = collections.deque(maxlen=maxlen)
        self.cv = threading.Condition()

    def on_message_received(self, msg: can.Message) -> None:
        with self.cv:
            self.q.append(msg)
            self.cv.notify()

    def get(self, timeout_s: float | None) -> can.Message | None:
        with self.cv:
            if not self.q:
                self.cv.wait(timeout_s)
            return self.q.popleft() if self.q else None


class CanTransport(Transport):
    """Batched CANopen PDO exchange with ``nodes`` (board type ``board``) on ``bus``.

    Parameters: ``sync`` sends the SYNC after the RPDOs; ``timeout_s`` bounds the wait for
    the replies in one tick; ``fd`` sends CAN-FD frames with bit-rate switch; ``rpdos`` /
    ``tpdos`` choose PDO numbers (default: those the OD enables); ``generic`` forces the
    python-can ``Message`` path (for comparison); ``listen=False`` starts no receive thread
    before the first ``cycle`` (a lockstep world, where one thread owns the bus: the caller does
    the slow path itself, e.g. :class:`cerebellum_rt.hil_tests.lockstep.SdoClient`).
    """

    def __init__(
        self,
        bus: can.BusABC,
        nodes: Iterable[int],
        board: str | layout.BoardLayout = "joint",
        sync: bool = True,
        timeout_s: float = 0.05,
        *,
        fd: bool = False,
        rpdos: tuple[int, ...] | None = None,
        tpdos: tuple[int, ...] | None = None,
        generic: bool = False,
        listen: bool = True,
    ) -> None:
        super().__init__()
        self.nodes = [int(n) for n in nodes]
        if not self.nodes:
            raise ConfigError("CanTransport: nodes is empty (give at least one node id in [1, 127])")
        for n in self.nodes:
            if not 1 <= n <= 127:
                raise ConfigError(f"CanTransport: node id {n} is out of range [1, 127]")
        if len(set(self.nodes)) != len(self.nodes):
            raise ConfigError(f"CanTransport: node ids {self.nodes} contain duplicates")
        if not 0.0 < timeout_s <= 10.0:
            raise ConfigError(f"CanTransport: timeout_s = {timeout_s} s is out of range (0, 10] s")
        self.bus = bus
        self.layout = board if isinstance(board, layout.BoardLayout) else layout.board_layout(board)
        self._board_type = self.layout.board.split("/")[0]
        self.rpdos = self.layout.select(False, rpdos)
        self.tpdos = self.layout.select(True, tpdos)
        self.sync = bool(sync)
        self.timeout_s = float(timeout_s)
        self.fd = bool(fd)
        self.generic = bool(generic)
        self._tx_dtype = layout.tx_dtype(self.layout, self.rpdos)
        self._rx_dtype = layout.rx_dtype(self.layout, self.tpdos)
        self._node_ids = np.array(self.nodes, dtype=np.int32)
        self._tx_cob = np.array([p.cob_base for p in self.rpdos], dtype=np.int32)
        self._tx_off = layout.pdo_offsets(self._tx_dtype, self.rpdos)
        self._tx_size = np.array([p.size for p in self.rpdos], dtype=np.int32)
        self._rx_off = layout.pdo_offsets(self._rx_dtype, self.tpdos)
        self._rx_size = np.array([p.size for p in self.tpdos], dtype=np.int32)
        self._lut = codec.build_lut(self._node_ids, np.array([p.cob_base for p in self.tpdos]))
        self._fresh_off = self._rx_dtype.fields["fresh"][1]
        self._flags0 = np.uint8((FLAG_FD | FLAG_BRS) if self.fd else 0)
        self.expected = len(self.nodes) * len(self.tpdos)
        n_tx = len(self.nodes) * len(self.rpdos) + 1
        self._txb = FrameBuffer(n_tx, fd=self.fd)
        self._rxb = FrameBuffer(max(64, 4 * self.expected), fd=self.fd)
        self._other = np.zeros(self._rxb.cap, dtype=np.int32)
        self._views: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._port: Any = None
        self._last_rx: np.ndarray | None = None
        self._deadline = 0.0
        self._recent = _Recent()
        self._od_table: Any = None
        self.network = canopen.Network(bus)
        self.network.NOTIFIER_CYCLE = 0.02
        self.network.listeners.append(self._recent)
        self._send_lock = self.network.send_lock
        if listen:
            self.network.connect()
        codec.warm_up()

    # -- arrays -----------------------------------------------------------------------------
    @property
    def tx_dtype(self) -> np.dtype:
        return self._tx_dtype

    @property
    def rx_dtype(self) -> np.dtype:
        return self._rx_dtype

    def tx_array(self) -> np.ndarray:
        """Zeroed command rows, one per node in ``nodes`` order (RPDO fields)."""
        return np.zeros(len(self.nodes), dtype=self._tx_dtype)

    def rx_array(self) -> np.ndarray:
        """Zeroed reply rows, one per node (TPDO fields + ``fresh`` bit mask)."""
        return np.zeros(len(self.nodes), dtype=self._rx_dtype)

    @property
    def fresh_all(self) -> int:
        """Value of ``rx['fresh']`` when every selected TPDO of a node arrived this tick."""
        return (1 << len(self.tpdos)) - 1

    def _bytes(self, arr: np.ndarray, dtype: np.dtype, what: str) -> np.ndarray:
        key = id(arr)
        hit = self._views.get(key)
        if hit is not None and hit[0] is arr:
            return hit[1]
        if arr.dtype != dtype or arr.shape != (len(self.nodes),):
            raise ConfigError(
                f"CanTransport.cycle: {what} array has dtype/shape {arr.dtype}/{arr.shape}, "
                f"expected the one from {what}_array() with shape ({len(self.nodes)},)"
            )
        view = codec.record_bytes(arr)
        if len(self._views) > 8:
            self._views.clear()
        self._views[key] = (arr, view)
        return view

    # -- hot path ---------------------------------------------------------------------------
    def cycle(self, tx: np.ndarray, rx: np.ndarray) -> int:
        """Exchange one tick (real-time safe after the first call): returns missing TPDO count."""
        self.cycle_send(tx, rx)
        return self.cycle_collect()

    def cycle_send(self, tx: np.ndarray, rx: np.ndarray) -> None:
        """First half of :meth:`cycle`: drain late frames, send the RPDOs and the SYNC. A host on
        several buses sends on every bus, then collects each (:meth:`cycle_collect`), so the
        buses run their exchanges at the same time."""
        self._check_open()
        if self._stop_request is not None:  # Ctrl-C / SIGTERM under a DriveGuard: here, between ticks
            self._raise_stop_request()
        if self._port is None:
            self._begin_cycling()
        txb = self._bytes(tx, self._tx_dtype, "tx")
        rxb = self._bytes(rx, self._rx_dtype, "rx")
        self._last_rx = rxb
        port, fb, st = self._port, self._rxb, self.stats
        # 1. frames left from earlier ticks
        n = port.recv_batch(fb, 0.0)
        while n:
            self._route(n, rxb, True)
            n = port.recv_batch(fb, 0.0) if n == fb.cap else 0
        # 2. pack and send
        out = self._txb
        nf = codec.pack_tick(
            txb, self._node_ids, self._tx_cob, self._tx_off, self._tx_size, self._flags0,
            layout.SYNC_COB_ID if self.sync else -1, out.ids, out.lens, out.flags, out.data,
            rxb, self._fresh_off,
        )  # fmt: skip
        with self._send_lock:  # canopen (SDO from another thread) writes to the same bus
            port.send_batch(out, nf)
        st.frames_tx += nf
        self._deadline = time.perf_counter() + self.timeout_s

    def cycle_collect(self) -> int:
        """Second half of :meth:`cycle`: route the replies until every expected TPDO arrived or
        ``timeout_s`` after :meth:`cycle_send`; returns the missing TPDO count."""
        port, fb, st, rxb = self._port, self._rxb, self.stats, self._last_rx
        got = 0
        deadline = self._deadline
        while got < self.expected:
            left = deadline - time.perf_counter()
            n = port.recv_batch(fb, left if left > 0.0 else 0.0)
            if n == 0:
                if left <= 0.0:
                    break
                continue
            got += self._route(n, rxb, False)
        missing = self.expected - got
        st.cycles += 1
        st.missed += missing
        return missing

    def _route(self, n: int, rxb: np.ndarray, stale: bool) -> int:
        fb = self._rxb
        new, dup, bad, n_other = codec.unpack_tick(
            fb.ids, fb.lens, fb.flags, fb.data, n, self._lut, len(self.tpdos),
            self._rx_off, self._rx_size, rxb, self._fresh_off, stale, self._other,
        )  # fmt: skip
        st = self.stats
        st.frames_rx += n
        st.late += dup
        st.bad += bad
        if n_other:
            st.other += n_other
            self._slow_dispatch(n_other)
        return int(new)

    def _slow_dispatch(self, n_other: int) -> None:
        """Hand non-PDO frames to canopen and recv() (slow path: allocates Messages)."""
        fb = self._rxb
        now = time.time()
        for j in range(n_other):
            k = int(self._other[j])
            cid, data, fl = fb.frame(k)
            msg = can.Message(
                arbitration_id=cid, data=data, timestamp=now, is_extended_id=bool(fl & 1),
                is_fd=bool(fl & FLAG_FD), is_remote_frame=bool(fl & 8), is_error_frame=bool(fl & 16),
            )  # fmt: skip
            for listener in self.network.listeners:
                listener.on_message_received(msg)

    def _begin_cycling(self) -> None:
        notifier = self.network.notifier
        if notifier is not None:
            notifier.stop(1.0)
            self.network.notifier = None
        self._port = port_for(self.bus, max(self._txb.cap, self._rxb.cap), self.fd, self.generic)

    def end_cycling(self) -> None:
        """Give the bus back to the canopen receive thread (between runs; not in the tick)."""
        if self._port is None:
            return
        rxb = self._last_rx if self._last_rx is not None else codec.record_bytes(self.rx_array())
        while (n := self._port.recv_batch(self._rxb, 0.0)) > 0:  # whole frames still buffered
            self._route(n, rxb, True)
        release = getattr(self._port, "release", None)
        if release is not None:
            release()
        self._port = None
        self.network.notifier = can.Notifier(self.bus, self.network.listeners, self.network.NOTIFIER_CYCLE)

    # -- slow path --------------------------------------------------------------------------
    def send(self, msg: can.Message) -> None:
        """Send one python-can Message (slow path)."""
        self._check_open()
        with self.network.send_lock:
            self.bus.send(msg)

    def recv(self, timeout_s: float | None = None) -> can.Message | None:
        """Next frame that is not process data of this transport, or None (slow path)."""
        self._check_open()
        return self._recent.get(timeout_s)

    def node(self, node_id: int) -> canopen.RemoteNode:
        """The canopen RemoteNode for ``node_id`` (created on first use, OD from drivers.eds)."""
        if node_id not in self.network:
            self.network.add_node(canopen.RemoteNode(node_id, _board_od(self._board_type, node_id)))
        return self.network[node_id]

    def _table(self):
        from cerebellum_rt.drivers import od

        if self._od_table is None:
            self._od_table = od.build_table(self._board_type, fd=self.fd)
        return self._od_table

    def sdo_read(self, node_id: int, index: int, subindex: int = 0, timeout_s: float = 0.3) -> int | float:
        """Read one numeric object by SDO, decoded with the OD table's type (slow path).

        DeviceTimeout names the node, the object and the timeout; DeviceError an SDO abort.
        """
        entry = self._table().entry(index, subindex)
        node = self.node(node_id)
        node.sdo.RESPONSE_TIMEOUT = timeout_s
        try:
            raw = node.sdo.upload(index, subindex)
        except canopen.SdoCommunicationError as exc:
            raise DeviceTimeout(
                f"CAN node {node_id} did not answer an SDO read of 0x{index:04X}:{subindex} "
                f"({entry.name}) within {timeout_s} s"
            ) from exc
        except canopen.SdoAbortedError as exc:
            raise DeviceError(f"CAN node {node_id} refused to read 0x{index:04X}:{subindex} ({entry.name}): {exc}") from exc
        dt = np.dtype(entry.np_dtype)
        if len(raw) < dt.itemsize:
            raise DeviceError(
                f"CAN node {node_id}: 0x{index:04X}:{subindex} ({entry.name}) returned {len(raw)} bytes, "
                f"expected {dt.itemsize}"
            )
        return np.frombuffer(raw[: dt.itemsize], dtype=dt)[0].item()

    def sdo_write(self, node_id: int, index: int, subindex: int, value: int | float, timeout_s: float = 0.3) -> None:
        """Write one numeric object by SDO, encoded with the OD table's type (slow path)."""
        entry = self._table().entry(index, subindex)
        lo, hi = entry.limits
        if not lo <= value <= hi:
            raise ConfigError(f"0x{index:04X}:{subindex} ({entry.name}) = {value} is out of range [{lo}, {hi}]")
        node = self.node(node_id)
        node.sdo.RESPONSE_TIMEOUT = timeout_s
        data = np.array([value], dtype=np.dtype(entry.np_dtype)).tobytes()
        try:
            node.sdo.download(index, subindex, data)
        except canopen.SdoCommunicationError as exc:
            raise DeviceTimeout(
                f"CAN node {node_id} did not answer an SDO write of 0x{index:04X}:{subindex} "
                f"({entry.name}) within {timeout_s} s"
            ) from exc
        except canopen.SdoAbortedError as exc:
            raise DeviceError(f"CAN node {node_id} refused {entry.name} = {value}: {exc}") from exc

    def identity(self, node_id: int, timeout_s: float = 0.3) -> dict[str, int]:
        """Identity object 0x1018 (vendor_id, product_code, revision, serial) of a node by SDO."""
        keys = ("vendor_id", "product_code", "revision", "serial")
        return {k: int(self.sdo_read(node_id, 0x1018, sub, timeout_s)) for sub, k in enumerate(keys, 1)}

    def read_limits(self, node_id: int, timeout_s: float = 0.3) -> dict[str, float]:
        """Position, position/velocity limits and rated values of a joint, in SI units (slow path)."""
        return joint_limits(lambda i, s: self.sdo_read(node_id, i, s, timeout_s))

    @property
    def remapped(self) -> bool:
        """True when this transport's PDO layout is not the board's default (configure_pdos needed)."""
        return self.layout != layout.board_layout(self._board_type)

    def configure_pdos(self, node_id: int, timeout_s: float = 0.3, write: Any = None) -> None:
        """Write this transport's PDO layout into a node (pre-operational; CiA 301 sequence per PDO:
        COB-ID invalid, mapping count 0, entries, count, COB-ID valid if enabled). Slow path.
        ``write(index, subindex, value)``: another SDO client (e.g. a lockstep world's)."""
        w = write or (lambda i, s, v: self.sdo_write(node_id, i, s, v, timeout_s))
        for pdos, comm, mapping in ((self.layout.rpdos, 0x1400, 0x1600), (self.layout.tpdos, 0x1800, 0x1A00)):
            for p in pdos:
                k = p.number - 1
                cob = p.cob_id(node_id) | layout.PDO_NO_RTR
                w(comm + k, 1, cob | layout.PDO_NOT_VALID)
                w(mapping + k, 0, 0)
                for m, f in enumerate(p.fields, 1):
                    w(mapping + k, m, (f.index << 16) | (f.subindex << 8) | (8 * f.dtype.itemsize))
                w(mapping + k, 0, len(p.fields))
                if p.enabled and p.fields:
                    w(comm + k, 1, cob)

    def start(self, period_us: int | None = None, timeout_s: float = 0.3,
              mode: int | None = None) -> dict[int, dict[str, int]]:
        """Bring every node up: check it answers (0x1018 by SDO; DeviceTimeout naming the node and
        the timeout), set its communication cycle period 0x1006 if ``period_us`` is given, write
        the PDO mapping when this transport's layout is not the board's default (e.g.
        :func:`cerebellum_rt.drivers.can.layout.packed`, :func:`cerebellum_rt.drivers.can.layout.compact`), write
        ``modes_of_operation`` 0x6060 = ``mode`` by SDO if given (needed once before enabling
        when the layout's RPDOs do not carry 0x6060, as with ``compact``), then NMT-start all
        nodes (OPERATIONAL). Returns the identities by node id. Slow path."""
        self._check_open()
        if self._port is not None:
            self.end_cycling()
        ids = {n: self.identity(n, timeout_s) for n in self.nodes}
        remap = self.remapped
        for n in self.nodes:
            if remap:
                self.node(n).nmt.send_command(0x80)  # PDO mapping is changed in PRE-OPERATIONAL
            if period_us is not None:
                self.sdo_write(n, 0x1006, 0, int(period_us), timeout_s)
            if remap:
                self.configure_pdos(n, timeout_s)
            if mode is not None:
                self.sdo_write(n, 0x6060, 0, int(mode), timeout_s)
            self.node(n).nmt.send_command(0x01)  # start remote node -> OPERATIONAL
        return ids

    def _close(self) -> None:
        notifier = self.network.notifier
        if notifier is not None:
            notifier.stop(1.0)
            self.network.notifier = None
        self._port = None


class _EdsFile(io.StringIO):
    """An in-memory EDS with the ``.name`` python canopen dispatches on."""

    name = "board.eds"


def joint_limits(sdo_read: Any) -> dict[str, float]:
    """A joint's position, position / velocity limits and rated values in SI units, read through
    ``sdo_read(index, subindex)`` (any SDO client: python canopen's, a lockstep world's)."""
    from cerebellum_rt.drivers import od

    r = lambda i, s=0: float(sdo_read(i, s))  # noqa: E731
    cpr = od.POSITION_COUNTS_PER_RAD
    return {
        "position_actual_rad": r(0x6064) / cpr,
        "min_position_rad": r(0x607D, 1) / cpr,
        "max_position_rad": r(0x607D, 2) / cpr,
        "max_velocity_rad_s": r(0x6080) / od.VELOCITY_COUNTS_PER_RAD_S,
        "rated_torque_nm": r(0x6076) / 1000.0,
        "rated_current_a": r(0x6075) / 1000.0,
    }


def _board_od(board: str, node_id: int) -> canopen.ObjectDictionary:
    """The board's object dictionary for canopen, parsed from the EDS that drivers.eds generates
    from the OD table (so ``node.sdo['controlword'].raw`` and canopen's PDO/402 helpers work)."""
    from cerebellum_rt.drivers import od
    from cerebellum_rt.drivers.eds import eds_text

    return canopen.import_od(_EdsFile(eds_text(od.build_table(board))), node_id)
