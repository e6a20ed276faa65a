"""The test suite (a regular package: a dependency of neonize installs a top-level `tests` package)."""
