"""Lazy, picklable array-likes that dask reads mosaic regions from.

Each reader describes a level as a `RegionSource`: shape, dtype and a `_read`
method for one rectangular region. The source opens its file on first use in each
process and drops the handle when pickled, so a dask array built on it can be
shipped to distributed workers. Decoding errors become `MosaicReadError` naming
the file and the region, so a corrupt tile is reported, never a bare codec error.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import dask.array as da
import numpy as np

from rcm.errors import MosaicReadError

# Region edge (pixels) dask reads at a time from random-access sources; a multiple
# of common TIFF tile sizes and of the zarr shard edge the writer uses.
DEFAULT_REGION = 4096
# Upper bound on one band when a source can only be read in full-width rows.
MAX_BAND_BYTES = 128 << 20

# The one rule for what a failure while reading a user's file means (exit 2, the file's
# fault, or exit 1, a bug in rcm):
# - a class defined by a decoder package (tifffile, imagecodecs, PIL, openslide, zarr,
#   numcodecs), or a codec's error (zlib.error, struct.error, ElementTree's ParseError),
#   is the file's fault wherever it was raised;
# - any other error (ValueError, TypeError, RuntimeError, SystemError...) is the file's
#   fault only when raised inside a decoder package or the stdlib's zlib/struct/xml:
#   tifffile raises TypeError on a tag with too many values, numcodecs RuntimeError or
#   SystemError on a corrupt chunk, but a ValueError from rcm's own region copy is a bug.
#   Frames of numpy, of other stdlib modules and of compiled code (Cython's have no
#   module name) are helpers: their caller decides. rcm's own checks on file data raise
#   `MosaicReadError` themselves;
# - an OSError carrying an errno is the OS failing to read the file (EIO, a vanished
#   file) when it names no file or the input itself, wherever the read was made.
_DECODER_PACKAGES = frozenset(
    {"tifffile", "imagecodecs", "PIL", "openslide", "zarr", "numcodecs", "zlib", "struct", "xml"}
)
_CODEC_ERRORS = (zlib.error, struct.error, ElementTree.ParseError)
_HELPERS = frozenset({"numpy", ""}) | (sys.stdlib_module_names - _DECODER_PACKAGES)


def is_decode_error(error: BaseException, path: str | None = None) -> bool:
    """Whether `error`, raised while reading the file at `path`, is its fault (see above)."""
    if isinstance(error, _CODEC_ERRORS) or _package(type(error).__module__) in _DECODER_PACKAGES:
        return True
    if isinstance(error, OSError) and error.errno is not None and _names_input(error, path):
        return True
    return _raised_in(error) in _DECODER_PACKAGES


def _package(module: str) -> str:
    return module.partition(".")[0]


def _names_input(error: OSError, path: str | None) -> bool:
    if error.filename is None:
        return True  # a read on a handle rcm or a decoder opened on the input
    if path is None:
        return False
    named, given = Path(os.fsdecode(error.filename)).absolute(), Path(path).absolute()
    return named == given or given in named.parents  # a zarr store's chunk files


def _raised_in(error: BaseException) -> str:
    """The package of the innermost frame of `error` that is not a numpy/stdlib helper."""
    frames = []
    trace = error.__traceback__
    while trace is not None:
        frames.append(_package(str(trace.tb_frame.f_globals.get("__name__") or "")))
        trace = trace.tb_next
    return next((name for name in reversed(frames) if name not in _HELPERS), "")


@contextmanager
def reading(path: str, what: str) -> Iterator[None]:
    """Re-raise decode errors inside the block as `MosaicReadError`: ``"<what> (<error>)"``."""
    try:
        yield
    except MosaicReadError:
        raise
    except Exception as error:
        if not is_decode_error(error, path):
            raise
        detail = " ".join(str(error).split())[:300]  # the CLI's message stays one line
        raise MosaicReadError(path, f"{what} ({type(error).__name__}: {detail})") from error


class RegionSource(ABC):
    """An array-like over one resolution level of a mosaic file.

    Subclasses set ``path``, ``shape`` and ``dtype`` in their constructor and
    implement `_open` (return a per-process handle) and `_read`.
    """

    path: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    def __init__(self) -> None:
        self._handle: Any = None
        self._lock = threading.Lock()

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @abstractmethod
    def _open(self) -> Any:
        """Open the file; called once per process, under a lock."""

    @abstractmethod
    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        """Return pixels ``[rows, cols]`` (channels last) as a NumPy array."""

    def handle(self) -> Any:
        with self._lock:
            if self._handle is None:
                self._handle = self._open()
            return self._handle

    def __getitem__(self, key: tuple[slice, ...]) -> np.ndarray:
        rows, cols = (k.indices(n) for k, n in zip(key[:2], self.shape[:2], strict=True))
        row_slice, col_slice = slice(rows[0], rows[1]), slice(cols[0], cols[1])
        where = f"rows {rows[0]}-{rows[1]}, columns {cols[0]}-{cols[1]}"
        with reading(self.path, f"cannot decode pixels in {where}"):
            region = self._read(self.handle(), row_slice, col_slice)
        if len(key) > 2:
            region = region[(slice(None), slice(None), *key[2:])]
        return region

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def band_chunks(shape: tuple[int, ...], itemsize: int, rows_multiple: int = 1) -> tuple[int, ...]:
    """Chunks of full-width row bands no larger than `MAX_BAND_BYTES`."""
    row_bytes = max(1, int(np.prod(shape[1:])) * itemsize)
    rows = max(rows_multiple, (MAX_BAND_BYTES // row_bytes) // rows_multiple * rows_multiple)
    return (min(rows, DEFAULT_REGION, shape[0]), *shape[1:])


def region_chunks(shape: tuple[int, ...], region: int | None = None) -> tuple[int, ...]:
    """Square chunks of `region` pixels (default `DEFAULT_REGION`), channels whole."""
    region = region or DEFAULT_REGION
    return (min(region, shape[0]), min(region, shape[1]), *shape[2:])


def as_dask(source: RegionSource, name: str, chunks: tuple[int, ...]) -> da.Array:
    """Wrap a source in a dask array with a deterministic graph name."""
    meta = np.empty((0,) * source.ndim, source.dtype)  # so dask does not probe the file
    return da.from_array(source, chunks=chunks, name=name, asarray=True, fancy=False, meta=meta)
