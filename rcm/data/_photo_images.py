"""Photo image headers: size, channels and EXIF orientation, with cheap integrity checks.

Pixels are never decoded but for a JPEG whose end marker is missing, where
decoding tells truncation from trailing data.
"""

from __future__ import annotations

import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_EXIF_ORIENTATION = 0x0112
_IMAGE_WIDTH, _IMAGE_LENGTH = 256, 257  # TIFF tags
# What Pillow raises for files it cannot parse (no single base class covers them).
_PILLOW_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)


@dataclass(frozen=True)
class ImageInfo:
    """What the header tells: size in pixels, channels, EXIF orientation (1 = upright)."""

    width: int
    height: int
    depth: int
    orientation: int


def orientation_note(info: ImageInfo) -> str:
    """The warning for a photo with an EXIF orientation: what rcm does with its boxes."""
    return (
        f"EXIF orientation {info.orientation}: boxes are taken in the stored {info.width} x "
        f"{info.height} pixels, and training and inference turn the photo upright with its "
        "boxes; check the annotation tool drew them on the stored pixels, not on the turned "
        "photo a viewer shows"
    )


def inspect_images(
    root: Path, images: list[str], workers: int | None
) -> dict[str, ImageInfo | str]:
    """Each image's header, or the reason it cannot be used; headers are read in threads."""
    count = workers or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=count) as pool:
        found = pool.map(lambda image: _inspect_image(root / image), images)
        return dict(zip(images, found, strict=True))


def _inspect_image(path: Path) -> ImageInfo | str:
    """Size and channels from the header, with the integrity checks that stay cheap."""
    if not path.is_file():
        return f"image file not found: {path}"
    try:
        with Image.open(path) as image:
            width, height = stored_size(image)
            info = ImageInfo(width, height, len(image.getbands()), header_orientation(image))
            is_jpeg = image.format == "JPEG"
            image.verify()  # PNG: chunk checksums, catches truncation without decoding
        if is_jpeg and not _jpeg_ends(path):
            _decode(path)  # data after the end marker, or truncated: decoding tells which
    except Image.DecompressionBombError as error:
        return f"image too large to check ({error})"
    except _PILLOW_ERRORS as error:
        return f"not a readable image ({error}): {path}"
    return info


def stored_size(image: Image.Image) -> tuple[int, int]:
    """Width and height of the pixels as the file stores them, before any EXIF orientation.

    Pillow reports a TIFF with a quarter-turn orientation by its upright size
    (and turns its pixels when loading); the TIFF tags keep the stored size.
    """
    if image.format == "TIFF":
        tags = getattr(image, "tag_v2", {})
        width, height = tags.get(_IMAGE_WIDTH), tags.get(_IMAGE_LENGTH)
        if isinstance(width, int) and isinstance(height, int):
            return width, height
    return image.size


def header_orientation(image: Image.Image) -> int:
    """The EXIF orientation (EXIF or XMP, as Pillow reads it), 1 when absent or malformed.

    For a PNG, only what precedes the pixel data is read: Pillow's own PNG
    ``getexif`` decodes the whole image to find an ``eXIf`` chunk placed after it.
    """
    exif = Image.Image.getexif(image) if image.format == "PNG" else image.getexif()
    value = exif.get(_EXIF_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg_ends(path: Path) -> bool:
    """Whether the JPEG end-of-image marker is near the end (entropy data never holds it)."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 1024))
        return b"\xff\xd9" in handle.read()


def _decode(path: Path) -> None:
    with Image.open(path) as image:
        image.load()
