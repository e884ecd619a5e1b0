"""codegen: restricted-Python laws -> typed IR -> C99 and a bit-exact Python reference; toolchains, SIL, PIL, reports."""
