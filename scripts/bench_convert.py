"""Benchmark `rcm convert` on synthetic tiled TIFFs against reading the TIFF with tifffile.

For each size, a seeded synthetic mosaic (zlib-compressed tiled BigTIFF) is made
once, then each measurement runs in a fresh process, alternating the two:
  - baseline: ``tifffile.imread`` of the whole file into memory;
  - convert:  ``rcm convert`` to OME-Zarr (checksum, pyramid, compression, atomic rename).
Reported: median wall time, their ratio, and peak RSS of each process.

Usage: python scripts/bench_convert.py [--sizes 12000 30000] [--repeat 3] [--no-record]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from _bench import ROOT, ensure_mosaic, markdown_table, median_of, record, run_child

from rcm.io import ZarrWriteOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12000, 30000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compressor", default=ZarrWriteOptions().compressor)
    parser.add_argument("--data", type=Path, default=ROOT / "bench-data")
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()
    args.data.mkdir(exist_ok=True)

    rows, peaks = [], {}
    for size in args.sizes:
        source = ensure_mosaic(size, args.data)
        target = args.data / f"synth-{size}.zarr"
        baseline, convert = [], []
        for _ in range(args.repeat):
            baseline.append(run_child("import tifffile", f"tifffile.imread({str(source)!r})"))
            convert.append(
                run_child(
                    "from rcm.cli.main import main",
                    f"assert main(['convert', {str(source)!r}, {str(target)!r}, '--overwrite', "
                    f"'--no-progress', '--compressor', {args.compressor!r}]) == 0",
                )
            )
        shutil.rmtree(target, ignore_errors=True)
        read_s, convert_s = median_of(baseline, "seconds"), median_of(convert, "seconds")
        peaks[size] = median_of(convert, "peak_rss")
        rows.append(
            [
                f"{size} x {size}",
                f"{source.stat().st_size / 2**20:.0f}",
                f"{read_s:.2f}",
                f"{convert_s:.2f}",
                f"{convert_s / read_s:.2f}",
                f"{median_of(baseline, 'peak_rss') / 2**20:.0f}",
                f"{peaks[size] / 2**20:.0f}",
            ]
        )
    header = [
        "mosaic",
        "TIFF MiB",
        "tifffile.imread s",
        "rcm convert s",
        "convert / read",
        "imread peak RSS MiB",
        "convert peak RSS MiB",
    ]
    table = markdown_table(header, rows)
    notes = [
        f"Compressor {args.compressor}; median of {args.repeat} fresh processes each; "
        "source: synthetic mosaic, zlib-compressed 512 px tiles."
    ]
    if len(peaks) > 1:
        sizes = sorted(peaks)
        notes.append(
            f"Peak RSS {sizes[-1]} vs {sizes[0]}: {peaks[sizes[-1]] / peaks[sizes[0]]:.2f}x."
        )
    print(table)
    print("\n".join(notes))
    if args.record:
        record("Conversion to OME-Zarr (`rcm convert`)", table, "\n".join(notes))


if __name__ == "__main__":
    main()
