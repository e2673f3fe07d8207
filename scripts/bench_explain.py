"""Benchmark the cost of `rcm infer --explain` against plain `rcm infer` on the same mosaic.

Two fresh processes run `rcm infer` end to end on a synthetic mosaic with the
same random-init classifier: once plain, once with ``--explain`` and a cut
chosen (from the plain run's tiles.csv) so that a given share of the classified
tiles is explained, faithfulness test included. Reported: both wall times,
their ratio, tiles explained and peak RSS.

Usage: python scripts/bench_explain.py [--size 12000] [--arch efficientnet_b0]
       [--share 0.1] [--device cpu] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile

from _bench import ROOT, ensure_mosaic, markdown_table, record

_CHILD = r"""
import csv, json, resource, sys, time
from pathlib import Path
import numpy as np
import torch
from rcm.cli.main import main
from rcm.models import ModelMeta, build_network, save_model

mosaic, arch, device, workdir, share, explain = sys.argv[1:7]
meta = ModelMeta(architecture=arch, classes=("benign", "suspicious"), positive=("suspicious",),
                 tile_px=224, um_per_px=0.5)
torch.manual_seed(0)
weights = save_model(Path(workdir) / "model.safetensors", build_network(meta), meta, overwrite=True)
out = Path(workdir) / "out"
command = ["infer", mosaic, "--weights", str(weights), "--out", str(out), "--overwrite",
           "--no-progress", "--device", device]
cut = None
if explain == "1":
    with (Path(workdir) / "scores.json").open() as handle:
        scores = np.array(json.load(handle))
    cut = float(np.quantile(scores, 1 - float(share)))
    command += ["--explain", "--cut", repr(cut)]
start = time.perf_counter()
assert main(command) == 0
seconds = time.perf_counter() - start
with (out / "tiles.csv").open() as handle:
    scores = [float(r["p_suspicious"]) for r in csv.DictReader(handle) if r["p_suspicious"]]
if explain == "0":
    (Path(workdir) / "scores.json").write_text(json.dumps(scores))
explained = 0
if explain == "1":
    explained = json.loads((out / "explanation" / "summary.json").read_text())["tiles_explained"]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "tiles": len(scores), "explained": explained,
                  "peak_rss": peak}))
"""


def child(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=12000)
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--share", type=float, default=0.1, help="share of tiles explained")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()

    mosaic = str(ensure_mosaic(args.size))
    with tempfile.TemporaryDirectory(dir=ROOT / "bench-data") as workdir:
        plain = child(mosaic, args.arch, args.device, workdir, str(args.share), "0")
        explained = child(mosaic, args.arch, args.device, workdir, str(args.share), "1")
    ratio = explained["seconds"] / plain["seconds"]
    row = [
        f"{args.size} x {args.size}",
        args.arch,
        args.device,
        str(int(plain["tiles"])),
        str(int(explained["explained"])),
        f"{plain['seconds']:.1f}",
        f"{explained['seconds']:.1f}",
        f"{ratio:.3f}",
        f"{plain['peak_rss'] / 2**20:.0f} / {explained['peak_rss'] / 2**20:.0f}",
    ]
    header = ["mosaic", "model", "device", "tiles classified", "tiles explained"]
    header += ["rcm infer s", "rcm infer --explain s", "ratio", "peak RSS MiB (plain / explain)"]
    table = markdown_table(header, [row])
    notes = (
        f"Random-init weights; Grad-CAM with the faithfulness test (top 10% explained vs "
        f"random pixels blocked: two more forward passes per explained tile); cut set at the "
        f"{100 * (1 - args.share):.0f}th percentile of the plain run's tile scores. Goal: "
        "ratio under 1.5 when 10% of tiles are explained."
    )
    print(table)
    print(notes)
    if args.record:
        record("Explanations (`rcm infer --explain`)", table, notes)


if __name__ == "__main__":
    main()
