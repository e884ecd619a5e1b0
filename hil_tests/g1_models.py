"""The G1 bodies the rig can move: Unitree's 12-joint legs model (with the walking policy) and the
29-joint G1 of example-robot-data.

``g1_12dof``: ``scene.xml`` of the robot folder (``--robot-dir``; MuJoCo model with floor and motors).
``g1_29dof``: ``g1_29dof_rev_1_0.urdf`` of the example-robot-data package (a dependency), turned
into a MuJoCo model here: visual meshes dropped, collision meshes dropped except the feet's
contact spheres (the body touches the world through its feet only, as in the 12-joint model),
a free joint on the pelvis, a floor, one motor per joint (the rig writes the modules' torques).

Presets per joint (actuators/presets): legs hip pitch / yaw ``hip`` (88 N m), hip roll / knee
``knee`` (139 N m), ankles ``ankle`` (50 N m); waist yaw ``hip``, waist roll / pitch ``ankle``;
per arm shoulder pitch / roll / yaw, elbow, wrist roll ``arm``, wrist pitch / yaw ``wrist`` (the
G1's own figures, as in ``cbl bench actuators``).
"""

from __future__ import annotations

import re
from pathlib import Path

from cerebellum_rt.rtcore.errors import ConfigError

MODELS = ("g1_12dof", "g1_29dof")
_PRESET_BY_SUFFIX = (
    ("hip_pitch", "hip"), ("hip_roll", "knee"), ("hip_yaw", "hip"), ("knee", "knee"), ("ankle_pitch", "ankle"),
    ("ankle_roll", "ankle"), ("waist_yaw", "hip"), ("waist_roll", "ankle"), ("waist_pitch", "ankle"),
    ("shoulder_pitch", "arm"), ("shoulder_roll", "arm"), ("shoulder_yaw", "arm"), ("elbow", "arm"),
    ("wrist_roll", "arm"), ("wrist_pitch", "wrist"), ("wrist_yaw", "wrist"),
)
# joint PD of a stand (N m/rad, N m s/rad) by preset class; the ankles stiffer than m g h / 2 so that
# a pure PD holds the inverted pendulum
_STAND_GAINS = {"hip_pitch": (200, 4), "hip_roll": (200, 4), "hip_yaw": (200, 4), "knee": (300, 5),
                "ankle_pitch": (400, 5), "ankle_roll": (150, 3), "waist_yaw": (300, 5), "waist_roll": (300, 5),
                "waist_pitch": (300, 5), "shoulder_pitch": (60, 2), "shoulder_roll": (60, 2),
                "shoulder_yaw": (40, 1.5), "elbow": (40, 1.5), "wrist_roll": (20, 1), "wrist_pitch": (20, 1),
                "wrist_yaw": (20, 1)}


def _kind(joint: str) -> str:
    for suffix, _ in _PRESET_BY_SUFFIX:
        if joint.endswith(suffix):
            return suffix
    raise ConfigError(f"G1 joint '{joint}': no actuator preset for it")


def preset_name(joint: str) -> str:
    """The actuator preset of a G1 joint (by its name, e.g. 'left_knee')."""
    return dict(_PRESET_BY_SUFFIX)[_kind(joint)]


def stand_gains(joints: list[str]) -> tuple[list[float], list[float]]:
    """Joint PD gains (kp, kd) of the stand for these joints."""
    g = [_STAND_GAINS[_kind(j)] for j in joints]
    return [float(k) for k, _ in g], [float(d) for _, d in g]


def load_g1_29(dt: float):
    """The 29-joint G1 of example-robot-data as a MuJoCo model (see module doc): (model, data)."""
    import mujoco

    from cerebellum_rt.kinematics.robots import resolve

    path = Path(resolve("g1")[0])
    text = path.read_text()
    text = re.sub(r"<visual>.*?</visual>", "", text, flags=re.S)
    text = re.sub(r"<collision>(?:(?!</collision>).)*<mesh[^>]*/>.*?</collision>", "", text, flags=re.S)
    if "<mesh" in text:
        raise ConfigError(f"{path}: a mesh is left after dropping visuals and mesh collisions")
    text = text.replace("<robot name=\"g1_29dof_rev_1_0\">", "<robot name=\"g1_29dof_rev_1_0\">"
                        "<mujoco><compiler discardvisual=\"true\" balanceinertia=\"true\" fusestatic=\"false\"/></mujoco>", 1)
    spec = mujoco.MjSpec.from_string(text)
    pelvis = spec.worldbody.first_body()
    pelvis.add_freejoint()
    pelvis.pos = [0.0, 0.0, 0.793]
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05], name="floor")
    model = spec.compile()
    joints = [model.joint(i).name for i in range(1, model.njnt)]
    for j in joints:
        spec.add_actuator(name=j.removesuffix("_joint"), target=j, trntype=mujoco.mjtTrn.mjTRN_JOINT)
    spec.option.timestep = dt
    model = spec.compile()
    if model.nu != 29:
        raise ConfigError(f"{path}: {model.nu} joints, the 29-joint G1 was expected")
    return model, mujoco.MjData(model)
