"""Mosaic-level metrics."""

from rcm.metrics._coverage import coverage_at, coverage_score

__all__ = ["coverage_at", "coverage_score"]
