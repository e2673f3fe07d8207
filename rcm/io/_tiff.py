"""TIFF, BigTIFF, OME-TIFF and pyramidal TIFF through tifffile's zarr interface."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import tifffile
import zarr

from rcm.errors import MosaicReadError
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import PixelSize, resolve_pixel_size, um_per_unit
from rcm.io._source import RegionSource, as_dask, band_chunks, region_chunks

_RESOLUTION_UNIT_UM = {2: 25400.0, 3: 10000.0}  # TIFF ResolutionUnit: inch, centimeter


class TiffLevelSource(RegionSource):
    """One level of the first image series of a TIFF file."""

    def __init__(
        self,
        path: str,
        level: int,
        layout: _Layout,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        handle: Any = None,
    ) -> None:
        super().__init__()
        self.path, self.level, self.layout = path, level, layout
        self.shape, self.dtype = shape, dtype
        self._handle = handle

    def _open(self) -> Any:
        tiff = tifffile.TiffFile(self.path)
        return tiff, zarr.open_array(tiff.series[0].aszarr(level=self.level), mode="r")

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        _, array = handle
        lead = (0,) * self.layout.leading
        if self.layout.planar:
            return np.moveaxis(array[(*lead, slice(None), rows, cols)], 0, -1)
        region = array[(*lead, rows, cols)]
        return region[..., 0] if self.layout.squeeze_samples else region


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
    try:
        tiff = tifffile.TiffFile(path)
    except Exception as error:  # tifffile raises many types for malformed headers
        raise MosaicReadError(path, f"not a readable TIFF file ({error})") from error
    if not tiff.series or not tiff.series[0].levels:
        raise MosaicReadError(path, "TIFF file contains no image")
    series = tiff.series[0]
    layout = _Layout(series.axes, series.shape, path)
    shapes = tuple(layout.mosaic_shape(level.shape) for level in series.levels)
    _check_size(path, shapes[0], max_pixels)
    _check_not_truncated(path, series)
    dtype = np.dtype(series.dtype)
    first_page = series.levels[0].keyframe
    pixel_size = _pixel_size(tiff, path, um_per_px)
    sources = [
        TiffLevelSource(path, index, layout, shape, dtype) for index, shape in enumerate(shapes)
    ]
    # Level 0 reuses the handle already open; other levels open theirs lazily.
    sources[0]._handle = (tiff, zarr.open_array(series.aszarr(level=0), mode="r"))
    if first_page.is_tiled:
        chunking = [region_chunks(shape) for shape in shapes]
    else:
        rows = max(1, int(first_page.rowsperstrip or 1))
        chunking = [band_chunks(shape, dtype.itemsize, rows) for shape in shapes]
    levels = tuple(
        as_dask(source, f"rcm-tiff-{checksum[7:23]}-L{index}", chunks)
        for index, (source, chunks) in enumerate(zip(sources, chunking, strict=True))
    )
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
    return Mosaic(info=info, levels=levels)


def _check_size(path: str, shape: tuple[int, ...], max_pixels: int) -> None:
    height, width = shape[:2]
    if height == 0 or width == 0:
        raise MosaicReadError(path, f"image has zero size ({width} x {height} pixels)")
    if height * width > max_pixels:
        raise MosaicReadError(
            path,
            f"image declares {width} x {height} pixels, beyond the pixel budget of "
            f"{max_pixels:,} (raise it with --max-pixels if this is real)",
        )


def _check_not_truncated(path: str, series: Any) -> None:
    """Fail now, not mid-conversion, when pixel data runs past the end of the file."""
    file_size = os.path.getsize(path)
    for level in series.levels:
        for page in level.pages:
            if page is None or not page.dataoffsets:
                continue
            offsets = np.asarray(page.dataoffsets, dtype=np.int64)
            counts = np.asarray(page.databytecounts, dtype=np.int64)
            end = int((offsets + counts).max())
            if end > file_size:
                raise MosaicReadError(
                    path,
                    f"file is truncated: pixel data runs to byte {end:,} but the file "
                    f"has {file_size:,} bytes",
                )


def _pixel_size(tiff: tifffile.TiffFile, path: str, override: float | None) -> PixelSize:
    if tiff.is_ome and tiff.ome_metadata:
        found = _ome_pixel_size(tiff.ome_metadata)
        if found is not None:
            return resolve_pixel_size(*found, "OME metadata", override)
    page = tiff.pages.first
    x_res, y_res = page.tags.get("XResolution"), page.tags.get("YResolution")
    unit_tag = page.tags.get("ResolutionUnit")
    unit = int(unit_tag.value) if unit_tag is not None else 2
    if x_res is None:
        return resolve_pixel_size(None, None, "TIFF resolution tags", override)
    um_per_unit_length = _RESOLUTION_UNIT_UM.get(unit)
    source = "TIFF resolution tags"
    if tiff.is_imagej and tiff.imagej_metadata:
        imagej_unit = um_per_unit(str(tiff.imagej_metadata.get("unit", "")))
        if imagej_unit is not None:
            um_per_unit_length, source = imagej_unit, "ImageJ metadata"
    if um_per_unit_length is None:
        return resolve_pixel_size(None, None, source, override)
    return resolve_pixel_size(
        _per_pixel(um_per_unit_length, x_res.value),
        _per_pixel(um_per_unit_length, y_res.value) if y_res is not None else None,
        source,
        override,
    )


def _per_pixel(um_per_unit_length: float, resolution: Any) -> float | None:
    numerator, denominator = resolution if isinstance(resolution, tuple) else (resolution, 1)
    if not numerator or not denominator:
        return None
    return um_per_unit_length * denominator / numerator


def _ome_pixel_size(xml: str) -> tuple[float, float | None] | None:
    try:
        pixels = ET.fromstring(xml).find(".//{*}Image/{*}Pixels")
    except ET.ParseError:
        return None
    if pixels is None or "PhysicalSizeX" not in pixels.attrib:
        return None
    scale = um_per_unit(pixels.attrib.get("PhysicalSizeXUnit", "µm")) or 1.0
    x = float(pixels.attrib["PhysicalSizeX"]) * scale
    y = pixels.attrib.get("PhysicalSizeY")
    return x, float(y) * scale if y is not None else None
