"""The patient bootstrap as weights: vectorised statistics over thousands of resamples.

`patient_resamples` yields each resample's case indices; a statistic that is a
sum over cases only needs how often each case was drawn, which is how often its
patient was drawn. `PatientBootstrap` draws exactly the resamples of
`patient_resamples` (same seed, same patients) but keeps them as a
``(resamples, patients)`` count matrix, so a statistic of all resamples is a
few array operations instead of thousands of function calls:

- `aurocs`: the Mann-Whitney AUROC with each case weighted by its count. The
  cases are ranked once (the order does not depend on the resample); only the
  negatives' cumulative weights at the positives' ranks matter, so the ranked
  negatives are cut there into segments and summed per patient by one sparse
  product with the counts. The arithmetic is in integers (int64) and equals
  `fast_auroc` of the resampled indices.
- `sums`: weighted sums of per-case values (true positives, positives...),
  which give sensitivities and specificities at fixed thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.sparse import csr_matrix

from rcm.metrics._bootstrap import Interval

_BLOCK_ENTRIES = 8_000_000  # entries of one (rows x resamples) block: 64 MB as int64


@dataclass(frozen=True)
class PatientBootstrap:
    """Patient-level bootstrap resamples as draw counts.

    Attributes:
        patient: Patient index of each case (in sorted patient-id order).
        counts: ``(resamples, patients)``: how often resample b drew patient p.

    """

    patient: np.ndarray
    counts: np.ndarray

    @classmethod
    def draw(cls, groups: np.ndarray, n_resamples: int, seed: int) -> PatientBootstrap:
        """The resamples `patient_resamples(groups, n_resamples, seed)` yields, as counts."""
        if n_resamples < 1:
            raise ValueError(f"need at least one resample, got {n_resamples}")
        _, inverse = np.unique(np.asarray(groups), return_inverse=True)
        n_patients = int(inverse.max()) + 1 if len(inverse) else 0
        rng = np.random.default_rng(seed)
        # One call of shape (B, P) draws the same numbers as B calls of size P.
        chosen = rng.integers(0, n_patients, (n_resamples, n_patients))
        flat = (chosen + n_patients * np.arange(n_resamples)[:, None]).ravel()
        counts = np.bincount(flat, minlength=n_resamples * n_patients)
        return cls(
            inverse.astype(np.int64), counts.reshape(n_resamples, n_patients).astype(np.int32)
        )

    @property
    def n_resamples(self) -> int:
        return int(self.counts.shape[0])

    def aurocs(
        self, labels: np.ndarray, scores: np.ndarray, patient: np.ndarray | None = None
    ) -> np.ndarray:
        """AUROC of each resample (NaN where it holds one class only).

        Args:
            labels: ``(n,)`` truth of each entry.
            scores: ``(n,)`` finite scores.
            patient: Patient index of each entry; default `self.patient` (one
                entry per case). Pooled (micro) statistics pass the case's
                patient repeated for each of its entries.

        """
        truth = np.asarray(labels, bool)
        values = np.asarray(scores, np.float64)
        owner = self.patient if patient is None else np.asarray(patient)
        if not truth.shape == values.shape == owner.shape or truth.ndim != 1:
            raise ValueError("labels, scores and patients must be 1-D and of one length")
        if not np.isfinite(values).all():
            raise ValueError("scores must be finite")
        negatives = np.flatnonzero(~truth)
        negatives = negatives[np.argsort(-values[negatives], kind="stable")]
        positives = np.flatnonzero(truth)
        falling = -values[negatives]
        # Per positive: negatives scored above it (k_gt) and at least as high (k_ge).
        k_gt = np.searchsorted(falling, -values[positives], side="left")
        k_ge = np.searchsorted(falling, -values[positives], side="right")
        # Only the negatives' cumulative weights at those ranks matter: cut the ranked
        # negatives there and sum each segment per patient (a sparse segments x patients
        # matrix), so a resample costs one sparse product instead of a pass over all cases.
        cuts = np.unique(np.r_[k_gt, k_ge])
        segment = np.searchsorted(cuts, np.arange(len(negatives)), side="right")
        n_patients = self.counts.shape[1]
        members = csr_matrix(
            (np.ones(len(negatives), np.int64), (segment, owner[negatives])),
            shape=(len(cuts) + 1, n_patients),
        )
        at_gt = np.searchsorted(cuts, k_gt)
        at_ge = np.searchsorted(cuts, k_ge)
        block = max(1, _BLOCK_ENTRIES // max(1, len(cuts) + len(positives)))
        out = np.empty(self.n_resamples)
        by_patient = self._by_patient
        for first in range(0, self.n_resamples, block):
            counts = np.ascontiguousarray(by_patient[:, first : first + block])
            out[first : first + block] = _weighted_auroc(
                counts[owner[positives]], members @ counts, at_gt, at_ge
            )
        return out

    @cached_property
    def _by_patient(self) -> np.ndarray:
        """The counts as ``(patients, resamples)``, so a case's weights are one row."""
        return np.ascontiguousarray(self.counts.T)

    def sums(self, values: np.ndarray) -> np.ndarray:
        """``(resamples, k)`` weighted sums of the ``(cases, k)`` `values` in each resample.

        Summed per patient first, then one matrix product with the counts. Integer
        values (counts of cases) whose totals stay below 2**24 are summed in
        float32, exactly and twice as fast; anything else in float64.
        """
        table = np.asarray(values, np.float64)
        if table.ndim != 2 or len(table) != len(self.patient):
            raise ValueError("values must be (cases, k)")
        n_patients = self.counts.shape[1]
        per_patient = np.stack(
            [np.bincount(self.patient, column, n_patients) for column in table.T], axis=1
        )
        bound = float(np.abs(per_patient).sum(axis=0).max(initial=0)) * int(self.counts.max())
        integral = bool(np.array_equal(per_patient, np.round(per_patient)))
        kind = np.float32 if integral and bound < 2**24 else np.float64
        product = self.counts.astype(kind) @ per_patient.astype(kind)
        return product.astype(np.float64)

    def interval(self, estimate: float, values: np.ndarray, level: float = 0.95) -> Interval:
        """Percentile interval of the resamples' `values` (NaN ones are skipped)."""
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        finite = values[np.isfinite(values)]
        skipped = len(values) - len(finite)
        if not len(finite):
            return Interval(float(estimate), float("nan"), float("nan"), level, 0, skipped)
        low, high = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
        return Interval(float(estimate), float(low), float(high), level, len(finite), skipped)


def _weighted_auroc(
    positive: np.ndarray, segments: np.ndarray, at_gt: np.ndarray, at_ge: np.ndarray
) -> np.ndarray:
    """Mann-Whitney AUROC per column (resample).

    ``cumulative[m]`` weighs the negatives before cut m. A positive beats the
    negatives below it (weight ``N - cumulative[at_ge]``) and ties with
    ``cumulative[at_ge] - cumulative[at_gt]``, which count one half:
    AUROC = 1 - sum_i w_i (cumulative[at_ge] + cumulative[at_gt]) / (2 P N), in integers.

    Args:
        positive: ``(positives, resamples)`` weight of each positive.
        segments: ``(cuts + 1, resamples)`` weight of the negatives in each segment
            of the ranking (highest scores first) between consecutive cuts.
        at_gt: Per positive, the cut after the negatives scored above it.
        at_ge: Per positive, the cut after the negatives scored at least as high.

    """
    cumulative = np.cumsum(segments, axis=0, dtype=np.int64)
    total_pos = positive.sum(axis=0, dtype=np.int64)
    total_neg = cumulative[-1]
    above = cumulative[at_ge] + cumulative[at_gt]
    pairs = np.einsum("ij,ij->j", positive.astype(np.int64), above)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = 1.0 - pairs / (2.0 * total_pos * total_neg)
    result[(total_pos == 0) | (total_neg == 0)] = np.nan
    return result
