"""``rcm synth mosaic|photos``; ``rcm synth OUT.tif`` (no target) means ``rcm synth mosaic``.

The target is inserted by `rcm.cli._targets.default_target`.
"""

from __future__ import annotations

import argparse
from typing import Any

from rcm.cli._options import add_common, positive_float, positive_int
from rcm.data import (
    LESION_CLASSES,
    PHOTO_CATEGORIES,
    make_spec,
    write_synthetic,
    write_synthetic_photos,
)
from rcm.errors import InputError


def register(commands: Any) -> None:
    synth = commands.add_parser(
        "synth",
        help="generate synthetic data with ground truth: RCM mosaics, clinical photographs",
        description="Generate seeded synthetic data with ground truth: an RCM mosaic "
        "(rcm synth mosaic OUT.tif, or just rcm synth OUT.tif) or a set of clinical "
        "photographs with lesion boxes and clinicians' reads (rcm synth photos OUT).",
    )
    targets = synth.add_subparsers(dest="synth_target", metavar="TARGET", required=True)
    _register_mosaic(targets)
    _register_photos(targets)


def _register_mosaic(targets: Any) -> None:
    synth = targets.add_parser(
        "mosaic",
        help="a synthetic RCM mosaic with lesion mask and boxes (the default target)",
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


def _register_photos(targets: Any) -> None:
    photos = targets.add_parser(
        "photos",
        help="synthetic clinical photographs with lesion boxes, a clinic table and reads",
        description="Generate seeded synthetic clinical photographs of skin (Fitzpatrick-like "
        "tones, lighting, hair, zoom, blur, noise, JPEG) with 0-3 lesions each of "
        f"{len(PHOTO_CATEGORIES)} categories, for patients with 1-6 photographs. Writes the "
        "folder OUT atomically: images/<patient>/<photo>.jpg, lesions.csv (one row per box, "
        "clinic-style columns), columns.yaml (for rcm data photos) and reads.csv (synthetic "
        "clinicians' calls). The same seed gives the same bytes. See docs/photos.md.",
    )
    photos.add_argument("output", help="folder to create")
    photos.add_argument(
        "--images", type=positive_int, default=1000, help="photographs (default %(default)s)"
    )
    photos.add_argument(
        "--seed", type=_seed, default=0, help="random seed, >= 0 (default %(default)s)"
    )
    photos.add_argument(
        "--size",
        type=_photo_size,
        default=(320, 240),
        metavar="WxH",
        help="landscape photo size; a quarter of the photos are portrait (default 320x240)",
    )
    photos.add_argument(
        "--masks",
        action="store_true",
        help="also write masks/<patient>/<photo>.png (lesion k of the photo's rows = k)",
    )
    add_common(photos)
    photos.set_defaults(run=run_synth_photos)


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _photo_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT in pixels (320x240), got {text}")
    return int(width), int(height)


def run_synth_photos(args: argparse.Namespace) -> None:
    written = write_synthetic_photos(
        args.output,
        images=args.images,
        seed=args.seed,
        size=args.size,
        masks=args.masks,
        overwrite=args.overwrite,
        workers=args.workers,
        progress=args.progress,
    )
    print(
        f"wrote {written.folder}: {written.images} photos of {written.patients} patients, "
        f"{written.boxes} lesion boxes ({written.lesion_free} photos without a lesion)"
    )
    print(
        f"  {written.lesions_csv.name}, {written.columns_yaml.name}, "
        f"{written.reads_csv.name} ({written.reads} reads)"
    )
