"""What a zarr store must be before rcm reads its pixels: files inside it, bounded, complete.

A store is a directory that zarr reads file by file, trusting what it finds.
`list_store` walks it once, without following links, and refuses what would
make zarr read outside the store or without bound (symbolic links, devices,
FIFOs, oversized metadata). `check_level` then holds one image level against
that listing: a chunk grid that means too many reads, chunks too large to
decode in bounded memory, chunk files larger than their encoded size can be,
and chunks missing from the grid (which zarr would read silently as the fill
value), all without reading a chunk's bytes.
"""

from __future__ import annotations

import itertools
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from zarr.codecs import BytesCodec, Crc32cCodec, ShardingCodec, ShardingCodecIndexLocation
from zarr.codecs.bytes import Endian

from rcm.errors import MosaicReadError
from rcm.io._mosaic import check_pixel_type

# A level may hold this many chunks of any size; beyond that each chunk holds at
# least MIN_CHUNK_PIXELS values (64 x 64 px), at most 4096 reads per 4096 px block,
# which also bounds the grid to about one key per 4096 pixels.
SMALL_GRID = 4096
MIN_CHUNK_EDGE = 64
MIN_CHUNK_PIXELS = MIN_CHUNK_EDGE**2
# One chunk is decoded whole to read any part of it.
MAX_CHUNK_BYTES = 256 << 20
# zarr.json, .zarray, .zattrs, .zgroup, .zmetadata are parsed whole.
MAX_METADATA_BYTES = 16 << 20
METADATA_NAMES = frozenset({"zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"})
# A shard index entry (offset, length) of a chunk that was never written.
NEVER_WRITTEN = 2**64 - 1
# Missing keys named in a message.
NAMED_MISSING = 3


@dataclass(frozen=True)
class StoreListing:
    """The regular files of a store: relative POSIX path -> size in bytes."""

    sizes: dict[str, int]


@dataclass(frozen=True)
class LevelCheck:
    """What `check_level` found: chunk files the grid needs and how many are absent."""

    expected: int
    missing: int
    first_missing: tuple[str, ...]
    # Chunks that the index of a shard present marks as never written.
    empty_in_shards: int = 0
    # Chunk files whose key lies outside the grid (zarr ignores them).
    stray: int = 0

    @property
    def held(self) -> int:
        """Chunk files of this level in the store, inside its grid or not."""
        return self.expected - self.missing + self.stray


def list_store(path: str) -> StoreListing:
    """Walk the store once; refuse links, special files and oversized metadata.

    Raises:
        MosaicReadError: Naming the store and the first offending entry.

    """
    sizes: dict[str, int] = {}
    pending = [""]
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(Path(path, folder)))
        except OSError as error:
            raise MosaicReadError(path, f"cannot list {folder or 'the store'}: {error}") from error
        for entry in entries:
            relative = f"{folder}/{entry.name}" if folder else entry.name
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                raise MosaicReadError(
                    path,
                    f"{relative} is a symbolic link; rcm reads only regular files inside a "
                    "zarr store (copy the linked file into the store)",
                )
            if stat.S_ISDIR(mode):
                pending.append(relative)
            elif not stat.S_ISREG(mode):
                raise MosaicReadError(path, f"{relative} is not a regular file or folder")
            else:
                sizes[relative] = entry.stat(follow_symlinks=False).st_size
                _check_metadata_size(path, relative, sizes[relative])
    return StoreListing(sizes)


def _check_metadata_size(path: str, relative: str, size: int) -> None:
    if relative.rsplit("/", 1)[-1] in METADATA_NAMES and size > MAX_METADATA_BYTES:
        raise MosaicReadError(
            path, f"{relative} holds {size:,} bytes, more than zarr metadata can need"
        )


def check_level(path: str, listing: StoreListing, array_path: str, array: Any) -> LevelCheck:
    """Check one level's chunk grid and chunk files against the listing.

    Args:
        path: The store (named in errors).
        listing: `list_store` of the store.
        array_path: The level's path inside the store (``"0"``).
        array: The level, opened with zarr.

    Raises:
        MosaicReadError: For a grid of too small or too large chunks, or a chunk
            file larger than its encoded size can be.

    """
    where = f"array {array_path}"
    check_pixel_type(path, array.dtype, where)
    dtype = np.dtype(array.dtype)
    shape, chunks = tuple(array.shape), tuple(array.chunks)
    block = tuple(array.shards or chunks)
    if len(chunks) != len(shape) or min(chunks, default=0) <= 0 or min(block, default=0) <= 0:
        shards = f" in shards of {list(block)}" if array.shards else ""
        raise MosaicReadError(
            path, f"{where} has chunks of {list(chunks)}{shards} for shape {list(shape)}"
        )
    _check_chunk_size(path, where, shape, chunks, dtype.itemsize)
    inner = math.prod(b // c for b, c in zip(block, chunks, strict=True))
    chunk_bytes = math.prod(chunks) * dtype.itemsize
    # Any codec's worst case (zstd, blosc, lz4, zlib add well under this), plus the shard index.
    bound = inner * (2 * chunk_bytes + 4096) + 16 * inner + 4096
    prefix = f"{array_path}/" if array_path else ""
    grid = tuple(math.ceil(n / b) for n, b in zip(shape, block, strict=True))
    present: dict[tuple[int, ...], str] = {}
    stray = 0
    for name, size in listing.sizes.items():
        if not name.startswith(prefix) or name.rsplit("/", 1)[-1] in METADATA_NAMES:
            continue
        if size > bound:
            raise MosaicReadError(
                path,
                f"{name} holds {size:,} bytes, more than a chunk of {where} can "
                f"({bound:,} bytes at most)",
            )
        coords = _chunk_coords(array, name[len(prefix) :])
        if coords is not None and all(c < g for c, g in zip(coords, grid, strict=True)):
            present[coords] = name
        elif coords is not None:
            stray += 1
    expected = math.prod(grid)
    missing = _first_missing(prefix, array, grid, present, expected - len(present))
    empty = _empty_in_shards(path, array, list(present.items())) if array.shards else 0
    return LevelCheck(expected, expected - len(present), missing, empty, stray)


def _chunk_coords(array: Any, key: str) -> tuple[int, ...] | None:
    """The grid coordinates of a chunk key of `array` (``c/1/2``, ``1.2``), None if not one.

    A name is a key when zarr's own encoding of the parsed coordinates gives it back.
    """
    parts = key.replace(".", "/").split("/")
    parts = parts[1:] if parts[0] == "c" else parts
    if len(parts) != len(array.shape) or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    coords = tuple(int(p) for p in parts)
    return coords if array.metadata.encode_chunk_key(coords) == key else None


def _first_missing(
    prefix: str,
    array: Any,
    grid: tuple[int, ...],
    present: dict[tuple[int, ...], str],
    missing: int,
) -> tuple[str, ...]:
    """The first few missing keys in grid order: at most len(present) + NAMED_MISSING probes."""
    wanted = min(missing, NAMED_MISSING)
    named: list[str] = []
    for coords in itertools.product(*map(range, grid)):
        if len(named) == wanted:
            break
        if coords not in present:
            named.append(prefix + array.metadata.encode_chunk_key(coords))
    return tuple(named)


def _empty_in_shards(path: str, array: Any, shards: list[tuple[tuple[int, ...], str]]) -> int:
    """Chunks inside the array marked never written in the indexes of the shards present.

    Reads each shard's index only (16 bytes per chunk), for the usual index
    layout (plain integers, optionally with a CRC32C); other layouts are not
    inspected. Chunks of an edge shard that lie outside the array are never written.
    """
    codec = next((c for c in array.metadata.codecs if isinstance(c, ShardingCodec)), None)
    if codec is None:
        return 0
    kinds = [type(c) for c in codec.index_codecs]
    if kinds not in ([BytesCodec], [BytesCodec, Crc32cCodec]):
        return 0
    per_shard = tuple(s // c for s, c in zip(array.shards, codec.chunk_shape, strict=True))
    count = math.prod(per_shard)
    size = 16 * count + 4 * (len(kinds) - 1)
    endian = getattr(codec.index_codecs[0], "endian", None)
    order = ">" if endian == Endian.big else "<"
    at_end = codec.index_location == ShardingCodecIndexLocation.end
    starts = np.indices(per_shard).reshape(len(per_shard), -1).T * np.array(codec.chunk_shape)
    empty = 0
    for coords, key in shards:
        with Path(path, key).open("rb") as handle:
            if at_end:
                handle.seek(max(0, os.fstat(handle.fileno()).st_size - size))
            raw = handle.read(size)
        if len(raw) < size:  # a shorter file fails when zarr decodes it
            continue
        index = np.frombuffer(raw[: 16 * count], f"{order}u8").reshape(count, 2)
        inside = (starts + np.array(coords) * np.array(array.shards) < array.shape).all(axis=1)
        empty += int(np.count_nonzero((index == NEVER_WRITTEN).all(axis=1) & inside))
    return empty


def _check_chunk_size(
    path: str, where: str, shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int
) -> None:
    """Refuse chunks so small that a block means a flood of reads, or too big to decode."""
    count = math.prod(math.ceil(n / c) for n, c in zip(shape, chunks, strict=True))
    values = math.prod(min(c, n) for c, n in zip(chunks, shape, strict=True))
    if count > SMALL_GRID and values < MIN_CHUNK_PIXELS:
        rows, cols = (min(c, n) for c, n in zip(chunks[-2:], shape[-2:], strict=True))
        raise MosaicReadError(
            path,
            f"{where} is stored in {count:,} chunks of {rows} x {cols} px, far too many reads; "
            f"rechunk it to at least {MIN_CHUNK_PIXELS:,} px per chunk ({MIN_CHUNK_EDGE} x "
            f"{MIN_CHUNK_EDGE}; e.g. 512 x 512, with zarr or the rechunker package) and try again",
        )
    chunk_bytes = math.prod(chunks) * itemsize
    if chunk_bytes > MAX_CHUNK_BYTES:
        raise MosaicReadError(
            path,
            f"{where} is stored in chunks of {list(chunks)} ({chunk_bytes / 2**20:,.0f} MiB "
            f"each), over the {MAX_CHUNK_BYTES >> 20} MiB one read may decode; rechunk it "
            "(e.g. 1024 x 1024) and try again",
        )
