"""kinematics: robot models loaded from URDF/MJCF by a library, allocation-free FK, Jacobians, IK, centre of mass."""
