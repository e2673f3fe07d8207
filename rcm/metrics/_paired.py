"""Paired test of two sets of binary decisions on the same cases: McNemar's exact test.

Two raters (a model at one operating point, a clinician) call the same cases;
only the cases where exactly one of them is right carry information about
which is better. McNemar's exact test asks whether those discordant cases
split evenly: under the null hypothesis the number the first rater alone got
right is Binomial(b + c, 1/2). scipy's ``binomtest`` gives the two-sided
p-value (1 without discordant cases). The cases are taken as independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test of two raters on the same cases.

    Attributes:
        cases: Cases both rated.
        only_first: Cases only the first rater got right (b).
        only_second: Cases only the second rater got right (c).
        p_value: Two-sided exact p-value (binomial test of b of b + c at 1/2).

    """

    cases: int
    only_first: int
    only_second: int
    p_value: float

    def as_dict(self) -> dict[str, float | int]:
        return dict(vars(self))


def mcnemar_exact(first_correct: np.ndarray, second_correct: np.ndarray) -> McNemarResult:
    """McNemar's exact test of whether two raters' accuracies differ on the same cases.

    Args:
        first_correct: ``(cases,)`` True where the first rater was right.
        second_correct: ``(cases,)`` True where the second rater was right.

    Raises:
        ValueError: If the two are not 1-D of one length.

    """
    from scipy.stats import binomtest

    first = np.asarray(first_correct).astype(bool)
    second = np.asarray(second_correct).astype(bool)
    if first.ndim != 1 or first.shape != second.shape:
        raise ValueError("both raters need one decision per case")
    only_first = int(np.count_nonzero(first & ~second))
    only_second = int(np.count_nonzero(second & ~first))
    discordant = only_first + only_second
    p_value = 1.0 if discordant == 0 else float(binomtest(only_first, discordant, 0.5).pvalue)
    return McNemarResult(len(first), only_first, only_second, min(1.0, p_value))
