"""Peak memory and time of `rcm` on hostile inputs, each run in a fresh, watched process.

Cases (files built in a temporary folder):
  - huge-strip: a 30000 x 30000 uint8 TIFF stored as ONE deflate strip (under 1 MB on
    disk, 900 MB decoded), through ``rcm convert`` and ``rcm infer``;
  - zarr-dev-zero: an OME-Zarr store one of whose chunks is a symlink to /dev/zero;
  - zarr-chunk-1x1: a 2048 x 2048 OME-Zarr store with a chunk grid of 1 x 1 pixels.
Every run is watched: killed when its resident memory passes ``--limit-mib`` or its
time ``--timeout``. Reported: exit code (or what stopped it), the first error line,
peak RSS and seconds. The table is printed and appended to BENCHMARKS.md.

With ``--against OTHER_CHECKOUT`` every run is made twice, this checkout then the
other (its ``rcm`` first on PYTHONPATH), alternating, so the two are measured alike.

Usage: python scripts/bench_hostile_inputs.py [--cases huge-strip ...] [--size 30000]
       [--limit-mib 6144] [--timeout 300] [--against DIR] [--no-append]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

from _bench import ROOT, markdown_table, record

_PAGE = os.sysconf("SC_PAGE_SIZE")
_QUIET = ["--no-progress", "--um-per-px", "0.5"]


def huge_strip_tiff(path: Path, size: int) -> Path:
    """A little-endian TIFF of `size` x `size` uint8 pixels in one deflate strip.

    Written by hand, streaming the compressor, so building it needs no decoded copy.
    """
    compressor, parts, row = zlib.compressobj(9), [], bytes(size)
    for y in range(size):
        parts.append(compressor.compress(row if y % 512 else bytes([y % 251]) * size))
    parts.append(compressor.flush())
    strip = b"".join(parts)
    ifd_offset = 8 + len(strip) + len(strip) % 2
    entries = [  # (tag, type, value): SHORT = 3, LONG = 4
        (256, 4, size),  # ImageWidth
        (257, 4, size),  # ImageLength
        (258, 3, 8),  # BitsPerSample
        (259, 3, 8),  # Compression: deflate
        (262, 3, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 8),  # StripOffsets
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, size),  # RowsPerStrip: the whole image
        (279, 4, len(strip)),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack("<HHI", tag, kind, 1)
        ifd += struct.pack("<HH", value, 0) if kind == 3 else struct.pack("<I", value)
    ifd += struct.pack("<I", 0)
    padding = b"\0" * (ifd_offset - 8 - len(strip))
    path.write_bytes(b"II*\0" + struct.pack("<I", ifd_offset) + strip + padding + ifd)
    return path


def _zarr_v2(path: Path, size: int, chunk: int, write: bool) -> Path:
    """An NGFF 0.4 store on zarr v2; chunks written only when `write` is set."""
    import numpy as np
    import zarr

    group = zarr.open_group(path, mode="w", zarr_format=2)
    array = group.create_array("0", shape=(size, size), chunks=(chunk, chunk), dtype="uint8")
    if write:
        array[:] = (np.arange(size * size) % 251).astype("uint8").reshape(size, size)
    axes = [{"name": name, "type": "space", "unit": "micrometer"} for name in "yx"]
    scale = [{"type": "scale", "scale": [0.5, 0.5]}]
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": axes,
            "datasets": [{"path": "0", "coordinateTransformations": scale}],
        }
    ]
    return path


def zarr_dev_zero(path: Path) -> Path:
    store = _zarr_v2(path, 256, 64, write=True)
    chunk = store / "0" / "1.1"
    chunk.unlink()
    chunk.symlink_to("/dev/zero")
    return store


def zarr_chunk_1x1(path: Path) -> Path:
    return _zarr_v2(path, 2048, 1, write=False)


_MODEL = """
import sys
from pathlib import Path
import torch
from rcm.models import ModelMeta, build_network, save_model
meta = ModelMeta(architecture="test_efficientnet", classes=("benign", "suspicious"),
                 positive=("suspicious",), tile_px=224, um_per_px=0.5)
torch.manual_seed(0)
save_model(Path(sys.argv[1]), build_network(meta), meta, overwrite=True)
"""


def watched(argv: list[str], limit_mib: int, timeout: float, code: Path) -> dict[str, object]:
    """Run ``rcm ARGV`` of checkout `code` in a child; kill it past the memory or time limit."""
    command = [sys.executable, "-m", "rcm.cli.main", *argv]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(code), os.environ.get("PYTHONPATH", "")]),
    }
    start = time.perf_counter()
    child = subprocess.Popen(  # cwd too: ``-m`` puts it first on sys.path
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=code
    )
    stopped, peak_seen = "", 0
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        peak_seen = max(peak_seen, _rss(child.pid))
        if not stopped and peak_seen > limit_mib << 20:
            stopped = f"killed over {limit_mib} MiB"
        elif not stopped and time.perf_counter() - start > timeout:
            stopped = f"killed after {timeout:.0f} s"
        if stopped:
            child.kill()
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    lines = child.stderr.read().decode(errors="replace").splitlines() if child.stderr else []
    errors = [line for line in lines if line.startswith(("rcm: error", "rcm: internal"))]
    peak = max(peak_seen, usage.ru_maxrss * 1024)
    return {
        "exit": stopped or str(child.returncode),
        "message": errors[0] if errors else "",
        "peak_mib": peak / 2**20,
        "seconds": seconds,
    }


def _clear_outputs(argv: list[str]) -> None:
    """Remove what a run wrote (the convert target, the --out folder) before the next one."""
    targets = [argv[2]] if argv[0] == "convert" else [argv[argv.index("--out") + 1]]
    for target in map(Path, targets):
        shutil.rmtree(target, ignore_errors=True)


def _describe(checkout: Path) -> str:
    head = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return head.stdout.strip() if head.returncode == 0 else str(checkout)


def _rss(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cases(folder: Path, size: int) -> dict[str, Callable[[], list[tuple[str, list[str]]]]]:
    """Each case: build its input, return the (label, rcm argv) runs to measure."""

    def strip() -> list[tuple[str, list[str]]]:
        source = str(huge_strip_tiff(folder / "strip.tif", size))
        model = folder / "model.safetensors"
        subprocess.run([sys.executable, "-c", _MODEL, str(model)], check=True)
        return [
            ("convert", ["convert", source, str(folder / "strip.zarr"), *_QUIET]),
            (
                "infer",
                ["infer", source, "--weights", str(model), "--out", str(folder / "out"), *_QUIET],
            ),
        ]

    def dev_zero() -> list[tuple[str, list[str]]]:
        source = str(zarr_dev_zero(folder / "devzero.zarr"))
        return [("convert", ["convert", source, str(folder / "devzero.out.zarr"), "--no-progress"])]

    def grid() -> list[tuple[str, list[str]]]:
        source = str(zarr_chunk_1x1(folder / "grid.zarr"))
        return [("convert", ["convert", source, str(folder / "grid.out.zarr"), "--no-progress"])]

    return {"huge-strip": strip, "zarr-dev-zero": dev_zero, "zarr-chunk-1x1": grid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", nargs="+", default=["huge-strip", "zarr-dev-zero", "zarr-chunk-1x1"]
    )
    parser.add_argument("--size", type=int, default=30000, help="edge of the huge-strip TIFF")
    parser.add_argument("--limit-mib", type=int, default=6144)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--against", type=Path, help="another checkout, run alternately")
    parser.add_argument("--no-append", dest="append", action="store_false")
    args = parser.parse_args()
    checkouts = [("this", ROOT)] + ([("other", args.against.resolve())] if args.against else [])

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        builders = cases(Path(workdir), args.size)
        for name in args.cases:
            for label, argv in builders[name]():
                for side, code in checkouts:
                    if side == "other":  # outputs of the first side must not block the second
                        _clear_outputs(argv)
                    result = watched(argv, args.limit_mib, args.timeout, code)
                    print(
                        json.dumps({"case": name, "command": label, "code": side, **result}),
                        flush=True,
                    )
                    rows.append(
                        [
                            name,
                            f"rcm {label}",
                            side,
                            str(result["exit"]),
                            f"{result['peak_mib']:.0f}",
                            f"{result['seconds']:.1f}",
                            str(result["message"]).replace(workdir, "TMP").replace("|", "/"),
                        ]
                    )
    table = markdown_table(
        ["case", "command", "code", "exit", "peak RSS MiB", "seconds", "first stderr line"],
        rows,
    )
    notes = (
        f"huge-strip: {args.size} x {args.size} uint8, one deflate strip. Runs are killed past "
        f"{args.limit_mib} MiB resident or {args.timeout:.0f} s. Code: this = {_describe(ROOT)}"
        + (f", other = {_describe(args.against)}" if args.against else "")
        + "."
    )
    print(table)
    print(notes)
    if args.append:
        record("Hostile inputs (`rcm convert`, `rcm infer`)", table, notes)


if __name__ == "__main__":
    main()
