"""Example laws for codegen: a PI controller, an integer/bool semantics exercise, UR5 kinematics, and the
whole-body controller that ``cbl bench loop`` steps (29 joints + 2 tendon hands)."""
