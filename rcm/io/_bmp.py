"""Uncompressed BMP read lazily through a memory map.

Many RCM instruments export mosaics as BMP. Pillow decodes a BMP whole into
memory (1.3 GB for a 12k x 12k RGB mosaic) and no maintained library maps one,
so the few header fields needed are parsed here and pixel rows are served from a
`numpy.memmap`: reading a region touches only its rows.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from rcm.errors import MosaicReadError
from rcm.io._formats import check_dimensions
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import resolve_pixel_size
from rcm.io._source import RegionSource, as_dask, reading, region_chunks

_BI_RGB, _BI_BITFIELDS = 0, 3
_COMPRESSION_NAMES = {1: "RLE8", 2: "RLE4", 4: "JPEG", 5: "PNG", 6: "ALPHABITFIELDS"}
_BGRA_MASKS = (0x00FF0000, 0x0000FF00, 0x000000FF)


@dataclass(frozen=True)
class BmpHeader:
    """The parts of a BMP header needed to map its pixel rows."""

    width: int
    height: int
    top_down: bool
    bits: int
    pixel_offset: int
    row_stride: int
    palette: np.ndarray | None  # (n, 3) RGB, only for 8-bit images
    x_pixels_per_meter: int
    y_pixels_per_meter: int


def read_bmp_header(path: str) -> BmpHeader:
    """Parse and validate a BMP header; raise `MosaicReadError` if it cannot be mapped."""
    with open(path, "rb") as handle:
        head = handle.read(14 + 124)
        if len(head) < 14 + 40:
            raise MosaicReadError(path, "file is truncated: incomplete BMP header")
        pixel_offset = struct.unpack_from("<I", head, 10)[0]
        dib_size = struct.unpack_from("<I", head, 14)[0]
        if dib_size < 40:
            raise MosaicReadError(path, f"unsupported BMP header version (size {dib_size})")
        width, height, _, bits, compression = struct.unpack_from("<iiHHI", head, 18)
        x_ppm, y_ppm, colors_used = struct.unpack_from("<iiI", head, 38)
        palette = None
        if bits == 8:
            if colors_used > 256:
                raise MosaicReadError(
                    path,
                    f"BMP header declares {colors_used:,} palette colours (8-bit: 256 at most)",
                )
            handle.seek(14 + dib_size)
            count = colors_used or 256
            raw = handle.read(4 * count)
            if len(raw) < 4 * count:
                raise MosaicReadError(path, "file is truncated: incomplete BMP palette")
            palette = np.frombuffer(raw, np.uint8).reshape(count, 4)[:, 2::-1].copy()
    if compression not in (_BI_RGB, _BI_BITFIELDS):
        name = _COMPRESSION_NAMES.get(compression, str(compression))
        raise MosaicReadError(
            path, f"compressed BMP ({name}) cannot be read lazily; convert it to TIFF first"
        )
    if bits not in (8, 24, 32):
        raise MosaicReadError(path, f"unsupported BMP bit depth {bits} (8, 24 or 32 are read)")
    if compression == _BI_BITFIELDS:
        masks = struct.unpack_from("<III", head, 54) if len(head) >= 66 else None
        if bits != 32 or masks != _BGRA_MASKS:
            raise MosaicReadError(path, "unsupported BMP channel bit masks")
    row_stride = (width * bits // 8 + 3) // 4 * 4
    header = BmpHeader(
        width=width,
        height=abs(height),
        top_down=height < 0,
        bits=bits,
        pixel_offset=pixel_offset,
        row_stride=row_stride,
        palette=palette,
        x_pixels_per_meter=x_ppm,
        y_pixels_per_meter=y_ppm,
    )
    return header


class BmpSource(RegionSource):
    """Pixel rows of a BMP served from a read-only memory map."""

    def __init__(self, path: str, header: BmpHeader, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.path, self.header, self.shape = path, header, shape
        self.dtype = np.dtype(np.uint8)
        self._lut = _palette_lut(header.palette)

    def _open(self) -> Any:
        header = self.header
        return np.memmap(
            self.path,
            np.uint8,
            "r",
            offset=header.pixel_offset,
            shape=(header.height, header.row_stride),
        )

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        header = self.header
        if header.top_down:
            stored = handle[rows]
        else:  # bottom-up: image row y is stored row height-1-y
            first = header.height - rows.stop
            stored = handle[first : first + (rows.stop - rows.start)][::-1]
        if header.bits == 8:
            pixels = np.asarray(stored[:, cols])
            return self._lut[pixels] if self._lut is not None else pixels.copy()
        bytes_per_pixel = header.bits // 8
        raw = stored[:, cols.start * bytes_per_pixel : cols.stop * bytes_per_pixel]
        bgr = np.asarray(raw).reshape(raw.shape[0], -1, bytes_per_pixel)
        return np.ascontiguousarray(bgr[..., 2::-1])  # BGR(A) -> RGB


def open_bmp(path: str, *, checksum: str, max_pixels: int, um_per_px: float | None) -> Mosaic:
    """Open an uncompressed BMP lazily; see `rcm.io.open_mosaic`."""
    with reading(path, "malformed BMP header"):
        header = read_bmp_header(path)
    check_dimensions(path, header.height, header.width, max_pixels)
    end = header.pixel_offset + header.row_stride * header.height
    if end > os.path.getsize(path):
        raise MosaicReadError(
            path,
            f"file is truncated: pixel rows run to byte {end:,} but the file has "
            f"{os.path.getsize(path):,} bytes",
        )
    gray = header.bits == 8 and _palette_lut(header.palette) is None
    shape = (header.height, header.width) if gray else (header.height, header.width, 3)
    source = BmpSource(path, header, shape)
    pixel_size = resolve_pixel_size(
        1e6 / header.x_pixels_per_meter if header.x_pixels_per_meter > 0 else None,
        1e6 / header.y_pixels_per_meter if header.y_pixels_per_meter > 0 else None,
        "BMP header",
        um_per_px,
    )
    info = MosaicInfo(
        path=path,
        format="bmp",
        shape=shape,
        dtype="uint8",
        level_shapes=(shape,),
        um_per_px=pixel_size.um_per_px,
        um_per_px_source=pixel_size.source,
        checksum=checksum,
        notes=pixel_size.notes,
    )
    level = as_dask(source, f"rcm-bmp-{checksum[7:23]}", region_chunks(shape))
    return Mosaic(info=info, levels=(level,), sources=(source,))


def _palette_lut(palette: np.ndarray | None) -> np.ndarray | None:
    """RGB lookup table for a colour palette; None when the palette is plain gray."""
    if palette is None:
        return None
    ramp = np.arange(len(palette), dtype=np.uint8)
    if all(np.array_equal(palette[:, channel], ramp) for channel in range(3)):
        return None
    full = np.zeros((256, 3), np.uint8)
    full[: len(palette)] = palette
    return full
