"""Robot model files: short names resolved through the offline ``example-robot-data`` package.

``resolve("g1")`` -> the path of Unitree G1's URDF shipped by example-robot-data; any existing
path (URDF ``.urdf`` or MJCF ``.xml``) is returned as is.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

from cerebellum_rt.rtcore.errors import ConfigError

# short name -> file under example-robot-data's robots/ directory (humanoids first)
ROBOTS: dict[str, str] = {
    "g1": "g1_description/urdf/g1_29dof_rev_1_0.urdf",
    "g1_hands": "g1_description/urdf/g1_29dof_with_hand_rev_1_0.urdf",
    "talos": "talos_data/robots/talos_reduced.urdf",
    "talos_full": "talos_data/robots/talos_full_v2.urdf",
    "romeo": "romeo_description/urdf/romeo.urdf",
    "icub": "icub_description/robots/icub_reduced.urdf",
    "simple_humanoid": "simple_humanoid_description/urdf/simple_humanoid.urdf",
    "human": "human_description/robots/human.urdf",
    "alex": "alex_description/urdf/alex_nub_hands.urdf",
    "ur5": "ur_description/urdf/ur5_robot.urdf",
    "panda": "panda_description/urdf/panda.urdf",
    "tiago": "tiago_description/robots/tiago.urdf",
    "solo12": "solo_description/robots/solo12.urdf",
}


def robots_dir() -> Path:
    """The ``robots/`` directory of the installed example-robot-data package."""
    try:
        dist = importlib.metadata.distribution("example-robot-data")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ConfigError(
            "robot short names need the Python package 'example-robot-data' (pip install it)"
        ) from exc
    path = Path(str(dist.locate_file("cmeel.prefix/share/example-robot-data/robots")))
    if not path.is_dir():
        raise ConfigError(f"example-robot-data robots directory {path} does not exist")
    return path


def resolve(model: str | Path) -> tuple[Path, bool]:
    """``(path, is_short_name)`` for a model path or a short name of :data:`ROBOTS`."""
    p = Path(model)
    if p.suffix.lower() in (".urdf", ".xml", ".mjcf"):
        if not p.is_file():
            raise ConfigError(f"robot model file {str(p)!r} does not exist")
        return p, False
    name = str(model).lower()
    if name not in ROBOTS:
        raise ConfigError(
            f"robot model {str(model)!r} is neither a .urdf/.xml file nor a known name; names are {sorted(ROBOTS)}"
        )
    path = robots_dir() / ROBOTS[name]
    if not path.is_file():
        raise ConfigError(f"robot {name!r}: file {path} is missing from example-robot-data")
    return path, True
