"""Decide which reader a path needs, from its extension and its first bytes.

Both must agree: a PNG saved as ``.tif`` is reported as a wrong extension rather
than half-read by the wrong library.
"""

from __future__ import annotations

import os
from pathlib import Path

from rcm.errors import MosaicReadError

TIFF_EXTENSIONS = (".tif", ".tiff", ".btf", ".tf8", ".tf2")
OPENSLIDE_EXTENSIONS = (".svs", ".ndpi", ".scn", ".bif", ".svslide", ".mrxs", ".vms", ".vmu")
EXTENSION_FAMILY = {
    **dict.fromkeys(TIFF_EXTENSIONS, "tiff"),
    **dict.fromkeys(OPENSLIDE_EXTENSIONS, "openslide"),
    ".bmp": "bmp",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".zarr": "zarr",
}
# Families whose content we check by magic bytes; OpenSlide does its own detection.
_MAGIC = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),
    (b"MM\x00+", "tiff"),
    (b"BM", "bmp"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF8", "gif"),
    (b"%PDF", "pdf"),
    (b"PK\x03\x04", "zip"),
)
SUPPORTED = "TIFF/BigTIFF/OME-TIFF, SVS/NDPI/MRXS/SCN/BIF (OpenSlide), BMP, PNG, JPEG, OME-Zarr"


def content_family(head: bytes) -> str | None:
    """Format family named by a file's first bytes, or None when unrecognised."""
    for magic, family in _MAGIC:
        if head.startswith(magic):
            return family
    return None


def detect_family(path: str | os.PathLike[str]) -> str:
    """Return the reader family for `path`: tiff, openslide, bmp, png, jpeg or zarr.

    Raises:
        MosaicReadError: If the path is missing, unreadable, empty, a plain
            directory, of an unsupported format, or its content contradicts its
            extension.

    """
    target = Path(path)
    if not target.exists():
        raise MosaicReadError(path, "no such file or directory")
    suffix = _suffix(target)
    if target.is_dir():
        is_zarr = (target / "zarr.json").exists() or (target / ".zgroup").exists()
        if suffix == ".zarr" or is_zarr:
            if not is_zarr:
                raise MosaicReadError(path, "not a zarr store (no zarr.json or .zgroup)")
            return "zarr"
        raise MosaicReadError(path, "is a directory, not an image file or zarr store")
    try:
        with target.open("rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise MosaicReadError(path, f"cannot read: {error.strerror or error}") from error
    if not head:
        raise MosaicReadError(path, "file is empty (0 bytes)")
    family = EXTENSION_FAMILY.get(suffix)
    found = content_family(head)
    if family is None:
        hint = f"; its content looks like {found.upper()}" if found else ""
        raise MosaicReadError(
            path, f"unsupported format '{suffix or 'no extension'}'{hint} (supported: {SUPPORTED})"
        )
    if family in ("openslide", "zarr"):
        return family
    if found != family:
        what = f"{found.upper()} data" if found else "not recognisable image data"
        raise MosaicReadError(
            path, f"content is {what} but the extension says {family.upper()} (wrong extension?)"
        )
    return family


def check_dimensions(path: str, height: int, width: int, max_pixels: int, what: str = "") -> None:
    """Refuse empty images and images declaring more pixels than the budget.

    Runs on header values, before anything is allocated or decoded.
    """
    if height <= 0 or width <= 0:
        raise MosaicReadError(path, f"image has zero size ({width} x {height} pixels)")
    if height * width > max_pixels:
        raise MosaicReadError(
            path,
            f"image declares {width} x {height} pixels, beyond the pixel budget of "
            f"{max_pixels:,}{what} (raise it with --max-pixels if this is real)",
        )


def _suffix(path: Path) -> str:
    return path.suffix.lower()
