"""Mosaic-level pieces every model task shares: tile scale, map scale, verdict, provenance."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Protocol

import numpy as np
import timm
import torch

from rcm._version import __version__
from rcm.infer._options import Decision
from rcm.io import Mosaic
from rcm.metrics import coverage_at, coverage_score
from rcm.models import LoadedModel


class ScoringOptions(Protocol):
    """The coverage rule's two numbers, as every task's options carry them."""

    @property
    def threshold(self) -> float: ...

    @property
    def coverage(self) -> float: ...


def tile_edge(model: LoadedModel, mosaic: Mosaic) -> tuple[int, list[str]]:
    """Tile edge in mosaic pixels covering what a training tile covered, and notes."""
    meta, info = model.meta, mosaic.info
    notes = list(info.notes)
    if meta.um_per_px and info.um_per_px:
        return max(1, round(meta.tile_px * meta.um_per_px / info.um_per_px)), notes
    notes.append(
        "pixel size of the mosaic or the model unknown: tiles are cut at the "
        "model's tile size in pixels, without rescaling"
    )
    return meta.tile_px, notes


def verdict(
    tissue_values: np.ndarray, options: ScoringOptions, *, classified: bool
) -> dict[str, Any]:
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
    return {
        "status": "ok" if classified else "no_tissue",
        "decision": decision,
        "score": score,
        "threshold": options.threshold,
        "coverage_fraction": options.coverage,
        "coverage_at_threshold": covered,
    }


def provenance(
    mosaic: Mosaic,
    model: LoadedModel,
    model_name: str | None,
    options: Any,
    notes: list[str],
) -> dict[str, Any]:
    info, meta = mosaic.info, model.meta
    return {
        "mosaic": {
            "path": info.path,
            "checksum": info.checksum,
            "shape": list(info.shape),
            "um_per_px": info.um_per_px,
            "um_per_px_source": info.um_per_px_source,
        },
        "model": {
            "name": model_name,
            "file": model.path,
            "checksum": model.checksum,
            **asdict(meta),
        },
        "options": asdict(options),
        "notes": notes,
        "versions": {"rcm": __version__, "torch": torch.__version__, "timm": timm.__version__},
    }


def map_scale(height: int, width: int, max_edge: int) -> int:
    """Smallest power of two that brings the longer edge within `max_edge`."""
    scale = 1
    while max(height, width) / scale > max_edge:
        scale *= 2
    return scale
