"""Explanation maps of a cohort against expert masks (plausibility), and pooled faithfulness.

An output explained by `rcm explain` holds ``explanation/explanation.zarr`` (the
map, aligned with the heatmap) and ``explanation/tiles.csv`` (per explained
tile: the score, and the score with the most explained / random pixels blocked).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any

import numpy as np

from rcm.io import open_mosaic
from rcm.metrics import Overlap, faithfulness_summary, plausibility
from rcm.report._cohort import Case
from rcm.report._lesions import lesion_overview
from rcm.stitch import resize_nearest

FOLDER = "explanation"


def explanation_metrics(cases: Sequence[Case], *, threshold: float = 0.5) -> dict[str, Any]:
    """Plausibility per mosaic and pooled (cases with expert masks), faithfulness pooled.

    Returns an empty dict when no output of `cases` was explained.
    """
    explained = [case for case in cases if (case.output / FOLDER / "explanation.zarr").exists()]
    if not explained:
        return {}
    pooled = {"fuzzy": Overlap(), "thresholded": Overlap()}
    per_mosaic = {}
    rows: list[list[float]] = []
    for case in explained:
        rows += _faithfulness_rows(case)
        if case.mask is None:
            continue
        explanation = open_mosaic(case.output / FOLDER / "explanation.zarr").data.compute()
        lesion, _ = lesion_overview(case)
        truth = resize_nearest(lesion, explanation.shape)
        counts = plausibility(explanation, truth, threshold=threshold)
        per_mosaic[case.mosaic_id] = {kind: c.as_dict() for kind, c in counts.items()}
        pooled = {kind: pooled[kind] + counts[kind] for kind in pooled}
    table = np.array(rows, np.float64).reshape(-1, 3)
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


def _faithfulness_rows(case: Case) -> list[list[float]]:
    rows = []
    with (case.output / FOLDER / "tiles.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["p_top_blocked"]:
                rows.append(
                    [
                        float(row["p_suspicious"]),
                        float(row["p_top_blocked"]),
                        float(row["p_random_blocked"]),
                    ]
                )
    return rows
