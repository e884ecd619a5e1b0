"""codegen: restricted-Python laws -> typed IR -> C99 and a bit-exact Python reference; toolchains, SIL, PIL, reports.

On the host, a law runs as ``host_law(law)`` (``codegen.host``): the numba reference of its
IR, so the loop runners, emulated boards and simulations get the C's bits by construction.

Pipeline: ``frontend.compile_law`` parses a law's source (``codegen/law.py`` records, the subset
listed in ``frontend``) into the typed IR of ``ir``; ``cgen.emit_c`` writes readable C99
(``<name>.h/.c``) and ``pyref.emit_reference`` the IR's own Python reference, which numba
compiles and which is the oracle. ``build`` (host SIL through cffi), ``targets`` (Cortex-M4F/M7
and aarch64 builds, size, stack, PIL images under QEMU), ``report`` (``cbl build``) and
``peer_bench`` / ``casadi_peer`` (``cbl bench codegen``) sit on top; ``exercise`` makes the
verification vectors (every branch both ways, boundaries, sequences) and ``pil`` runs them on
targets under QEMU.

Semantics (what "bit-identical" means, and what both back ends implement):

- f32 is IEEE-754 binary32. Every operation rounds once to nearest-even, in source order
  (Python's left-to-right evaluation, no reassociation, no fused multiply-add: the generated
  ``.c`` turns contraction off itself with pragmas GCC and Clang honour, so integrators' default
  flags give the same bits, and refuses ``-ffast-math``; the reference wraps each operation in
  ``np.float32``). Subnormals are kept (no flush-to-zero on any target).
- Python float literals and module constants (``DEADBAND = 1e-6``, ``math.pi``) are float32
  constants, also on the host (``host_law``); a module constant keeps its name in the C.
- Literals are rounded to f32 once: ``float32(float64(text))``; C gets the shortest decimal of
  that f32 with an ``F`` suffix, the reference ``np.float32(<same value>)``.
- A binary operation with an f32 operand is f32 (the other operand is converted first);
  ``/`` is always f32; comparisons of an int with an f32 compare in f32.
- i32 arithmetic (+ - * unary - <<) wraps modulo 2^32; ``//`` and ``%`` round toward -inf as
  in Python, ``x // 0 = x % 0 = 0``; ``>>`` is arithmetic. C does it in uint32 (``cbl_law.h``),
  the reference wraps each operation with ``np.int32``.
- f32 -> i32 (``int(x)``) truncates toward zero and saturates to [-2^31, 2^31-1]; NaN -> 0.
- bool is 0/1 (C ``bool``, numpy ``bool_``); ``and`` / ``or`` short-circuit.
- sin, cos, atan2, exp, sqrt, fabs, fmin, fmax, clamp are the kernels of ``mathf32`` (same
  operations in Python and in ``runtime/cbl_mathf32.h``); no libm anywhere.
- NaN payloads are not specified by IEEE and differ between x86 and Arm: results are compared
  with every NaN mapped to 0x7FC00000 (``vectors``); everything else must match bit for bit.
- Records have numpy's aligned layout, which is the C struct layout (checked in the tests).
"""

from typing import Any


def host_law(law: Any) -> Any:
    """The host executable of ``law``: numba code of its IR with the C's semantics (``codegen.host``)."""
    from cerebellum_rt.codegen.host import host_law as _host_law

    return _host_law(law, _caller_depth=2)
