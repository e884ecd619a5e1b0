"""The CANopen side of an emulated board: NMT, SDO, PDO dispatch, heartbeat, EMCY, store/restore.

:class:`BoardNode` plays the role that a bus stack (e.g. CANopenNode) plays on a real board; a
subclass adds the application (``_on_sync``, ``_on_controlword``, ``_periodic_app``).

Processing is deterministic: every frame is handled in arrival order on one thread (the board's
own thread, or the caller's thread in ``threaded=False`` mode, where :meth:`poll` handles what
has arrived). Time comes from ``clock`` (``time.monotonic`` by default; a lockstep test passes a
virtual clock and calls :meth:`poll`). The board never shuts the bus down: the bus belongs to
the caller.

NMT (CiA 301 §7.2.8.3): boot-up frame (0x700+n, 0x00) then pre-operational; 0x01 start,
0x02 stop, 0x80 pre-operational, 0x81 reset node (all values from defaults + stored
parameters, boot-up again), 0x82 reset communication (0x1000-0x1FFF only). An NMT frame whose
length is not 2 is ignored. SDO runs in pre-operational and operational, PDOs and SYNC only in
operational.

Heartbeat: producer every 0x1017 ms; consumer 0x1016 (node-ID, timeout ms per sub): monitoring
of a node starts with its first heartbeat; a timeout sends EMCY 0x8130 once and marks the
connection lost until that node's next heartbeat (the application reacts per 0x6007).

EMCY (0x1014, default 0x80+n): 8 bytes = error code, error register 0x1001, 5 manufacturer
bytes (byte 3 = board-specific detail). Every error is pushed into 0x1003 (newest in sub 1,
8 deep); when the last active error clears, an EMCY with code 0x0000 is sent.

COB-ID objects (CiA 301 §7.3.5, CANOPEN.md §2.5-2.6): 0x1005 (SYNC) and 0x1014 (EMCY) accept
11-bit CAN-IDs outside the restricted ranges only (the same rule as the PDO COB-IDs: NMT 0x000,
0x001-0x07F, 0x101-0x180, the SDO ranges, 0x6E0-0x6FF, 0x701-0x7FF); bit 29 (29-bit ids) and
the reserved bits 11-28 abort 0x06090030; 0x1005 bit 30 (SYNC producer) and bit 31 are not
supported (0x06090030); 0x1014 bit 31 = EMCY not valid is accepted. 0x1016 (heartbeat
consumer): bits 24-31 are reserved (must be 0), the node-ID must be 1-127 when a time is set
(0x06090030), and one node may be watched by one sub-index only (0x06040043).

Robustness: a frame with an identifier above 0x7FF, an extended id, a remote or error frame is
ignored. An exception inside the board's handling of a frame or of its timers (the
application: plant, law) never leaves the board's thread or :meth:`poll`: it is recorded in
``crashes`` (at most 100 kept), counted in ``crash_count``, raises EMCY 0x6100 (internal
software) and calls :meth:`_app_failed`, which a drive turns into its own fault state. The
other boards on the bus are not affected.

Storage: with ``storage_path`` the parameters saved by 0x1010 live in that file (written
atomically: a temporary file, fsync, rename, fsync of the directory), so they survive a kill
of the process at any point (the old or the new set) and a restart; without it they live as
long as the board object.

CAN FD (``fd=True``; CANopen FD, CiA 1301, as far as public sources describe it, CANOPEN.md §6).
Followed: PDOs of up to 64 bytes with up to 64 mapping entries in the unchanged 0x1400-0x1A03
structures; every frame sent as FD with bit-rate switch, payloads padded to the next FD length
(so an RPDO longer than its mapping is padding, not a length error); NMT, heartbeat, SYNC
unchanged. Not followed: USDO (its frame layout is not in our sources): the board keeps the
CiA 301 SDO protocol in 8-byte frames on 0x600/0x580+n, which any classic client can use; the
extended FD EMCY (the classic 8-byte EMCY is sent); 0x1000 as an 8-entry array.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import can

from cerebellum_rt.drivers.board.flashing import FlashOptions, ProgramDownload
from cerebellum_rt.drivers.board.pdo import PdoSet, restricted_id
from cerebellum_rt.drivers.board.sdo import SdoServer
from cerebellum_rt.drivers.board.store import ABORT_PARAM, ABORT_VALUE, ObjectStore, SdoAbort
from cerebellum_rt.drivers.od import Table
from cerebellum_rt.rtcore.errors import ConfigError

NMT_BOOT, NMT_STOPPED, NMT_OPERATIONAL, NMT_PRE_OPERATIONAL = 0x00, 0x04, 0x05, 0x7F
FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)


def error_register_bit(code: int) -> int:
    """The 0x1001 bit that an error code sets (CiA 301 classes; bit 0 is always set too)."""
    hi = code >> 12
    if hi == 2:
        return 0x02  # current
    if hi == 3:
        return 0x04  # voltage
    if hi == 4:
        return 0x08  # temperature
    if code >> 8 in (0x81, 0x82):
        return 0x10  # communication
    if hi == 8:
        return 0x20  # device profile
    if hi == 0xF:
        return 0x80  # manufacturer
    return 0x00


class BoardNode:
    """CANopen node on a python-can bus (see module doc)."""

    def __init__(self, node_id: int, bus: can.BusABC, table: Table, *, fd: bool = False,
                 storage_path: str | os.PathLike | None = None, serial_number: int = 0,
                 clock: Callable[[], float] = time.monotonic, threaded: bool = True,
                 flash: FlashOptions | None = None) -> None:
        if not isinstance(node_id, int) or not 1 <= node_id <= 127:
            raise ConfigError(f"node_id = {node_id!r} is out of range [1, 127]")
        if fd and not table.fd:
            raise ConfigError(f"fd = True needs a table built with fd=True (board {table.board})")
        self.node_id = node_id
        self.bus = bus
        self.fd = fd
        self.table = table
        self.clock = clock
        self.serial_number = serial_number
        self.store = ObjectStore(table, node_id, storage_path)
        self.store.on_write[0x1003] = self._clear_history
        self.pdos = PdoSet(self.store, fd)
        self.nmt_state = NMT_BOOT
        self.active_errors: dict[int, int] = {}  # code -> detail
        self._lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.crashes: list[BaseException] = []  # never expected; kept for tests to assert on
        self.crash_count = 0
        self.store.validators[0x1005] = self._check_cob_id
        self.store.validators[0x1014] = self._check_cob_id
        self.store.validators[0x1016] = self._check_consumer_heartbeat
        slots = None if storage_path is None else Path(storage_path).with_suffix(".slots")
        self.program = ProgramDownload(self, slots, flash or FlashOptions())
        self._setup_app()
        self.program.power_on()
        self._boot()
        if threaded:
            self._thread = threading.Thread(target=self._run, name=f"board-{node_id}", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ lifecycle
    def _boot(self, comm_only: bool = False) -> None:
        self.store.reset(comm_only)
        self.program.publish()
        self._recheck_stored()
        self.store.set(0x1018, 4, self.serial_number)
        self.pdos.reload()
        self._rx_pdos = self.pdos.rx_by_cob()
        now = self.clock()
        self._hb_next = now
        self._hb_seen: dict[int, float] = {}
        self._hb_lost: set[int] = set()
        self.rpdo_timeouts: set[int] = set()
        self.rpdo_rejected: set[int] = set()  # RPDOs whose last payload broke a limit (EMCY 0x8200)
        self.sdo = SdoServer(self.store, on_error=self._crashed)  # a transfer in progress dies with the reset
        if not comm_only:
            self.active_errors.clear()
            self._reset_app()
        self.send(0x700 + self.node_id, b"\x00")
        self.nmt_state = NMT_PRE_OPERATIONAL

    def power_cycle(self) -> None:
        """The supply off and on again: every object from its defaults and the saved parameters,
        the law restarted, boot-up frame; the plant keeps its physical state."""
        with self._lock:
            self._boot()

    def hardware_reset(self) -> None:
        """A reset of the whole board (0x1F51 = 2, a started image, a power cycle): the bootloader
        picks the image (:mod:`cerebellum_rt.drivers.board.flashing`), then the firmware boots."""
        self.program.reset_requested = False
        self.program.power_on()
        self._boot()

    @property
    def service_thread(self) -> threading.Thread | None:
        """The thread that handles this board's frames (None with ``threaded=False``): the host may
        raise its scheduling priority, as a real board would have a CPU of its own."""
        return self._thread

    def close(self) -> None:
        """Stop the board's thread (idempotent). The bus stays open: it belongs to the caller."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.program.flash.close()

    def __enter__(self) -> BoardNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self.bus.recv(timeout=0.002)
            except (can.CanError, OSError, ValueError):
                if self._stop.is_set():
                    return
                time.sleep(0.01)
                continue
            with self._lock:
                if msg is not None:
                    self.handle(msg)
                self.periodic()

    def poll(self, max_frames: int = 10_000) -> int:
        """``threaded=False`` mode: handle the frames that have arrived, then the timers.
        Returns the number of frames handled."""
        n = 0
        with self._lock:
            while n < max_frames:
                msg = self.bus.recv(timeout=0.0)
                if msg is None:
                    break
                self.handle(msg)
                n += 1
            self.periodic()
        return n

    # ------------------------------------------------------------------ output
    def send(self, cob_id: int, data: bytes) -> None:
        if self.fd:
            n = next(x for x in FD_LENGTHS if x >= len(data))
            data = data.ljust(n, b"\0")
        msg = can.Message(arbitration_id=cob_id, data=data, is_extended_id=False, is_fd=self.fd,
                          bitrate_switch=self.fd)
        with contextlib.suppress(can.CanError):  # a full or closed bus drops the frame, as a controller would
            self.bus.send(msg)

    def emcy(self, code: int, detail: int = 0) -> None:
        """Raise error ``code`` (kept active until :meth:`clear_error`); sends EMCY once."""
        if code in self.active_errors:
            return
        self.active_errors[code] = detail
        self._update_error_register()
        hist = [int(self.store.get(0x1003, k)) for k in range(1, 9)]
        hist = [code | (detail & 0xFFFF) << 16, *hist[:7]]
        for k, v in enumerate(hist, 1):
            self.store.set(0x1003, k, v)
        self.store.set(0x1003, 0, min(8, int(self.store.get(0x1003, 0)) + 1))
        self._send_emcy(code, detail)

    def _clear_history(self, index: int, sub: int, value: object) -> None:
        for k in range(1, 9):
            self.store.set(0x1003, k, 0)

    def clear_error(self, code: int) -> None:
        if self.active_errors.pop(code, None) is None:
            return
        self._update_error_register()
        if not self.active_errors:
            self._send_emcy(0x0000, 0)

    def _update_error_register(self) -> None:
        reg = 0
        for c in self.active_errors:
            reg |= 0x01 | error_register_bit(c)
        self.store.set(0x1001, 0, reg)

    def _send_emcy(self, code: int, detail: int) -> None:
        cob = int(self.store.get(0x1014, 0))
        if cob & 0x80000000:
            return
        reg = int(self.store.get(0x1001, 0))
        self.send(cob & 0x7FF, bytes([code & 0xFF, code >> 8, reg, detail & 0xFF, 0, 0, 0, 0]))

    # ------------------------------------------------------------------ robustness
    def _recheck_stored(self) -> None:
        """Values loaded from flash obey the same rules as bus writes: a COB-ID or heartbeat
        entry that breaks them (an edited or foreign flash file) falls back to its default."""
        checks = ((0x1005, 0, self._check_cob_id), (0x1014, 0, self._check_cob_id),
                  *((0x1016, k, self._check_consumer_heartbeat) for k in range(1, 128)))
        for index, sub, check in checks:
            if not self.store.has(index, sub):
                continue
            try:
                check(index, sub, self.store.get(index, sub))
            except SdoAbort:
                self.store.set(index, sub, self.table.objects[index].sub(sub).default_for(self.node_id))

    def _crashed(self, exc: BaseException) -> None:
        """An exception inside the board: record it, EMCY 0x6100, the application's reaction."""
        self.crash_count += 1
        if len(self.crashes) < 100:
            self.crashes.append(exc)
        try:
            self.emcy(0x6100, 0)
            self._app_failed(exc)
        except Exception as again:  # the reaction itself failed: keep the record, keep serving
            if len(self.crashes) < 100:
                self.crashes.append(again)

    def _app_failed(self, exc: BaseException) -> None:
        """The application raised ``exc``; a drive enters its fault state (see DriveBoard)."""

    def _check_cob_id(self, index: int, sub: int, value: object) -> None:
        v = int(value)  # type: ignore[call-overload]
        allowed_flags = 0x80000000 if index == 0x1014 else 0
        if v & ~(0x7FF | allowed_flags) or restricted_id(v & 0x7FF):
            raise SdoAbort(ABORT_VALUE, f"0x{index:04X} COB-ID 0x{v:08X} (29-bit, reserved bits or restricted CAN-ID)")

    def _check_consumer_heartbeat(self, index: int, sub: int, value: object) -> None:
        v = int(value)  # type: ignore[call-overload]
        if sub == 0:
            return
        node, ms = (v >> 16) & 0xFF, v & 0xFFFF
        if v >> 24 or (ms and not 1 <= node <= 127):
            raise SdoAbort(ABORT_VALUE, f"0x1016sub{sub} = 0x{v:08X} (reserved bits or node-ID 0/above 127)")
        if node and ms:
            for k in range(1, 128):
                if k == sub or not self.store.has(index, k):
                    continue
                other = int(self.store.get(index, k))
                if (other >> 16) & 0xFF == node and other & 0xFFFF:
                    raise SdoAbort(ABORT_PARAM, f"0x1016sub{sub}: node {node} is already watched by sub {k}")

    # ------------------------------------------------------------------ input
    def handle(self, msg: can.Message) -> None:
        """One received frame (called on the board's one processing thread). Never raises: an
        exception of the board's own code becomes the board's fault (see module doc)."""
        try:
            self._handle(msg)
        except Exception as exc:
            self._crashed(exc)

    def _handle(self, msg: can.Message) -> None:
        if msg.is_error_frame or msg.is_remote_frame or msg.is_extended_id or not 0 <= msg.arbitration_id <= 0x7FF:
            return
        cob, data = msg.arbitration_id, bytes(msg.data)
        now = self.clock()
        if cob == 0x000:
            self._nmt(data)
            return
        if self.nmt_state == NMT_STOPPED:
            if (cob & 0x780) == 0x700:
                self._heartbeat_rx(cob & 0x7F, now)
            return
        if cob == 0x600 + self.node_id:
            for reply in self.sdo.handle(data, now):
                self.send(0x580 + self.node_id, reply)
                if reply[0] in (0x60, 0x20, 0x30, 0xA1):  # a download (or a segment of one) was accepted
                    self._on_sdo_download(now)
            if self.program.reset_requested:  # 0x1F51 = 2, or a verified image to test-boot
                self.hardware_reset()
            return
        if (cob & 0x780) == 0x700 and len(data) == 1:
            self._heartbeat_rx(cob & 0x7F, now)
            return
        if self.nmt_state != NMT_OPERATIONAL:
            return
        if cob == (int(self.store.get(0x1005, 0)) & 0x7FF) and len(data) <= 1:
            self._on_sync(now)
            return
        ch = self._rx_pdos.get(cob)
        if ch is not None:
            self._rpdo_rx(ch, data, now)

    def _nmt(self, data: bytes) -> None:
        if len(data) != 2 or data[1] not in (0, self.node_id):
            return
        cmd = data[0]
        before = self.nmt_state
        if cmd == 0x01:
            self.nmt_state = NMT_OPERATIONAL
        elif cmd == 0x02:
            self.nmt_state = NMT_STOPPED
        elif cmd == 0x80:
            self.nmt_state = NMT_PRE_OPERATIONAL
        elif cmd == 0x81:
            self._boot(comm_only=False)
        elif cmd == 0x82:
            self._boot(comm_only=True)
        else:
            return
        if before == NMT_OPERATIONAL and self.nmt_state != NMT_OPERATIONAL:
            self._left_operational()
        if self.nmt_state == NMT_OPERATIONAL and before != NMT_OPERATIONAL:
            self._rx_pdos = self.pdos.rx_by_cob()
            for ch in (*self.pdos.rpdos, *self.pdos.tpdos):
                ch.last_rx_t = ch.last_tx_t = None
            self._entered_operational()

    def _rpdo_rx(self, ch, data: bytes, now: float) -> bool:
        """One RPDO; True if it was processed. Not processed (and no deadline or watchdog
        refresh): too short (EMCY 0x8210), a value outside its limits (EMCY 0x8200, cleared when
        that RPDO next arrives within its limits)."""
        need = ch.length
        if len(data) < need:
            self.emcy(0x8210, ch.number)  # PDO not processed: length error
            return False
        if len(data) > need and not self.fd:
            self.emcy(0x8220, ch.number)  # PDO length exceeded (processed)
        if self.pdos.check(ch, data) is not None:
            self.rpdo_rejected.add(ch.number)
            self.emcy(0x8200, ch.number)  # PDO not processed: a value outside its limits
            return False
        if ch.number in self.rpdo_rejected:
            self.rpdo_rejected.discard(ch.number)
            if not self.rpdo_rejected:
                self.clear_error(0x8200)
        ch.last_rx_t = now
        if ch.timed_out:
            ch.timed_out = False
            self.rpdo_timeouts.discard(ch.number)
            if not self.rpdo_timeouts:
                self.clear_error(0x8250)
        if ch.trans_type <= 240:
            ch.last_data = data[:need]  # applied at the next SYNC
        else:
            self.pdos.unpack(ch, data[:need])
            self._on_rpdo_applied(ch)
        return True

    def apply_pending_rpdos(self) -> None:
        """Synchronous RPDOs received before this SYNC take effect now (CiA 301 §7.2.2.3)."""
        for ch in self._rx_pdos.values():
            if ch.last_data is not None:
                self.pdos.unpack(ch, ch.last_data)
                ch.last_data = None
                self._on_rpdo_applied(ch)

    def _pdo_timers(self, now: float) -> None:
        """RPDO deadline monitoring (event timer of 0x1400+k: EMCY 0x8250 once, until the next
        reception) and event-driven TPDOs (types 254/255: on change, at most every inhibit time;
        and every event-timer period)."""
        if self.nmt_state != NMT_OPERATIONAL:
            return
        for ch in self._rx_pdos.values():
            if (ch.event_timer_ms and ch.last_rx_t is not None and not ch.timed_out
                    and now - ch.last_rx_t > ch.event_timer_ms / 1000.0):
                ch.timed_out = True
                self.rpdo_timeouts.add(ch.number)
                self.emcy(0x8250, ch.number)
        for ch in self.pdos.tpdos:
            if not ch.valid or not ch.entries or ch.trans_type < 254:
                continue
            data = self.pdos.pack(ch)
            due = ch.event_timer_ms and (ch.last_tx_t is None or now - ch.last_tx_t >= ch.event_timer_ms / 1000.0)
            changed = data != ch.last_data and (
                ch.last_tx_t is None or now - ch.last_tx_t >= ch.inhibit_100us * 1e-4)
            if due or changed:
                ch.last_data, ch.last_tx_t = data, now
                self.send(ch.cob_id, data)

    def send_sync_tpdos(self) -> None:
        """TPDOs due at this SYNC (types 1-240: every n-th SYNC; type 0: when the data changed)."""
        for ch in self.pdos.tpdos:
            if not ch.valid or not ch.entries or ch.trans_type > 240:
                continue
            data = self.pdos.pack(ch)
            if ch.trans_type == 0:
                if data != ch.last_data:
                    ch.last_data = data
                    self.send(ch.cob_id, data)
                continue
            ch.sync_count += 1
            if ch.sync_count >= ch.trans_type:
                ch.sync_count = 0
                self.send(ch.cob_id, data)

    # ------------------------------------------------------------------ timers
    def periodic(self) -> None:
        """Heartbeat producer/consumer, SDO timeout, the application's timers. Never raises (see
        :meth:`handle`)."""
        try:
            self._periodic()
        except Exception as exc:
            self._crashed(exc)

    def _periodic(self) -> None:
        now = self.clock()
        period_ms = int(self.store.get(0x1017, 0))
        if period_ms and now >= self._hb_next:
            self.send(0x700 + self.node_id, bytes([self.nmt_state]))
            self._hb_next = max(self._hb_next + period_ms / 1000.0, now)
        for reply in self.sdo.poll(now):
            self.send(0x580 + self.node_id, reply)
        self._pdo_timers(now)
        for k in range(1, 5):
            v = int(self.store.get(0x1016, k))
            node, ms = (v >> 16) & 0x7F, v & 0xFFFF
            if not node or not ms or node not in self._hb_seen or node in self._hb_lost:
                continue
            if now - self._hb_seen[node] > ms / 1000.0:
                self._hb_lost.add(node)
                self.emcy(0x8130, node)
        self._periodic_app(now)

    def _heartbeat_rx(self, node: int, now: float) -> None:
        self._hb_seen[node] = now
        if node in self._hb_lost:
            self._hb_lost.discard(node)
            if not self._hb_lost:
                self.clear_error(0x8130)

    @property
    def heartbeat_lost(self) -> bool:
        return bool(self._hb_lost)

    # ------------------------------------------------------------------ application hooks
    def _setup_app(self) -> None:
        """Called once in the constructor, after the store exists and before the boot-up."""

    def _reset_app(self) -> None:
        """NMT reset node: the application starts over."""

    def _on_sync(self, now: float) -> None:
        """SYNC in operational: the default sends the TPDOs then applies the RPDOs."""
        self.send_sync_tpdos()
        self.apply_pending_rpdos()

    def _on_rpdo_applied(self, ch) -> None:
        """An RPDO's data was written into the store."""

    def _on_sdo_download(self, now: float) -> None:
        """An SDO download request to this node was accepted (the master is alive)."""

    def _left_operational(self) -> None:
        """NMT left operational (stop, pre-operational, reset)."""

    def _entered_operational(self) -> None:
        """NMT entered operational."""

    def _periodic_app(self, now: float) -> None:
        """Application timers (communication timeout, internal cycles)."""
