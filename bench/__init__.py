"""Benchmarks of the validator against the real local stack (`python -m bench --help`)."""
