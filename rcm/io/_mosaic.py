"""The `Mosaic` container: lazy pixel levels plus what is known about them."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np

from rcm.errors import MosaicReadError

_HASH_BLOCK = 8 << 20


@dataclass(frozen=True)
class MosaicInfo:
    """What is known about a mosaic without decoding its pixels.

    Attributes:
        path: The file (or store directory) the mosaic was opened from.
        format: Source format, e.g. ``"tiff"``, ``"ome-tiff"``, ``"bmp"``, ``"openslide:aperio"``.
        shape: Level-0 shape in mosaic pixels, ``(y, x)`` or ``(y, x, c)``.
        dtype: NumPy dtype name of the pixels (``"uint8"``, ``"uint16"``).
        level_shapes: Shape of every resolution level, level 0 first.
        um_per_px: Pixel size in microns, or None when unknown or implausible.
        um_per_px_source: Where the pixel size came from (``"tiff-resolution"``,
            ``"ome"``, ``"openslide"``, ``"ngff"``, ``"user"``...), None when unknown.
        checksum: ``"sha256:<hex>"`` of the file bytes (every file, in path order,
            for a directory store).
        notes: Things the user should know, e.g. why the pixel size is unknown.

    """

    path: str
    format: str
    shape: tuple[int, ...]
    dtype: str
    level_shapes: tuple[tuple[int, ...], ...]
    um_per_px: float | None
    um_per_px_source: str | None
    checksum: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if len(self.shape) not in (2, 3):
            raise ValueError(f"mosaic shape must be (y, x) or (y, x, c), got {self.shape}")
        if len(self.shape) == 3 and self.shape[2] not in (1, 3, 4):
            raise ValueError(f"mosaic must have 1, 3 or 4 channels, got {self.shape[2]}")
        if not self.level_shapes or self.level_shapes[0] != self.shape:
            raise ValueError("level_shapes must start with the level-0 shape")

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def channels(self) -> int:
        return 1 if len(self.shape) == 2 else self.shape[2]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (tuples become lists)."""
        out = asdict(self)
        out["channels"] = self.channels
        return out


@dataclass(frozen=True)
class Mosaic:
    """A mosaic opened lazily: dask arrays per resolution level plus `MosaicInfo`.

    Building a `Mosaic` never decodes pixels; computing a region of a level reads
    only the file blocks under it.
    """

    info: MosaicInfo
    levels: tuple[da.Array, ...]
    # The array-likes behind `levels`, for reading many small regions without
    # building a dask graph per read (tile inference).
    sources: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        shapes = tuple(tuple(int(n) for n in level.shape) for level in self.levels)
        if shapes != self.info.level_shapes:
            raise ValueError(f"level shapes {shapes} do not match info {self.info.level_shapes}")
        if any(str(level.dtype) != self.info.dtype for level in self.levels):
            raise ValueError("every level must have the dtype recorded in info")

    @property
    def data(self) -> da.Array:
        """Level 0, full resolution."""
        return self.levels[0]

    def read_region(self, y0: int, x0: int, y1: int, x1: int, level: int = 0) -> np.ndarray:
        """Pixels ``[y0:y1, x0:x1]`` of a level; parts outside the mosaic are 0 (background)."""
        shape = self.info.level_shapes[level]
        out = np.zeros((y1 - y0, x1 - x0, *shape[2:]), np.dtype(self.info.dtype))
        top, left = max(y0, 0), max(x0, 0)
        bottom, right = min(y1, shape[0]), min(x1, shape[1])
        if bottom <= top or right <= left:
            return out
        rows, cols = slice(top, bottom), slice(left, right)
        if self.sources:
            inside = self.sources[level][rows, cols]
        else:
            inside = self.levels[level][rows, cols].compute(scheduler="sync")
        out[top - y0 : bottom - y0, left - x0 : right - x0] = inside
        return out


# Pixels models can take (rcm.models.to_unit: bool as 0 and 1, integers scaled by
# their type's maximum, floats as they are); not complex numbers, text or objects.
PIXEL_KINDS = "biuf"


def check_pixel_type(path: str | os.PathLike[str], dtype: Any, where: str = "the image") -> None:
    """Refuse pixel types other than bool, integers and floating-point numbers.

    Raises:
        MosaicReadError: Naming `path`, `where` (e.g. ``"array 0"``) and the type.

    """
    kind = np.dtype(dtype)
    if kind.kind not in PIXEL_KINDS:
        raise MosaicReadError(
            path, f"{where} holds {kind} values, not bool, integers or floating-point numbers"
        )


def file_checksum(path: str | os.PathLike[str]) -> str:
    """Return ``"sha256:<hex>"`` of a file's bytes, or of every file under a directory.

    Directory entries are hashed in sorted relative-path order, each preceded by its
    path, so a renamed chunk changes the checksum. Inside a directory only regular
    files count: links and special files are never followed (zarr stores holding
    them are refused by their reader).
    """
    root = Path(path)
    digest = hashlib.sha256()
    files = sorted(_regular_files(root)) if root.is_dir() else [root]
    for file in files:
        if root.is_dir():
            digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            while block := handle.read(_HASH_BLOCK):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _regular_files(root: Path) -> list[Path]:
    """Regular files under `root`, without following links to files or folders."""
    found = []
    for folder, _, names in os.walk(root):
        for name in names:
            file = Path(folder, name)
            if stat.S_ISREG(file.lstat().st_mode):
                found.append(file)
    return found
