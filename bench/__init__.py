"""Benchmarks, run on demand: make bench SF=1000."""
