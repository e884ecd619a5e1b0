"""The tuning console's library (``cbl tune``): a board's parameters in SI units within its limits
(:mod:`.session`, :mod:`.objects`, :mod:`.units`), experiments over process data at 1 kHz
(:mod:`.experiment`), identification and auto-tune (:mod:`.autotune`; the impedance mode:
:mod:`.impedance`), captures to files and
plots (:mod:`.record`), the command interpreter (:mod:`.console`) and its prompt
(:mod:`.interactive`), the live telemetry view (:mod:`.telemetry`), an emulated joint with a
flash file (:mod:`.emulated`), and :class:`~.guard.DriveGuard`, which brings every drive a host
enabled to a controlled stop and disables it however the program ends."""
