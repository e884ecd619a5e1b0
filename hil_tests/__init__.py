"""hil_tests: hardware-in-the-loop rigs (TOML), pytest fixtures and scenarios, fault injection and reports."""
