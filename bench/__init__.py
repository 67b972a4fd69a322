"""Benchmark and measurement scripts (BENCHMARKS.md), not installed with the product.

A package, so that bench/gate.py is `bench.gate` to mypy and `gate` is only ever the product's package.
Run a script from the repository root as `python bench/NAME.py` (those that import `gate`, `tests` or
another bench module put the root on sys.path in place of bench/) or as `python -m bench.NAME`.
"""
