"""`TileTable` (``tiles.csv``) and `WindowTable` (``windows.csv``) of an `rcm infer` output.

CSV files have no place for a version: the folder's ``summary.json``
``schema_version`` versions its tables. Versions 0 and 1 share one layout.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import numpy as np

from rcm.outputs._csv import Columns, write_rows

TILES = "tiles.csv"
WINDOWS = "windows.csv"
GRID_COLUMNS = ("row", "col", "y0", "x0", "y1", "x1", "tissue")
SUSPICIOUS_COLUMN = "p_suspicious"
# Class names whose p_<class> column would be, or would look like, an escaped
# p_suspicious: they take one more "class_" (so the rule reads back unambiguously).
_ESCAPED = re.compile(r"(class_)*suspicious")


def class_column(name: str) -> str:
    """The ``tiles.csv`` column of class `name`: ``p_<name>``, never ``p_suspicious``.

    ``p_suspicious`` is the summed score of the positive classes, so a class named
    ``suspicious`` gets ``p_class_suspicious`` (and ``class_suspicious``
    ``p_class_class_suspicious``...).
    """
    return f"p_class_{name}" if _ESCAPED.fullmatch(name) else f"p_{name}"


def column_class(column: str) -> str:
    """The class of a `class_column` name (0.1.0 files may hold ``p_suspicious`` twice)."""
    name = column.removeprefix("p_")
    return (
        name.removeprefix("class_") if _ESCAPED.fullmatch(name) and name != "suspicious" else name
    )


def _check_grid(windows: np.ndarray, positions: np.ndarray, tissue: np.ndarray) -> int:
    count = len(windows)
    if windows.shape != (count, 4) or positions.shape != (count, 2) or tissue.shape != (count,):
        raise ValueError(
            f"windows (N, 4), positions (N, 2) and tissue (N,) must agree, got "
            f"{windows.shape}, {positions.shape} and {tissue.shape}"
        )
    return count


def _grid_cells(windows: np.ndarray, positions: np.ndarray, tissue: np.ndarray, index: int) -> list:
    return [
        index,
        *positions[index].tolist(),
        *windows[index].tolist(),
        f"{tissue[index]:.4f}",
    ]


@dataclass(frozen=True, eq=False)
class TileTable:
    """Every tile of a classifier's grid: where it is, its tissue, its probabilities.

    Row ``i`` is grid tile ``i`` (row-major). Tiles not classified (too little
    tissue) have NaN probabilities, written as empty cells; a classified tile's
    values are all finite (a NaN among them would read as "not classified").
    Columns: ``p_<class>`` per class (`class_column`), then ``p_suspicious``.

    Attributes:
        windows: ``(N, 4)`` int64 ``y0, x0, y1, x1`` in mosaic pixels.
        positions: ``(N, 2)`` int64 grid row and column.
        tissue: ``(N,)`` tissue fraction of each tile.
        classes: The model's class names (columns ``p_<class>``).
        probabilities: ``(N, len(classes))`` class probabilities.
        suspicious: ``(N,)`` summed probability of the suspicious classes.

    """

    windows: np.ndarray
    positions: np.ndarray
    tissue: np.ndarray
    classes: tuple[str, ...]
    probabilities: np.ndarray
    suspicious: np.ndarray

    def __post_init__(self) -> None:
        count = _check_grid(self.windows, self.positions, self.tissue)
        if self.probabilities.shape != (count, len(self.classes)) or self.suspicious.shape != (
            count,
        ):
            raise ValueError(
                f"probabilities ({count}, {len(self.classes)}) and suspicious ({count},) "
                f"expected, got {self.probabilities.shape} and {self.suspicious.shape}"
            )
        scores = np.column_stack([self.probabilities, self.suspicious])
        empty, finite = np.isnan(scores).all(axis=1), np.isfinite(scores).all(axis=1)
        wrong = np.flatnonzero(~(empty | finite))
        if len(wrong):
            raise ValueError(
                f"tile {wrong[0]}: probabilities must all be finite (classified) or all empty "
                f"(not classified), got {scores[wrong[0]].tolist()}"
            )

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def classified(self) -> np.ndarray:
        """Whether each tile was classified."""
        return ~np.isnan(self.suspicious)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write ``tiles.csv`` (7 significant digits, tissue to 4 decimals)."""
        classes = (class_column(name) for name in self.classes)
        header = ["tile", *GRID_COLUMNS, *classes, SUSPICIOUS_COLUMN]
        write_rows(path, header, (self._row(index) for index in range(len(self))))

    def _row(self, index: int) -> list:
        cells = _grid_cells(self.windows, self.positions, self.tissue, index)
        if np.isnan(self.suspicious[index]):
            return [*cells, *[""] * (len(self.classes) + 1)]
        scores = [*self.probabilities[index], self.suspicious[index]]
        return [*cells, *(f"{float(p):.7g}" for p in scores)]

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> TileTable:
        """Read ``tiles.csv``.

        Raises:
            OutputFormatError: If a column is missing, a cell is not a number, or a
                classified tile's values are not all finite.

        """
        columns = Columns(path, TILES, ("tile", *GRID_COLUMNS, SUSPICIOUS_COLUMN))
        header = columns.header
        first = len(GRID_COLUMNS) + 1
        if header[:first] != ["tile", *GRID_COLUMNS] or header[-1] != SUSPICIOUS_COLUMN:
            raise columns.error(
                f"columns must be tile, {', '.join(GRID_COLUMNS)}, p_..., p_suspicious"
            )
        classes = tuple(column_class(name) for name in header[first:-1])
        columns.require_sequence("tile")
        scores = columns.numbers(*range(first, len(header)))
        try:
            return cls(
                windows=columns.integers("y0", "x0", "y1", "x1"),
                positions=columns.integers("row", "col"),
                tissue=columns.numbers("tissue")[:, 0],
                classes=classes,
                probabilities=scores[:, :-1],
                suspicious=scores[:, -1],
            )
        except ValueError as error:
            raise columns.error(str(error)) from error


@dataclass(frozen=True, eq=False)
class WindowTable:
    """Every window of a detector's or segmenter's grid, its tissue and whether it ran.

    Attributes:
        windows: ``(N, 4)`` int64 ``y0, x0, y1, x1`` in mosaic pixels.
        positions: ``(N, 2)`` int64 grid row and column.
        tissue: ``(N,)`` tissue fraction of each window.
        ran: ``(N,)`` bool, whether the window went through the model.

    """

    windows: np.ndarray
    positions: np.ndarray
    tissue: np.ndarray
    ran: np.ndarray

    def __post_init__(self) -> None:
        count = _check_grid(self.windows, self.positions, self.tissue)
        if self.ran.shape != (count,):
            raise ValueError(f"ran must have shape ({count},), got {self.ran.shape}")

    def __len__(self) -> int:
        return len(self.windows)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write ``windows.csv``."""
        rows = (
            [*_grid_cells(self.windows, self.positions, self.tissue, index), int(self.ran[index])]
            for index in range(len(self))
        )
        write_rows(path, ["window", *GRID_COLUMNS, "run"], rows)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> WindowTable:
        """Read ``windows.csv``.

        Raises:
            OutputFormatError: If a column is missing or a cell is not a number.

        """
        columns = Columns(path, WINDOWS, ("window", *GRID_COLUMNS, "run"))
        columns.require_sequence("window")
        ran = columns.integers("run")[:, 0]
        if not np.isin(ran, (0, 1)).all():
            raise columns.error("column run must hold 0 or 1")
        return cls(
            windows=columns.integers("y0", "x0", "y1", "x1"),
            positions=columns.integers("row", "col"),
            tissue=columns.numbers("tissue")[:, 0],
            ran=ran.astype(bool),
        )
