"""`MosaicSummary`: the ``summary.json`` every `rcm infer` output folder holds.

Version history:

- 0 (rcm 0.1.0): no ``schema_version``; classifier summaries have no ``task``
  (they read as ``classifier``).
- 1: ``schema_version`` and a top-level ``task`` in every summary.
- 2: the verdict's ``probability`` (the calibrated probability of the score,
  null when the model is not calibrated) and the model record's
  ``calibration_method`` (null when not calibrated); earlier files read with
  both null (no model was calibrated before version 2).

The summary's version also versions the folder's tables (``tiles.csv``,
``windows.csv``), which have no place for one of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rcm.errors import OutputFormatError
from rcm.io import read_document, write_document
from rcm.models import PHOTO_TASKS, TASKS, Task
from rcm.outputs._fields import Fields
from rcm.outputs._summary_parts import (
    InstancesBlock,
    MapLayout,
    ModelRecord,
    MosaicRecord,
    TilesBlock,
    Verdict,
    WindowsBlock,
)

SUMMARY = "summary.json"
SUMMARY_VERSION = 2


@dataclass(frozen=True)
class MosaicSummary:
    """What one `rcm infer` run decided about one mosaic, and how.

    Attributes:
        task: The model's task: a classifier's summary has `tiles`, a detector's
            or segmenter's has `windows`, `instances` and `categories`.
        verdict: Status, decision, score, the coverage rule and the calibrated
            probability (top-level fields in the file).
        tissue_fraction: Share of the mosaic that is tissue.
        map: The map's scale and shape.
        mosaic: The mosaic it was made from.
        model: The model it was made with.
        tiles: A classifier's grid and counts.
        windows: A window model's grid and counts.
        instances: A window model's object counts.
        categories: A window model's COCO categories (plain JSON).
        options: The resolved options (plain JSON).
        notes: What the run noticed (pixel size unknown, windows rounded...).
        versions: Versions of rcm and its frameworks.

    """

    task: Task
    verdict: Verdict
    tissue_fraction: float
    map: MapLayout
    mosaic: MosaicRecord
    model: ModelRecord
    options: Mapping[str, Any]
    notes: tuple[str, ...] = ()
    versions: Mapping[str, str] = field(default_factory=dict)
    tiles: TilesBlock | None = None
    windows: WindowsBlock | None = None
    instances: InstancesBlock | None = None
    categories: tuple[Mapping[str, Any], ...] | None = None

    def __post_init__(self) -> None:
        classifier = self.task == Task.CLASSIFIER
        windowed = self.windows is not None and self.instances is not None
        if classifier != (self.tiles is not None) or classifier == windowed:
            raise ValueError(
                "a classifier summary has tiles; a detector or segmenter summary "
                f"has windows and instances (task {self.task})"
            )

    @property
    def status(self) -> str:
        """``ok`` or ``no_tissue``."""
        return self.verdict.status

    @property
    def decision(self) -> str:
        """``suspicious``, ``not suspicious`` or ``no tissue``."""
        return self.verdict.decision

    @property
    def score(self) -> float:
        """The mosaic score."""
        return self.verdict.score

    @property
    def probability(self) -> float | None:
        """The calibrated probability of the score (None when the model is not calibrated)."""
        return self.verdict.probability

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file (without ``schema_version``)."""
        data: dict[str, Any] = {
            **vars(self.verdict),
            "task": self.task,
            "tissue_fraction": self.tissue_fraction,
            "map": self.map.to_json(),
            "mosaic": self.mosaic.to_json(),
            "model": self.model.to_json(),
            "options": dict(self.options),
            "notes": list(self.notes),
            "versions": dict(self.versions),
        }
        for name in ("tiles", "windows", "instances"):
            part = getattr(self, name)
            if part is not None:
                data[name] = part.to_json()
        if self.categories is not None:
            data["categories"] = [dict(category) for category in self.categories]
        return data

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file (sorted keys, two-space indents, atomically)."""
        write_document(path, self.to_json(), SUMMARY_VERSION)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> MosaicSummary:
        """Read a summary written by this rcm or an earlier one.

        Raises:
            OutputFormatError: If the file is missing, damaged, lacks a field,
                has a field of the wrong type, or comes from a newer rcm.

        """
        data, version = read_document(path, SUMMARY, SUMMARY_VERSION)
        if version == 0 and "task" not in data:
            data = {**data, "task": "classifier"}
        if version < 2:
            data = _uncalibrated(data)
        return cls.from_json(path, data)

    @classmethod
    def from_json(cls, path: str | os.PathLike[str], data: dict[str, Any]) -> MosaicSummary:
        """The summary of the JSON object `data` read from `path`."""
        fields = Fields(path, SUMMARY, data)
        task = Task(fields.choice("task", TASKS))
        if task in PHOTO_TASKS:
            raise fields.error(f"the summary of a photo run ({task}), not of a mosaic")
        windowed = task != Task.CLASSIFIER
        try:
            return cls(
                task=task,
                verdict=Verdict.from_fields(fields),
                tissue_fraction=fields.number("tissue_fraction"),
                map=MapLayout.from_fields(fields.nested("map")),
                mosaic=MosaicRecord.from_fields(fields.nested("mosaic")),
                model=ModelRecord.from_fields(fields.nested("model")),
                options=fields.mapping("options"),
                notes=fields.texts("notes"),
                versions=fields.mapping("versions"),
                tiles=None if windowed else TilesBlock.from_fields(fields.nested("tiles")),
                windows=WindowsBlock.from_fields(fields.nested("windows")) if windowed else None,
                instances=InstancesBlock.from_fields(fields.nested("instances"))
                if windowed
                else None,
                categories=_categories(fields) if windowed else None,
            )
        except ValueError as error:
            raise OutputFormatError(path, f"{SUMMARY}: {error}") from error


def _uncalibrated(data: dict[str, Any]) -> dict[str, Any]:
    """A summary of version 0 or 1 with the fields version 2 added, both null."""
    upgraded = {**data, "probability": None}
    if isinstance(data.get("model"), dict):
        upgraded["model"] = {**data["model"], "calibration_method": None}
    return upgraded


def _categories(fields: Fields) -> tuple[Mapping[str, Any], ...]:
    values = fields.data.get("categories")
    if not isinstance(values, list) or not all(isinstance(item, dict) for item in values):
        raise fields.error("categories must be a list of JSON objects")
    return tuple(values)


def summary_path(folder: str | os.PathLike[str]) -> Path:
    """The summary file of an output folder."""
    return Path(folder) / SUMMARY
