"""``rcm demo``: the built-in example, from nothing to a described OME-Zarr mosaic."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from rcm.cli._options import positive_int
from rcm.data import make_spec, write_synthetic
from rcm.io import open_mosaic, write_ome_zarr


def register(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the built-in example end to end",
        description="Generate a synthetic RCM mosaic with lesions, convert it to OME-Zarr and "
        "describe it, all inside one output folder. Needs no data and no network.",
    )
    demo.add_argument("--out", default="rcm-demo", help="output folder (default %(default)s)")
    demo.add_argument(
        "--size",
        type=positive_int,
        default=4096,
        help="mosaic edge in pixels (default %(default)s)",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    demo.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> None:
    folder = Path(args.out)
    mosaic_path, store_path = folder / "mosaic.tif", folder / "mosaic.zarr"

    started = time.perf_counter()
    _step(1, f"synthesising a {args.size} x {args.size} RCM mosaic -> {mosaic_path}")
    spec = make_spec(args.size, args.size, seed=args.seed)
    written = write_synthetic(spec, mosaic_path, overwrite=True, progress=args.progress)
    print(f"   {len(spec.lesions)} lesions; mask {written['mask']}, boxes {written['boxes']}")

    _step(2, f"converting to OME-Zarr -> {store_path}")
    mosaic = open_mosaic(mosaic_path)
    write_ome_zarr(
        mosaic.data,
        store_path,
        um_per_px=mosaic.info.um_per_px,
        name="mosaic",
        attributes={"source": {"checksum": mosaic.info.checksum}},
        overwrite=True,
        progress=args.progress,
    )

    _step(3, "describing the store")
    info = open_mosaic(store_path).info
    levels = ", ".join(f"{shape[1]}x{shape[0]}" for shape in info.level_shapes)
    print(f"   {info.format}, {info.dtype}, levels {levels}, {info.um_per_px} um/px")
    print(
        f"done in {time.perf_counter() - started:.1f} s; open {store_path} in napari "
        "(napari-ome-zarr) or any NGFF viewer"
    )


def _step(number: int, text: str) -> None:
    print(f"[{number}/3] {text}", flush=True)
