"""``rcm synth``."""

from __future__ import annotations

import argparse
from typing import Any

from rcm.cli._options import add_common, positive_float, positive_int
from rcm.data import LESION_CLASSES, make_spec, write_synthetic
from rcm.errors import InputError


def register(commands: Any) -> None:
    synth = commands.add_parser(
        "synth",
        help="generate a synthetic RCM mosaic with lesion ground truth",
        description="Generate a seeded synthetic RCM mosaic (honeycomb epidermis, dark margins "
        "and holes, camera-block seams, lesions of several classes) as a tiled BigTIFF or "
        "OME-Zarr, with its lesion class mask (OUTPUT.lesions.zarr) and boxes "
        "(OUTPUT.lesions.json, COCO).",
    )
    synth.add_argument("output", help="mosaic to write: *.tif/*.tiff or *.zarr")
    synth.add_argument(
        "--size",
        type=positive_int,
        default=4096,
        help="edge of a square mosaic in pixels (default %(default)s)",
    )
    synth.add_argument("--height", type=positive_int, help="rows, overriding --size")
    synth.add_argument("--width", type=positive_int, help="columns, overriding --size")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default %(default)s)")
    synth.add_argument(
        "--lesions", type=int, default=3, help="number of lesions to place (default %(default)s)"
    )
    synth.add_argument(
        "--classes",
        type=int,
        nargs="+",
        default=list(LESION_CLASSES),
        choices=list(LESION_CLASSES),
        help="lesion classes to draw from: "
        + ", ".join(f"{k}={v}" for k, v in LESION_CLASSES.items()),
    )
    synth.add_argument(
        "--um-per-px",
        type=positive_float,
        default=0.5,
        help="pixel size in microns (default %(default)s)",
    )
    synth.add_argument(
        "--compression",
        choices=["none", "zlib", "zstd", "lzw", "jpeg"],
        default="zlib",
        help="TIFF tile codec (default %(default)s)",
    )
    add_common(synth)
    synth.set_defaults(run=run_synth)


def run_synth(args: argparse.Namespace) -> None:
    if args.lesions < 0:
        raise InputError(None, f"--lesions must be >= 0, got {args.lesions}")
    spec = make_spec(
        args.height or args.size,
        args.width or args.size,
        seed=args.seed,
        lesions=args.lesions,
        categories=tuple(args.classes),
        um_per_px=args.um_per_px,
    )
    written = write_synthetic(
        spec,
        args.output,
        tiff_compression=args.compression,
        overwrite=args.overwrite,
        progress=args.progress,
        workers=args.workers,
    )
    print(
        f"wrote {written['mosaic']} ({spec.width} x {spec.height} px, {len(spec.lesions)} lesions)"
    )
    print(f"wrote {written['mask']} (lesion classes) and {written['boxes']} (COCO boxes)")
