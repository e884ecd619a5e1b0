"""An emulated board that runs the board's Cortex-M4F image under QEMU (mps2-an386, -icount).

:class:`QemuBoard` is the same board as :class:`~cerebellum_rt.drivers.board.cfirmware.FirmwareBoard`
with the image of ``cbl build firmware --target cortex-m4f`` in place of the host library.
QEMU has no CAN controller for Cortex-M: the image's QEMU board-support package
(``drivers/firmware/src/bsp_qemu.c``) exchanges fixed 80-byte records with this bridge over
two FIFOs through ARM semihosting (``cbl.rx``, ``cbl.tx``, in a private directory that is
QEMU's working directory), and keeps its parameter flash in the semihosting file ``cbl.flash``
(``storage_path`` when given). The bridge puts the image's frames on the python-can bus and
serves its plant requests (sample; demand then advance; fault reset; gains) from the
JointModule. Every event is a request and a reply (the image says ``DONE``), so the board runs
in lockstep with the bridge's clock; ``threaded=True`` serves the bus from a thread.

A JointModule runs the image's own cascade and FOC, as behind the host build: at power-on the
bridge sends the drive calibration (``EV_CAL``), and while the module advances after a demand,
its kernel calls the image's control-loop and current-loop interrupts across the FIFOs
(``EV_LOOP`` / ``EV_PWM``, one exchange each, from compiled code: ``qemu_link.c``), then the
bridge ends the advance (``EV_ADVANCED``). ~30 k exchanges per emulated second at 20 kHz PWM.
The module's ``law_records`` are then the image's, read from its RAM on each lookup
(``EV_RECORD``, no time passes): gain inspection sees what the image runs; ``od_read`` reads an
object as the bus would (``EV_OD_READ``).

A hand board (``board='hand'`` or a hand ``table``) in front of a HandSim runs the hand image's
tendon laws likewise: the calibration at power-on, then per tick of the sim one control-tick
interrupt of the image across the FIFOs (``EV_HAND_TICK``); its sample and demand records, longer
than one record's 64 bytes, travel in pieces (``bsp_qemu.c``).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import can

from cerebellum_rt.drivers import cia402
from cerebellum_rt.drivers.board.cfirmware import FLASH_BYTES, HAND_AXES, joint_table
from cerebellum_rt.drivers.board.image_laws import QemuHandLaws, QemuLaws
from cerebellum_rt.drivers.board.joint import plant_param
from cerebellum_rt.drivers.firmware import host
from cerebellum_rt.drivers.firmware.image import build_image
from cerebellum_rt.drivers.od import Table, build_table
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError, DeviceTimeout

RECORD = struct.Struct("<BBBBIQ64s")
EV_QUIT, EV_FRAME, EV_TICK, EV_SAMPLE, EV_DEMAND, EV_DONE, EV_RESET_FAULT, EV_PARAM, EV_CAL = range(9)
EV_ADVANCED, EV_RECORD, EV_OD_READ = 11, 12, 14  # 9, 10, 13: EV_LOOP, EV_PWM, EV_HAND_TICK (qemu_link.c)
POWER_ON = struct.Struct("<dI4xd")  # the plant's loop rate, the calibration's size, the period tolerance
HAND_SAMPLE = struct.Struct("<32d")  # cbl_hand_sample_t: x, v, i, tension, pad force (6 each), stroke min, max
HAND_DEMAND = struct.Struct("<6i6B2x24di4x")  # cbl_hand_demand_t: mode, set, i/x/t/f targets, ticks
START_TIMEOUT_S = 20.0


def image_for(table: Table) -> Path:
    """The Cortex-M4F image of ``table``'s board, built once per source hash."""
    _, _, digest = host.prepare(table)
    from cerebellum_rt.drivers.firmware.tree import SRC_DIR

    # the tree's digest covers the runtime; the QEMU board-support package and the link script too
    digest = host._digest([SRC_DIR / "bsp_qemu.c", SRC_DIR / "cortexm_fw.ld"], digest)
    out = host.cache_dir() / f"qemu-{table.board}-{digest}"
    elf = out / f"cbl-{table.board}-cortex-m4f.elf"
    if not elf.exists():
        build_image(table.board, "cortex-m4f", out, table=table)
    return elf


class QemuBoard:
    """A board whose firmware runs under QEMU (see module doc); a context manager. ``board`` is
    'joint' (``module``: a JointModule) or 'hand' (``module``: a HandSim with six actuators), by
    default the ``table``'s board. ``on_cycle``, as on the Python board and FirmwareBoard: called
    with (time, CiA 402 state) after every cycle the image runs on its plant (time: the clock of
    the event that ran it)."""

    on_cycle: Callable[[float, str], None] | None = None

    def __init__(self, node_id: int, bus: can.BusABC, module: Any | None = None, *, fd: bool = False,
                 storage_path: str | os.PathLike | None = None, serial_number: int = 0,
                 clock: Callable[[], float] = time.monotonic, threaded: bool = True,
                 table: Table | None = None, board: str | None = None) -> None:
        if not isinstance(node_id, int) or not 1 <= node_id <= 127:
            raise ConfigError(f"node_id = {node_id!r} is out of range [1, 127]")
        if fd:
            raise ConfigError(f"QemuBoard node {node_id}: fd = True (the C runtime serves classic CAN only)")
        if shutil.which("qemu-system-arm") is None:
            raise ConfigError("QemuBoard needs qemu-system-arm on PATH (./cbl.sh test installs it)")
        self.node_id, self.bus, self.module, self.clock = node_id, bus, module, clock
        board = board or (table.board if table is not None else "joint")
        if board == "hand" and module is not None and module.p.n_act != HAND_AXES:
            raise ConfigError(f"hand preset {module.p.name}: {module.p.n_act} actuators, the hand board serves {HAND_AXES}")
        self.table = table or (joint_table(module) if board == "joint" else build_table(board))
        self._hand = self.table.board == "hand"
        self._pieces = bytearray()
        elf = image_for(self.table)
        self._dir = Path(tempfile.mkdtemp(prefix="cbl-qemu-"))
        for name in ("cbl.rx", "cbl.tx"):
            os.mkfifo(self._dir / name)
        flash = self._dir / "cbl.flash"
        if storage_path is not None:
            p = Path(storage_path)
            if not p.exists():
                p.write_bytes(b"\xff" * FLASH_BYTES)
            flash.symlink_to(p.resolve())
        else:
            flash.write_bytes(b"\xff" * FLASH_BYTES)
        self.crashes: list[BaseException] = []
        self._laws: QemuLaws | QemuHandLaws | None = None
        if callable(getattr(module, "bind_laws", None)):
            self._laws = QemuHandLaws(module) if self._hand else QemuLaws(module)
        self._state = self._nmt = 0
        self._lock = threading.Lock()
        self._in_event = 0  # the thread inside _event (its ident), 0: none
        self._record_in = bytearray()
        self._read_abort = 0
        self._event_t = 0.0
        self._closed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._elf, self._serial = elf, serial_number
        self._proc: subprocess.Popen | None = None
        self._tx: Any = None
        self._rx: Any = None
        try:
            with self._lock:
                self._power_on()
        except BaseException:
            self.close()
            raise
        if threaded:
            self._thread = threading.Thread(target=self._run, name=f"qemu-board-{node_id}", daemon=True)
            self._thread.start()

    def _power_on(self) -> None:
        """QEMU started on the image (its RAM fresh, its flash file as it was), the link opened,
        the power-on event (with the drive calibration): the image boots (boot-up frame). Called
        with the lock held."""
        module = self.module
        self._proc = subprocess.Popen(
            ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-semihosting", "-icount",
             "shift=0,align=off,sleep=off", "-kernel", str(self._elf)],
            cwd=self._dir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._tx = self._open_writer(self._dir / "cbl.rx")
        self._rx = open(self._dir / "cbl.tx", "rb", buffering=0)  # noqa: SIM115  (closed in _power_off())
        hz, tolerance = 0.0, 1e-6
        if module is not None:  # the rate the board's communication period is a multiple of
            hz = float(module.loop_hz) if self._hand else float(getattr(module, "current_loop_hz", 0.0) or 0.0)
            tolerance = 1e-9 if self._hand else tolerance  # as FirmwareBoard
        flags, after, cal = (1 if module is not None else 0), b"", b""
        if self._laws is not None:  # the drive calibration follows (bsp_qemu.c)
            cal = self._laws.cal.tobytes()
            flags |= 2
            after = b"".join(RECORD.pack(EV_CAL, 0, min(64, len(cal) - k), 0, k, 0, cal[k:k + 64])
                             for k in range(0, len(cal), 64))
            self._laws.bind(self._tx.fileno(), self._rx.fileno(), self._law_record)
        self._pieces = bytearray()
        self._event(EV_TICK, node=self.node_id, ident=self._serial, flags=flags,
                    data=POWER_ON.pack(hz, len(cal), tolerance), after=after)

    def _power_off(self) -> None:
        """QEMU told to quit (killed if it does not), the link closed. Called with the lock held
        (or from close())."""
        proc = self._proc
        if proc is None:
            return
        try:
            if self._tx is not None and proc.poll() is None:
                self._tx.write(RECORD.pack(EV_QUIT, 0, 0, 0, 0, 0, b""))
                proc.wait(timeout=5.0)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (self._tx, self._rx):
            if f is not None:
                f.close()
        self._tx = self._rx = None
        proc.stderr.close()
        self._proc = None

    def _exit_code(self) -> int | None:
        """QEMU's exit code, None while it runs; -1 when none is started."""
        return self._proc.poll() if self._proc is not None else -1

    def power_cycle(self) -> None:
        """The supply off and on again: QEMU restarts on the image (what its RAM held is gone, the
        flash file stays), boot-up frame; the plant keeps its physical state. As
        FirmwareBoard.power_cycle (the HIL fault ``board_reset``)."""
        with self._lock:
            self._power_off()
            self._power_on()

    def _open_writer(self, path: Path) -> Any:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                os.set_blocking(fd, True)
                return os.fdopen(fd, "wb", buffering=0)
            except OSError:  # ENXIO: QEMU has not opened its end yet
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    err = self._proc.stderr.read().decode(errors="replace").strip()[-300:] if self._proc.poll() else ""
                    raise DeviceTimeout(f"QemuBoard node {self.node_id}: the image did not open its link "
                                        f"within {START_TIMEOUT_S:.0f} s {err}") from None
                time.sleep(0.01)

    # ------------------------------------------------------------------ the bridge
    def _read_record(self) -> tuple:
        buf = b""
        while len(buf) < RECORD.size:
            chunk = self._rx.read(RECORD.size - len(buf))
            if not chunk:
                raise DeviceError(f"QemuBoard node {self.node_id}: the image closed its link "
                                  f"(QEMU exit code {self._exit_code()})")
            buf += chunk
        return RECORD.unpack(buf)

    def _event(self, kind: int, *, ident: int = 0, flags: int = 0, data: bytes = b"", node: int = 0,
               after: bytes = b"") -> None:
        now = round(self.clock() * 1e6)
        self._event_t = now * 1e-6
        self._in_event = threading.get_ident()
        try:
            self._tx.write(RECORD.pack(kind, flags, len(data), node, ident, now, data) + after)
            self._serve()
        finally:
            self._in_event = 0

    def _serve(self) -> None:
        """The image's records until its EV_DONE."""
        while True:
            kind_in, flags_in, length, node_in, ident_in, t_in, payload = self._read_record()
            if kind_in == EV_DONE:
                self._state, self._nmt = flags_in, node_in
                return
            if kind_in == EV_FRAME:
                try:  # noqa: SIM105  (suppress() would cost a context manager per frame)
                    self.bus.send(can.Message(arbitration_id=ident_in, data=payload[:length], is_extended_id=False))
                except can.CanError:
                    pass  # a full or closed bus drops the frame, as a controller would
            elif kind_in == EV_SAMPLE and self._hand:
                self._tx.write(self._pieces_of(EV_SAMPLE, self._hand_sample()))
            elif kind_in == EV_SAMPLE:
                self._tx.write(RECORD.pack(EV_SAMPLE, 0, 48, 0, *self._sample()))
            elif kind_in == EV_DEMAND and self._hand:  # in pieces: id = offset, the time field = size
                if ident_in == 0:
                    self._pieces = bytearray()
                self._pieces += payload[:length]
                if len(self._pieces) >= t_in:
                    self._hand_demand(bytes(self._pieces), t_in)
                    self._cycled(node_in)
            elif kind_in == EV_DEMAND:
                pos, vel, tau, dt = struct.unpack_from("<4d", payload)
                mode = ident_in - (1 << 32) if ident_in & 0x80000000 else ident_in
                self.module.command(mode, pos, vel, tau, bool(flags_in))
                self.module.advance(dt)
                self._advanced()
                self._cycled(node_in)
            elif kind_in == EV_RESET_FAULT:
                self.module.reset_fault()
            elif kind_in == EV_PARAM:
                plant_param(self.module, ident_in, flags_in, struct.unpack_from("<d", payload)[0])
            elif kind_in in (EV_RECORD, EV_OD_READ):
                if flags_in & 1:  # an SDO abort code instead of the value
                    self._read_abort = ident_in
                else:
                    self._record_in += payload[:length]

    def _advanced(self) -> None:
        """The plant advanced: with the image's laws on, it served the advance's interrupts and
        goes on."""
        if self._laws is not None:
            if self._laws.errors:
                raise DeviceError(f"QemuBoard node {self.node_id}: the interrupt link to the image "
                                  f"broke (QEMU exit code {self._exit_code()})")
            self._tx.write(RECORD.pack(EV_ADVANCED, 0, 0, 0, 0, 0, b""))

    def _cycled(self, state: int) -> None:
        """A cycle ran on the plant (``state``: the image's CiA 402 state in it)."""
        if self.on_cycle is not None:
            self.on_cycle(self._event_t, cia402.STATE_NAMES[state])

    @staticmethod
    def _pieces_of(kind: int, data: bytes) -> bytes:
        """``data`` as records of 64-byte pieces (id = offset, the time field = its size)."""
        return b"".join(RECORD.pack(kind, 0, min(64, len(data) - k), 0, k, len(data), data[k:k + 64])
                        for k in range(0, len(data), 64))

    def _hand_sample(self) -> bytes:
        """cbl_hand_sample_t of the HandSim (as FirmwareBoard's hand sample)."""
        h = self.module
        forces = h.finger_forces()
        pad = [float(forces[int(h.p.finger_of_tendon[k])]) for k in range(HAND_AXES)]
        cols = [[float(h.xs[k, c]) for k in range(HAND_AXES)] for c in range(3)]
        return HAND_SAMPLE.pack(*cols[0], *cols[1], *cols[2], *(float(h.tens[k, 0]) for k in range(HAND_AXES)),
                                *pad, float(h.stroke[0]), float(h.stroke[1]))

    def _hand_demand(self, raw: bytes, size: int) -> None:
        """The image's cbl_hand_demand_t: the axes' targets into the HandSim, then its ticks."""
        if size != HAND_DEMAND.size or len(raw) != size:
            raise DeviceError(f"QemuBoard node {self.node_id}: hand demand of {size} bytes ({len(raw)} came), "
                              f"{HAND_DEMAND.size} expected (cbl_fw.h and drivers/board/qemu.py disagree)")
        v = HAND_DEMAND.unpack(raw)
        mode, set_, (i_cmd, x_cmd, t_cmd, f_ref), ticks = v[0:6], v[6:12], (v[12 + 6 * j:18 + 6 * j] for j in range(4)), v[36]
        h = self.module
        for k in range(HAND_AXES):
            if set_[k] & 1:
                h.x_cmd[k] = x_cmd[k]
            if set_[k] & 2:
                h.t_cmd[k] = t_cmd[k]
            if set_[k] & 4:
                h.f_ref[k] = f_ref[k]
            h.mode[k] = mode[k]
            h.i_cmd[k] = i_cmd[k]
        h.run(int(ticks))
        self._advanced()

    def _law_record(self, k: int) -> bytes | None:
        """The image's law record k (image_laws.RECORDS order) as it holds it now; None inside one
        of the bridge's events (see image_laws.QemuRecords)."""
        if self._in_event == threading.get_ident():
            return None
        data = self._read(EV_RECORD, k)
        return data if isinstance(data, bytes) else None

    def _read(self, kind: int, ident: int) -> bytes | int:
        """What the image answers to a read (EV_RECORD, EV_OD_READ): its bytes, or an abort code."""
        if self._closed:
            raise DeviceError(f"QemuBoard node {self.node_id}: closed, its image's memory is gone")
        with self._lock:
            self._record_in, self._read_abort = bytearray(), 0
            self._event(kind, ident=ident)
            return self._read_abort or bytes(self._record_in)

    def od_read(self, index: int, sub: int = 0) -> bytes | int:
        """An object's value as the bus would read it (bytes, up to 256), or the SDO abort code;
        no time passes for the image (as FirmwareBoard.od_read)."""
        return self._read(EV_OD_READ, (index << 8) | sub)

    def _sample(self) -> tuple[int, int, bytes]:
        r = self.module.read()
        get = (lambda k: float(r[k])) if isinstance(r, dict) else (lambda k: float(getattr(r, k)))
        vals = [get(k) for k in ("position_rad", "velocity_rad_s", "torque_sensor_nm", "torque_cmd_nm", "iq_a",
                                 "winding_temp_c")]
        has_fault = hasattr(r, "fault") or (isinstance(r, dict) and "fault" in r)
        return int(get("fault")) if has_fault else 0, 0, struct.pack("<6d", *vals)

    def _frame(self, msg: can.Message) -> None:
        flags = (1 if msg.is_remote_frame else 0) | (2 if msg.is_extended_id else 0) | (4 if msg.is_error_frame else 0)
        self._event(EV_FRAME, ident=msg.arbitration_id, flags=flags, data=bytes(msg.data)[:64])

    def poll(self, max_frames: int = 10_000) -> int:
        """``threaded=False`` mode: each arrived frame (the image runs its timers after each), then
        the timers; returns the number of frames handled."""
        n = 0
        with self._lock:
            while n < max_frames:
                msg = self.bus.recv(timeout=0.0)
                if msg is None:
                    break
                self._frame(msg)
                n += 1
            self._event(EV_TICK)
        return n

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
                try:
                    if msg is not None:
                        self._frame(msg)
                    else:
                        self._event(EV_TICK)
                except Exception as exc:  # keep serving; the test or the rig asserts crashes == []
                    if len(self.crashes) < 100:
                        self.crashes.append(exc)
                    if self._exit_code() is not None:
                        return

    @property
    def state(self) -> str:
        """The CiA 402 state name (reported by the image with every event)."""
        return cia402.STATE_NAMES[self._state]

    @property
    def nmt_state(self) -> int:
        return self._nmt

    @property
    def service_thread(self) -> threading.Thread | None:
        return self._thread

    def close(self) -> None:
        """Stop the bridge and QEMU (idempotent). The bus stays open: it belongs to the caller."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        if getattr(self, "_laws", None) is not None:  # the module runs its own laws again
            self._laws.unbind()
        self._power_off()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> QemuBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
