"""Datasheet validation of every actuator preset: run each sourced figure's experiment on the
emulated module and compare (``cbl validate presets``).

A preset names the figures its sources give in its ``[datasheet]`` table (value + source);
each figure has an experiment (``actuators.joint.experiments.EXPERIMENTS``,
``actuators.hand.experiments.EXPERIMENTS``) that measures it on the simulated module as a test
bench would. error_pct = 100 (model - source) / |source|.
"""

from __future__ import annotations

from typing import Any

from cerebellum_rt.actuators.hand import experiments as hand_exp
from cerebellum_rt.actuators.hand.preset import load_preset as load_hand
from cerebellum_rt.actuators.hand.preset import preset_names as hand_names
from cerebellum_rt.actuators.joint import experiments as joint_exp
from cerebellum_rt.actuators.joint.preset import load_preset as load_joint
from cerebellum_rt.actuators.joint.preset import preset_names as joint_names
from cerebellum_rt.rtcore.errors import ConfigError

TARGET_PCT = 2.0  # every sourced figure within 2 %


def _row(source: float, model: float, ref: str) -> dict[str, Any]:
    err = 100.0 * (model - source) / abs(source)
    return {"source": source, "model": model, "error_pct": err, "ref": ref}


def validate_joint(name: str) -> dict[str, dict[str, Any]]:
    p = load_joint(name)
    return {fig: _row(val, joint_exp.EXPERIMENTS[fig](p), ref) for fig, val, ref in p.datasheet}


def validate_hand(name: str) -> dict[str, dict[str, Any]]:
    p = load_hand(name)
    return {fig: _row(val, hand_exp.EXPERIMENTS[fig](p), ref) for fig, val, ref in p.datasheet}


def validate(names: list[str] | None = None) -> dict[str, Any]:
    """``{"presets": {name: {figure: {source, model, error_pct, ref}}}, "max_error_pct": x,
    "target_pct": 2.0}`` for the named presets (all when None)."""
    known_j, known_h = joint_names(), hand_names()
    names = names or [*known_j, *known_h]
    out: dict[str, Any] = {}
    for n in names:
        if n in known_j:
            out[n] = validate_joint(n)
        elif n in known_h:
            out[n] = validate_hand(n)
        else:
            raise ConfigError(f"validate: preset '{n}' is not one of {known_j + known_h}")
    errs = [abs(r["error_pct"]) for figs in out.values() for r in figs.values()]
    return {"presets": out, "max_error_pct": max(errs, default=0.0), "target_pct": TARGET_PCT}
