"""Outputs of `rcm infer` for evaluation tests, without running a model.

Each is the classifier summary of rcm 0.1.0 (the fixture) with its verdict
replaced, written by this rcm's writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from rcm.outputs import MosaicSummary

TEMPLATE = Path(__file__).parents[1] / "fixtures" / "release-0.1.0" / "classifier" / "summary.json"


def write_outputs(
    folder: Path,
    scores: Mapping[str, float],
    *,
    threshold: float = 0.5,
    coverage: float = 0.01,
    checksum: str | None = None,
    probabilities: Mapping[str, float] | None = None,
    calibration_method: str | None = None,
) -> Path:
    """One output folder ``MOSAIC_ID.rcm`` with a summary.json per mosaic under `folder`.

    `checksum` is the model file's (the fixture's when None); `probabilities`
    are the calibrated probabilities of the mosaics that have one.
    """
    template = MosaicSummary.read(TEMPLATE)
    model = replace(
        template.model,
        checksum=checksum or template.model.checksum,
        calibration_method=calibration_method,
    )
    for mosaic_id, score in scores.items():
        verdict = replace(
            template.verdict,
            score=score,
            threshold=threshold,
            coverage_fraction=coverage,
            decision="suspicious" if score >= threshold else "not suspicious",
            probability=(probabilities or {}).get(mosaic_id),
        )
        out = folder / f"{mosaic_id}.rcm"
        out.mkdir(parents=True)
        replace(template, verdict=verdict, model=model).write(out / "summary.json")
    return folder
