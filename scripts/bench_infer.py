"""Benchmark `rcm infer` (tile classification) against the bare model forward pass.

In one fresh process per configuration: `rcm infer` runs end to end on a
synthetic mosaic (open, tissue, read and decode tiles, classify, stitch, write
every output), then the same network runs a bare forward pass over the same
number of tissue tiles, in the same batches, on tensors already in memory.
Reported: both wall times, their ratio, tiles/s and the process's peak RSS.
A second table compares peak RSS across mosaic sizes with a tiny network,
where memory, not compute, is what is measured.

Usage: python scripts/bench_infer.py [--size 12000] [--arch efficientnet_b0]
       [--rss-sizes 12000 30000] [--device cpu] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ensure_mosaic, markdown_table, record

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import torch
from rcm.cli.main import main
from rcm.models import ModelMeta, build_network, save_model

mosaic, arch, tile, device, batch, workdir, measure_bare = sys.argv[1:8]
tile, batch = int(tile), int(batch)
meta = ModelMeta(architecture=arch, classes=("benign", "suspicious"), positive=("suspicious",),
                 tile_px=tile, um_per_px=0.5)
torch.manual_seed(0)
module = build_network(meta)
weights = save_model(Path(workdir) / "model.safetensors", module, meta, overwrite=True)
out = Path(workdir) / "out"
start = time.perf_counter()
assert main(["infer", mosaic, "--weights", str(weights), "--out", str(out), "--overwrite",
             "--no-progress", "--device", device, "--batch-size", str(batch)]) == 0
end_to_end = time.perf_counter() - start
tiles = json.loads((out / "summary.json").read_text())["tiles"]["classified"]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
bare = None
if measure_bare == "1":
    module = module.eval().to(device)
    x = torch.zeros(batch, 1, tile, tile, device=device)
    if device.startswith("cuda"):
        module = module.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    with torch.inference_mode(), autocast:
        module(x[:2])  # warm-up, as rcm infer's first batch pays for it too
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        done = 0
        while done < tiles:
            part = min(batch, tiles - done)
            torch.softmax(module(x[:part]).float(), 1).cpu()
            done += part
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        bare = time.perf_counter() - start
print(json.dumps({"end_to_end": end_to_end, "bare": bare, "tiles": tiles, "peak_rss": peak}))
"""


def run(
    mosaic: Path, arch: str, tile: int, device: str, batch: int, bare: bool = True
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as workdir:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _CHILD,
                str(mosaic),
                arch,
                str(tile),
                device,
                str(batch),
                workdir,
                "1" if bare else "0",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=12000)
    parser.add_argument("--arch", nargs="*", default=["efficientnet_b0"])
    parser.add_argument("--tile", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rss-sizes", type=int, nargs="*", default=[12000, 30000])
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()

    rows = []
    for arch in args.arch:
        figures = run(ensure_mosaic(args.size), arch, args.tile, args.device, args.batch_size)
        rows.append(
            [
                f"{args.size} x {args.size}",
                arch,
                args.device,
                str(int(figures["tiles"])),
                f"{figures['end_to_end']:.1f}",
                f"{figures['bare']:.1f}",
                f"{figures['end_to_end'] / figures['bare']:.3f}",
                f"{figures['tiles'] / figures['end_to_end']:.1f}",
                f"{figures['peak_rss'] / 2**20:.0f}",
            ]
        )
    table = (
        markdown_table(
            [
                "mosaic",
                "model",
                "device",
                "tissue tiles",
                "rcm infer s",
                "bare forward s",
                "infer / forward",
                "tiles/s",
                "peak RSS MiB",
            ],
            rows,
        )
        if rows
        else ""
    )
    rss_rows, peaks = [], []
    for size in args.rss_sizes:
        figures = run(
            ensure_mosaic(size),
            "test_efficientnet",
            args.tile,
            args.device,
            args.batch_size,
            bare=False,
        )
        peaks.append(figures["peak_rss"])
        rss_rows.append(
            [
                f"{size} x {size}",
                str(int(figures["tiles"])),
                f"{figures['end_to_end']:.1f}",
                f"{figures['peak_rss'] / 2**20:.0f}",
            ]
        )
    if rss_rows:
        table += "\n\nPeak RSS against mosaic size (tiny network `test_efficientnet`):\n\n"
        table += markdown_table(["mosaic", "tissue tiles", "rcm infer s", "peak RSS MiB"], rss_rows)
    notes = (
        f"Random-init weights, {args.tile} px tiles at 0.5 um/px, batch {args.batch_size}; "
        "bare forward: the same tile count through the same network, tensors already in "
        "memory, softmax and copy to host included."
    )
    if len(peaks) > 1:
        notes += (
            f" Peak RSS {args.rss_sizes[-1]} vs {args.rss_sizes[0]}: {peaks[-1] / peaks[0]:.2f}x."
        )
    print(table)
    print(notes)
    if args.record:
        record("Tile classification (`rcm infer`)", table, notes)


if __name__ == "__main__":
    main()
