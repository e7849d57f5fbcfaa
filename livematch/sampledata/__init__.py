"""Synthetic datasets in the contest layout, for tests, the demo and benchmarks."""
