"""rtcore: the deterministic loop runner (clocks, absolute deadlines, RT setup, stats, watchdog); knows no bus or device."""
