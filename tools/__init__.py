"""tools: the `cbl` command-line console, one module per verb; holds no logic a library package should own."""
