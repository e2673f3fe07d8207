"""Evaluation of a cohort's outputs against expert labels: metrics, comparisons, HTML report."""

__all__: list[str] = []
