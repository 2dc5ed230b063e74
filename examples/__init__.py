"""Runnable examples and the loopback fixture farm used by the demo, tests and benchmarks."""
