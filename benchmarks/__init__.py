"""Benchmarks of scrapy-optout: ``python -m benchmarks`` (see BENCHMARKS.md)."""
