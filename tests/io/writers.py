"""Write sample arrays in each format the readers support (test helpers)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image


def write_bmp(
    path: Path,
    image: np.ndarray,
    *,
    top_down: bool = False,
    palette: np.ndarray | None = None,
    bits: int | None = None,
    ppm: int = 0,
) -> Path:
    """Write an uncompressed BMP (8-bit palette, 24-bit or 32-bit) by hand."""
    height, width = image.shape[:2]
    if bits is None:
        bits = 8 if image.ndim == 2 else 24 if image.shape[2] == 3 else 32
    stride = (width * bits // 8 + 3) // 4 * 4
    if bits == 8:
        table = palette if palette is not None else np.repeat(np.arange(256)[:, None], 3, 1)
        raw_palette = (
            np.concatenate([table[:, ::-1], np.zeros((len(table), 1), np.int64)], axis=1)
            .astype(np.uint8)
            .tobytes()
        )
        rows = image.astype(np.uint8)
    else:
        raw_palette = b""
        rows = image[..., [2, 1, 0, 3][: image.shape[2]]].reshape(height, -1)
    padded = np.zeros((height, stride), np.uint8)
    padded[:, : rows.shape[1]] = rows
    if not top_down:
        padded = padded[::-1]
    header_size = 14 + 40 + len(raw_palette)
    file_header = struct.pack("<2sIHHI", b"BM", header_size + padded.size, 0, 0, header_size)
    info = struct.pack(
        "<IiiHHIIiiII",
        40,
        width,
        -height if top_down else height,
        1,
        bits,
        0,
        padded.size,
        ppm,
        ppm,
        len(raw_palette) // 4,
        0,
    )
    path.write_bytes(file_header + info + raw_palette + padded.tobytes())
    return path


def write_tiff(path: Path, image: np.ndarray, **kwargs: object) -> Path:
    tifffile.imwrite(path, image, **kwargs)  # type: ignore[arg-type]
    return path


def write_pillow(path: Path, image: np.ndarray, **kwargs: object) -> Path:
    Image.fromarray(image).save(path, **kwargs)  # type: ignore[arg-type]
    return path


def write_svs(path: Path, image: np.ndarray, mpp: float = 0.499) -> Path:
    """A tiled TIFF that OpenSlide recognises as Aperio SVS."""
    height, width = image.shape[:2]
    description = (
        f"Aperio Image Library v10.0.0\n{width}x{height} [0,0 {width}x{height}] "
        f"(256x256) RAW|AppMag = 20|MPP = {mpp}"
    )
    tifffile.imwrite(
        path, image, tile=(256, 256), photometric="rgb", metadata=None, description=description
    )
    return path
