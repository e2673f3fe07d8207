"""`open_mosaic`: one entry point for every supported mosaic format."""

from __future__ import annotations

import os
from collections.abc import Callable

from rcm.errors import MosaicReadError
from rcm.io._bmp import open_bmp
from rcm.io._formats import detect_family
from rcm.io._mosaic import Mosaic, check_pixel_type, file_checksum
from rcm.io._openslide import open_openslide
from rcm.io._pillow import open_pillow
from rcm.io._tiff import open_tiff
from rcm.io._zarr_read import open_ome_zarr

# Formats read by region: 4.3 gigapixels (65,536 squared) by default.
DEFAULT_MAX_PIXELS = 1 << 32

Opener = Callable[..., Mosaic]
_OPENERS: dict[str, Opener] = {
    "tiff": open_tiff,
    "openslide": open_openslide,
    "bmp": open_bmp,
    "zarr": open_ome_zarr,
}


def open_mosaic(
    path: str | os.PathLike[str],
    *,
    um_per_px: float | None = None,
    max_pixels: int | None = None,
    allow_missing_chunks: bool = False,
) -> Mosaic:
    """Open a mosaic lazily, whatever its format.

    Only headers and metadata are read (plus one pass over the bytes for the
    checksum); pixels are decoded when a region of a level is computed.

    Args:
        path: TIFF/BigTIFF/OME-TIFF, an OpenSlide format, BMP, PNG, JPEG or OME-Zarr.
        um_per_px: Pixel size in microns, overriding what the file says.
        max_pixels: Refuse images declaring more pixels than this. Defaults to
            `DEFAULT_MAX_PIXELS` for formats read by region and to
            `rcm.io.MAX_DECODED_PIXELS` for PNG/JPEG, which are decoded whole.
        allow_missing_chunks: Read chunks missing from a foreign zarr store as its
            fill value (noted in `MosaicInfo.notes`) instead of refusing the store.

    Returns:
        The mosaic with one dask array per resolution level.

    Raises:
        MosaicReadError: If the file is missing, unreadable, of the wrong or an
            unsupported format, truncated, empty, over the pixel budget, or holds
            pixels that are not bool, integers or floating-point numbers.

    """
    path = os.fspath(path)
    family = detect_family(path)
    try:
        checksum = file_checksum(path)
    except OSError as error:
        raise MosaicReadError(path, f"cannot read: {error.strerror or error}") from error
    if family in ("png", "jpeg"):
        mosaic = open_pillow(path, checksum=checksum, max_pixels=max_pixels, um_per_px=um_per_px)
    else:
        budget = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
        extra = {"allow_missing_chunks": allow_missing_chunks} if family == "zarr" else {}
        mosaic = _OPENERS[family](
            path, checksum=checksum, max_pixels=budget, um_per_px=um_per_px, **extra
        )
    check_pixel_type(path, mosaic.info.dtype)  # every format: the pixel types models take
    return mosaic
