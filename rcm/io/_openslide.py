"""Whole-slide formats (SVS, NDPI, MRXS, SCN, BIF...) through openslide-python."""

from __future__ import annotations

from typing import Any

import numpy as np
import tifffile

from rcm.errors import MosaicReadError
from rcm.io._formats import check_dimensions, content_family
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import resolve_pixel_size
from rcm.io._source import RegionSource, as_dask, reading, region_chunks
from rcm.io._tiff_segments import check_not_truncated, segment_grid


def _openslide() -> Any:
    import openslide  # imported here: loading the C library is not free

    return openslide


class OpenSlideSource(RegionSource):
    """One OpenSlide level; OpenSlide returns RGBA, transparent (unscanned) pixels become 0."""

    def __init__(self, path: str, level: int, shape: tuple[int, ...], downsample: float) -> None:
        super().__init__()
        self.path, self.level, self.shape = path, level, shape
        self.dtype = np.dtype(np.uint8)
        self.downsample = downsample

    def _open(self) -> Any:
        return _openslide().OpenSlide(self.path)

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        # read_region takes its origin in level-0 coordinates and its size in level pixels.
        origin = (round(cols.start * self.downsample), round(rows.start * self.downsample))
        size = (cols.stop - cols.start, rows.stop - rows.start)
        rgba = np.asarray(handle.read_region(origin, self.level, size))
        rgb = rgba[..., :3].copy()
        rgb[rgba[..., 3] == 0] = 0
        return rgb


def open_openslide(path: str, *, checksum: str, max_pixels: int, um_per_px: float | None) -> Mosaic:
    """Open a slide through OpenSlide; see `rcm.io.open_mosaic`."""
    openslide = _openslide()
    with reading(path, "malformed TIFF structure"):
        _check_tiff_container(path)
    with reading(path, "OpenSlide cannot open it"):
        vendor = openslide.OpenSlide.detect_format(path)
        if vendor is None:
            raise MosaicReadError(path, "not a slide format OpenSlide recognises")
        slide = openslide.OpenSlide(path)
        width, height = slide.dimensions
    check_dimensions(path, height, width, max_pixels)
    properties = slide.properties
    pixel_size = resolve_pixel_size(
        _float(properties.get(openslide.PROPERTY_NAME_MPP_X)),
        _float(properties.get(openslide.PROPERTY_NAME_MPP_Y)),
        "OpenSlide properties",
        um_per_px,
    )
    shapes = tuple((h, w, 3) for w, h in slide.level_dimensions)
    sources = [
        OpenSlideSource(path, index, shape, slide.level_downsamples[index])
        for index, shape in enumerate(shapes)
    ]
    sources[0]._handle = slide
    levels = tuple(
        as_dask(source, f"rcm-openslide-{checksum[7:23]}-L{index}", region_chunks(source.shape))
        for index, source in enumerate(sources)
    )
    info = MosaicInfo(
        path=path,
        format=f"openslide:{vendor}",
        shape=shapes[0],
        dtype="uint8",
        level_shapes=shapes,
        um_per_px=pixel_size.um_per_px,
        um_per_px_source=pixel_size.source,
        checksum=checksum,
        notes=pixel_size.notes,
    )
    return Mosaic(info=info, levels=levels, sources=tuple(sources))


def _check_tiff_container(path: str) -> None:
    """Refuse TIFF-based slides (SVS, NDPI, SCN, BIF...) that OpenSlide would crash on.

    OpenSlide allocates a tile as the header says and aborts the process when it
    cannot (a tile width of 2^31 in a 300 px slide), and reads past the end of
    the file; tifffile's view of the same header is checked first.
    """
    with open(path, "rb") as handle:
        if content_family(handle.read(4)) != "tiff":
            return  # MRXS, VMS...: not TIFF containers
    with tifffile.TiffFile(path) as tiff:
        for page in tiff.pages:
            grid = segment_grid(path, page)
            if grid.too_large(pixel_bytes=4):  # OpenSlide decodes a tile whole, to RGBA
                raise MosaicReadError(
                    path, f"a tile of {grid.width} x {grid.height} pixels is too large to decode"
                )
        check_not_truncated(path, tiff.pages)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
