"""Benchmarks for `cbl bench <area>`: one module per area, each measuring a ratio against a reference in the same run."""
