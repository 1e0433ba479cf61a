"""The benchmark: `python -m bench.run [--quick] [--profile]` (see docs/performance.md)."""
