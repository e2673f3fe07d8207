"""Mosaic-level pieces every model task shares: tile scale, map scale, verdict, summary.

The summary is where a calibrated model's probability joins the verdict, so
every task (and a job's outputs, through the same stage) gets it the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace
from typing import Any, Protocol

import numpy as np
import timm
import torch

from rcm._version import __version__
from rcm.errors import InputError
from rcm.io import Mosaic
from rcm.metrics import coverage_at, coverage_score
from rcm.models import TILE_PX_RANGE, Calibration, LoadedModel
from rcm.outputs import Decision, MapLayout, ModelRecord, MosaicRecord, MosaicSummary, Verdict


class ScoringOptions(Protocol):
    """The coverage rule's two numbers, as every task's options carry them."""

    @property
    def threshold(self) -> float: ...

    @property
    def coverage(self) -> float: ...


def tile_edge(model: LoadedModel, mosaic: Mosaic) -> tuple[int, list[str]]:
    """Tile edge in mosaic pixels covering what a training tile covered, and notes.

    Raises:
        InputError: If that edge is outside `TILE_PX_RANGE` (pixel sizes far apart).

    """
    meta, info = model.meta, mosaic.info
    notes = list(info.notes)
    if meta.um_per_px and info.um_per_px:
        edge = round(meta.tile_px * meta.um_per_px / info.um_per_px)
        low, high = TILE_PX_RANGE
        # 2 px tiles number in the millions; 32000 px ones fit no device.
        if not low <= edge <= high:
            raise InputError(
                info.path,
                f"pixels of {info.um_per_px:g} um against the model's {meta.um_per_px:g} um "
                f"would cut tiles of {edge} px (from {low} to {high} px can be run): "
                "pass --um-per-px if the mosaic's pixel size is wrong",
            )
        return edge, notes
    notes.append(
        "pixel size of the mosaic or the model unknown: tiles are cut at the "
        "model's tile size in pixels, without rescaling"
    )
    return meta.tile_px, notes


def verdict(tissue_values: np.ndarray, options: ScoringOptions, *, classified: bool) -> Verdict:
    """Status, decision, score and coverage from the map's values on tissue."""
    values = np.nan_to_num(tissue_values, nan=0.0)
    score = coverage_score(values, options.coverage) if classified else 0.0
    covered = coverage_at(values, options.threshold) if classified else 0.0
    decision: Decision = (
        "no tissue"
        if not classified
        else "suspicious"
        if covered >= options.coverage
        else "not suspicious"
    )
    return Verdict(
        status="ok" if classified else "no_tissue",
        decision=decision,
        score=score,
        threshold=options.threshold,
        coverage_fraction=options.coverage,
        coverage_at_threshold=covered,
    )


def with_probability(
    outcome: Verdict, calibration: Calibration | None, coverage: float, notes: list[str]
) -> Verdict:
    """`outcome` with the calibrated probability of its score, when `calibration` holds for it.

    A calibration fitted on scores at one coverage fraction says nothing of
    scores at another: the probability stays None and `notes` says why.
    """
    if calibration is None:
        return outcome
    fitted = calibration.coverage_fraction
    if fitted is not None and not math.isclose(fitted, coverage, rel_tol=1e-9):
        notes.append(
            f"the model is calibrated for scores at coverage {fitted:g}, not {coverage:g}: "
            "no probability is given"
        )
        return outcome
    return replace(outcome, probability=float(calibration.probability(outcome.score)))


def mosaic_summary(
    mosaic: Mosaic,
    model: LoadedModel,
    model_name: str | None,
    options: Any,
    notes: list[str],
    **parts: Any,
) -> MosaicSummary:
    """The summary of a run: `parts` (verdict, map, counts) plus the run's provenance.

    The verdict gains the model's calibrated probability of its score (when the
    model is calibrated for the run's coverage fraction; else a note says why not).
    """
    info, meta = mosaic.info, model.meta
    record = asdict(meta)
    if record["calibration"] is None:
        del record["calibration"]  # the record of an uncalibrated model is as rcm 0.1.0 wrote
    typed = ("task", "architecture", "classes", "positive", "tile_px", "um_per_px")
    calibration, notes = meta.calibrated, list(notes)
    parts["verdict"] = with_probability(parts["verdict"], calibration, options.coverage, notes)
    return MosaicSummary(
        task=meta.task,
        mosaic=MosaicRecord(
            path=info.path,
            checksum=info.checksum,
            shape=tuple(info.shape),
            um_per_px=info.um_per_px,
            um_per_px_source=info.um_per_px_source,
        ),
        model=ModelRecord(
            name=model_name,
            file=model.path,
            checksum=model.checksum,
            **{key: record.pop(key) for key in typed},
            calibration_method=None if calibration is None else calibration.method,
            meta=record,
        ),
        options=asdict(options),
        notes=tuple(notes),
        versions={"rcm": __version__, "torch": torch.__version__, "timm": timm.__version__},
        **parts,
    )


def map_layout(height: int, width: int, max_edge: int) -> MapLayout:
    """The map of a mosaic: a power-of-two scale bringing the longer edge within `max_edge`."""
    scale = map_scale(height, width, max_edge)
    return MapLayout(scale, (-(-height // scale), -(-width // scale)))


def map_scale(height: int, width: int, max_edge: int) -> int:
    """Smallest power of two that brings the longer edge within `max_edge`."""
    scale = 1
    while max(height, width) / scale > max_edge:
        scale *= 2
    return scale


def read_workers(requested: int | None, device: torch.device) -> int:
    """Reader threads: as asked, else 1 on CPU (the model uses every core) and 4 on a GPU."""
    return requested or (4 if device.type == "cuda" else 1)
