"""Write a mosaic as OME-Zarr (NGFF 0.5, zarr v3): sharded, compressed, multiscale.

Level 0 is processed in square blocks of `block` pixels. Each block is written
to level 0 and halved, its halves feeding level 1, and so on, in one dask graph:
the source is read once and memory stays at a few blocks per worker thread.
Level k receives regions of ``block >> k`` pixels, so its chunks (and shards)
are sized to that region: every chunk or shard is written whole by exactly one
task, which is what makes parallel writes to a sharded array safe.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numpy as np
import zarr
from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from rcm._dask import local_compute
from rcm._version import __version__
from rcm.io._atomic import atomic_output
from rcm.io._pyramid import downsample_mean, downsample_nearest, pyramid_shapes
from rcm.io._zarr_store import MIN_CHUNK_EDGE

Compressor = Literal["zstd", "blosc-lz4", "blosc-zstd", "none"]
NGFF_VERSION = "0.5"


@dataclass(frozen=True)
class ZarrWriteOptions:
    """How `write_ome_zarr` lays out the store.

    Attributes:
        chunk: Edge of a zarr chunk (the unit of compression and of tile reads).
        shard: Edge of a shard (the unit of files on disk); 0 writes no shards.
        compressor: Codec for chunks. Blosc releases the GIL and runs beside the
            decoder; lz4 is the fastest, blosc-zstd packs smaller for archives.
        compression_level: Codec level (zstd 1-22, blosc 1-9).
        max_top_edge: Add 2x levels until the longer edge fits this.
        labels: Downsample by nearest neighbour (label images) instead of mean.
        workers: Threads writing in parallel; None uses one per core.

    """

    chunk: int = 1024
    shard: int = 4096
    compressor: Compressor = "blosc-lz4"
    compression_level: int = 5
    max_top_edge: int = 2048
    labels: bool = False
    workers: int | None = None

    def __post_init__(self) -> None:
        if self.chunk < MIN_CHUNK_EDGE or self.chunk & (self.chunk - 1):
            raise ValueError(f"chunk must be a power of two >= {MIN_CHUNK_EDGE}, got {self.chunk}")
        if self.shard and (self.shard < self.chunk or self.shard & (self.shard - 1)):
            raise ValueError(f"shard must be 0 or a power of two >= chunk, got {self.shard}")
        if self.max_top_edge < 1:
            raise ValueError("max_top_edge must be positive")

    @property
    def block(self) -> int:
        """Edge of the level-0 region one task processes."""
        return self.shard or 4 * self.chunk


def write_ome_zarr(
    data: da.Array,
    path: str | os.PathLike[str],
    *,
    um_per_px: float | None,
    name: str = "image",
    attributes: dict[str, Any] | None = None,
    options: ZarrWriteOptions | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Stream a (y, x) or (y, x, c) dask array into a new OME-Zarr store, atomically.

    Args:
        data: Level-0 pixels, channels last.
        path: Store directory to create (conventionally ``*.zarr``).
        um_per_px: Pixel size recorded in the NGFF scale transforms; None writes
            unit-less pixel scales.
        name: Name of the multiscale image.
        attributes: Extra JSON attributes stored under the ``"rcm"`` key.
        options: Layout options; defaults to `ZarrWriteOptions()`.
        overwrite: Replace an existing store (only once the new one is complete).
        progress: Show a progress bar on stderr.

    Returns:
        The path of the finished store.

    """
    options = options or ZarrWriteOptions()
    shapes = pyramid_shapes(tuple(int(n) for n in data.shape), options.max_top_edge)
    block = options.block
    level = data.rechunk((block, block, *data.shape[2:]), method="tasks")
    shrink = downsample_nearest if options.labels else downsample_mean
    pyramid = [level]
    for index, shape in enumerate(shapes[1:], 1):
        level = level.map_blocks(shrink, chunks=_halved_chunks(level.chunks), dtype=data.dtype)
        if _region(block, index) > block >> index:  # merged, so chunks stay >= 64 px
            level = level.rechunk((_region(block, index),) * 2 + level.shape[2:])
        assert level.shape == shape, (level.shape, shape)
        pyramid.append(level)
    with atomic_output(path, overwrite=overwrite) as partial:
        group = zarr.open_group(store=str(partial), mode="w", zarr_format=3)
        targets = [
            _create_level(group, str(index), shape, data.dtype, _region(block, index), options)
            for index, shape in enumerate(shapes)
        ]
        sources = [_channels_first(level) for level in pyramid]
        description = f"writing {Path(path).name}"
        with local_compute(description, progress=progress, workers=options.workers):
            da.store(sources, targets, lock=False, compute=True)
        # Written after the last chunk: a reader that finds fewer files knows chunks were lost.
        written = [_chunk_files(target) for target in targets]
        group.attrs.update(
            {
                "ome": _ngff_metadata(name, shapes, um_per_px, data.dtype, options.labels),
                "rcm": {"version": __version__, **(attributes or {}), "chunk_files": written},
            }
        )
    return Path(path)


def _region(block: int, index: int) -> int:
    """Edge of the regions level `index` is written in: halved per level, at least 64 px.

    The reader refuses a large grid of smaller chunks; the chunks tile these regions.
    """
    return max(block >> index, MIN_CHUNK_EDGE)


def _halved_chunks(chunks: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    return (
        tuple((n + 1) // 2 for n in chunks[0]),
        tuple((n + 1) // 2 for n in chunks[1]),
        *chunks[2:],
    )


def _chunk_files(array: Any) -> int:
    """Files of one level: every chunk (or shard) of its grid, written whole by one task."""
    block = array.shards or array.chunks
    return math.prod(-(-n // b) for n, b in zip(array.shape, block, strict=True))


def _channels_first(level: da.Array) -> da.Array:
    return level if level.ndim == 2 else da.moveaxis(level, -1, 0)


def _create_level(
    group: Any,
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    region: int,
    options: ZarrWriteOptions,
) -> Any:
    """Create one level whose chunks (or shards) tile the regions tasks write."""
    chunk = max(1, min(options.chunk, region))
    shard = region if options.shard and region > chunk else None
    stored = shape if len(shape) == 2 else (shape[2], *shape[:2])
    lead = () if len(shape) == 2 else (shape[2],)
    return group.create_array(
        name,
        shape=stored,
        dtype=dtype,
        chunks=(*lead, chunk, chunk),
        shards=(*lead, shard, shard) if shard else None,
        compressors=_codec(options),
        fill_value=0,
        dimension_names=("c", "y", "x") if lead else ("y", "x"),
        # Skipping empty chunks costs a full comparison per chunk (half the write
        # time); an all-background chunk compresses to a few bytes anyway.
        config={"write_empty_chunks": True},
    )


def _codec(options: ZarrWriteOptions) -> list[Any]:
    """The chunk's codecs; a CRC32C last, so a flipped bit is an error, never other pixels."""
    if options.compressor == "none":
        return [Crc32cCodec()]
    if options.compressor == "zstd":
        return [ZstdCodec(level=options.compression_level), Crc32cCodec()]
    cname: Any = options.compressor.removeprefix("blosc-")
    blosc = BloscCodec(cname=cname, clevel=options.compression_level, shuffle="bitshuffle")
    return [blosc, Crc32cCodec()]


def _ngff_metadata(
    name: str,
    shapes: list[tuple[int, ...]],
    um_per_px: float | None,
    dtype: np.dtype[Any],
    labels: bool,
) -> dict[str, Any]:
    """The ``ome`` attribute of an NGFF 0.5 multiscale image."""
    channels = 1 if len(shapes[0]) == 2 else shapes[0][2]
    space = {"type": "space", **({"unit": "micrometer"} if um_per_px else {})}
    axes = [{"name": "y", **space}, {"name": "x", **space}]
    if channels > 1:
        axes.insert(0, {"name": "c", "type": "channel"})
    datasets = []
    for index in range(len(shapes)):
        step = (um_per_px or 1.0) * 2**index
        scale = [step, step] if channels == 1 else [1.0, step, step]
        datasets.append(
            {"path": str(index), "coordinateTransformations": [{"type": "scale", "scale": scale}]}
        )
    multiscale = {
        "name": name,
        "axes": axes,
        "datasets": datasets,
        "type": "nearest" if labels else "mean",
        "metadata": {"description": "2x2 block " + ("nearest" if labels else "mean")},
    }
    metadata: dict[str, Any] = {"version": NGFF_VERSION, "multiscales": [multiscale]}
    if not labels:
        metadata["omero"] = _omero(channels, dtype)
    return metadata


def _omero(channels: int, dtype: np.dtype[Any]) -> dict[str, Any]:
    """Display hints (intensity window, colours) that napari and other viewers read."""
    top = int(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0
    colours = ["FFFFFF"] if channels == 1 else ["FF0000", "00FF00", "0000FF", "FFFFFF"][:channels]
    labels = ["reflectance"] if channels == 1 else ["red", "green", "blue", "alpha"][:channels]
    return {
        "channels": [
            {
                "label": label,
                "color": colour,
                "active": label != "alpha",
                "window": {"start": 0, "end": top, "min": 0, "max": top},
            }
            for label, colour in zip(labels, colours, strict=True)
        ],
        "rdefs": {"model": "greyscale" if channels == 1 else "color"},
    }
