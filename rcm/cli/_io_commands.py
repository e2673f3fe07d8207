"""``rcm convert`` and ``rcm info``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rcm.cli._options import add_common, positive_float, positive_int
from rcm.errors import bad_input
from rcm.io import ZarrWriteOptions, check_output, open_mosaic
from rcm.pipeline.convert import convert_mosaic


def register(commands: Any) -> None:
    convert = commands.add_parser(
        "convert",
        help="convert a mosaic to OME-Zarr (NGFF 0.5, multiscale)",
        description="Convert any supported mosaic to a chunked, sharded, compressed OME-Zarr "
        "store with a 2x pyramid, streamed in bounded memory and written atomically.",
    )
    convert.add_argument("input", help="mosaic file (TIFF, OME-TIFF, SVS/NDPI/..., BMP, PNG, JPEG)")
    convert.add_argument("output", help="store to create, e.g. mosaic.zarr")
    add_pixel_options(convert)
    defaults = ZarrWriteOptions()
    convert.add_argument(
        "--chunk",
        type=positive_int,
        default=defaults.chunk,
        help="chunk edge in pixels, a power of two >= 64 (default %(default)s)",
    )
    convert.add_argument(
        "--shard",
        type=int,
        default=defaults.shard,
        help="shard edge in pixels, a power of two >= chunk; 0 for no shards (default %(default)s)",
    )
    convert.add_argument(
        "--compressor",
        choices=["zstd", "blosc-lz4", "blosc-zstd", "none"],
        default=defaults.compressor,
        help="chunk codec (default %(default)s)",
    )
    convert.add_argument(
        "--compression-level",
        type=positive_int,
        default=defaults.compression_level,
        help="codec level (default %(default)s)",
    )
    add_common(convert)
    convert.set_defaults(run=run_convert)

    info = commands.add_parser(
        "info",
        help="describe a mosaic or zarr store",
        description="Print shape, type, levels, pixel size and checksum of a mosaic.",
    )
    info.add_argument("path", help="mosaic file or OME-Zarr store")
    add_pixel_options(info)
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    info.set_defaults(run=run_info)


def add_pixel_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--um-per-px",
        type=positive_float,
        default=None,
        help="pixel size in microns, overriding the file's metadata",
    )
    parser.add_argument(
        "--max-pixels",
        type=positive_int,
        default=None,
        help="refuse images declaring more pixels than this "
        "(default 4.3e9; 2.7e8 for PNG/JPEG, which are decoded whole)",
    )
    add_missing_chunks_option(parser)


def add_missing_chunks_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-missing-chunks``, for every command that opens a mosaic."""
    parser.add_argument(
        "--allow-missing-chunks",
        action="store_true",
        help="read chunks missing from a foreign zarr store as its fill value "
        "(default: refuse the store)",
    )


def pixel_options(args: argparse.Namespace) -> dict[str, Any]:
    """`open_mosaic`'s keyword arguments from the flags of `add_pixel_options`."""
    return {
        "um_per_px": args.um_per_px,
        "max_pixels": args.max_pixels,
        "allow_missing_chunks": args.allow_missing_chunks,
    }


def run_convert(args: argparse.Namespace) -> None:
    with bad_input():  # chunk and shard edges
        options = ZarrWriteOptions(
            chunk=args.chunk,
            shard=args.shard,
            compressor=args.compressor,
            compression_level=args.compression_level,
            workers=args.workers,
        )
    check_output(args.output, overwrite=args.overwrite)
    mosaic = open_mosaic(args.input, **pixel_options(args))
    for note in mosaic.info.notes:
        print(f"rcm: warning: {args.input}: {note}", file=sys.stderr)
    convert_mosaic(
        mosaic, args.output, options=options, overwrite=args.overwrite, progress=args.progress
    )
    print(f"wrote {args.output}")


def run_info(args: argparse.Namespace) -> None:
    info = open_mosaic(args.path, **pixel_options(args)).info
    if args.json:
        print(json.dumps(info.to_dict(), indent=2))
        return
    height, width = info.shape[:2]
    pixel = (
        f"{info.um_per_px:g} um/px (from {info.um_per_px_source})" if info.um_per_px else "unknown"
    )
    lines = [
        f"path:       {info.path}",
        f"format:     {info.format}",
        f"size:       {width} x {height} px, {info.channels} channel(s), {info.dtype}",
        f"levels:     {len(info.level_shapes)} ("
        + ", ".join(f"{s[1]}x{s[0]}" for s in info.level_shapes)
        + ")",
        f"pixel size: {pixel}",
    ]
    if info.um_per_px:
        lines.append(
            f"extent:     {width * info.um_per_px / 1000:.2f} x "
            f"{height * info.um_per_px / 1000:.2f} mm"
        )
    lines.append(f"checksum:   {info.checksum}")
    lines += [f"note:       {note}" for note in info.notes]
    print("\n".join(lines))
