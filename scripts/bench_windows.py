"""Benchmark sliding-window detectors and segmenters (`rcm infer`) against the bare forward.

Per configuration, in fresh processes: `rcm infer` runs end to end on a
synthetic mosaic (open, tissue, read windows, run, blend into zarr, merge
objects, write every output); then a second process reads the very windows that
run used (windows.csv), keeps them in memory, and times only the network on
them, in the same batches (the detector's own post-processing included).
Reported: both wall times, their ratio, windows/s and peak RSS. A second table
compares peak RSS across mosaic sizes with a tiny segmenter, where memory, not
compute, is what is measured.

Usage: python scripts/bench_windows.py [--size 12000] [--crop 2048] [--device cpu]
       [--rss-sizes 4096 30000] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ROOT, ensure_mosaic, markdown_table, record

_RUN = r"""
import json, resource, sys, time
from pathlib import Path
import torch
from rcm.cli.main import main
from rcm.models import ModelMeta, build_network, save_model

mosaic, arch, task, setting, window, device, batch, workdir = sys.argv[1:9]
classes = ("background", "lesion") if task == "segmenter" else ("lesion", "other")
key, value = setting.split("=")
meta = ModelMeta(architecture=arch, task=task, classes=classes, positive=("lesion",),
                 tile_px=int(window), um_per_px=0.5, settings={key: value})
torch.manual_seed(0)
weights = save_model(Path(workdir) / "model.safetensors", build_network(meta), meta, overwrite=True)
start = time.perf_counter()
assert main(["infer", mosaic, "--weights", str(weights), "--out", str(Path(workdir) / "out"),
             "--no-progress", "--device", device, "--batch-size", batch]) == 0
seconds = time.perf_counter() - start
summary = json.loads((Path(workdir) / "out" / "summary.json").read_text())
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "windows": summary["windows"]["run"], "peak_rss": peak,
                  "instances": summary["instances"]["count"]}))
"""

_BARE = r"""
import csv, json, sys, time
from pathlib import Path
import numpy as np
import torch
from rcm.infer import pick_device, prepare
from rcm.io import open_mosaic
from rcm.models import family_of, load_model

mosaic, device, batch, workdir = sys.argv[1:5]
device, batch = pick_device(device), int(batch)
model = load_model(Path(workdir) / "model.safetensors", device=device)
family = family_of(model.meta)
if family.configure is not None:
    family.configure(model.module, 0.05, 100)
with (Path(workdir) / "out" / "windows.csv").open() as handle:
    boxes = [[int(r[k]) for k in ("y0", "x0", "y1", "x1")] for r in csv.DictReader(handle)
             if r["run"] == "1"]
source = open_mosaic(mosaic)
pixels = np.stack([source.read_region(*box) for box in boxes])
batches = [prepare(pixels[i : i + batch], model, device, pixels.shape[1])
           for i in range(0, len(pixels), batch)]
forward = family.segment or family.detect
with torch.inference_mode():
    forward(model.module, batches[0][:1])  # warm-up, as rcm infer's first batch pays for it
    start = time.perf_counter()
    for inputs in batches:
        out = forward(model.module, inputs)
        if isinstance(out, torch.Tensor):
            out.cpu()
    if device.type == "cuda":
        torch.cuda.synchronize()
print(json.dumps({"seconds": time.perf_counter() - start, "windows": len(boxes)}))
"""


def child(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def crop_of(mosaic: Path, edge: int) -> Path:
    """A centred `edge` x `edge` crop of a benchmark mosaic, written once."""
    import tifffile

    from rcm.io import open_mosaic

    path = mosaic.with_name(f"{mosaic.stem}-crop{edge}.tif")
    if not path.exists():
        source = open_mosaic(mosaic)
        top, left = (source.info.height - edge) // 2, (source.info.width - edge) // 2
        region = source.read_region(top, left, top + edge, left + edge)
        tifffile.imwrite(path, region, tile=(512, 512), compression="zlib")
    return path


def measure(
    mosaic: Path, arch: str, task: str, setting: str, window: int, device: str, batch: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=ROOT / "bench-data") as workdir:
        params = [str(mosaic), arch, task, setting, str(window), device, str(batch), workdir]
        figures = child(_RUN, *params)
        bare = child(_BARE, str(mosaic), device, str(batch), workdir)
    return {**figures, "bare": bare["seconds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=12000)
    parser.add_argument("--crop", type=int, default=1536, help="crop edge for maskrcnn")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--fpn-encoder", default="resnet18")
    parser.add_argument("--rss-sizes", type=int, nargs="*", default=[4096])
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()

    mosaic = ensure_mosaic(args.size)
    tiny = "encoder=tu-mobilenetv3_small_050"
    runs = [
        ("fpn", "segmenter", tiny, mosaic, 8),
        ("fpn", "segmenter", f"encoder={args.fpn_encoder}", ensure_mosaic(4096), 8),
        ("maskrcnn", "detector", "backbone=resnet50", crop_of(mosaic, args.crop), 2),
    ]
    rows, tiny_peaks = [], {}
    for arch, task, setting, path, batch in runs:
        figures = measure(path, arch, task, setting, args.window, args.device, batch)
        print(arch, figures, flush=True)
        if setting == tiny:
            tiny_peaks[path.name] = figures
        rows.append(
            [
                path.name,
                f"{arch} ({setting})",
                args.device,
                str(int(figures["windows"])),
                str(int(figures["instances"])),
                f"{figures['seconds']:.1f}",
                f"{figures['bare']:.1f}",
                f"{figures['seconds'] / figures['bare']:.3f}",
                f"{figures['windows'] / figures['seconds']:.2f}",
                f"{figures['peak_rss'] / 2**20:.0f}",
            ]
        )
    header = ["mosaic", "model", "device", "windows", "objects", "rcm infer s", "bare forward s"]
    header += ["infer / forward", "windows/s", "peak RSS MiB"]
    table = markdown_table(header, rows)
    for size in args.rss_sizes:
        path = ensure_mosaic(size)
        if path.name not in tiny_peaks:
            with tempfile.TemporaryDirectory(dir=ROOT / "bench-data") as workdir:
                params = [str(path), "fpn", "segmenter", tiny, str(args.window)]
                tiny_peaks[path.name] = child(_RUN, *params, args.device, "8", workdir)
            print(size, tiny_peaks[path.name], flush=True)
    ordered = sorted(tiny_peaks.items(), key=lambda item: item[1]["windows"])
    rss_rows = [
        [name, str(int(f["windows"])), f"{f['seconds']:.1f}", f"{f['peak_rss'] / 2**20:.0f}"]
        for name, f in ordered
    ]
    table += f"\n\nPeak RSS against mosaic size (fpn, {tiny}):\n\n"
    table += markdown_table(["mosaic", "windows run", "rcm infer s", "peak RSS MiB"], rss_rows)
    ratio = ordered[-1][1]["peak_rss"] / ordered[0][1]["peak_rss"]
    notes = (
        f"Random-init weights, {args.window} px windows at 0.5 um/px, overlap 0.25, cosine blend, "
        "default map scale (longer edge <= 4096). maskrcnn is torchvision's R50-FPN v2 on a "
        f"centred {args.crop} px crop (CPU cost); its random weights give up to 100 "
        "detections per window, so mask post-processing and merging carry a worst-case load. "
        "Bare forward: the same windows, already in memory, through the same network in the "
        "same batches."
    )
    notes += f" Peak RSS {ordered[-1][0]} vs {ordered[0][0]}: {ratio:.2f}x."
    print(table)
    print(notes)
    if args.record:
        record("Sliding-window detection and segmentation (`rcm infer`)", table, notes)


if __name__ == "__main__":
    main()
