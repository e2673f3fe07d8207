"""Lazy, picklable array-likes that dask reads mosaic regions from.

Each reader describes a level as a `RegionSource`: shape, dtype and a `_read`
method for one rectangular region. The source opens its file on first use in each
process and drops the handle when pickled, so a dask array built on it can be
shipped to distributed workers. Decoding errors become `MosaicReadError` naming
the file and the region, so a corrupt tile is reported, never a bare codec error.
"""

from __future__ import annotations

import struct
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask.array as da
import numpy as np

from rcm.errors import MosaicReadError

# Region edge (pixels) dask reads at a time from random-access sources; a multiple
# of common TIFF tile sizes and of the zarr shard edge the writer uses.
DEFAULT_REGION = 4096
# Upper bound on one band when a source can only be read in full-width rows.
MAX_BAND_BYTES = 128 << 20

# The one rule for what a failure while reading a user's file means. The decoder and
# parser libraries (tifffile, imagecodecs, Pillow, OpenSlide, zarr, ElementTree) report bad
# bytes with these built-in classes, with classes of their own, or with any error
# raised while their code runs (tifffile raises TypeError on a tag with too many
# values): all are the file's fault (exit 2). Any other TypeError, AttributeError,
# NameError, AssertionError... is a bug in rcm and keeps its traceback (exit 1).
_DECODE_ERRORS = (
    ValueError,  # includes tifffile.TiffFileError and numpy shape errors
    ArithmeticError,  # ZeroDivisionError, OverflowError from header arithmetic
    LookupError,  # KeyError, IndexError from missing or out-of-range tags
    MemoryError,  # an allocation sized by a corrupt header
    OSError,  # short reads, unreadable files, PIL.UnidentifiedImageError
    EOFError,
    SyntaxError,  # xml.etree.ElementTree.ParseError (OME-XML)
    struct.error,
    zlib.error,
)
_DECODER_PACKAGES = frozenset({"tifffile", "imagecodecs", "PIL", "openslide", "zarr", "numcodecs"})


def is_decode_error(error: BaseException) -> bool:
    """Whether `error`, raised while reading a file, means the file is bad (see above)."""
    if isinstance(error, _DECODE_ERRORS):
        return True
    packages = {type(error).__module__}
    frame = error.__traceback__
    while frame is not None:  # every frame from the reader down to where it was raised
        packages.add(str(frame.tb_frame.f_globals.get("__name__", "")))
        frame = frame.tb_next
    return any(name.partition(".")[0] in _DECODER_PACKAGES for name in packages)


@contextmanager
def reading(path: str, what: str) -> Iterator[None]:
    """Re-raise decode errors inside the block as `MosaicReadError`: ``"<what> (<error>)"``."""
    try:
        yield
    except MosaicReadError:
        raise
    except Exception as error:
        if not is_decode_error(error):
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
