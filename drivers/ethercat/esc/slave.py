"""One emulated ESC (see the package doc): registers, SyncManagers, FMMUs, SII, AL, watchdog, DC.

Two sides touch it, as on a real ESC: the EtherCAT side (:meth:`read`, :meth:`write`,
:meth:`logical`, called by the datagram engine while a frame passes) and the PDI side (the
application, in the line's application thread or in a worker process). The line serialises them
with one lock; the slow part of the application (the board's cycle) runs outside it on copies,
so a frame is never delayed by the plant. The ESC calls its application through
``set_al_state``, ``sample``, ``mailbox``, ``emergency_frames`` and ``set_sync0`` (a
:class:`~cerebellum_rt.drivers.ethercat.slave_app.BoardApp`, or a
:class:`~cerebellum_rt.drivers.ethercat.esc.pdi.RemoteApp` for one in a worker).

AL states: INIT, PRE-OP (the standard mailboxes, SII words 0x18-0x1B, must be programmed),
BOOT (only from INIT, with the bootstrap mailboxes of words 0x14-0x17, else 0x0015; left only
for INIT; the mailbox serves FoE), SAFE-OP, OP.

SyncManagers: SM0/SM1 in mailbox mode (a write that reaches the last byte of SM0 fills it; a
read of SM1 while it is empty is not acknowledged; a read of its last byte empties it), SM2/SM3
buffered: the master writes outputs into SM2 (a write reaching its last byte is a complete
buffer: it re-triggers the watchdog and goes to the application), and reads the inputs the
application left in SM3 (only complete buffers: the application writes them under the lock).
"""

from __future__ import annotations

import struct
import time
from typing import Any

from cerebellum_rt.drivers.ethercat.esc import regs as R
from cerebellum_rt.drivers.ethercat.sii import sii_image

_DC_HOP_NS = 500  # modelled propagation + forwarding delay per slave, per direction
_WRITABLE = bytearray(R.MEM_SIZE)
for _lo, _hi in R.WRITABLE:
    _WRITABLE[_lo:_hi] = b"\x01" * (_hi - _lo)
for _k in range(R.N_SM):  # SM status and PDI control bytes are read-only to the master
    _WRITABLE[R.SM_BASE + 8 * _k + 5] = _WRITABLE[R.SM_BASE + 8 * _k + 7] = 0


class EscSlave:
    """One ESC with its application (a :class:`cerebellum_rt.drivers.ethercat.slave_app.BoardApp`)."""

    def __init__(self, app: Any, serial: int = 0, watchdog_ms: float = 100.0, clock_offset_ns: int = 0) -> None:
        self.app = app
        self.layout = app.layout
        self.eeprom = bytearray(sii_image(self.layout, serial))
        self.clock_offset_ns = clock_offset_ns
        self.watchdog_ms = watchdog_ms
        self.last = False
        self._position, self._reach = 0, 1
        self.al_events: list[str] = []  # transitions and errors, newest last (bounded)
        self.power_on()

    # ------------------------------------------------------------------ reset
    def power_on(self) -> None:
        if getattr(self, "mem", None) is None:
            self.mem = bytearray(R.MEM_SIZE)
        m = self.mem  # cleared in place: the C engine holds a pointer into it
        m[:] = bytes(R.MEM_SIZE)
        m[R.TYPE], m[R.REVISION] = 0x11, 0x02
        m[R.FMMU_COUNT], m[R.SM_COUNT], m[R.RAM_SIZE], m[R.PORT_DESC] = R.N_FMMU, R.N_SM, 8, 0x0F
        struct.pack_into("<H", m, R.FEATURES, R.FEATURE_DC | R.FEATURE_DC64)
        struct.pack_into("<HH", m, R.PDI_CONTROL, *struct.unpack_from("<HH", self.eeprom, 0))
        struct.pack_into("<H", m, R.WD_DIVIDER, 2498)  # 100 µs units
        struct.pack_into("<H", m, R.WD_TIME_PD, min(0xFFFF, round(self.watchdog_ms * 10)))
        struct.pack_into("<H", m, R.EEP_CONTROL, R.EEP_READ8)
        self._set_al(R.INIT, 0)
        self._fmmus: list[tuple[int, int, int, int]] = []
        self._plans: dict[tuple[int, int, bool, bool], tuple] = {}
        self._dc_locked = False  # the drift compensation has aligned this clock (one host clock: it stays)
        self._mbx_areas: tuple[int, int, int, int] | None = None  # SM0 / SM1 areas (cached)
        self._mbx_req: bytes | None = None
        self._mbx_queue: list[bytes] = []
        self._mbx_last = b""  # the last reply put into SM1 (mailbox repeat)
        self._repeat = 0
        self.outputs: bytes | None = None  # the last complete SM2 buffer not yet taken by the application
        self._wd_t: float | None = None
        self._dc_adjust_ns = 0  # the drift compensation's correction (the reference time's writes)
        self._sync0_start = 0
        self.set_ports(self.last)

    def set_ports(self, last: bool) -> None:
        """DL status: port 0 open with communication; port 1 open unless last; ports 2/3 closed."""
        self.last = last
        st = 0x0001 | 0x0010 | 0x0200 | 0x1000 | 0x4000
        st |= 0x0400 if last else (0x0020 | 0x0800)
        struct.pack_into("<H", self.mem, R.DL_STATUS, st)

    # ------------------------------------------------------------------ state
    @property
    def al_state(self) -> int:
        return self.mem[R.AL_STATUS] & 0x0F

    @property
    def al_code(self) -> int:
        return struct.unpack_from("<H", self.mem, R.AL_CODE)[0]

    @property
    def station_address(self) -> int:
        return self.mem[R.STATION_ADDR] | self.mem[R.STATION_ADDR + 1] << 8

    def _set_al(self, state: int, code: int) -> None:
        before = self.mem[R.AL_STATUS] & 0x0F
        struct.pack_into("<H", self.mem, R.AL_STATUS, state | (R.AL_ERROR if code else 0))
        struct.pack_into("<H", self.mem, R.AL_CODE, code)
        if before != state:
            self.app.set_al_state(state)
        if len(self.al_events) < 256:
            what = R.STATE_NAMES.get(state, hex(state))
            self.al_events.append(what if not code else f"{what} error 0x{code:04X} {R.al_code_name(code)}")

    def _sm(self, k: int) -> tuple[int, int, int, int]:
        """(start, length, control, activate) of SyncManager k."""
        start, length, ctrl, _st, act = struct.unpack_from("<HHBBB", self.mem, R.SM_BASE + 8 * k)
        return start, length, ctrl, act

    def _al_control(self) -> None:
        ctl = struct.unpack_from("<H", self.mem, R.AL_CONTROL)[0]
        req, ack = ctl & 0x0F, bool(ctl & R.AL_ERROR)
        cur = self.al_state
        if self.mem[R.AL_STATUS] & R.AL_ERROR:
            if not ack and req != R.INIT:
                return  # an error must be acknowledged first (a request for INIT always works)
            struct.pack_into("<H", self.mem, R.AL_CODE, 0)
            self.mem[R.AL_STATUS] = cur
        if req == cur:
            return
        if req not in R.STATE_NAMES:
            return self._set_al(cur, 0x0012)
        if req == R.INIT:  # the application deactivates the mailbox SyncManagers: both buffers empty
            self._mbx_req, self._mbx_queue, self._mbx_last = None, [], b""
            self.mem[R.SM_BASE + 5] &= ~0x08
            self.mem[R.SM_BASE + 8 + 5] &= ~0x08
            return self._set_al(R.INIT, 0)
        if cur == R.BOOT:
            return self._set_al(cur, 0x0011)  # BOOT is left only for INIT
        if req == R.BOOT:
            if cur != R.INIT:
                return self._set_al(cur, 0x0011)
            if not self._mailbox_ok(boot=True):
                return self._set_al(R.INIT, 0x0015)
            return self._set_al(R.BOOT, 0)
        if req == R.PREOP:
            if cur == R.INIT and not self._mailbox_ok():
                return self._set_al(R.INIT, 0x0016)
            return self._set_al(R.PREOP, 0)
        if req == R.SAFEOP:
            if cur == R.PREOP:
                code = self._pd_config_error()
                if code:
                    return self._set_al(R.PREOP, code)
                inputs = self.app.sample()
                if inputs is not None:
                    self._write_inputs(inputs)
                return self._set_al(R.SAFEOP, 0)
            if cur == R.OP:
                return self._set_al(R.SAFEOP, 0)
            return self._set_al(cur, 0x0011)
        if req == R.OP:
            if cur != R.SAFEOP:
                return self._set_al(cur, 0x0011)
            self._wd_t = time.monotonic()
            struct.pack_into("<H", self.mem, R.WD_STATUS_PD, 1)
            return self._set_al(R.OP, 0)
        return None

    def _mailbox_ok(self, boot: bool = False) -> bool:
        """SM0/SM1 programmed as the SII's standard (words 0x18-0x1B) or bootstrap (0x14-0x17) mailboxes."""
        s0, s1 = self._sm(0), self._sm(1)
        out_start, out_len, in_start, in_len = struct.unpack_from("<4H", self.eeprom, 2 * (0x14 if boot else 0x18))
        return (s0[0], s0[1]) == (out_start, out_len) and (s1[0], s1[1]) == (in_start, in_len) and bool(s0[3] & 1) \
            and bool(s1[3] & 1) and (s0[2] & 0x0F) == 0x06 and (s1[2] & 0x0F) == 0x02

    def _pd_config_error(self) -> int:
        s2, s3 = self._sm(2), self._sm(3)
        if self.layout.out_bytes and (s2[1] != self.layout.out_bytes or not s2[3] & 1 or s2[2] & 0x0F != 0x04):
            return 0x001D
        if self.layout.in_bytes and (s3[1] != self.layout.in_bytes or not s3[3] & 1 or s3[2] & 0x0F != 0x00):
            return 0x001E
        if (s2[0] < R.RAM_START or s2[0] + s2[1] > R.MEM_SIZE or s3[0] < R.RAM_START
                or s3[0] + s3[1] > R.MEM_SIZE):
            return 0x0017
        return 0

    # ------------------------------------------------------------------ EtherCAT side
    def read(self, addr: int, n: int, t_ns: int = 0) -> bytes | None:
        """A physical read; None when the ESC does not acknowledge it (out of range, empty mailbox)."""
        end = addr + n
        if addr < 0 or end > R.MEM_SIZE:
            return None
        m = self.mem
        if addr < R.DC_SYS_TIME + 8 and end > R.DC_SYS_TIME:
            struct.pack_into("<Q", m, R.DC_SYS_TIME, self.system_time_ns(t_ns) & 0xFFFFFFFFFFFFFFFF)
        if addr < R.DC_SYNC0_START + 8 and end > R.DC_SYNC0_START:
            self._next_sync0(t_ns)
        s1, l1, _c, act = self._sm(1)
        if act & 1 and addr < s1 + l1 and end > s1:
            if not m[R.SM_BASE + 8 + 5] & 0x08:
                return None  # mailbox empty: no working counter
            data = bytes(m[addr:end])
            if end >= s1 + l1:  # last byte read: the buffer is free again
                m[R.SM_BASE + 8 + 5] &= ~0x08
                if self._mbx_queue:
                    self._post(self._mbx_queue.pop(0))
            return data
        return bytes(m[addr:end])

    def write(self, addr: int, data: bytes | memoryview, t_ns: int = 0) -> bool:
        end = addr + len(data)
        if addr < 0 or end > R.MEM_SIZE:
            return False
        if addr == R.DC_SYS_TIME and end - addr in (4, 8):
            self._compensate(bytes(data), t_ns)  # the reference clock's time (ARMW/FRMW each cycle)
            return True
        m = self.mem
        s0, l0, _c0, a0 = self._sm(0)
        if a0 & 1 and addr < s0 + l0 and end > s0 and m[R.SM_BASE + 5] & 0x08:
            return False  # mailbox full: the write is refused
        before_sm = bytes(m[R.SM_BASE : R.SM_BASE + 8 * R.N_SM]) if addr < R.SM_BASE + 8 * R.N_SM and end > R.SM_BASE else None
        w = _WRITABLE
        if addr >= R.RAM_START:
            m[addr:end] = data
        else:
            for k, b in enumerate(data):
                if w[addr + k]:
                    m[addr + k] = b
        self._after_write(addr, end, t_ns, before_sm)
        return True

    def _after_write(self, addr: int, end: int, t_ns: int, before_sm: bytes | None) -> None:
        m = self.mem
        if (addr < R.FMMU_BASE + 16 * R.N_FMMU and end > R.FMMU_BASE) or before_sm is not None:
            self._plans = {}
        if addr < R.FMMU_BASE + 16 * R.N_FMMU and end > R.FMMU_BASE:
            self._fmmus = []
            for k in range(R.N_FMMU):
                lstart, length, _lb, _le, pstart, _pb, kind, act = struct.unpack_from("<IHBBHBBB", m, R.FMMU_BASE + 16 * k)
                if act & 1 and length and kind & 0x03:
                    self._fmmus.append((lstart, length, pstart, kind & 0x03))
        if before_sm is not None:
            self._mbx_areas = None
            for k in range(R.N_SM):  # (re)programming an SM resets its buffer state
                if before_sm[8 * k : 8 * k + 5] != m[R.SM_BASE + 8 * k : R.SM_BASE + 8 * k + 5]:
                    m[R.SM_BASE + 8 * k + 5] = 0
                    if k == 1:
                        self._repeat = m[R.SM_BASE + 8 + 6] & 0x02
        if addr <= R.SM_BASE + 8 + 6 < end and (m[R.SM_BASE + 8 + 6] & 0x02) != self._repeat:
            self._mailbox_repeat()
        if addr <= R.AL_CONTROL < end:
            self._al_control()
        if addr < R.EEP_CONTROL + 2 and end > R.EEP_CONTROL:
            self._eeprom_command()
        if addr <= R.DC_RECV_TIME < end:
            self._latch_receive_times(t_ns)
        if addr < R.DC_SYS_DELAY + 4 and end > R.DC_SYS_OFFSET:
            self._dc_locked = False  # new offset or delay: align again at the next reference time
        if addr < R.DC_SYNC0_CYCLE + 4 and end > R.DC_ACTIVATION:
            self._sync_changed()
        if addr < R.ERR_COUNTERS + 0x14 and end > R.ERR_COUNTERS:
            m[R.ERR_COUNTERS : R.ERR_COUNTERS + 0x14] = bytes(0x14)
        if end > R.RAM_START:
            self._ram_written(addr, end)

    def _ram_written(self, addr: int, end: int) -> None:
        m = self.mem
        s0, s0e, _s1, _s1e = self._mailboxes()
        if s0e > s0 and addr < s0e <= end:
            m[R.SM_BASE + 5] |= 0x08
            self._mbx_req = bytes(m[s0:s0e])
        s2, l2, c2, a2 = self._sm(2)
        if a2 & 1 and l2 and addr < s2 + l2 <= end:
            self.outputs = bytes(m[s2 : s2 + l2])
            if c2 & 0x40:
                self._wd_t = time.monotonic()
                struct.pack_into("<H", m, R.WD_STATUS_PD, 1)

    def _mailboxes(self) -> tuple[int, int, int, int]:
        if self._mbx_areas is None:
            s0, l0, _c, a0 = self._sm(0)
            s1, l1, _c, a1 = self._sm(1)
            self._mbx_areas = (s0, s0 + l0 if a0 & 1 else s0, s1, s1 + l1 if a1 & 1 else s1)
        return self._mbx_areas

    def logical(self, laddr: int, data: memoryview, read: bool, write: bool, t_ns: int = 0) -> int:
        """An LRD/LWR/LRW passing this ESC: the working-counter increment (read +1, write +2 for
        LRW, +1 for LWR). A datagram that touches only process RAM (no mailbox) with separate read
        and write ranges follows a plan made at its first pass (the slices to copy and whether it
        completes the SM2 buffer), kept until the FMMUs or SyncManagers change: the cyclic frame
        costs a few slice copies per ESC."""
        key = (laddr, len(data), read, write)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(laddr, len(data), read, write)
        if not plan:
            return self._logical(laddr, data, read, write, t_ns)
        writes, reads, completes, wkc = plan
        m = self.mem
        for d0, d1, p, pe in writes:
            m[p:pe] = data[d0:d1]
        for d0, d1, p, pe in reads:
            data[d0:d1] = m[p:pe]
        if completes:
            s2, e2, watch = completes
            self.outputs = bytes(m[s2:e2])
            if watch:
                self._wd_t = t_ns / 1e9 if t_ns else time.monotonic()
                m[R.WD_STATUS_PD] = 1
        return wkc

    def _plan(self, laddr: int, n: int, read: bool, write: bool) -> tuple | None:
        """See :meth:`logical`; () when the datagram needs the general path."""
        end = laddr + n
        writes, reads = [], []
        m0, m0e, m1, m1e = self._mailboxes()
        for lstart, length, pstart, kind in self._fmmus:
            lo, hi = max(lstart, laddr), min(lstart + length, end)
            if lo >= hi:
                continue
            p = pstart + (lo - lstart)
            pe = p + hi - lo
            if not (p >= R.RAM_START and pe <= R.MEM_SIZE and (pe <= m0 or p >= m0e) and (pe <= m1 or p >= m1e)):
                return ()
            if kind & 0x01 and read:
                reads.append((lo - laddr, hi - laddr, p, pe))
            if kind & 0x02 and write:
                writes.append((lo - laddr, hi - laddr, p, pe))
        for r0, r1, _p, _pe in reads:
            if any(r0 < w1 and w0 < r1 for w0, w1, _q, _qe in writes):
                return ()  # a range both read and written: the general path keeps the order right
        completes = None
        s2, l2, c2, a2 = self._sm(2)
        if a2 & 1 and l2 and any(p < s2 + l2 <= pe for _d0, _d1, p, pe in writes):
            completes = (s2, s2 + l2, bool(c2 & 0x40))
        wkc = int(bool(reads)) + (2 if read else 1) * int(bool(writes))
        return tuple(writes), tuple(reads), completes, wkc

    def _logical(self, laddr: int, data: memoryview, read: bool, write: bool, t_ns: int = 0) -> int:
        end = laddr + len(data)
        did_r = did_w = False
        incoming = bytes(data) if read and write else data
        m = self.mem
        for lstart, length, pstart, kind in self._fmmus:
            lo, hi = max(lstart, laddr), min(lstart + length, end)
            if lo >= hi:
                continue
            p = pstart + (lo - lstart)
            pe = p + hi - lo
            m0, m0e, m1, m1e = self._mailboxes()
            if p >= R.RAM_START and pe <= R.MEM_SIZE and (pe <= m0 or p >= m0e) and (pe <= m1 or p >= m1e):
                if kind & 0x01 and read:
                    data[lo - laddr : hi - laddr] = m[p:pe]
                    did_r = True
                if kind & 0x02 and write:
                    m[p:pe] = incoming[lo - laddr : hi - laddr]
                    self._ram_written(p, pe)
                    did_w = True
                continue
            if kind & 0x01 and read:
                got = self.read(p, hi - lo, t_ns)
                if got is not None:
                    data[lo - laddr : hi - laddr] = got
                    did_r = True
            if kind & 0x02 and write and self.write(p, incoming[lo - laddr : hi - laddr], t_ns):
                did_w = True
        return int(did_r) + (2 if read else 1) * int(did_w)

    # ------------------------------------------------------------------ SII EEPROM
    def _eeprom_command(self) -> None:
        m = self.mem
        ctl, addr = struct.unpack_from("<HI", m, R.EEP_CONTROL)
        cmd = ctl & 0x0700
        status = R.EEP_READ8
        if cmd == R.EEP_CMD_READ:
            b = (addr & 0xFFFF) * 2
            chunk = bytes(self.eeprom[b : b + 8]).ljust(8, b"\xff")
            m[R.EEP_DATA : R.EEP_DATA + 8] = chunk
        elif cmd == R.EEP_CMD_WRITE:
            b = (addr & 0xFFFF) * 2
            if b + 2 <= len(self.eeprom):
                self.eeprom[b : b + 2] = m[R.EEP_DATA : R.EEP_DATA + 2]
        elif cmd == R.EEP_CMD_RELOAD:
            struct.pack_into("<HH", m, R.PDI_CONTROL, *struct.unpack_from("<HH", self.eeprom, 0))
        elif cmd:
            status |= R.EEP_ERR_CMD
        struct.pack_into("<H", m, R.EEP_CONTROL, status)

    # ------------------------------------------------------------------ distributed clocks
    # The line's true time is the host's monotonic clock; the frame reaches this ESC ``_DC_HOP_NS``
    # per position after it left the master. Local time = true time + ``clock_offset_ns`` (every
    # ESC's clock starts elsewhere); system time = local time + offset 0x0920 (written by the
    # master's ``config_dc``) + the drift compensation's correction (the reference clock's time,
    # written to 0x0910 each cycle, plus this ESC's delay 0x0928, is taken at once: one host
    # clock, so there is no drift to filter). After that every ESC's system time is the same.
    def local_time_ns(self, t_ns: int = 0) -> int:
        return (t_ns or time.monotonic_ns()) + self._position * _DC_HOP_NS + self.clock_offset_ns

    def system_offset_ns(self) -> int:
        """System time minus true time (host monotonic ns) at this ESC."""
        return self.clock_offset_ns + struct.unpack_from("<q", self.mem, R.DC_SYS_OFFSET)[0] + self._dc_adjust_ns

    def system_time_ns(self, t_ns: int = 0) -> int:
        return self.local_time_ns(t_ns) + struct.unpack_from("<q", self.mem, R.DC_SYS_OFFSET)[0] + self._dc_adjust_ns

    def _compensate(self, data: bytes, t_ns: int) -> None:
        if self._dc_locked:
            return
        self._dc_locked = True
        delay = struct.unpack_from("<I", self.mem, R.DC_SYS_DELAY)[0]
        own = self.system_time_ns(t_ns)
        if len(data) == 8:
            diff = struct.unpack("<q", data)[0] + delay - own
        else:  # 32-bit system time: the difference of the low words
            diff = ((struct.unpack("<I", data)[0] + delay - own + 0x80000000) & 0xFFFFFFFF) - 0x80000000
        self._dc_adjust_ns += diff
        if diff and self.sync0()[0]:
            self._sync_changed()  # the application's SYNC0 clock follows the corrected system time

    def sync0(self) -> tuple[bool, int, int]:
        """(active, start time, cycle time ns): SYNC0 runs when cyclic operation (0x0981 bit 0)
        and SYNC0 (bit 1) are on, with a non-zero cycle (0x09A0); start 0x0990 in system time."""
        act = self.mem[R.DC_ACTIVATION]
        start = struct.unpack_from("<Q", self.mem, R.DC_SYNC0_START)[0]
        cycle = struct.unpack_from("<I", self.mem, R.DC_SYNC0_CYCLE)[0]
        return (act & 0x03) == 0x03 and cycle > 0, start, cycle

    def _sync_changed(self) -> None:
        active, start, cycle = self.sync0()
        if active:
            self._sync0_start = start
        self.app.set_sync0(active, start, cycle, self.system_offset_ns())

    def _next_sync0(self, t_ns: int) -> None:
        """Once active, 0x0990 reads the system time of the next SYNC0 event."""
        active, _start, cycle = self.sync0()
        if not active:
            return
        start = self._sync0_start
        now = self.system_time_ns(t_ns)
        nxt = start if now < start else start + ((now - start) // cycle + 1) * cycle
        struct.pack_into("<Q", self.mem, R.DC_SYNC0_START, nxt & 0xFFFFFFFFFFFFFFFF)

    def _latch_receive_times(self, t_ns: int) -> None:
        """A write to 0x0900 latches the port receive times of this frame (line model: a hop of
        ``_DC_HOP_NS`` each way), and 0x0918 the processing unit's receive time."""
        pos, n = self._position, self._reach
        t0 = self.local_time_ns(t_ns)
        t1 = t0 + 2 * (n - 1 - pos) * _DC_HOP_NS
        struct.pack_into("<IIII", self.mem, R.DC_RECV_TIME, t0 & 0xFFFFFFFF, 0 if self.last else t1 & 0xFFFFFFFF, 0, 0)
        struct.pack_into("<Q", self.mem, R.DC_RECV_TIME_PU, t0)

    def place(self, position: int, reach: int) -> None:
        """The slave's position in the line and how many slaves the frame reaches (DC model, ports)."""
        self._position, self._reach = position, reach
        self.set_ports(position == reach - 1)

    # ------------------------------------------------------------------ PDI side
    def _write_inputs(self, data: bytes) -> None:
        s3, l3, _c, _a = self._sm(3)
        if l3 == len(data) and s3 >= R.RAM_START and s3 + l3 <= R.MEM_SIZE:
            self.mem[s3 : s3 + l3] = data

    def _post(self, reply: bytes) -> None:
        s1, l1, _c, act = self._sm(1)
        if not act & 1 or not l1:
            return
        if self.mem[R.SM_BASE + 8 + 5] & 0x08:
            if len(self._mbx_queue) < 8:
                self._mbx_queue.append(reply)
            return
        self._mbx_last = reply[:l1].ljust(l1, b"\0")
        self.mem[s1 : s1 + l1] = self._mbx_last
        self.mem[R.SM_BASE + 8 + 5] |= 0x08

    def _mailbox_repeat(self) -> None:
        """The master toggled SM1's repeat request (its read of the mailbox was lost): present the
        last reply again and acknowledge in the PDI control byte."""
        m = self.mem
        self._repeat = m[R.SM_BASE + 8 + 6] & 0x02
        s1, l1, _c, act = self._sm(1)
        if act & 1 and l1 and self._mbx_last:
            m[s1 : s1 + l1] = self._mbx_last
            m[R.SM_BASE + 8 + 5] |= 0x08
        m[R.SM_BASE + 8 + 7] = (m[R.SM_BASE + 8 + 7] & ~0x02) | self._repeat

    def mailbox_service(self) -> None:
        """A complete SM0 request: answer it into SM1 (called with the line lock held)."""
        req, self._mbx_req = self._mbx_req, None
        if req is None:
            return
        self.mem[R.SM_BASE + 5] &= ~0x08
        if self.al_state == R.INIT:
            return
        for reply in self.app.mailbox(req):
            self._post(reply)

    def post_emergencies(self, frames: list[bytes] | None = None) -> None:
        """The application's EMCY messages as CoE emergencies (PRE-OP and above; queued behind a
        reply the master has not read yet). ``frames``: already taken from the application."""
        for frame in self.app.emergency_frames() if frames is None else frames:
            if self.al_state in (R.PREOP, R.SAFEOP, R.OP):
                self._post(frame)

    def take_outputs(self) -> bytes | None:
        """OP: the newest complete output buffer for the application (None if none came)."""
        out, self.outputs = self.outputs, None
        return out if self.al_state == R.OP else None

    def watchdog_deadline(self, triggered: float | None = None) -> float | None:
        """When the process-data watchdog expires (monotonic s), None when it cannot (not OP, no
        SM2 watchdog, time 0, not started). ``triggered``: a later trigger known elsewhere (the C engine)."""
        if self.al_state != R.OP or not self._sm(2)[2] & 0x40:
            return None
        t = self._wd_t
        if triggered is not None and (t is None or triggered > t):
            t = triggered
        div, wd = struct.unpack_from("<H", self.mem, R.WD_DIVIDER)[0], struct.unpack_from("<H", self.mem, R.WD_TIME_PD)[0]
        if t is None or not wd:
            return None
        return t + wd * (div + 2) * 40e-9

    def check_watchdog(self, now: float) -> bool:
        """Process-data watchdog: OP without a complete SM2 write for the configured time -> SAFE-OP
        with AL status code 0x001B. Returns True when it expired now."""
        deadline = self.watchdog_deadline()
        if deadline is None or now <= deadline:
            return False
        struct.pack_into("<H", self.mem, R.WD_STATUS_PD, 0)
        cnt = self.mem[R.WD_COUNTER_PD]
        self.mem[R.WD_COUNTER_PD] = min(255, cnt + 1)
        self._wd_t = None
        self._set_al(R.SAFEOP, 0x001B)
        return True
