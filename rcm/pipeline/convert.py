"""The convert stage: any mosaic rcm reads to OME-Zarr, as `rcm convert` and job files do."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from rcm.io import Mosaic, ZarrWriteOptions, write_ome_zarr


def convert_mosaic(
    mosaic: Mosaic,
    output: str | os.PathLike[str],
    *,
    options: ZarrWriteOptions | None = None,
    name: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
) -> Path:
    """Write `mosaic` as an OME-Zarr store with its source's identity and the options used.

    Args:
        mosaic: An opened mosaic.
        output: The store to create (atomically).
        options: Chunking, sharding and compression.
        name: Image name in the store (default: the source file's name).
        overwrite: Replace an existing store once the new one is complete.
        progress: Show a progress bar.

    """
    options = options or ZarrWriteOptions()
    info = mosaic.info
    source_name = Path(info.path).name
    attributes = {
        "source": {
            "name": source_name,
            "format": info.format,
            "checksum": info.checksum,
            "um_per_px_source": info.um_per_px_source,
        },
        "convert_options": asdict(options),
    }
    return write_ome_zarr(
        mosaic.data,
        output,
        um_per_px=info.um_per_px,
        name=name or source_name,
        attributes=attributes,
        options=options,
        overwrite=overwrite,
        progress=progress,
    )
