"""G1 walking: Unitree's pretrained 12-joint policy in MuJoCo, directly (baseline) or through our stack.

Robot data (``--robot-dir``, default ``../shared/robots/unitree_g1_12dof`` beside the checkout):
``scene.xml`` / ``g1_12dof.xml`` (MuJoCo model), ``policy.onnx`` (the network exported
stateless), ``g1.yaml`` (deployment: 50 Hz policy, joint PD gains, default angles, scales). Users
get them from Unitree's public RL repository (unitree_rl_gym, BSD-3) — see the README.

Observation (47 float32, :class:`Observer`): base angular velocity x ang_vel_scale, projected
gravity from the base quaternion (w, x, y, z), command x cmd_scale, joint positions - default
angles, joint velocities x dof_vel_scale, the previous action, sin and cos of 2 pi phase with
phase = (t mod 0.8 s) / 0.8 s. Target joint positions = action x action_scale + default angles.

:func:`walk_mujoco` is the baseline exactly as Unitree's own deployment script runs it: the policy
at 50 Hz, joint PD torques computed at every 2 ms MuJoCo step and written to MuJoCo's motors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cerebellum_rt.rtcore.errors import ConfigError, check_range

DEFAULT_ROBOT_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "robots" / "unitree_g1_12dof"
GAIT_PERIOD_S = 0.8
FALL_HEIGHT_M = 0.5  # pelvis below this: fallen


@dataclass(frozen=True)
class Deploy:
    """The deployment settings of ``g1.yaml``."""

    sim_dt: float
    decimation: int
    kps: np.ndarray
    kds: np.ndarray
    default_angles: np.ndarray
    ang_vel_scale: float
    dof_pos_scale: float
    dof_vel_scale: float
    action_scale: float
    cmd_scale: np.ndarray
    num_actions: int
    num_obs: int

    @property
    def policy_dt(self) -> float:
        return self.sim_dt * self.decimation


def robot_files(robot_dir: str | Path | None) -> Path:
    """The robot folder, checked: every file the scenarios read must be there."""
    d = Path(robot_dir) if robot_dir is not None else DEFAULT_ROBOT_DIR
    d = d.resolve()
    missing = [n for n in ("scene.xml", "g1_12dof.xml", "policy.onnx", "g1.yaml") if not (d / n).is_file()]
    if missing:
        raise ConfigError(f"--robot-dir {d}: missing {', '.join(missing)} (get Unitree's G1 12-dof policy "
                          "and model from unitree_rl_gym; see the README)")
    return d


def load_deploy(robot_dir: Path) -> Deploy:
    import yaml

    path = robot_dir / "g1.yaml"
    try:
        y = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a YAML deployment file ({exc})") from None
    try:
        dep = Deploy(float(y["simulation_dt"]), int(y["control_decimation"]),
                     np.asarray(y["kps"], np.float64), np.asarray(y["kds"], np.float64),
                     np.asarray(y["default_angles"], np.float64), float(y["ang_vel_scale"]),
                     float(y["dof_pos_scale"]), float(y["dof_vel_scale"]), float(y["action_scale"]),
                     np.asarray(y["cmd_scale"], np.float64), int(y["num_actions"]), int(y["num_obs"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or malformed key {exc}") from None
    n = dep.num_actions
    for name in ("kps", "kds", "default_angles"):
        if getattr(dep, name).shape != (n,):
            raise ConfigError(f"{path}: {name} has {getattr(dep, name).size} values, num_actions is {n}")
    check_range(f"{path}: simulation_dt", dep.sim_dt, 1e-4, 0.01, "s")
    return dep


class Observer:
    """Builds the 47-float observation into one preallocated array (no allocation per call)."""

    def __init__(self, dep: Deploy, command: tuple[float, float, float]) -> None:
        self.dep = dep
        self.obs = np.zeros(dep.num_obs, np.float32)
        self.action = np.zeros(dep.num_actions, np.float32)
        self._cmd = np.asarray(command, np.float64) * dep.cmd_scale

    def build(self, t_s: float, quat_wxyz: np.ndarray, ang_vel: np.ndarray, q: np.ndarray,
              qd: np.ndarray) -> np.ndarray:
        d, o, n = self.dep, self.obs, self.dep.num_actions
        w, x, y, z = quat_wxyz
        o[0:3] = ang_vel
        o[0:3] *= d.ang_vel_scale
        o[3] = 2.0 * (-z * x + w * y)
        o[4] = -2.0 * (z * y + w * x)
        o[5] = 1.0 - 2.0 * (w * w + z * z)
        o[6:9] = self._cmd
        np.subtract(q, d.default_angles, out=o[9:9 + n], casting="unsafe")
        o[9:9 + n] *= d.dof_pos_scale
        o[9 + n:9 + 2 * n] = qd
        o[9 + n:9 + 2 * n] *= d.dof_vel_scale
        o[9 + 2 * n:9 + 3 * n] = self.action
        phase = (t_s % GAIT_PERIOD_S) / GAIT_PERIOD_S
        o[9 + 3 * n] = math.sin(2.0 * math.pi * phase)
        o[10 + 3 * n] = math.cos(2.0 * math.pi * phase)
        return o


@dataclass
class WalkResult:
    distance_m: float  # forward (x) travel of the pelvis
    mean_speed_mps: float
    fell: bool
    min_height_m: float
    seconds: float
    trace: np.ndarray  # (n, 3): t, pelvis x, pelvis z at each policy step


def load_model(robot_dir: Path, dt: float):
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(robot_dir / "scene.xml"))
    model.opt.timestep = dt
    return model, mujoco.MjData(model)


def walk_mujoco(robot_dir: str | Path | None = None, seconds: float = 10.0, command: float = 0.5,
                record: list | None = None) -> WalkResult:
    """The MuJoCo-only baseline (policy -> PD torques on MuJoCo's joints, as Unitree deploys it).
    ``record``: a list that receives each observation (copies) the policy saw."""
    import mujoco

    from cerebellum_rt.codegen.nn.runtime import PolicyRuntime

    check_range("walk seconds", seconds, 0.02, 600.0, "s")
    check_range("walk command", command, -1.0, 1.0, "m/s")
    d = robot_files(robot_dir)
    dep = load_deploy(d)
    policy = PolicyRuntime(d / "policy.onnx")
    model, data = load_model(d, dep.sim_dt)
    obs = Observer(dep, (command, 0.0, 0.0))
    n = dep.num_actions
    target = dep.default_angles.copy()
    steps = round(seconds / dep.sim_dt)
    trace = np.zeros((steps // dep.decimation + 1, 3))
    x0, zmin, fell, k = float(data.qpos[0]), math.inf, False, 0
    for i in range(steps):
        q, qd = data.qpos[7:7 + n], data.qvel[6:6 + n]
        data.ctrl[:n] = dep.kps * (target - q) - dep.kds * qd
        mujoco.mj_step(model, data)
        zmin = min(zmin, float(data.qpos[2]))
        if (i + 1) % dep.decimation == 0:
            t = (i + 1) * dep.sim_dt
            o = obs.build(t, data.qpos[3:7], data.qvel[3:6], data.qpos[7:7 + n], data.qvel[6:6 + n])
            if record is not None:
                record.append(o.copy())
            a = policy.step(o)
            obs.action[:] = a
            np.multiply(a, dep.action_scale, out=target)
            target += dep.default_angles
            trace[k] = (t, data.qpos[0], data.qpos[2])
            k += 1
        if data.qpos[2] < FALL_HEIGHT_M:
            fell = True
            break
    t_end = (i + 1) * dep.sim_dt
    dist = float(data.qpos[0]) - x0
    return WalkResult(dist, dist / t_end, fell, zmin, t_end, trace[:k])


def record_observations(robot_dir: str | Path, steps: int = 300) -> np.ndarray:
    """The observations the policy sees in the first ``steps`` policy steps of the baseline walk."""
    rec: list = []
    dep = load_deploy(robot_files(robot_dir))
    walk_mujoco(robot_dir, seconds=steps * dep.policy_dt, record=rec)
    return np.array(rec[:steps], np.float32)
