"""Benchmark `rcm train classifier`: training throughput and the data-loading share of step time.

A synthetic cohort (bench-data/train-cohort, generated on first use) is split by
patient; each architecture trains for one epoch of a fixed number of tiles in a
fresh process through `rcm.train.train` (tiles read lazily from the mosaics by
DataLoader workers, augmented and normalised on the device). The same number of
steps is then run on tiles already in memory ("bare": no reading at all).
Reported: tiles/s of both, their ratio, and the share of the training pass
spent waiting for data (goal on GPU: under 10%).

Usage: python scripts/bench_train.py [--arch efficientnet_b0] [--device cpu]
       [--tiles 512] [--batch 32] [--workers 2] [--no-record]
       GPU: --device cuda --arch swin efficientnet_b0 --tiles 8192 --batch 128 --workers 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ROOT, markdown_table, record

COHORT = ROOT / "bench-data" / "train-cohort"

_CHILD = r"""
import json, sys, time
from pathlib import Path
import torch
from rcm.train import load_config, train
from rcm.train._augment import augment_tiles
from rcm.models._inputs import normalise

config_path, out = sys.argv[1:3]
config = load_config(config_path)
result, _ = train(config, out, progress=False)
row = result.state.history[-1]

# Bare: the same steps on tiles already on the device.
from rcm.models import ModelMeta, build_classifier
from rcm.train._distributed import pick_training_device
device = pick_training_device(config.runtime.device)
torch.manual_seed(0)
task_model = build_classifier(
    config.model.architecture, num_classes=2, in_chans=1, tile_px=config.model.tile_px).to(device)
if device.type == "cuda":
    task_model = task_model.to(memory_format=torch.channels_last)
optimizer = torch.optim.AdamW(task_model.parameters(), lr=1e-4)
batch = config.optim.batch_size
tiles = torch.rand(batch, 1, config.model.tile_px, config.model.tile_px, device=device)
labels = torch.randint(0, 2, (batch,), device=device)
meta = ModelMeta(config.model.architecture, ("benign", "lesion"), ("lesion",),
                 mean=config.model.mean, std=config.model.std)
generator = torch.Generator().manual_seed(0)
steps = max(1, config.optim.examples_per_epoch // batch)
precision = torch.bfloat16 if device.type == "cuda" else None
def step():
    x = normalise(augment_tiles(tiles, config.augment, generator), meta)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    autocast = precision is not None
    with torch.autocast(device.type, dtype=precision or torch.float32, enabled=autocast):
        loss = torch.nn.functional.cross_entropy(task_model(x).float(), labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
step()
if device.type == "cuda":
    torch.cuda.synchronize()
start = time.perf_counter()
for _ in range(steps):
    step()
if device.type == "cuda":
    torch.cuda.synchronize()
bare = steps * batch / (time.perf_counter() - start)
print(json.dumps({"tiles_per_s": row["examples_per_s"], "data_wait_share": row["data_wait_share"],
                  "bare_tiles_per_s": bare, "train_seconds": row["train_seconds"]}))
"""


def ensure_cohort() -> tuple[Path, Path]:
    """Twelve 2048 px mosaics of six patients and a train/validation/test split."""
    manifest, split = COHORT / "manifest.csv", COHORT / "split.csv"
    if not split.exists():
        print(f"generating {COHORT} ...", flush=True)
        sys.path.insert(0, str(ROOT))
        from rcm.data._synthetic_cohort import write_synthetic_cohort

        write_synthetic_cohort(COHORT, patients=6, mosaics_per_patient=2, size=2048, seed=5)
        command = ["rcm", "data", "split", str(manifest), "--out", str(split)]
        command += ["--stratify-column", "label", "--fractions", "0.5", "0.25", "0.25"]
        subprocess.run([sys.executable, "-m", *command], check=True)
    return manifest, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["efficientnet_b0"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tiles", type=int, default=512, help="tiles in the timed epoch")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    manifest, split = ensure_cohort()
    rows = []
    for arch in args.arch:
        with tempfile.TemporaryDirectory() as workdir:
            config = {
                "task": "classifier",
                "data": {"manifest": str(manifest), "split": str(split)},
                "model": {"architecture": arch, "tile_px": 224, "um_per_px": 0.5},
                "optim": {"epochs": 1, "batch_size": args.batch, "examples_per_epoch": args.tiles},
                "runtime": {"device": args.device, "workers": args.workers, "deterministic": False},
            }
            path = Path(workdir) / "config.json"
            path.write_text(json.dumps(config))
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, str(path), str(Path(workdir) / "run")],
                check=True,
                capture_output=True,
                text=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(
            [
                arch,
                args.device,
                str(args.batch),
                str(args.workers),
                f"{result['tiles_per_s']:.1f}",
                f"{result['bare_tiles_per_s']:.1f}",
                f"{result['tiles_per_s'] / result['bare_tiles_per_s']:.3f}",
                f"{100 * result['data_wait_share']:.1f}%",
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "model",
        "device",
        "batch",
        "workers",
        "rcm train tiles/s",
        "bare tiles/s",
        "ratio",
        "waiting for data",
    ]
    table = markdown_table(header, rows)
    print(table)
    if not args.no_record:
        record(
            "Training throughput (`rcm train classifier`)",
            table,
            f"224 px tiles read lazily from {len(list(COHORT.glob('*.zarr'))) // 2} synthetic "
            f"2048 px OME-Zarr mosaics, one epoch of {args.tiles} tiles (balanced sampler, "
            "augmentation on the device), validation excluded; bare = the same steps on tiles "
            "already in memory; ratio = rcm train tiles/s / bare tiles/s (1 = no cost for reading "
            "tiles from the mosaics). Goal on GPU: waiting for data < 10% of the training pass.",
        )


if __name__ == "__main__":
    main()
