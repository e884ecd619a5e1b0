"""Deadline arithmetic and overrun policy, shared by every runner.

Tick ``i`` is due at the absolute deadline ``d_i``. After its read..write finished at
``end``, the next deadline is ``d_i + T`` (period ``T``). The tick *overran* when
``end > d_i + T`` (it finished after the next deadline). Then:

- ``SKIP`` (default): drop the deadlines already missed, run at the first future one:
  ``k = (end - (d_i + T)) // T + 1`` deadlines are skipped and ``d_{i+1} = d_i + (k + 1) T``,
  so ``d_{i+1} > end`` and the loop stays on the original time grid.
- ``CATCH_UP``: keep ``d_{i+1} = d_i + T``; the following ticks run back to back until the
  loop is on time again (every scheduled tick runs, late).

Independently, ``fault_after = N > 0`` stops the loop after N consecutive overruns (a fault:
the runner reports it and calls the safety callback).

The Cython runner implements the same function in C (``rtcore/_cyloop.pyx``); the tests check
both against each other.
"""

from __future__ import annotations

from cerebellum_rt.rtcore.errors import ConfigError

SKIP = 0
CATCH_UP = 1
POLICIES: dict[str, int] = {"skip": SKIP, "catch_up": CATCH_UP}


def policy_code(policy: str | int) -> int:
    """The integer code of an overrun policy name ('skip' or 'catch_up')."""
    if isinstance(policy, int) and policy in POLICIES.values():
        return policy
    if policy in POLICIES:
        return POLICIES[policy]  # type: ignore[index]
    raise ConfigError(f"overrun policy = {policy!r} is not one of {sorted(POLICIES)}")


def next_deadline(deadline_ns: int, end_ns: int, period_ns: int, policy: int) -> tuple[int, int]:
    """Return ``(next deadline, deadlines skipped)`` after a tick due at ``deadline_ns`` ended
    at ``end_ns``; the tick overran iff ``end_ns > deadline_ns + period_ns``. Real-time safe."""
    nxt = deadline_ns + period_ns
    if end_ns <= nxt or policy == CATCH_UP:
        return nxt, 0
    k = (end_ns - nxt) // period_ns + 1
    return nxt + k * period_ns, k
