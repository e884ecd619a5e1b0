"""Example laws for codegen: a PI controller, an integer/bool semantics exercise, UR5 kinematics."""
