"""Explanation maps of a cohort against expert masks (plausibility), and pooled faithfulness.

An output explained by `rcm explain` holds ``explanation/explanation.zarr`` (the
map, aligned with the heatmap) and ``explanation/tiles.csv`` (per explained
tile: the score, and the score with the most explained / random pixels blocked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rcm.io import open_mosaic
from rcm.metrics import Overlap, faithfulness_summary, plausibility
from rcm.outputs import EXPLANATION, TILES, ExplanationTable
from rcm.report._cohort import Case
from rcm.report._lesions import lesion_overview
from rcm.stitch import resize_nearest

MAP = "explanation.zarr"


def explanation_metrics(cases: Sequence[Case], *, threshold: float = 0.5) -> dict[str, Any]:
    """Plausibility per mosaic and pooled (cases with expert masks), faithfulness pooled.

    Returns an empty dict when no output of `cases` was explained.
    """
    explained = [case for case in cases if (case.output / EXPLANATION / MAP).exists()]
    if not explained:
        return {}
    pooled = {"fuzzy": Overlap(), "thresholded": Overlap()}
    per_mosaic = {}
    rows: list[np.ndarray] = []
    for case in explained:
        rows.append(_faithfulness_rows(case))
        if case.mask is None:
            continue
        explanation = open_mosaic(case.output / EXPLANATION / MAP).data.compute()
        lesion, _ = lesion_overview(case)
        truth = resize_nearest(lesion, explanation.shape)
        counts = plausibility(explanation, truth, threshold=threshold)
        per_mosaic[case.mosaic_id] = {kind: c.as_dict() for kind, c in counts.items()}
        pooled = {kind: pooled[kind] + counts[kind] for kind in pooled}
    table = np.concatenate(rows)
    result: dict[str, Any] = {
        "mosaics_explained": len(explained),
        "faithfulness": faithfulness_summary(*table.T) if len(table) else {"tiles": 0},
    }
    if per_mosaic:
        result["plausibility"] = {
            "threshold": threshold,
            "pooled": {kind: counts.as_dict() for kind, counts in pooled.items()},
            "per_mosaic": per_mosaic,
        }
    return {"explanations": result}


def _faithfulness_rows(case: Case) -> np.ndarray:
    """Score, top-blocked and random-blocked probability of each tile tested for faithfulness."""
    table = ExplanationTable.read(case.output / EXPLANATION / TILES)
    tested = ~np.isnan(table.top_blocked)
    return np.stack([table.scores, table.top_blocked, table.random_blocked], axis=1)[tested]
