"""OME-Zarr (NGFF 0.5 on zarr v3, and 0.4 layouts) read back as a `Mosaic`.

The store is checked before zarr reads it (`rcm.io._zarr_store`): only regular
files inside it, chunk files no larger than their encoded size can be, a chunk
grid that bounded reads can cover, and every chunk present. zarr reads a chunk
that was never written as the fill value; a foreign store with missing chunks
is refused unless the caller accepts fill values (``allow_missing_chunks``),
and a store rcm wrote, which records how many chunk files it wrote per level, is
damaged when the store holds any other number (lost chunks, or foreign ones).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

from rcm.errors import MosaicReadError
from rcm.io._formats import check_dimensions
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import resolve_pixel_size, um_per_unit
from rcm.io._source import DEFAULT_REGION, RegionSource, as_dask
from rcm.io._zarr_store import LevelCheck, check_level, list_store

# NGFF versions whose multiscales carry named axes.
NGFF_VERSIONS = ("0.3", "0.4", "0.5")
# The key under the group's ``rcm`` attributes where the writer records its chunk files.
CHUNK_FILES = "chunk_files"


class ZarrLevelSource(RegionSource):
    """One multiscale level of an OME-Zarr image, channels moved last."""

    def __init__(
        self,
        path: str,
        array_path: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        channel_first: bool,
    ) -> None:
        super().__init__()
        self.path, self.array_path = path, array_path
        self.shape, self.dtype = shape, dtype
        self.channel_first = channel_first

    def _open(self) -> Any:
        return zarr.open_array(store=self.path, path=self.array_path, mode="r")

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        if self.channel_first:
            return np.moveaxis(handle[:, rows, cols], 0, -1)
        return np.asarray(handle[rows, cols])


def open_ome_zarr(
    path: str,
    *,
    checksum: str,
    max_pixels: int,
    um_per_px: float | None,
    allow_missing_chunks: bool = False,
) -> Mosaic:
    """Open the first multiscale image of an OME-Zarr store; see `rcm.io.open_mosaic`.

    Args:
        path: The store directory.
        checksum: Its checksum (`rcm.io.file_checksum`).
        max_pixels: Refuse level 0 beyond this many pixels.
        um_per_px: Pixel size overriding the store's scale.
        allow_missing_chunks: Read chunks missing from a foreign store as the fill
            value (with a note) instead of refusing the store.

    """
    listing = list_store(path)
    group, attrs = _open_group(path)
    image = _multiscale(path, attrs)
    axes = _axes(path, image)
    channel_first = axes[0] == "c"
    datasets = image.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        raise MosaicReadError(path, "OME-Zarr multiscales lists no datasets")
    recorded = _recorded_chunk_files(attrs, len(datasets))
    sources: list[tuple[ZarrLevelSource, tuple[int, ...]]] = []
    notes: list[str] = []
    for index, dataset in enumerate(datasets):
        array_path, array = _level_array(path, group, dataset)
        before = sources[-1][0].shape if sources else None
        shape = _level_shape(path, array_path, array, axes, before, max_pixels)
        found = check_level(path, listing, array_path, array)
        written = None if recorded is None else recorded[index]
        notes += _missing_chunks(path, array_path, array, found, written, allow_missing_chunks)
        source = ZarrLevelSource(path, array_path, shape, np.dtype(array.dtype), channel_first)
        sources.append((source, _chunks(array, source)))
    found_um = _scale_um(image, axes)
    pixel_size = resolve_pixel_size(found_um, found_um, "OME-Zarr scale", um_per_px)
    levels = tuple(
        as_dask(source, f"rcm-zarr-{checksum[7:23]}-L{index}", chunks)
        for index, (source, chunks) in enumerate(sources)
    )
    first = sources[0][0]
    info = MosaicInfo(
        path=path,
        format="ome-zarr",
        shape=first.shape,
        dtype=str(first.dtype),
        level_shapes=tuple(source.shape for source, _ in sources),
        um_per_px=pixel_size.um_per_px,
        um_per_px_source=pixel_size.source,
        checksum=checksum,
        notes=(*pixel_size.notes, *notes),
    )
    return Mosaic(info=info, levels=levels, sources=tuple(source for source, _ in sources))


def _open_group(path: str) -> tuple[Any, dict[str, Any]]:
    try:
        group: Any = zarr.open_group(store=path, mode="r")
        attrs: dict[str, Any] = group.attrs.asdict()
    except Exception as error:  # zarr raises several types for broken metadata
        raise MosaicReadError(path, f"not a readable zarr store ({_reason(error)})") from error
    return group, attrs


def _multiscale(path: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """The first multiscale image of NGFF 0.5 (under ``ome``) or 0.4 (top level)."""
    ome = attrs.get("ome", attrs)
    if not isinstance(ome, dict):
        raise MosaicReadError(path, f"the 'ome' attribute is {ome!r}, not an NGFF object")
    multiscales = ome.get("multiscales")
    if not multiscales:
        raise MosaicReadError(path, "zarr store has no OME-Zarr multiscales metadata")
    if not isinstance(multiscales, list) or not isinstance(multiscales[0], dict):
        raise MosaicReadError(path, "OME-Zarr multiscales is not a list of images")
    image: dict[str, Any] = multiscales[0]
    version = ome.get("version", image.get("version"))
    if version is not None and version not in NGFF_VERSIONS:
        raise MosaicReadError(
            path, f"OME-Zarr version {version!r} is not one rcm reads ({', '.join(NGFF_VERSIONS)})"
        )
    return image


def _axes(path: str, image: dict[str, Any]) -> list[str]:
    raw = image.get("axes")
    if not isinstance(raw, list):
        raise MosaicReadError(path, "OME-Zarr multiscales has no axes (NGFF 0.4 or later needed)")
    axes = [axis.get("name") if isinstance(axis, dict) else axis for axis in raw]
    if axes not in (["y", "x"], ["c", "y", "x"]):
        raise MosaicReadError(path, f"OME-Zarr axes {axes} are not (y, x) or (c, y, x)")
    return axes


def _level_array(path: str, group: Any, dataset: Any) -> tuple[str, Any]:
    """Open one dataset's array; any zarr or codec error names the store and the array."""
    array_path = dataset.get("path") if isinstance(dataset, dict) else None
    if not isinstance(array_path, str) or not array_path:
        raise MosaicReadError(path, f"OME-Zarr dataset {dataset!r} has no array path")
    if array_path.startswith("/") or {"", ".", ".."} & set(array_path.split("/")):
        raise MosaicReadError(path, f"OME-Zarr dataset path {array_path!r} leaves the store")
    try:
        array = group[array_path]
        _ = (array.shape, array.chunks, array.shards, array.dtype, array.fill_value)
    except Exception as error:  # zarr and numcodecs raise many types for bad metadata
        raise MosaicReadError(
            path, f"array {array_path} cannot be opened ({_reason(error)})"
        ) from error
    if not isinstance(array, zarr.Array):
        raise MosaicReadError(path, f"{array_path} is a group, not an array")
    if any(n < 0 for n in array.shape):
        raise MosaicReadError(path, f"array {array_path} has a negative shape {list(array.shape)}")
    return array_path, array


def _level_shape(
    path: str,
    array_path: str,
    array: Any,
    axes: list[str],
    before: tuple[int, ...] | None,
    max_pixels: int,
) -> tuple[int, ...]:
    """The level's shape, channels last: within the budget, no larger than `before`."""
    stored = tuple(int(n) for n in array.shape)
    if len(stored) != len(axes):
        raise MosaicReadError(path, f"array {array_path} has shape {list(stored)} for axes {axes}")
    channel_first = axes[0] == "c"
    shape = (*stored[1:], stored[0]) if channel_first else stored
    if channel_first and shape[2] not in (3, 4):
        raise MosaicReadError(
            path,
            f"array {array_path} has {shape[2]} channels: rcm reads (c, y, x) images of 3 "
            "or 4 channels (single-channel images must be stored as (y, x))",
        )
    if before is None:
        check_dimensions(path, shape[0], shape[1], max_pixels)
    elif not _smaller(shape, before):
        raise MosaicReadError(
            path, f"array {array_path} ({list(stored)}) is not smaller than the level before it"
        )
    return shape


def _smaller(shape: tuple[int, ...], before: tuple[int, ...]) -> bool:
    """A pyramid level: no larger than the level before, the same channels."""
    return shape[0] <= before[0] and shape[1] <= before[1] and shape[2:] == before[2:]


def _recorded_chunk_files(attrs: dict[str, Any], levels: int) -> list[int] | None:
    """Chunk files per level that rcm's writer recorded, when this store is rcm's."""
    own = attrs.get("rcm")
    counts = own.get(CHUNK_FILES) if isinstance(own, dict) else None
    if isinstance(counts, list) and len(counts) == levels:
        return [n if isinstance(n, int) else -1 for n in counts]
    return None


def _missing_chunks(
    path: str,
    array_path: str,
    array: Any,
    found: LevelCheck,
    recorded: int | None,
    allow: bool,
) -> list[str]:
    """Refuse (or, when allowed, note) chunk files that the grid needs and the store lacks.

    `recorded` is the number of chunk files rcm's writer wrote for this level
    (None for a foreign store): any other number held means damage.
    """
    if recorded is not None and not found.missing and found.held != recorded:
        raise MosaicReadError(
            path,
            f"damaged store: rcm recorded {recorded} chunk files of array {array_path}, but "
            f"the store holds {found.held} ({found.stray} outside its grid of {found.expected})",
        )
    if not found.missing and not found.empty_in_shards:
        return []
    fill = getattr(array.fill_value, "item", lambda: array.fill_value)()
    if found.missing:
        more = ", ..." if found.missing > len(found.first_missing) else ""
        counts = (
            f"{found.missing} of {found.expected} chunk files of array {array_path} are "
            f"missing ({', '.join(found.first_missing)}{more})"
        )
    else:
        counts = f"{found.empty_in_shards} chunks in the shards of array {array_path} are missing"
    if recorded is not None:
        raise MosaicReadError(path, f"damaged store: rcm wrote every chunk, but {counts}")
    if not allow:
        raise MosaicReadError(
            path,
            f"{counts}; zarr would read them as the fill value {fill!r}: pass "
            "--allow-missing-chunks (allow_missing_chunks: true in a job file, then "
            "rcm run --retry-failed) if the "
            "store's writer skipped empty chunks on purpose",
        )
    return [f"{counts}, read as the fill value {fill!r}"]


def _chunks(array: Any, source: ZarrLevelSource) -> tuple[int, ...]:
    """Regions of whole chunks near `DEFAULT_REGION` px, channels whole.

    Sharded arrays read only the chunks under a region, so the chunk (not the
    shard) sets the unit; many small chunks are batched into one region.
    """
    chunks = array.chunks[1:] if source.channel_first else array.chunks
    spatial = [
        min(max(c, DEFAULT_REGION // c * c), n)
        for c, n in zip(chunks[:2], source.shape, strict=False)
    ]
    return (*spatial, *source.shape[2:])


def _scale_um(image: dict[str, Any], axes: list[str]) -> float | None:
    x_axis = image["axes"][axes.index("x")]
    unit = um_per_unit(x_axis.get("unit")) if isinstance(x_axis, dict) else None
    if unit is None:
        return None
    transforms = image["datasets"][0].get("coordinateTransformations", [])
    for transform in transforms if isinstance(transforms, list) else []:
        if isinstance(transform, dict) and transform.get("type") == "scale":
            scale = transform.get("scale")
            try:
                return float(scale[axes.index("x")]) * unit  # type: ignore[index]
            except (TypeError, ValueError, IndexError, KeyError):
                return None
    return None


def _reason(error: Exception) -> str:
    """An exception as one line: its type and first line."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
