"""TIFF, BigTIFF, OME-TIFF and pyramidal TIFF through tifffile's zarr interface."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import numpy as np
import tifffile

from rcm.errors import MosaicReadError
from rcm.io._formats import check_dimensions
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import PixelSize, resolve_pixel_size, um_per_unit
from rcm.io._source import RegionSource, as_dask, band_chunks, reading, region_chunks
from rcm.io._tiff_segments import (
    SegmentGrid,
    SegmentRows,
    check_not_truncated,
    must_stream,
    segment_grid,
)

_RESOLUTION_UNIT_UM = {2: 25400.0, 3: 10000.0}  # TIFF ResolutionUnit: inch, centimeter


class TiffLevelSource(RegionSource):
    """One level of the first image series of a TIFF file.

    Regions are assembled from the file's tiles or strips with tifffile's own
    segment reader and decoder. tifffile's zarr store does the same but routes
    every tile through zarr's async machinery, which made whole-mosaic reads 40%
    slower than ``tifffile.imread``. Segments too large to decode whole are read
    by rows (`rcm.io._tiff_segments`).
    """

    def __init__(
        self,
        path: str,
        level: int,
        layout: _Layout,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        rows: SegmentRows | None = None,
    ) -> None:
        super().__init__()
        self.path, self.level, self.layout = path, level, layout
        self.shape, self.dtype = shape, dtype
        self.rows = rows

    def _open(self) -> Any:
        return _shared_tiff(self.path)

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        level = handle.series[0].levels[self.level]
        page, keyframe = level.pages[0], level.keyframe
        grid = segment_grid(self.path, keyframe)
        indices = grid.indices(keyframe.shaped[0], rows, cols)
        channels = self.shape[2:] if not self.layout.squeeze_samples else ()
        out = np.zeros((rows.stop - rows.start, cols.stop - cols.start, *channels), self.dtype)
        if self.rows is not None:
            pieces = self._streamed(handle, page, grid, indices, (rows, cols))
        else:
            pieces = _decoded(handle, page, keyframe, indices)
        for plane, top, left, tile in pieces:
            y0, y1 = max(top, rows.start), min(top + tile.shape[0], rows.stop)
            x0, x1 = max(left, cols.start), min(left + tile.shape[1], cols.stop)
            piece = tile[y0 - top : y1 - top, x0 - left : x1 - left]
            target = (
                slice(y0 - rows.start, y1 - rows.start),
                slice(x0 - cols.start, x1 - cols.start),
            )
            if self.layout.planar:
                out[(*target, plane)] = piece[..., 0]
            elif self.layout.squeeze_samples or out.ndim == 2:
                out[target] = piece[..., 0]
            else:
                out[target] = piece
        return out

    def _streamed(
        self,
        handle: Any,
        page: Any,
        grid: SegmentGrid,
        indices: list[int],
        region: tuple[slice, slice],
    ) -> Iterator[tuple[int, int, int, np.ndarray]]:
        assert self.rows is not None
        rows, cols = region
        height = page.shaped[2]
        for index in indices:
            plane, top, left = grid.origin(index)
            held = min(grid.height, height - top) if not page.is_tiled else grid.height
            inside = slice(max(rows.start - top, 0), min(rows.stop - top, held))
            across = slice(max(cols.start - left, 0), min(cols.stop - left, grid.width))
            span = (page.dataoffsets[index], page.databytecounts[index], held)
            tile = self.rows.read(handle.filehandle, index, span, inside, across)
            yield plane, top + inside.start, left + across.start, tile


def _decoded(
    handle: Any, page: Any, keyframe: Any, indices: list[int]
) -> Iterator[tuple[int, int, int, np.ndarray]]:
    """(plane, top, left, rows x columns x samples) of each segment, decoded whole."""
    offsets = [page.dataoffsets[i] for i in indices]
    counts = [page.databytecounts[i] for i in indices]
    decode_args = {}
    if keyframe.compression in (6, 7, 34892, 33007):  # JPEG variants share tables
        decode_args = {"jpegtables": keyframe.jpegtables, "jpegheader": keyframe.jpegheader}
    for data, index in handle.filehandle.read_segments(
        offsets, counts, indices, lock=handle.filehandle.lock
    ):
        segment, (plane, _, top, left, _), _ = keyframe.decode(data, index, **decode_args)
        if segment is not None:  # None: sparse file, tile never written
            yield plane, top, left, segment.reshape(segment.shape[-3:])


class _Layout:
    """How a tifffile series' axes map onto (y, x[, c])."""

    def __init__(self, axes: str, shape: tuple[int, ...], path: str) -> None:
        self.leading = 0
        while len(axes) > 2 and axes[0] not in "YX" and shape[0] == 1 and axes[:2] != "SY":
            axes, shape = axes[1:], shape[1:]
            self.leading += 1
        self.planar = axes in ("SYX", "CYX") and shape[0] in (3, 4)
        self.squeeze_samples = axes == "YXS" and shape[2] == 1
        if not (axes == "YX" or self.planar or (axes == "YXS" and shape[2] in (1, 3, 4))):
            raise MosaicReadError(
                path,
                f"image has axes {axes} with shape {shape}; only 2-D grayscale, "
                "RGB or RGBA images are supported",
            )

    def mosaic_shape(self, series_shape: tuple[int, ...]) -> tuple[int, ...]:
        shape = series_shape[self.leading :]
        if self.planar:
            return (shape[1], shape[2], shape[0])
        return shape[:2] if self.squeeze_samples else shape


def open_tiff(path: str, *, checksum: str, max_pixels: int, um_per_px: float | None) -> Mosaic:
    """Open a TIFF-family file lazily; see `rcm.io.open_mosaic`."""
    with reading(path, "not a readable TIFF file"):
        tiff = _shared_tiff(path)
    with reading(path, "malformed TIFF header"):
        return _open_levels(tiff, path, checksum, max_pixels, um_per_px)


def _open_levels(
    tiff: tifffile.TiffFile, path: str, checksum: str, max_pixels: int, um_per_px: float | None
) -> Mosaic:
    first = tiff.pages.first  # before tifffile's series arithmetic divides by its size
    if first.imagewidth == 0 or first.imagelength == 0:
        check_dimensions(path, first.imagelength, first.imagewidth, max_pixels)
    if not tiff.series or not tiff.series[0].levels:
        raise MosaicReadError(path, "TIFF file contains no image")
    series = tiff.series[0]
    layout = _Layout(series.axes, series.shape, path)
    shapes = tuple(layout.mosaic_shape(level.shape) for level in series.levels)
    check_dimensions(path, shapes[0][0], shapes[0][1], max_pixels)
    check_not_truncated(path, (page for level in series.levels for page in level.pages))
    dtype = np.dtype(series.dtype)
    pixel_size = _pixel_size(tiff, path, um_per_px)
    sources, levels = [], []
    for index, (level, shape) in enumerate(zip(series.levels, shapes, strict=True)):
        keyframe = level.keyframe
        grid, rows = segment_grid(path, keyframe), None
        if must_stream(path, keyframe):
            rows = SegmentRows(path, grid, keyframe.compression, keyframe.predictor)
            chunks = (min(rows.band_rows, shape[0]), *shape[1:])
        elif keyframe.is_tiled:
            chunks = region_chunks(shape)
        else:
            chunks = band_chunks(shape, dtype.itemsize, grid.height)
        source = TiffLevelSource(path, index, layout, shape, dtype, rows)
        source._handle = tiff  # reuse the handle already open (each process opens its own)
        sources.append(source)
        levels.append(as_dask(source, f"rcm-tiff-{checksum[7:23]}-L{index}", chunks))
    info = MosaicInfo(
        path=path,
        format="ome-tiff" if tiff.is_ome else "tiff",
        shape=shapes[0],
        dtype=dtype.name,
        level_shapes=shapes,
        um_per_px=pixel_size.um_per_px,
        um_per_px_source=pixel_size.source,
        checksum=checksum,
        notes=pixel_size.notes,
    )
    return Mosaic(info=info, levels=tuple(levels), sources=tuple(sources))


def _shared_tiff(path: str) -> tifffile.TiffFile:
    """Open a TIFF whose file handle serialises seek+read, so dask threads can share it."""
    tiff = tifffile.TiffFile(path)
    tiff.filehandle.set_lock(True)
    return tiff


def _pixel_size(tiff: tifffile.TiffFile, path: str, override: float | None) -> PixelSize:
    if override is not None:  # what the file says does not matter (nor can it fail)
        return resolve_pixel_size(None, None, "user", override)
    if tiff.is_ome and tiff.ome_metadata:
        found = _ome_pixel_size(tiff.ome_metadata, path)
        if found is not None:
            return resolve_pixel_size(*found, "OME metadata", override)
    tags = tiff.pages.first.tags
    x_res, y_res = _tag_number(tags, "XResolution"), _tag_number(tags, "YResolution")
    unit = _tag_number(tags, "ResolutionUnit") if "ResolutionUnit" in tags else 2
    um_per_unit_length = _RESOLUTION_UNIT_UM.get(int(unit)) if unit is not None else None
    source = "TIFF resolution tags"
    if tiff.is_imagej and tiff.imagej_metadata:
        imagej_unit = um_per_unit(str(tiff.imagej_metadata.get("unit", "")))
        if imagej_unit is not None:
            um_per_unit_length, source = imagej_unit, "ImageJ metadata"
    if um_per_unit_length is None:
        return resolve_pixel_size(None, None, source, override)
    return resolve_pixel_size(
        um_per_unit_length / x_res if x_res else None,
        um_per_unit_length / y_res if y_res else None,
        source,
        override,
    )


def _tag_number(tags: Any, name: str) -> float | None:
    """A tag's single number (a rational as its quotient); None when absent or malformed."""
    tag = tags.get(name)
    value = tag.value if tag is not None else None
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0] / value[1] if value[1] else None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _ome_pixel_size(xml: str, path: str) -> tuple[float, float | None] | None:
    try:
        pixels = ET.fromstring(xml).find(".//{*}Image/{*}Pixels")
    except ET.ParseError:
        return None
    if pixels is None or "PhysicalSizeX" not in pixels.attrib:
        return None
    scale = um_per_unit(pixels.attrib.get("PhysicalSizeXUnit", "µm")) or 1.0
    x = _ome_number(pixels.attrib, "PhysicalSizeX", path) * scale
    y = (
        _ome_number(pixels.attrib, "PhysicalSizeY", path)
        if "PhysicalSizeY" in pixels.attrib
        else None
    )
    return x, y * scale if y is not None else None


def _ome_number(attributes: dict[str, str], name: str, path: str) -> float:
    try:
        return float(attributes[name])
    except ValueError:
        raise MosaicReadError(
            path,
            f"OME metadata gives {name}={attributes[name]!r}, not a number "
            "(pass --um-per-px to give the pixel size)",
        ) from None
