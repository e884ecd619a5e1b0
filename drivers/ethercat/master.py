"""EtherCAT master transport: SOEM (through pysoem, the optional ``ethercat`` extra) behind the
:class:`cerebellum_rt.drivers.transport.Transport` contract.

``EtherCatTransport(iface)`` scans the line (SII identity of every slave checked against our
board types: vendor 0x1018:1 = :data:`cerebellum_rt.drivers.od.VENDOR_ID`, product code of the
joint or hand table), maps the PDOs (SOEM reads 0x1C12/0x1C13 and the mappings over CoE),
configures distributed clocks where present and brings the line to SAFE-OP; :meth:`start`
goes to OP. :meth:`cycle` is the hot path: one LRW frame for all slaves, called from the rtcore
loop at 1 kHz; it never raises, it returns the number of slaves whose data did not come back
(all of them for a lost frame) and counts lost frames and working-counter errors. CoE
emergencies (the boards' EMCY) are collected in :attr:`emergencies` by SOEM's mailbox reads
(any SDO, or :meth:`poll_mailboxes`).

``tx`` / ``rx`` arrays have one row per slave with the fields of the slave's PDOs (names from
the object dictionary, e.g. ``controlword``, ``target_position``; ``statusword``,
``position_actual_value``). A line mixing joints and hands gets one nested field per board
type (``tx["joint"]["controlword"][k]``); only the row's own type is sent.

Slow path: :meth:`sdo_read` / :meth:`sdo_write` (CoE, values typed by the object dictionary),
:meth:`states` (AL state and named AL status code per slave), :meth:`recover` (a slave that
dropped to SAFE-OP, e.g. after its watchdog expired, is acknowledged and brought back to OP).
:meth:`close` (also on any exception in a ``with`` block) drives the line to a controlled stop:
quick stop, then disable voltage while process data keeps flowing, then INIT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from time import perf_counter_ns
from typing import Any

import numpy as np

from cerebellum_rt.drivers.board.store import decode, encode
from cerebellum_rt.drivers.ethercat.esc.regs import STATE_NAMES, al_code_name
from cerebellum_rt.drivers.ethercat.layout import SlaveLayout, slave_layout
from cerebellum_rt.drivers.od import VENDOR_ID
from cerebellum_rt.drivers.transport import Transport
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

INIT, PREOP, SAFEOP, OP, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
CW_QUICK_STOP, CW_DISABLE_VOLTAGE = 0x0002, 0x0000
NO_FRAME = -1


def _pysoem() -> Any:
    try:
        import pysoem
    except ImportError as exc:
        raise ConfigError("EtherCAT needs pysoem: pip install 'cerebellum-rt[ethercat]' (SOEM, GPLv2)") from exc
    return pysoem


def _products() -> dict[int, str]:
    return {slave_layout(b).product_code: b for b in ("joint", "hand")}


def pdo_dtype(layout: SlaveLayout, out: bool) -> np.dtype:
    """The packed numpy dtype of a slave's outputs (RxPDOs) or inputs (TxPDOs)."""
    fields = []
    for pdo in layout.rx if out else layout.tx:
        for e in pdo.entries:
            fields.append((e.name, layout.table.entry(e.index, e.subindex).np_dtype))
    return np.dtype(fields)


@dataclass
class SlaveInfo:
    position: int
    board: str
    name: str
    vendor_id: int
    product_code: int
    revision: int
    station_address: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class EtherCatTransport(Transport):
    """See module doc. ``timeout_us``: how long one cycle waits for its frame."""

    def __init__(self, iface: str, *, timeout_us: int = 1000, dc: bool = True, check_identity: bool = True) -> None:
        super().__init__()
        ps = _pysoem()
        self._ps = ps
        self.iface = iface
        self.timeout_us = int(timeout_us)
        self.lost_frames = 0
        self.wkc_errors = 0
        self.last_rtt_ns = 0  # the last cycle's frame round trip: send_processdata to receive_processdata [ns]
        self.cycle_errors = 0
        self._in_op = False
        self._last_tx: np.ndarray | None = None
        m = self._m = ps.Master()
        m.always_release_gil = True  # other Python threads (a GUI, an in-process peer) keep running
        try:
            m.open(iface)
        except Exception as exc:  # pysoem raises ConnectionError and friends
            raise DeviceError(f"EtherCAT interface {iface}: cannot open ({exc})") from exc
        self._open = True
        try:
            n = m.config_init()
            if n <= 0:
                raise DeviceError(f"EtherCAT interface {iface}: no slave answered")
            products = _products()
            self.slaves: list[SlaveInfo] = []
            self.layouts: list[SlaveLayout] = []
            for k, s in enumerate(m.slaves):
                board = products.get(s.id)
                if check_identity and (s.man != VENDOR_ID or board is None):
                    raise DeviceError(f"EtherCAT slave {k} ({s.name}): vendor 0x{s.man:08X} product 0x{s.id:08X} "
                                      f"is not a cerebellum board (vendor 0x{VENDOR_ID:08X})")
                self.slaves.append(SlaveInfo(k, board or "?", s.name, s.man, s.id, s.rev, 0x1001 + k))
                self.layouts.append(slave_layout(board or "joint"))
            self.emergencies: list[tuple[int, int, int, bytes]] = []  # (position, code, register, data)
            for k, s in enumerate(m.slaves):
                s.add_emergency_callback(lambda e, k=k: self._on_emergency(k, e))
            m.config_map()
            self.has_dc = bool(m.config_dc()) if dc else False
            if m.state_check(SAFEOP, 500_000) != SAFEOP:
                m.read_state()
                raise DeviceError(f"EtherCAT interface {iface}: not every slave reached SAFE-OP: {self._state_text()}")
            self.expected_wkc = int(m.expected_wkc)
            self._build_arrays()
        except BaseException:
            self._shutdown_master()
            raise

    def _on_emergency(self, position: int, e: Any) -> None:
        if len(self.emergencies) < 1000:
            self.emergencies.append((position, int(e.error_code), int(e.error_reg),
                                     bytes([int(e.b1)]) + bytes(e.w1.to_bytes(2, "little")) + bytes(e.w2.to_bytes(2, "little"))))

    @property
    def soem(self) -> Any:
        """The pysoem master (for the slow-path helpers, e.g. :mod:`cerebellum_rt.drivers.ethercat.foe`)."""
        return self._m

    def poll_mailboxes(self) -> int:
        """Read every slave's out mailbox (slow path): CoE emergencies land in :attr:`emergencies`."""
        n = len(self.emergencies)
        for s in self._m.slaves:
            try:
                s.mbx_receive()
            except self._ps.Emergency as e:
                self._on_emergency(list(self._m.slaves).index(s), e)
            except Exception:
                continue
        return len(self.emergencies) - n

    # ------------------------------------------------------------------ arrays
    def _build_arrays(self) -> None:
        kinds = sorted({s.board for s in self.slaves})
        self._kinds = kinds
        by = {s.board: lay for s, lay in zip(self.slaves, self.layouts)}
        if len(kinds) == 1:
            self._tx_dtype, self._rx_dtype = pdo_dtype(by[kinds[0]], True), pdo_dtype(by[kinds[0]], False)
        else:
            self._tx_dtype = np.dtype([(k, pdo_dtype(by[k], True)) for k in kinds])
            self._rx_dtype = np.dtype([(k, pdo_dtype(by[k], False)) for k in kinds])
        self._sl = list(self._m.slaves)
        size = self._tx_dtype.itemsize
        self._tx_rows = [slice(k * size, (k + 1) * size) for k in range(len(self._sl))]  # one kind: each slave's bytes

    def tx_array(self) -> np.ndarray:
        return np.zeros(len(self.slaves), self._tx_dtype)

    def rx_array(self) -> np.ndarray:
        return np.zeros(len(self.slaves), self._rx_dtype)

    def _row_out(self, tx: np.ndarray, k: int) -> bytes:
        row = tx[k] if len(self._kinds) == 1 else tx[k][self.slaves[k].board]
        return row.tobytes()

    def _row_in(self, rx: np.ndarray, k: int, data: bytes) -> None:
        if len(self._kinds) == 1:
            rx[k] = np.frombuffer(data, self._rx_dtype, 1)[0]
        else:
            b = self.slaves[k].board
            rx[b][k] = np.frombuffer(data, self._rx_dtype[b], 1)[0]

    # ------------------------------------------------------------------ hot path
    def cycle(self, tx: np.ndarray, rx: np.ndarray) -> int:
        """One LRW exchange (see module doc). Raises only a pending stop request (Transport.request_stop)."""
        if self._stop_request is not None:
            self._raise_stop_request()
        n = len(self._sl)
        st = self.stats
        st.cycles += 1
        try:
            self._last_tx = tx
            if len(self._kinds) == 1:  # one board type: rows of one size, sliced from one copy
                raw = tx.tobytes()
                for s, row in zip(self._sl, self._tx_rows):
                    s.output = raw[row]
            else:
                for k, s in enumerate(self._sl):
                    s.output = self._row_out(tx, k)
            t0 = perf_counter_ns()
            self._m.send_processdata()
            wkc = self._m.receive_processdata(self.timeout_us)
            self.last_rtt_ns = perf_counter_ns() - t0
            st.frames_tx += 1
        except Exception:
            self.cycle_errors += 1
            st.missed += n
            return n
        if wkc == NO_FRAME or wkc <= 0:
            self.lost_frames += 1
            st.missed += n
            return n
        st.frames_rx += 1
        try:
            if len(self._kinds) == 1:
                data = b"".join([s.input for s in self._sl])
                if rx.dtype == self._rx_dtype and rx.shape == (n,) and rx.flags.c_contiguous:
                    rx.view(np.uint8)[:] = np.frombuffer(data, np.uint8)  # a byte copy (a record-wise one is 3x dearer)
                else:
                    rx[:] = np.frombuffer(data, self._rx_dtype, n)
            else:
                for k, s in enumerate(self._sl):
                    self._row_in(rx, k, s.input)
        except Exception:
            self.cycle_errors += 1
            st.bad += 1
            return n
        if wkc != self.expected_wkc:
            self.wkc_errors += 1
            missing = max(1, -(-(self.expected_wkc - wkc) // 3)) if wkc < self.expected_wkc else 1
            st.missed += missing
            return missing
        return 0

    # ------------------------------------------------------------------ states
    def start(self, tx: np.ndarray | None = None, timeout_s: float = 2.0) -> None:
        """Request OP for the whole line, exchanging process data (``tx``, default zeros) meanwhile."""
        self._check_open()
        tx = self.tx_array() if tx is None else tx
        rx = self.rx_array()
        m = self._m
        m.state = OP
        m.write_state()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.cycle(tx, rx)
            if m.state_check(OP, 1000) == OP:
                self._in_op = True
                return
        m.read_state()
        raise DeviceError(f"EtherCAT interface {self.iface}: OP not reached in {timeout_s} s: {self._state_text()}")

    def enable_sync0(self, cycle_ns: int, shift_ns: int = 0) -> None:
        """Distributed clocks: every slave's SYNC0 at ``cycle_ns`` (SOEM ``dcsync0``: the first event
        a whole number of cycles ahead on the common system time, plus ``shift_ns``); the boards
        then step their law at each SYNC0 event. Slow path, before or after :meth:`start`."""
        if not self.has_dc:
            raise DeviceError(f"EtherCAT interface {self.iface}: SYNC0 needs distributed clocks (config_dc found none)")
        if not 10_000 <= cycle_ns <= 100_000_000:
            raise ConfigError(f"SYNC0 cycle {cycle_ns} ns: out of range [10000, 100000000] ns")
        for s in self._m.slaves:
            s.dc_sync(True, int(cycle_ns), int(shift_ns))

    def states(self) -> list[dict[str, Any]]:
        """Per slave: AL state, error flag and AL status code with its name (slow path)."""
        self._m.read_state()
        out = []
        for k, s in enumerate(self._m.slaves):
            code = int(s.al_status)
            out.append({"position": k, "state": STATE_NAMES.get(s.state & 0x0F, hex(s.state)),
                        "error": bool(s.state & ACK), "al_status_code": code, "al_status": al_code_name(code)})
        return out

    def _state_text(self) -> str:
        return "; ".join(f"slave {k} {s.state:#04x} AL 0x{int(s.al_status):04X} {al_code_name(int(s.al_status))}"
                         for k, s in enumerate(self._m.slaves))

    def recover(self, tx: np.ndarray | None = None, timeout_s: float = 1.0) -> list[int]:
        """Bring slaves that left OP (watchdog, error) back: acknowledge, SAFE-OP, OP. Returns the
        positions recovered; raises DeviceError naming the AL status of any that stays out."""
        tx = self.tx_array() if tx is None else tx
        rx = self.rx_array()
        done = []
        for st in self.states():
            if st["state"] == "OP" and not st["error"]:
                continue
            s = self._m.slaves[st["position"]]
            s.state = SAFEOP + ACK if st["error"] else SAFEOP
            s.write_state()
            s.state_check(SAFEOP, 50_000)
            s.state = OP
            s.write_state()
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                self.cycle(tx, rx)
                if s.state_check(OP, 1000) == OP:
                    done.append(st["position"])
                    break
            else:
                raise DeviceError(f"EtherCAT slave {st['position']}: stays in {self.states()[st['position']]}")
        return done

    # ------------------------------------------------------------------ slow path
    def sdo_read(self, position: int, index: int, subindex: int = 0) -> int | float | str | bytes:
        self._check_open()
        e = self.layouts[position].table.entry(index, subindex)
        size = max(256, int(e.high or 4096)) if not e.is_numeric else 256  # strings / domains: room for the largest
        for attempt in range(3):  # a mailbox reply lost to a late frame is asked for again (reads only)
            try:
                data = self._m.slaves[position].sdo_read(index, subindex, size)
                break
            except self._ps.WkcError as exc:
                if attempt == 2:
                    raise DeviceError(f"EtherCAT slave {position}: SDO read 0x{index:04X}sub{subindex}: "
                                      f"no mailbox answer ({exc!r})") from exc
            except Exception as exc:
                raise DeviceError(f"EtherCAT slave {position}: SDO read 0x{index:04X}sub{subindex}: {exc!r}") from exc
        return decode(e, data)

    def sdo_write(self, position: int, index: int, subindex: int, value: int | float | str | bytes) -> None:
        self._check_open()
        e = self.layouts[position].table.entry(index, subindex)
        try:
            self._m.slaves[position].sdo_write(index, subindex, encode(e, value))
        except Exception as exc:
            raise DeviceError(f"EtherCAT slave {position}: SDO write 0x{index:04X}sub{subindex}: {exc!r}") from exc

    def send(self, msg: Any) -> None:
        """EtherCAT has no free-standing messages: use :meth:`sdo_write`."""
        raise DeviceError("EtherCatTransport.send: use sdo_write / cycle (EtherCAT carries no free messages)")

    def recv(self, timeout_s: float | None = None) -> Any | None:
        """No free-standing messages on EtherCAT: always None."""
        return None

    # ------------------------------------------------------------------ shutdown
    def controlled_stop(self, timeout_s: float = 1.0) -> bool:
        """Quick stop, then disable voltage, with process data flowing; True when every drive
        reports its power stage off (statusword bits 0-2 clear)."""
        if not self._in_op:
            return True
        tx = self.tx_array() if self._last_tx is None else self._last_tx.copy()
        rx = self.rx_array()
        ok = False
        for cw in (CW_QUICK_STOP, CW_DISABLE_VOLTAGE):
            self._set_controlwords(tx, cw)
            deadline = time.monotonic() + timeout_s / 2
            while time.monotonic() < deadline:
                if self.cycle(tx, rx) == 0:
                    words = self._statuswords(rx)
                    if cw == CW_QUICK_STOP and all((w & 0x6F) != 0x27 for w in words):
                        break  # left operation enabled (quick stop active or further)
                    if cw == CW_DISABLE_VOLTAGE and all(not w & 0x07 for w in words):
                        ok = True
                        break
                time.sleep(0.001)
        return ok

    def _set_controlwords(self, tx: np.ndarray, cw: int) -> None:
        if len(self._kinds) == 1:
            tx["controlword"] = cw
        else:
            for k in self._kinds:
                tx[k]["controlword"] = cw

    def _statuswords(self, rx: np.ndarray) -> list[int]:
        if len(self._kinds) == 1:
            return [int(w) for w in rx["statusword"]]
        return [int(rx[s.board]["statusword"][k]) for k, s in enumerate(self.slaves)]

    def _shutdown_master(self) -> None:
        if not getattr(self, "_open", False):
            return
        self._open = False
        try:
            self._m.state = INIT
            self._m.write_state()
            self._m.state_check(INIT, 50_000)
        except Exception:
            pass
        self._m.close()

    def _close(self) -> None:
        try:
            self.stopped_cleanly = self.controlled_stop()
        except Exception:
            self.stopped_cleanly = False
        finally:
            self._in_op = False
            self._shutdown_master()

    def __exit__(self, *exc: object) -> None:
        self.close()
