"""Planetary-roller-screw tendon hand: preset data, plant physics (numba), firmware laws.

Public API::

    load_preset(name) -> HandPreset          actuators/presets/<name>.toml, validated
    coupling_matrix(preset) -> (n_tendons, n_joints) moment arms [m]: dl = R dq, tau = R^T T
    HandSim(preset, obj)                     lockstep firmware + plant (actuators.hand.sim)
    grasp(preset, obj, ...) -> GraspResult   the `cbl sim hand --grasp` scenario and metrics
    bench_realtime_factor(seconds) -> float  simulated s / wall s of the 6-actuator hand

Firmware laws (codegen/law.py form, float32) in actuators.hand.laws: screw_position_step,
tendon_tension_step, screw_tension_observer_step, grasp_force_step, coupled_joint_step,
slack_step. Physics (float64 numba, semi-implicit) in actuators.hand.plant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cerebellum_rt import codegen
from cerebellum_rt.actuators.hand.preset import HandPreset, coupling_matrix, drive_figures, load_preset
from cerebellum_rt.rtcore.jitcache import drop_stale_cache

# numba caches per source file: drop this package's cached kernels when any source they
# compile in changed (its own kernels, and the codegen float32 kernels the laws call)
_HERE = Path(__file__).resolve().parent
drop_stale_cache(_HERE, [*(_HERE / n for n in ("plant.py", "laws.py", "sim.py")), Path(codegen.__file__).parent / "mathf32.py"], "hand_kernels")

__all__ = ["HandPreset", "HandSim", "bench_realtime_factor", "coupling_matrix", "drive_figures", "grasp",
           "load_preset"]


def __getattr__(name: str) -> Any:  # numba-compiled parts load on first use
    if name == "HandSim":
        from cerebellum_rt.actuators.hand.sim import HandSim

        return HandSim
    if name == "grasp":
        from cerebellum_rt.actuators.hand.scenario import grasp

        return grasp
    if name == "bench_realtime_factor":
        from cerebellum_rt.actuators.hand.scenario import bench_realtime_factor

        return bench_realtime_factor
    raise AttributeError(name)
