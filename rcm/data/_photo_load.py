"""Decoding a clinical photograph into a model's RGB input: the one pixel rule for photos.

Every photo, for training and for inference, goes through `read_photo`:

1. The header's size is checked against a pixel budget before any decoding
   (a decompression bomb is refused, naming the file).
2. The EXIF orientation is applied, so the image is upright as a viewer shows
   it. Boxes are given in stored pixels (the orientation the file holds, as
   `rcm data photos` and annotation tables record them) and are moved with the
   image.
3. Pixels become 8-bit RGB by one rule: grayscale (1-bit, 8-bit) is repeated
   into three channels; 16-bit values are scaled to 8 bits (``v * 255 / 65535``,
   rounded); a palette is expanded; an alpha channel is dropped (pixels as
   stored, not composited); CMYK is converted by Pillow. Floating-point images
   are refused.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
from PIL import Image

from rcm.data._photo_images import stored_size
from rcm.errors import InputError

MAX_PHOTO_PIXELS = 150_000_000  # a 12,000 x 12,500 photograph; phones take 50 Mpx at most
_EXIF_ORIENTATION = 0x0112
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
# What Pillow raises for files it cannot parse (no single base class covers them).
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)


@dataclass(frozen=True)
class PhotoPixels:
    """A decoded photograph, upright, with its boxes in the same pixels.

    Attributes:
        rgb: ``(H, W, 3)`` uint8 pixels after the EXIF orientation.
        boxes: ``(N, 4)`` float64 ``x_min, y_min, x_max, y_max`` in `rgb`'s pixels.
        orientation: The EXIF orientation that was applied (1 = none).

    """

    rgb: np.ndarray
    boxes: np.ndarray
    orientation: int

    def __post_init__(self) -> None:
        if self.rgb.ndim != 3 or self.rgb.shape[2] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"photo pixels must be (H, W, 3) uint8, got {self.rgb.shape}")
        if self.boxes.ndim != 2 or self.boxes.shape[1] != 4:
            raise ValueError(f"boxes must be (N, 4), got {self.boxes.shape}")


def read_photo(
    path: str | os.PathLike[str],
    boxes: np.ndarray | None = None,
    *,
    max_pixels: int = MAX_PHOTO_PIXELS,
) -> PhotoPixels:
    """Decode `path` into upright 8-bit RGB and move `boxes` (stored pixels, xyxy) with it.

    Raises:
        InputError: Naming the file, when it is missing, not an image, over the
            pixel budget, or of a pixel type the rule does not cover.

    """
    path = Path(path)
    stored = _stored_boxes(boxes)
    try:
        with Image.open(path) as image:
            if image.width * image.height > max_pixels:
                raise InputError(
                    path,
                    f"{image.width} x {image.height} photo is over the {max_pixels:,} pixel budget",
                )
            width, height = stored_size(image)
            orientation = _orientation(image)
            image.load()
            # Pillow's TIFF loader turns the pixels upright itself and drops the tag.
            pending = orientation if _orientation(image) == orientation else 1
            rgb = _to_rgb(image, path)
    except FileNotFoundError:
        raise InputError(path, "photo not found") from None
    except Image.DecompressionBombError as error:
        raise InputError(path, f"photo over Pillow's pixel limit ({error})") from None
    except InputError:
        raise
    except _PILLOW_ERRORS as error:
        raise InputError(path, f"not a readable image ({error})") from None
    # A writable copy: training hands the pixels to torch.from_numpy.
    upright = np.array(_orient_pixels(rgb, pending), dtype=np.uint8, order="C")
    turned = orientation in _QUARTER_TURNS
    if upright.shape[:2] != ((width, height) if turned else (height, width)):
        raise RuntimeError(f"{path}: Pillow turned the pixels in an unexpected way")
    return PhotoPixels(upright, orient_boxes(stored, orientation, width, height), orientation)


def _stored_boxes(boxes: np.ndarray | None) -> np.ndarray:
    stored = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, dtype=np.float64)
    if stored.size == 0:
        return stored.reshape(0, 4)
    if stored.ndim != 2 or stored.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) x_min, y_min, x_max, y_max, got {stored.shape}")
    return stored


PhotoFit = Literal["centre", "letterbox"]
PHOTO_FITS: tuple[str, ...] = get_args(PhotoFit)


def fit_photo(rgb: np.ndarray, size: int, fit: PhotoFit) -> np.ndarray:
    """A photo classifier's square input: `size` x `size` x 3 uint8.

    ``centre`` resizes the shorter side to `size` and keeps the centre square;
    ``letterbox`` resizes the longer side to `size` and pads the rest with black,
    centred. Resizing is Pillow's antialiased bilinear filter.
    """
    if fit not in PHOTO_FITS:
        raise ValueError(f"fit must be one of {', '.join(PHOTO_FITS)}, got {fit!r}")
    height, width = rgb.shape[:2]
    scale = size / (min(height, width) if fit == "centre" else max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = np.asarray(
        Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=None)
    )
    if fit == "centre":
        top, left = (new_h - size) // 2, (new_w - size) // 2
        return np.ascontiguousarray(resized[top : top + size, left : left + size])
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


def orient_boxes(boxes: np.ndarray, orientation: int, width: int, height: int) -> np.ndarray:
    """Boxes (xyxy, stored pixels of a `width` x `height` image) after the EXIF orientation."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x0, y0, x1, y1 = b.T
    w, h = float(width), float(height)
    corners = {
        1: (x0, y0, x1, y1),
        2: (w - x1, y0, w - x0, y1),
        3: (w - x1, h - y1, w - x0, h - y0),
        4: (x0, h - y1, x1, h - y0),
        5: (y0, x0, y1, x1),
        6: (h - y1, x0, h - y0, x1),
        7: (h - y1, w - x1, h - y0, w - x0),
        8: (y0, w - x1, y1, w - x0),
    }
    return np.stack(corners.get(orientation, corners[1]), axis=1).reshape(-1, 4)


def _orientation(image: Image.Image) -> int:
    value = image.getexif().get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _orient_pixels(rgb: np.ndarray, orientation: int) -> np.ndarray:
    if orientation == 1:
        return rgb
    return np.asarray(Image.fromarray(rgb).transpose(_TRANSPOSE[orientation]))


_QUARTER_TURNS = (5, 6, 7, 8)
# The transposes that make each EXIF orientation upright (ImageOps.exif_transpose's table).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _to_rgb(image: Image.Image, path: Path) -> np.ndarray:
    mode = image.mode
    if mode in _SIXTEEN_BIT:
        values = np.asarray(image, dtype=np.float64)
        if mode == "I" and (values.min(initial=0) < 0 or values.max(initial=0) > 65535):
            raise InputError(path, "32-bit integer photos are not supported (16 bits at most)")
        gray = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F" or mode.startswith("I;"):
        raise InputError(path, f"photo pixel type {mode} is not supported (8 or 16-bit only)")
    if mode == "P" and "transparency" in image.info:
        # Through RGBA, as Pillow asks for palettes with a transparency table; alpha dropped.
        image = image.convert("RGBA")
    # RGBA, LA, PA: convert drops the alpha channel; P expands the palette; CMYK converts.
    return np.asarray(image.convert("RGB"), dtype=np.uint8)
