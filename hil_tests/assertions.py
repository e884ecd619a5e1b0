"""Assertions with physical units: a failure names the quantity, its value, the limit and the unit."""

from __future__ import annotations

import math


def assert_within(value: float, target: float, tol: float, unit: str, quantity: str = "value") -> None:
    """|value - target| <= tol, else AssertionError 'quantity = value unit, limit target ± tol unit'."""
    if not (math.isfinite(value) and abs(value - target) <= tol):
        raise AssertionError(f"{quantity} = {value:.6g} {unit}, limit {target:.6g} ± {tol:.6g} {unit} "
                             f"(off by {value - target:+.6g} {unit})")


def assert_below(value: float, limit: float, unit: str, quantity: str = "value") -> None:
    """value <= limit, else AssertionError naming quantity, value, limit and unit."""
    if not (math.isfinite(value) and value <= limit):
        raise AssertionError(f"{quantity} = {value:.6g} {unit}, limit {limit:.6g} {unit}")


def assert_reaction(report: object) -> None:
    """A :class:`~cerebellum_rt.hil_tests.faults.FaultReport` shows its fault's documented reaction."""
    from cerebellum_rt.hil_tests.faults import check

    bad = check(report)  # type: ignore[arg-type]
    if bad:
        raise AssertionError("; ".join(bad))
