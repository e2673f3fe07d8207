"""Per-window outputs blended into a temporary zarr map inside a partial output folder.

Window models and explanations run the same skeleton: read windows ahead,
predict, blend each window's output into a map at map scale as it arrives, then
write outputs from the map. `MapAccumulator` is that map, kept (hidden) inside
the partial output folder so its size on disk follows the mosaic while memory
follows the windows in flight.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import zarr
from tqdm import tqdm

from rcm.infer._reader import TileReader
from rcm.stitch import Blend, BlendedMap

CHUNK = 512  # map pixels per accumulator chunk edge
NAME = ".accumulated.zarr"


class MapAccumulator:
    """A ``(H, W, C)`` float32 zarr map that window outputs are blended into.

    Args:
        folder: The partial output folder that holds the map until `remove`.
        shape: The map's ``(H, W)``.
        channels: Values per map pixel.
        windows: ``(n, 4)`` windows of the whole grid in mosaic pixels.
        reader: The reader whose order the windows arrive in.
        scale: Mosaic pixels per map pixel.
        blend: How overlapping windows combine.
        margin: Map pixels of weight dropped along sides a neighbour continues.

    """

    def __init__(
        self,
        folder: Path,
        shape: tuple[int, int],
        channels: int,
        windows: np.ndarray,
        reader: TileReader,
        *,
        scale: int,
        blend: Blend,
        margin: int = 0,
    ) -> None:
        self.path = folder / NAME
        self.array = zarr.create_array(
            store=str(self.path),
            shape=(*shape, channels),
            chunks=(CHUNK, CHUNK, channels),
            dtype="float32",
            fill_value=float("nan"),
        )
        self._blended = BlendedMap(
            self.array, windows, reader.order, scale=scale, blend=blend, margin=margin
        )

    def add(self, index: int, values: np.ndarray) -> None:
        """Blend window `index`'s ``(C, h, w)`` output (map scale) into the map."""
        self._blended.add(index, values)

    def finish(self) -> None:
        """Write what is left once every window was added."""
        self._blended.finish()

    def remove(self) -> None:
        """Delete the map from the output folder (once the outputs are written)."""
        shutil.rmtree(self.path)


def progress_bar(total: int, unit: str, description: str, enabled: bool) -> tqdm:
    """A transient progress bar (disabled unless asked for)."""
    return tqdm(total=total, unit=unit, desc=description, disable=not enabled, leave=False)
