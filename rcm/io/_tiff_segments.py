"""TIFF strips and tiles too large to decode whole: read row by row, or refused.

tifffile decodes a segment (strip or tile) whole, so a 30000 x 30000 image stored
as one deflate strip (under 1 MB on disk) costs 900 MB whatever region is asked
for. Segments over `MAX_SEGMENT_BYTES` decoded are read in rows instead:
uncompressed ones straight from the file, deflate ones through
`zlib.decompressobj` in bounded pieces, with decompressor checkpoints so that
consecutive bands do not inflate from the start again. Other codecs cannot be
decoded in pieces and such files are refused with a way out.
"""

from __future__ import annotations

import copy
import os
import threading
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import tifffile

from rcm.errors import MosaicReadError

# A segment decoding to more than this is streamed (or refused): the 4096 px block
# of an RGB mosaic is 48 MB, and dask decodes a few segments at once.
MAX_SEGMENT_BYTES = 64 << 20
_PIECE = 256 << 10  # compressed bytes read, and decoded bytes produced, at a time
_MAX_CHECKPOINTS = 64  # per level: at most 64 x (2 pieces + zlib state) kept
# Decoded blocks kept per level, for small reads next to each other (inference tiles).
_KEPT_BYTES = 64 << 20
_STREAMABLE = {1, 8, 32946}  # none, deflate (Adobe), deflate (old)
_PREDICTORS = {1, 2}  # none, horizontal differencing
_RECHUNK = (
    "rechunk it into a tiled TIFF, e.g. `vips tiffsave IN OUT --tile --compression deflate` "
    "or `tiffcp -t -w 512 -l 512 IN OUT`"
)


@dataclass(frozen=True)
class SegmentGrid:
    """How one TIFF level is cut into segments (strips are full-width tiles)."""

    height: int  # rows per segment
    width: int  # columns per segment
    samples: int  # samples per pixel inside one segment
    per_row: int  # segments across the image
    per_plane: int  # segments per sample plane (planar configuration "separate")
    dtype: np.dtype[Any]  # samples in the file's byte order

    @property
    def row_bytes(self) -> int:
        return self.width * self.samples * self.dtype.itemsize

    def decoded_bytes(self, pixel_bytes: int | None = None) -> int:
        """Bytes one segment decodes to (`pixel_bytes` per pixel where a decoder widens it)."""
        return self.height * (self.width * pixel_bytes if pixel_bytes else self.row_bytes)

    def too_large(self, pixel_bytes: int | None = None) -> bool:
        """Whether one segment decodes to more than `MAX_SEGMENT_BYTES`."""
        return self.decoded_bytes(pixel_bytes) > MAX_SEGMENT_BYTES

    def origin(self, index: int) -> tuple[int, int, int]:
        """(plane, top, left) of segment `index`."""
        plane, rest = divmod(index, self.per_plane)
        row, column = divmod(rest, self.per_row)
        return plane, row * self.height, column * self.width

    def indices(self, planes: int, rows: slice, cols: slice) -> list[int]:
        """Segments under a region, plane by plane, in file order."""
        return [
            plane * self.per_plane + ty * self.per_row + tx
            for plane in range(planes)
            for ty in range(rows.start // self.height, -(-rows.stop // self.height))
            for tx in range(cols.start // self.width, -(-cols.stop // self.width))
        ]


def segment_grid(path: str, keyframe: Any) -> SegmentGrid:
    """The segment grid of a tifffile keyframe of the file at `path`.

    Raises:
        MosaicReadError: If the header's segment size is 0 or it lists too few segments.

    """
    planes, _, height, width, samples = keyframe.shaped
    tile_width = keyframe.tilewidth  # tifffile's is_tiled fails on a tag of the wrong type
    if not isinstance(tile_width, int) or tile_width > 0:
        seg_h, seg_w, kind = keyframe.tilelength, tile_width, "tile"
    else:
        seg_h, seg_w, kind = keyframe.rowsperstrip, width, "strip"
    sizes = (planes, height, width, samples, seg_h, seg_w)
    if not all(isinstance(n, int) and n >= 1 for n in sizes):
        raise MosaicReadError(
            path,
            f"malformed TIFF header: image of {width} x {height} pixels in {kind}s of "
            f"{seg_w} x {seg_h}",
        )
    seg_h = seg_h if kind == "tile" else min(seg_h, height)
    per_row = -(-width // seg_w)
    per_plane = -(-height // seg_h) * per_row
    listed = min(len(keyframe.dataoffsets), len(keyframe.databytecounts))
    if listed < planes * per_plane:
        raise MosaicReadError(
            path,
            f"malformed TIFF header: it lists {listed} {kind} offsets or sizes where the "
            f"image needs {planes * per_plane}",
        )
    dtype = np.dtype(keyframe.dtype).newbyteorder(keyframe.parent.byteorder)
    return SegmentGrid(seg_h, seg_w, samples, per_row, per_plane, dtype)


def must_stream(path: str, keyframe: Any) -> bool:
    """Whether a level's segments are too large to decode whole; refuse what cannot stream.

    Raises:
        MosaicReadError: If the segments are too large and their codec, predictor or
            sample size cannot be decoded in pieces.

    """
    grid = segment_grid(path, keyframe)
    if not grid.too_large():
        return False
    size = grid.decoded_bytes()
    reason = _not_streamable(keyframe, grid)
    if reason:
        kind = "tile" if keyframe.is_tiled else "strip"
        raise MosaicReadError(
            path,
            f"one {kind} holds {grid.width} x {grid.height} pixels ({size / 2**20:,.0f} MB "
            f"decoded, over the {MAX_SEGMENT_BYTES >> 20} MB decoded at once) and {reason} "
            f"cannot be decoded in pieces: {_RECHUNK}",
        )
    return True


def check_not_truncated(path: str, pages: Iterable[Any]) -> None:
    """Fail now, not mid-conversion, when pixel data runs past the end of the file."""
    file_size = os.path.getsize(path)
    for page in pages:
        if page is None or not page.dataoffsets:
            continue
        end = max(o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False))
        if end > file_size:
            raise MosaicReadError(
                path,
                f"file is truncated: pixel data runs to byte {end:,} but the file "
                f"has {file_size:,} bytes",
            )


def _not_streamable(keyframe: Any, grid: SegmentGrid) -> str | None:
    if keyframe.compression not in _STREAMABLE:
        return f"{_name(tifffile.COMPRESSION, keyframe.compression)} compression"
    if keyframe.predictor not in _PREDICTORS or (
        keyframe.predictor == 2 and grid.dtype.kind == "f"
    ):
        return f"predictor {_name(tifffile.PREDICTOR, keyframe.predictor)}"
    if keyframe.bitspersample != 8 * grid.dtype.itemsize or keyframe.fillorder != 1:
        return f"{keyframe.bitspersample}-bit samples"
    return None


def _name(enum: Any, value: int) -> str:
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


class SegmentRows:
    """Rows of one level's huge segments, decoded in blocks of rows (picklable).

    A block is at most a quarter of `MAX_SEGMENT_BYTES` (a multiple of 256 rows);
    dask reads bands of two blocks (`band_rows`), so each row is decoded once,
    and the last `_KEPT_BYTES` of blocks are kept, so that small reads next to
    each other (inference tiles) decode their rows once too. Deflate
    checkpoints sit at block starts.
    """

    def __init__(self, path: str, grid: SegmentGrid, compression: int, predictor: int) -> None:
        self.path, self.grid = path, grid
        self.compression, self.predictor = compression, predictor
        rows = MAX_SEGMENT_BYTES // 4 // grid.row_bytes
        self.block_rows = rows // 256 * 256 or max(1, rows)  # overview factors divide it
        self.kept_blocks = max(2, _KEPT_BYTES // (self.block_rows * grid.row_bytes))
        self.__setstate__(self.__getstate__())

    @property
    def band_rows(self) -> int:
        """Rows of the full-width bands dask should read."""
        return 2 * self.block_rows

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_blocks", "_checkpoints", "_lock"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._blocks: dict[tuple[int, int], np.ndarray] = {}
        self._checkpoints: dict[tuple[int, int], _Inflater] = {}
        self._lock = threading.Lock()

    def read(
        self, filehandle: Any, index: int, span: tuple[int, int, int], rows: slice, cols: slice
    ) -> np.ndarray:
        """Pixels ``[rows, cols]`` (relative to the segment) of segment `index`.

        Args:
            filehandle: tifffile's file handle (its lock serialises seek + read).
            index: The segment.
            span: Its data offset and byte count, and the rows it holds.
            rows: Rows within the segment.
            cols: Columns within the segment.

        Returns:
            ``(rows, columns, samples)`` in native byte order.

        """
        native = self.grid.dtype.newbyteorder("=")
        out = np.zeros((rows.stop - rows.start, cols.stop - cols.start, self.grid.samples), native)
        if not span[0] or not span[1]:  # sparse file: segment never written
            return out
        step = self.block_rows
        for first in range(rows.start // step * step, rows.stop, step):
            block = self._block(filehandle, index, span, first)
            low, high = max(rows.start, first), min(rows.stop, first + len(block))
            out[low - rows.start : high - rows.start] = block[low - first : high - first, cols]
        return out

    def _block(
        self, filehandle: Any, index: int, span: tuple[int, int, int], first: int
    ) -> np.ndarray:
        offset, count, height = span
        with self._lock:
            cached = self._blocks.get((index, first))
        if cached is not None:
            return cached
        grid = self.grid
        wanted = min(self.block_rows, height - first)
        start, stop = first * grid.row_bytes, (first + wanted) * grid.row_bytes
        if self.compression == 1:
            raw = _read_at(filehandle, offset + start, max(0, min(stop, count) - start))
        else:
            raw = self._inflate(filehandle, index, (offset, count), start, stop)
        if len(raw) != stop - start:
            raise MosaicReadError(
                self.path, f"segment {index} holds fewer bytes than its rows need"
            )
        block = np.frombuffer(raw, grid.dtype).reshape(wanted, grid.width, grid.samples)
        block = block.astype(grid.dtype.newbyteorder("="))
        if self.predictor == 2:  # undo horizontal differencing; integer sums wrap as in TIFF
            np.cumsum(block, axis=1, dtype=block.dtype, out=block)
        with self._lock:
            self._blocks[(index, first)] = block
            for key in list(self._blocks)[: -self.kept_blocks]:
                del self._blocks[key]
        return block

    def _inflate(
        self, filehandle: Any, index: int, span: tuple[int, int], start: int, stop: int
    ) -> bytes:
        with self._lock:
            behind = [
                saved
                for (i, position), saved in self._checkpoints.items()
                if i == index and position <= start
            ]
            best = max(behind, key=lambda saved: saved.position, default=None)
            inflater = best.copy() if best else _Inflater(*span)
        inflater.take(filehandle, start - inflater.position, keep=False)
        data = inflater.take(filehandle, stop - start)
        with self._lock:
            self._checkpoints[(index, inflater.position)] = inflater
            for key in list(self._checkpoints)[:-_MAX_CHECKPOINTS]:
                del self._checkpoints[key]
        return data


class _Inflater:
    """A deflate stream read from the file in pieces; `copy` forks it at its position."""

    def __init__(self, offset: int, count: int) -> None:
        self.offset, self.count = offset, count
        self.decompressor = zlib.decompressobj()
        self.consumed = 0  # compressed bytes read from the file
        self.tail = b""  # compressed bytes read, not inflated yet
        self.pending = b""  # inflated bytes not handed out yet
        self.position = 0  # inflated bytes handed out

    def copy(self) -> _Inflater:
        fork = copy.copy(self)
        fork.decompressor = self.decompressor.copy()
        return fork

    def take(self, filehandle: Any, size: int, keep: bool = True) -> bytes:
        """The next `size` inflated bytes (fewer at the end of the stream)."""
        parts = []
        while size > 0:
            if not self.pending:
                self.pending = self._inflate(filehandle)
                if not self.pending:
                    break
            part, self.pending = self.pending[:size], self.pending[size:]
            size -= len(part)
            self.position += len(part)
            if keep:
                parts.append(part)
        return b"".join(parts)

    def _inflate(self, filehandle: Any) -> bytes:
        while True:
            if not self.tail:
                if self.decompressor.eof or self.consumed >= self.count:
                    return b""
                piece = min(_PIECE, self.count - self.consumed)
                self.tail = _read_at(filehandle, self.offset + self.consumed, piece)
                if not self.tail:
                    return b""
                self.consumed += len(self.tail)
            out = self.decompressor.decompress(self.tail, _PIECE)
            self.tail = b"" if self.decompressor.eof else self.decompressor.unconsumed_tail
            if out:
                return out


def _read_at(filehandle: Any, offset: int, size: int) -> bytes:
    with filehandle.lock:
        filehandle.seek(offset)
        data: bytes = filehandle.read(size)
    return data
