"""The board firmware: one C image per board type, the code that emulated boards run.

``src/`` holds the CANopen device runtime (``co_node.c`` NMT / heartbeat / EMCY / SYNC,
``co_sdo.c``, ``co_pdo.c``, ``co_od.c`` object store and parameter flash), the CiA 402
application (``app_drive.c``), the board types' plant sides (``app_joint.c``, ``app_hand.c``;
the joint's motion control ``ctl_joint.c``: the generated cascade and FOC behind two interrupt
entry points; the hand's ``ctl_hand.c``: its tendon laws behind a control-tick entry point) and
the board-support packages (``bsp_host.c``: the image as a library of an emulated board;
``bsp_qemu.c``: Cortex-M under QEMU, its link over semihosting files; ``replay.c``: a standalone
driver for sanitizer builds). Python side:

* :mod:`~cerebellum_rt.drivers.firmware.tree`: the generated parts (object dictionary tables from
  drivers/od.py through :mod:`cerebellum_rt.drivers.od_c`, the CiA 402 law, the joint's FOC
  and cascade and the hand's tendon laws, from codegen);
* :mod:`~cerebellum_rt.drivers.firmware.host`: the host library (cffi, cached by source hash) and
  the sanitized replay driver;
* :mod:`~cerebellum_rt.drivers.firmware.image`: Cortex-M4F / M7 images with their size report
  (``cbl build firmware``) and the QEMU selftest (``cbl bench firmware``);
* :mod:`~cerebellum_rt.drivers.firmware.differential`: the Python board and an image driven by
  the same frames in lockstep.

The emulated boards: :class:`cerebellum_rt.drivers.board.cfirmware.FirmwareBoard` (host
library) and :class:`cerebellum_rt.drivers.board.qemu.QemuBoard` (the Cortex-M4F image).
"""
