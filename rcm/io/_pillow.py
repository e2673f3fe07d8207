"""PNG and JPEG through Pillow, decoded whole on first access.

These formats cannot be read by region, so the budget on decoded pixels is
explicit and smaller than for tiled formats, instead of Pillow's process-wide
default (which warns at 89 megapixels and refuses at 179).
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import imagecodecs
import numpy as np
from PIL import Image

from rcm.io._formats import check_dimensions
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import resolve_pixel_size
from rcm.io._source import RegionSource, as_dask, reading, region_chunks

# Decoded whole, so memory is pixels x channels x bytes: 268 MP is 16k x 16k.
MAX_DECODED_PIXELS = 1 << 28
_PIL_LIMIT_LOCK = threading.Lock()
_MODE_DTYPE = {
    "L": "uint8",
    "RGB": "uint8",
    "RGBA": "uint8",
    "I;16": "uint16",
    "I;16B": "uint16",
    "I;16L": "uint16",
}


def _open_image(path: str) -> Image.Image:
    """Open without Pillow's global bomb check; our own budget is applied by the caller."""
    with _PIL_LIMIT_LOCK:
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            return Image.open(path)
        finally:
            Image.MAX_IMAGE_PIXELS = saved


class PillowSource(RegionSource):
    """A whole decoded PNG/JPEG, decoded once per process on first read."""

    def __init__(
        self, path: str, shape: tuple[int, ...], dtype: np.dtype[Any], sixteen_bit_color: bool
    ) -> None:
        super().__init__()
        self.path, self.shape, self.dtype = path, shape, dtype
        self.sixteen_bit_color = sixteen_bit_color

    def _open(self) -> Any:
        if self.sixteen_bit_color:  # Pillow would reduce 16-bit colour PNG to 8 bits
            with open(self.path, "rb") as handle:
                return imagecodecs.png_decode(handle.read())
        with _open_image(self.path) as image:
            image.load()
            return _to_array(image)

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        return np.ascontiguousarray(handle[rows, cols])


def open_pillow(
    path: str, *, checksum: str, max_pixels: int | None, um_per_px: float | None
) -> Mosaic:
    """Open a PNG or JPEG; see `rcm.io.open_mosaic`."""
    budget = MAX_DECODED_PIXELS if max_pixels is None else max_pixels
    with reading(path, f"not a readable {path.rsplit('.', 1)[-1].upper()} file"):
        with _open_image(path) as image:
            width, height = image.size
            image_format = (image.format or "").lower()
            mode, dpi = image.mode, image.info.get("dpi")
        check_dimensions(path, height, width, budget, " for formats decoded whole")
        sixteen_bit_color = image_format == "png" and _png_bit_depth(path) == (16, True)
        um, um_y = _dpi_um(dpi)
    shape, dtype = _shape_and_dtype(mode, height, width, sixteen_bit_color)
    pixel_size = resolve_pixel_size(um, um_y, f"{image_format.upper()} resolution", um_per_px)
    source = PillowSource(path, shape, np.dtype(dtype), sixteen_bit_color)
    info = MosaicInfo(
        path=path,
        format=image_format,
        shape=shape,
        dtype=dtype,
        level_shapes=(shape,),
        um_per_px=pixel_size.um_per_px,
        um_per_px_source=pixel_size.source,
        checksum=checksum,
        notes=pixel_size.notes,
    )
    name = f"rcm-{image_format}-{checksum[7:23]}"
    level = as_dask(source, name, region_chunks(shape))
    return Mosaic(info=info, levels=(level,), sources=(source,))


def _dpi_um(dpi: Any) -> tuple[float | None, float | None]:
    """Microns per pixel (x, y) from Pillow's ``dpi`` info, None where absent or 0."""
    x, y = (*(dpi or ()), None, None)[:2]
    return (25400.0 / float(x) if x else None), (25400.0 / float(y) if y else None)


def _shape_and_dtype(
    mode: str, height: int, width: int, sixteen_bit_color: bool
) -> tuple[tuple[int, ...], str]:
    if sixteen_bit_color:
        return (height, width, 4 if mode == "RGBA" else 3), "uint16"
    if mode in ("L", "1", "LA", "I;16", "I;16B", "I;16L", "I"):
        return (height, width), "uint16" if mode.startswith("I") else "uint8"
    if mode in ("RGBA", "PA"):
        return (height, width, 4), "uint8"
    return (height, width, 3), "uint8"  # RGB, palette, CMYK, YCbCr... become RGB


def _to_array(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("1", "LA"):
        image = image.convert("L")
    elif mode == "I":
        # Pillow reports 16-bit grayscale PNGs as 32-bit "I"; values fit in 16 bits.
        return np.asarray(image).astype(np.uint16)
    elif mode == "PA":
        image = image.convert("RGBA")
    elif mode not in _MODE_DTYPE:
        image = image.convert("RGB")
    array = np.asarray(image)
    return array.astype(np.uint16) if mode.startswith("I;16") else array


def _png_bit_depth(path: str) -> tuple[int, bool]:
    """(bit depth, has colour) from a PNG's IHDR chunk."""
    with open(path, "rb") as handle:
        ihdr = handle.read(29)
    depth, colour_type = struct.unpack_from(">BB", ihdr, 24)
    return depth, colour_type in (2, 6)
