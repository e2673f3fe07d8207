"""Mosaic input and output: open any mosaic lazily, write OME-Zarr and tiled TIFF."""

from rcm.io._atomic import atomic_file, atomic_output, check_output, output_errors, sweep_partials
from rcm.io._document import VERSION_KEY, document_text, read_document, require, write_document
from rcm.io._formats import SUPPORTED as SUPPORTED_FORMATS
from rcm.io._lock import LockHeld, held_lock, this_process
from rcm.io._mosaic import Mosaic, MosaicInfo, file_checksum
from rcm.io._ome_zarr import Compressor, ZarrWriteOptions, write_ome_zarr
from rcm.io._open import DEFAULT_MAX_PIXELS, open_mosaic
from rcm.io._pillow import MAX_DECODED_PIXELS
from rcm.io._pyramid import downsample_mean, pyramid_shapes
from rcm.io._thumbnail import Thumbnail, thumbnail
from rcm.io._tiff_write import TiffCompression, write_tiff

__all__ = [
    "Compressor",
    "DEFAULT_MAX_PIXELS",
    "LockHeld",
    "MAX_DECODED_PIXELS",
    "Mosaic",
    "MosaicInfo",
    "SUPPORTED_FORMATS",
    "Thumbnail",
    "TiffCompression",
    "VERSION_KEY",
    "ZarrWriteOptions",
    "atomic_file",
    "atomic_output",
    "check_output",
    "document_text",
    "downsample_mean",
    "file_checksum",
    "held_lock",
    "open_mosaic",
    "output_errors",
    "pyramid_shapes",
    "read_document",
    "require",
    "sweep_partials",
    "this_process",
    "thumbnail",
    "write_document",
    "write_ome_zarr",
    "write_tiff",
]
