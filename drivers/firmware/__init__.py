"""The board firmware: one C tree per board type, the code that emulated boards run.

``src/`` holds the CANopen device runtime (co_*.c), the CiA 402 application (app_drive.c), the
board types' plant sides (app_<board>.c) and the board-support packages (bsp_host.c: the
firmware as a library of an emulated board). :mod:`cerebellum_rt.drivers.firmware.tree` adds
the generated parts (the object dictionary from drivers/od.py, the CiA 402 law from codegen);
:mod:`cerebellum_rt.drivers.firmware.host` builds the host library (cffi), and
:class:`cerebellum_rt.drivers.board.cfirmware.FirmwareBoard` drives it as an emulated board.
"""
