"""OME-Zarr (NGFF 0.5 on zarr v3, and 0.4 layouts) read back as a `Mosaic`."""

from __future__ import annotations

from typing import Any

import numpy as np
import zarr

from rcm.errors import MosaicReadError
from rcm.io._formats import check_dimensions
from rcm.io._mosaic import Mosaic, MosaicInfo
from rcm.io._pixelsize import resolve_pixel_size, um_per_unit
from rcm.io._source import RegionSource, as_dask


class ZarrLevelSource(RegionSource):
    """One multiscale level of an OME-Zarr image, channels moved last."""

    def __init__(
        self,
        path: str,
        array_path: str,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
        channel_first: bool,
    ) -> None:
        super().__init__()
        self.path, self.array_path = path, array_path
        self.shape, self.dtype = shape, dtype
        self.channel_first = channel_first

    def _open(self) -> Any:
        return zarr.open_array(store=self.path, path=self.array_path, mode="r")

    def _read(self, handle: Any, rows: slice, cols: slice) -> np.ndarray:
        if self.channel_first:
            return np.moveaxis(handle[:, rows, cols], 0, -1)
        return np.asarray(handle[rows, cols])


def open_ome_zarr(path: str, *, checksum: str, max_pixels: int, um_per_px: float | None) -> Mosaic:
    """Open the first multiscale image of an OME-Zarr store; see `rcm.io.open_mosaic`."""
    try:
        group: Any = zarr.open_group(store=path, mode="r")
        attrs: dict[str, Any] = group.attrs.asdict()
    except Exception as error:  # zarr raises several types for broken metadata
        raise MosaicReadError(path, f"not a readable zarr store ({error})") from error
    multiscales = attrs.get("ome", attrs).get("multiscales")
    if not multiscales:
        raise MosaicReadError(path, "zarr store has no OME-Zarr multiscales metadata")
    image: dict[str, Any] = multiscales[0]
    axes = [axis["name"] if isinstance(axis, dict) else axis for axis in image["axes"]]
    if axes not in (["y", "x"], ["c", "y", "x"]):
        raise MosaicReadError(path, f"OME-Zarr axes {axes} are not (y, x) or (c, y, x)")
    channel_first = axes[0] == "c"
    sources = []
    for dataset in image["datasets"]:
        array = group[dataset["path"]]
        stored = tuple(int(n) for n in array.shape)
        shape = (*stored[1:], stored[0]) if channel_first else stored
        if channel_first and shape[2] == 1:
            raise MosaicReadError(path, "single-channel images must be stored as (y, x)")
        sources.append(ZarrLevelSource(path, dataset["path"], shape, array.dtype, channel_first))
    height, width = sources[0].shape[:2]
    check_dimensions(path, height, width, max_pixels)
    found = _scale_um(image, axes)
    pixel_size = resolve_pixel_size(found, found, "OME-Zarr scale", um_per_px)
    levels = tuple(
        as_dask(source, f"rcm-zarr-{checksum[7:23]}-L{index}", _chunks(group, source))
        for index, source in enumerate(sources)
    )
    info = MosaicInfo(
        path=path,
        format="ome-zarr",
        shape=sources[0].shape,
        dtype=str(sources[0].dtype),
        level_shapes=tuple(source.shape for source in sources),
        um_per_px=pixel_size.um_per_px,
        um_per_px_source=pixel_size.source,
        checksum=checksum,
        notes=pixel_size.notes,
    )
    return Mosaic(info=info, levels=levels, sources=tuple(sources))


def _chunks(group: Any, source: ZarrLevelSource) -> tuple[int, ...]:
    """Read whole shards (or chunks) at a time, channels whole."""
    array = group[source.array_path]
    block = array.shards or array.chunks
    spatial = block[1:] if source.channel_first else block
    return (*spatial[:2], *source.shape[2:])


def _scale_um(image: dict[str, Any], axes: list[str]) -> float | None:
    x_axis = image["axes"][axes.index("x")]
    unit = um_per_unit(x_axis.get("unit")) if isinstance(x_axis, dict) else None
    if unit is None:
        return None
    for transform in image["datasets"][0].get("coordinateTransformations", []):
        if transform.get("type") == "scale":
            return float(transform["scale"][axes.index("x")]) * unit
    return None
