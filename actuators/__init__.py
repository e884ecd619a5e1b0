"""actuators: physics of joint modules and tendon hands, and their firmware control laws (Config / State / step)."""
