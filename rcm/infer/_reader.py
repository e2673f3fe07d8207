"""Prefetching tile reader: reads regions of many tiles at once, ahead of the model.

Tiles are grouped into blocks of neighbouring grid cells; each block's
bounding region is read once (so a file tile under several model tiles is
decoded once), sliced into tiles, and handed out in fixed order. Reads run in a
thread pool a few blocks ahead, overlapping I/O and decoding with inference.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from rcm.io import Mosaic


@dataclass(frozen=True)
class TileBatch:
    """Tiles as stored (``(n, h, w)`` or ``(n, h, w, c)``) and their indices in the grid."""

    indices: np.ndarray
    pixels: np.ndarray

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.pixels):
            raise ValueError("one index per tile")


class TileReader:
    """Iterate over batches of the selected tiles of a mosaic.

    Args:
        mosaic: The mosaic to read.
        windows: ``(n, 4)`` windows ``[y0, x0, y1, x1]`` of the whole grid (mosaic px).
        positions: ``(n, 2)`` grid row and column of each window.
        selected: Indices of the windows to read (tissue tiles), ascending.
        batch_size: Tiles per batch.
        block: Grid cells per block edge read in one region.
        prefetch: Blocks read ahead.
        workers: Reader threads.

    """

    def __init__(
        self,
        mosaic: Mosaic,
        windows: np.ndarray,
        positions: np.ndarray,
        selected: np.ndarray,
        *,
        batch_size: int,
        block: int = 8,
        prefetch: int = 4,
        workers: int = 2,
    ) -> None:
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.mosaic, self.windows, self.batch_size = mosaic, windows, batch_size
        self.prefetch, self.workers = prefetch, workers
        cells = positions[selected] // block
        keys = cells[:, 0] * (cells[:, 1].max(initial=0) + 1) + cells[:, 1]
        order = np.argsort(keys, kind="stable")
        boundaries = np.flatnonzero(np.diff(keys[order])) + 1
        self.groups = [
            selected[order][part]
            for part in np.split(np.arange(len(order)), boundaries)
            if len(part)
        ]

    def __len__(self) -> int:
        return sum(len(group) for group in self.groups)

    @property
    def order(self) -> np.ndarray:
        """Indices of the selected tiles in the order batches hand them out."""
        return np.concatenate(self.groups) if self.groups else np.zeros(0, np.int64)

    def _read_group(self, group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        boxes = self.windows[group]
        top, left = boxes[:, 0].min(), boxes[:, 1].min()
        region = self.mosaic.read_region(
            int(top), int(left), int(boxes[:, 2].max()), int(boxes[:, 3].max())
        )
        tiles = np.stack(
            [region[y0 - top : y1 - top, x0 - left : x1 - left] for y0, x0, y1, x1 in boxes]
        )
        return group, tiles

    def __iter__(self) -> Iterator[TileBatch]:
        pending_indices: list[np.ndarray] = []
        pending_tiles: list[np.ndarray] = []
        count = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="rcm-read") as pool:
            queue: deque[Future[tuple[np.ndarray, np.ndarray]]] = deque()
            groups = iter(self.groups)
            for group in groups:
                queue.append(pool.submit(self._read_group, group))
                if len(queue) >= self.prefetch:
                    break
            while queue:
                indices, tiles = queue.popleft().result()
                next_group = next(groups, None)
                if next_group is not None:
                    queue.append(pool.submit(self._read_group, next_group))
                pending_indices.append(indices)
                pending_tiles.append(tiles)
                count += len(indices)
                while count >= self.batch_size:
                    batch, count = self._take(pending_indices, pending_tiles, self.batch_size)
                    yield batch
            if count:
                batch, count = self._take(pending_indices, pending_tiles, count)
                yield batch

    @staticmethod
    def _take(
        indices: list[np.ndarray], tiles: list[np.ndarray], size: int
    ) -> tuple[TileBatch, int]:
        all_indices, all_tiles = np.concatenate(indices), np.concatenate(tiles)
        batch = TileBatch(all_indices[:size], all_tiles[:size])
        indices[:] = [all_indices[size:]]
        tiles[:] = [all_tiles[size:]]
        return batch, len(all_indices) - size
