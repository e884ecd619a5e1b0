"""A board image's laws running the emulated plant: the host build's link between them.

A joint board's C image (drivers/firmware, ``ctl_joint.c``) contains the cascade and the FOC and
two interrupt entry points (``cbl_joint_ctl.h``). Behind :class:`~cerebellum_rt.drivers.board.
cfirmware.FirmwareBoard`, :class:`ImageLaws` gives the image its drive calibration (the
module's law configs: ``cbl_fw_config_t.joint_cal``) and, after each power-on, binds the
module's kernel to the entry points (:meth:`~cerebellum_rt.actuators.joint.JointModule.
bind_laws`): from then on the image's own laws close the loops around the plant, called from
the module's numba kernel per control-loop and per PWM period. The records' layouts are checked
against the image's (``cbl_host_joint_entries``) once per loaded image.

The hand image likewise (:class:`HandImageLaws`, ``ctl_hand.c``): its control-tick interrupt
runs the tendon laws of a :class:`~cerebellum_rt.actuators.hand.HandSim`, once per tick.

Behind a QemuBoard the same calls cross the bridge's FIFOs to the Cortex-M4F image
(:class:`QemuLaws`, :class:`QemuHandLaws`; ``qemu_link.c``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from cerebellum_rt.actuators.joint.cascade import CascadeConfig, CascadeInput, CascadeOutput, CascadeState
from cerebellum_rt.actuators.joint.foc import FocConfig, FocInput, FocOutput, FocState
from cerebellum_rt.actuators.joint.module import HOOK_DTYPE
from cerebellum_rt.rtcore.errors import ConfigError, DeviceError

CAL_DTYPE = np.dtype([("foc", FocConfig.dtype()), ("cascade", CascadeConfig.dtype()), ("ratio", "f8"),
                      ("pwm_hz", "f8"), ("pwm_per_loop", "i4")], align=True)
_checked: set[int] = set()
# cbl_host_joint_record's order
RECORDS = (("foc_config", FocConfig), ("foc_state", FocState), ("foc_input", FocInput), ("foc_output", FocOutput),
           ("cascade_config", CascadeConfig), ("cascade_state", CascadeState), ("cascade_input", CascadeInput),
           ("cascade_output", CascadeOutput))


def _expected_layout() -> list[int]:
    """cbl_host_joint_entries' layout as the Python records have it."""
    cal = [CAL_DTYPE.itemsize, *(CAL_DTYPE.fields[k][1] for k in ("cascade", "ratio", "pwm_hz", "pwm_per_loop"))]
    groups = (("pos", ("ts", "temp", "vbus"), "tau_cmd"), ("tau_cmd", ("ilim", "fault"), "ia"),
              ("ia", ("ib", "pvbus", "enc"), "duty_a"),
              ("duty_a", ("duty_b", "duty_c", "iq", "id", "mvel", "pwm_on"), None))
    f = HOOK_DTYPE.fields
    out = cal
    for first, rest, nxt in groups:
        base = f[first][1]
        out += [(f[nxt][1] if nxt else HOOK_DTYPE.itemsize) - base, *(f[k][1] - base for k in rest)]
    return out


def _entries(mod: Any) -> tuple[int, int]:
    ffi, lib = mod.ffi, mod.lib
    fn = ffi.new("uintptr_t[2]")
    layout = ffi.new("uint32_t[64]")
    n = lib.cbl_host_joint_entries(fn, layout, 64)
    if id(mod) not in _checked and n:
        got, want = list(layout[0:n]), _expected_layout()
        if got != want:
            raise ConfigError(f"joint image control records: layout {got} in the image, {want} in "
                              "actuators/joint (cbl_joint_ctl.h and HOOK_DTYPE / CAL_DTYPE disagree)")
        _checked.add(id(mod))
    return int(fn[0]), int(fn[1])


class ImageLaws:
    """The link between one FirmwareBoard's image and its JointModule (see module doc)."""

    def __init__(self, mod: Any, module: Any) -> None:
        self.mod, self.module = mod, module
        self.loop_fn, self.pwm_fn = _entries(mod)
        if not (self.loop_fn and self.pwm_fn):
            raise ConfigError("joint image: the build has no control-loop / current-loop entry points")
        self.cal = calibration_record(module)
        self.cal_ptr = mod.ffi.cast("void *", self.cal.ctypes.data)
        self._ctx = 0
        self._unbind = weakref.finalize(self, _unbind, module, [0])

    def bind(self, host: Any, fw: Any) -> None:
        """The module's kernel calls this image (``host``: its ``cbl_host_t *``, ``fw``: the
        context) from now on; its law records show the image's."""
        ffi, lib = self.mod.ffi, self.mod.lib
        self._ctx = int(ffi.cast("intptr_t", fw))
        self._unbind.detach()
        self._unbind = weakref.finalize(self, _unbind, self.module, [self._ctx])
        records = {}
        for k, (name, rec) in enumerate(RECORDS):
            dt = np.dtype(rec.dtype())
            records[name] = np.frombuffer(ffi.buffer(lib.cbl_host_joint_record(host, k), dt.itemsize), dt)
        self.module.bind_laws(self.loop_fn, self.pwm_fn, self._ctx, records)

    def unbind(self) -> None:
        """The module runs its own laws again (if it still runs this image's)."""
        self._unbind()

    def counts(self, host: Any) -> tuple[int, int]:
        """(control-loop, current-loop) interrupts the image served since its power-on."""
        c = self.mod.ffi.new("uint32_t[2]")
        self.mod.lib.cbl_host_joint_counts(host, c)
        return int(c[0]), int(c[1])


def _unbind(module: Any, ctx: list[int]) -> None:
    if ctx[0] and module.law_context == ctx[0]:
        module.unbind_laws()


def calibration_record(module: Any) -> np.ndarray:
    """The image's ``cbl_joint_cal_t`` for ``module`` (its law configs, gear ratio, PWM rate)."""
    cal = module.calibration()
    rec = np.zeros(1, CAL_DTYPE)
    for key in CAL_DTYPE.names:
        rec[0][key] = cal[key]
    return rec


LINK_CDEF = """
#define CBL_EV_LOOP ...
#define CBL_EV_PWM ...
#define CBL_EV_HAND_TICK ...
#define CBL_LOOP_IN_BYTES ...
#define CBL_LOOP_OUT_BYTES ...
#define CBL_PWM_IN_BYTES ...
#define CBL_PWM_OUT_BYTES ...
#define CBL_HAND_IN_BYTES ...
#define CBL_HAND_OUT_BYTES ...
typedef struct { int to_image, from_image; uint32_t errors, exchanges; } cbl_qemu_link_t;
void cbl_qemu_link_entries(uintptr_t *fn);
"""
_link: list[Any] = []


def _link_module() -> Any:
    from cerebellum_rt.actuators.hand.sim import HOOK_DTYPE as HAND_HOOK
    from cerebellum_rt.actuators.hand.sim import HOOK_IN, HOOK_OUT
    from cerebellum_rt.drivers.firmware import host
    from cerebellum_rt.drivers.firmware.tree import SRC_DIR

    if not _link:
        src = [SRC_DIR / "qemu_link.c", SRC_DIR / "qemu_link.h"]
        digest = host._digest(src, LINK_CDEF + " ".join(host.CFLAGS))
        mod = host.build_module(f"_cbl_qemu_link_{digest}", LINK_CDEF, '#include "qemu_link.h"\n', src[:1],
                                SRC_DIR, "the QEMU interrupt link")
        lib = mod.lib
        got = [lib.CBL_LOOP_IN_BYTES, lib.CBL_LOOP_OUT_BYTES, lib.CBL_PWM_IN_BYTES, lib.CBL_PWM_OUT_BYTES,
               lib.CBL_HAND_IN_BYTES, lib.CBL_HAND_OUT_BYTES]
        layout = _expected_layout()
        # the four joint records' sizes, then the hand tick's two
        want = [layout[5], layout[9], layout[12], layout[16], HOOK_OUT - HOOK_IN, HAND_HOOK.itemsize - HOOK_OUT]
        if got != want:
            raise ConfigError(f"qemu_link.h record sizes {got}, the actuators' hooks (joint, hand) have {want}")
        _link.append(mod)
    return _link[0]


class QemuRecords(Mapping[str, np.ndarray]):
    """A QEMU image's law records as a JointModule's ``law_records`` (gain inspection): each
    lookup reads the record from the image's RAM across the bridge (``read(k)``: its bytes,
    ``EV_RECORD``), a copy: a gain is changed through the object dictionary (0x2010 / 0x2011).
    ``read`` answers None inside one of the bridge's own events (a plant callback, when the image
    cannot be asked): the copy read last stands in."""

    def __init__(self, read: Callable[[int], bytes | None]) -> None:
        self._read = read
        self._last: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        k = next((j for j, (n, _) in enumerate(RECORDS) if n == name), None)
        if k is None:
            raise KeyError(name)
        dt = np.dtype(RECORDS[k][1].dtype())
        raw = self._read(k)
        if raw is None:
            if name not in self._last:
                raise DeviceError(f"QEMU image law record {name}: not readable inside the bridge's event, "
                                  "none read before")
            return self._last[name]
        if len(raw) != dt.itemsize:
            raise ConfigError(f"QEMU image law record {name}: {len(raw)} bytes in the image, {dt.itemsize} in "
                              "actuators/joint (cbl_joint_ctl.h and the record dtype disagree)")
        self._last[name] = np.frombuffer(bytearray(raw), dt)
        return self._last[name]

    def __contains__(self, name: object) -> bool:
        return any(n == name for n, _ in RECORDS)

    def __iter__(self) -> Iterator[str]:
        return iter(n for n, _ in RECORDS)

    def __len__(self) -> int:
        return len(RECORDS)


class _QemuLink:
    """A plant's kernel calling a QEMU image's interrupts across the bridge's FIFOs
    (``qemu_link.c``; see ``bsp_qemu.c``): the link record, its entry points, the unbinding."""

    EV_LOOP, EV_PWM, EV_HAND_TICK = 9, 10, 13

    def __init__(self, module: Any) -> None:
        self.module = module
        mod = _link_module()
        self._ffi, self._lib = mod.ffi, mod.lib
        if (self._lib.CBL_EV_LOOP, self._lib.CBL_EV_PWM, self._lib.CBL_EV_HAND_TICK) != (
                self.EV_LOOP, self.EV_PWM, self.EV_HAND_TICK):
            raise ConfigError("qemu_link.h event numbers differ from drivers/board/image_laws.py's")
        fn = self._ffi.new("uintptr_t[3]")
        self._lib.cbl_qemu_link_entries(fn)
        self.loop_fn, self.pwm_fn, self.hand_fn = int(fn[0]), int(fn[1]), int(fn[2])
        self.link = self._ffi.new("cbl_qemu_link_t *")
        self._ctx = int(self._ffi.cast("intptr_t", self.link))
        self._unbind = weakref.finalize(self, _unbind, module, [self._ctx])

    def unbind(self) -> None:
        self._unbind()

    @property
    def errors(self) -> int:
        return int(self.link.errors)

    @property
    def exchanges(self) -> int:
        return int(self.link.exchanges)


class QemuLaws(_QemuLink):
    """The link between a QemuBoard's joint image and its JointModule: the module's kernel calls
    the image's control-loop and current-loop interrupts; its law records show the image's
    (:class:`QemuRecords`)."""

    def __init__(self, module: Any) -> None:
        super().__init__(module)
        self.cal = calibration_record(module)

    def bind(self, to_image: int, from_image: int, read: Callable[[int], bytes | None]) -> None:
        """The module's kernel calls the image through these FIFO descriptors from now on; its
        law records are read from the image by ``read`` (:class:`QemuRecords`)."""
        self.link.to_image, self.link.from_image = to_image, from_image
        self.module.bind_laws(self.loop_fn, self.pwm_fn, self._ctx, QemuRecords(read))


class QemuHandLaws(_QemuLink):
    """The link between a QemuBoard's hand image and its HandSim: the sim's kernel calls the
    image's control-tick interrupt once per tick, as behind the host build (:class:`HandImageLaws`)."""

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self.cal = hand_calibration_record(sim)

    def bind(self, to_image: int, from_image: int, read: Callable[[int], bytes | None]) -> None:
        """The sim's kernel calls the image through these FIFO descriptors from now on (``read``
        goes unused: a HandSim shows no law records)."""
        self.link.to_image, self.link.from_image = to_image, from_image
        self.module.bind_laws(self.hand_fn, self._ctx)


def _hand_cal_dtype() -> np.dtype:
    from cerebellum_rt.actuators.hand import laws as L

    recs = (("pos", L.ScrewPosConfig), ("ten", L.TensionConfig), ("grasp", L.GraspConfig),
            ("couple", L.CouplingConfig), ("slack", L.SlackConfig), ("obs", L.ObserverConfig))
    return np.dtype([*((n, r.dtype(), (6,)) for n, r in recs), ("f_max", "f8", (6,)), ("i_max", "f8", (6,)),
                     ("derate_start_c", "f8"), ("temp_max_c", "f8"), ("n_joints", "i4")], align=True)


def hand_calibration_record(sim: Any) -> np.ndarray:
    """The image's ``cbl_hand_cal_t`` for ``sim`` (its laws' configs, limits, derating)."""
    cal = sim.calibration()
    rec = np.zeros(1, _hand_cal_dtype())
    for key in rec.dtype.names:
        rec[0][key] = cal[key]
    return rec


class HandImageLaws:
    """The link between a hand board's image and its HandSim (see module doc)."""

    def __init__(self, mod: Any, sim: Any) -> None:
        from cerebellum_rt.actuators.hand.sim import HOOK_DTYPE as HAND_HOOK

        self.mod, self.sim = mod, sim
        ffi, lib = mod.ffi, mod.lib
        fn = ffi.new("uintptr_t[1]")
        layout = ffi.new("uint32_t[64]")
        n = lib.cbl_host_hand_entries(fn, layout, 64)
        self.tick_fn = int(fn[0])
        if not self.tick_fn:
            raise ConfigError("hand image: the build has no control-tick entry point")
        dt = _hand_cal_dtype()
        f = HAND_HOOK.fields
        want = [dt.itemsize, *(dt.fields[k][1] for k in ("ten", "grasp", "couple", "slack", "obs", "f_max", "i_max",
                                                         "derate_start_c", "temp_max_c", "n_joints")),
                f["i_ref"][1] - f["x"][1], f["q"][1] - f["x"][1], f["fault"][1] - f["x"][1],
                HAND_HOOK.itemsize - f["i_ref"][1], f["i_law"][1] - f["i_ref"][1], f["phase"][1] - f["i_ref"][1],
                f["slack"][1] - f["i_ref"][1]]
        if list(layout[0:n]) != want:
            raise ConfigError(f"hand image control records: layout {list(layout[0:n])} in the image, {want} in "
                              "actuators/hand (cbl_hand_ctl.h and the HOOK_DTYPE / cal dtype disagree)")
        self.cal = hand_calibration_record(sim)
        self.cal_ptr = ffi.cast("void *", self.cal.ctypes.data)
        self._ctx = 0
        self._unbind = weakref.finalize(self, _unbind, sim, [0])

    def bind(self, host: Any, fw: Any) -> None:
        """The sim's kernel calls this image's control tick (context ``fw``) from now on."""
        self._ctx = int(self.mod.ffi.cast("intptr_t", fw))
        self._unbind.detach()
        self._unbind = weakref.finalize(self, _unbind, self.sim, [self._ctx])
        self.sim.bind_laws(self.tick_fn, self._ctx)

    def unbind(self) -> None:
        self._unbind()

    def counts(self, host: Any) -> tuple[int, int]:
        """(control ticks, 0) the image served since its power-on."""
        return int(self.mod.lib.cbl_host_hand_ticks(host)), 0


def image_laws(mod: Any, module: Any, board: str = "joint") -> ImageLaws | HandImageLaws | None:
    """The link for a board's plant (``board`` 'joint': a JointModule, 'hand': a HandSim), or None
    when the plant has no law hook (a plant model that closes its own loops on the demand)."""
    if module is None or not callable(getattr(module, "bind_laws", None)):
        return None
    return HandImageLaws(mod, module) if board == "hand" else ImageLaws(mod, module)
