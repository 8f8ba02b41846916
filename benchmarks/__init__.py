"""Benchmarks of xmr: ``python -m benchmarks [--quick] [--only NAME]`` (see BENCHMARKS.md)."""
