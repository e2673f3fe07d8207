"""The ``explanation/`` folder's ``summary.json`` and ``tiles.csv`` (`rcm explain`).

Version history of ``explanation/summary.json``: 0 (rcm 0.1.0, no
``schema_version``), 1 (``schema_version`` added, nothing else changed). Its
version also versions ``explanation/tiles.csv``, whose layout is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rcm.io import read_document, write_document
from rcm.outputs._csv import Columns, number_cell, write_rows
from rcm.outputs._fields import Fields
from rcm.outputs._summary_parts import MapLayout

EXPLANATION = "explanation"
EXPLANATION_SUMMARY = "explanation summary.json"
EXPLANATION_TILES = "explanation tiles.csv"
EXPLANATION_VERSION = 1
TILE_COLUMNS = ("tile", "p_suspicious", "p_top_blocked", "p_random_blocked")


@dataclass(frozen=True)
class ExplanationSummary:
    """How an explanation was made and what its faithfulness test found.

    Attributes:
        method: ``gradcam`` or ``gradcam++``.
        cut: Tiles at or above this probability were explained.
        tiles_explained: How many were.
        tiles_classified: How many tiles the output classified.
        faithfulness: The occlusion test's summary (plain JSON; empty when not measured).
        map: The map's scale and shape (those of the output's heatmap).
        mosaic_checksum: The mosaic's checksum.
        model_checksum: The model's checksum.
        options: The resolved options (plain JSON).
        versions: Versions of rcm and torch.

    """

    method: str
    cut: float
    tiles_explained: int
    tiles_classified: int
    faithfulness: Mapping[str, Any]
    map: MapLayout
    mosaic_checksum: str
    model_checksum: str
    options: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the file (without ``schema_version``)."""
        return {
            **vars(self),
            "faithfulness": dict(self.faithfulness),
            "map": self.map.to_json(),
            "options": dict(self.options),
            "versions": dict(self.versions),
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file (sorted keys, two-space indents, atomically)."""
        write_document(path, self.to_json(), EXPLANATION_VERSION)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ExplanationSummary:
        """Read a summary written by this rcm or an earlier one.

        Raises:
            OutputFormatError: If the file is missing, damaged, lacks a field,
                has a field of the wrong type, or comes from a newer rcm.

        """
        data, _ = read_document(path, EXPLANATION_SUMMARY, EXPLANATION_VERSION)
        fields = Fields(path, EXPLANATION_SUMMARY, data)
        return cls(
            method=fields.text("method"),
            cut=fields.number("cut"),
            tiles_explained=fields.integer("tiles_explained"),
            tiles_classified=fields.integer("tiles_classified"),
            faithfulness=fields.mapping("faithfulness"),
            map=MapLayout.from_fields(fields.nested("map")),
            mosaic_checksum=fields.text("mosaic_checksum"),
            model_checksum=fields.text("model_checksum"),
            options=fields.mapping("options"),
            versions=fields.mapping("versions"),
        )


@dataclass(frozen=True, eq=False)
class ExplanationTable:
    """Per explained tile: its score, and its score with pixels blocked.

    Attributes:
        tiles: ``(N,)`` int64 grid index of each explained tile (as in ``tiles.csv``).
        scores: ``(N,)`` the explained (suspicious) probability.
        top_blocked: ``(N,)`` the probability with the most explained pixels
            blocked; NaN (an empty cell) when faithfulness was not measured.
        random_blocked: ``(N,)`` the same with as many random pixels blocked.

    """

    tiles: np.ndarray
    scores: np.ndarray
    top_blocked: np.ndarray
    random_blocked: np.ndarray

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.tiles, self.scores, self.top_blocked, self.random_blocked)}
        if len(shapes) != 1 or len(shapes.pop()) != 1:
            raise ValueError("tiles, scores, top_blocked and random_blocked must be (N,) alike")

    def __len__(self) -> int:
        return len(self.tiles)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write ``tiles.csv`` (7 significant digits)."""
        rows = (
            [
                int(self.tiles[i]),
                f"{float(self.scores[i]):.7g}",
                number_cell(float(self.top_blocked[i])),
                number_cell(float(self.random_blocked[i])),
            ]
            for i in range(len(self))
        )
        write_rows(path, TILE_COLUMNS, rows)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> ExplanationTable:
        """Read ``explanation/tiles.csv``.

        Raises:
            OutputFormatError: If a column is missing or a cell is not a number.

        """
        columns = Columns(path, EXPLANATION_TILES, TILE_COLUMNS)
        scores = columns.numbers(*TILE_COLUMNS[1:])
        if np.isnan(scores[:, 0]).any():
            raise columns.error("column p_suspicious has an empty cell")
        return cls(columns.integers("tile")[:, 0], *scores.T)
