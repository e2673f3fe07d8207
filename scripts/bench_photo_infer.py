"""Benchmark `rcm infer` over a photo set against the bare loop (decode, fit, forward).

`rcm infer FOLDER --weights photo.safetensors` runs end to end (list the
folder, decode and hash every photo in reader threads, fit, forward, write
predictions.csv, summary.json and the gallery of 48 photos); the bare side
decodes the same photos with Pillow, fits them with `rcm.data.fit_photo` and
runs the same network in a plain loop at the same batch size (normalised inputs,
softmax and copy to host included). The two sides alternate, each run `--repeats`
times; medians are reported and their ratio (goal: at most 1.15).

The photos are synthetic JPEGs of about 640 x 480 (smooth colour fields, blobs
and noise), written once under ``bench-data/photos-N``.

Usage: python scripts/bench_photo_infer.py [--photos 2000] [--arch efficientnet_b0]
       [--input-px 384] [--batch-size 32] [--device cpu] [--repeats 2] [--no-record]
       (``--photos 64`` checks it quickly)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import ROOT, markdown_table, record
from PIL import Image

CATEGORIES = tuple(f"category_{number:02d}" for number in range(13))
GOAL = 1.15


def ensure_photos(count: int, folder: Path | None = None) -> Path:
    """`count` seeded synthetic JPEGs of about 640 x 480, written on first use."""
    folder = folder or ROOT / "bench-data" / f"photos-{count}"
    if len(list(folder.glob("*.jpg"))) == count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    print(f"writing {count} photos to {folder} ...", flush=True)
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:480, 0:640]
    for number in range(count):
        height, width = 480 - int(rng.integers(0, 48)), 640 - int(rng.integers(0, 64))
        base = (
            rng.integers(60, 200, 3)[None, None, :]
            + 40 * np.sin(xx / rng.uniform(40, 120))[..., None]
        )
        cy, cx, radius = rng.uniform(100, 380), rng.uniform(100, 540), rng.uniform(20, 90)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))[..., None]
        pixels = base * (1 - 0.6 * blob) + rng.normal(0, 12, (480, 640, 3))
        photo = np.clip(pixels[:height, :width], 0, 255).astype(np.uint8)
        Image.fromarray(photo).save(folder / f"photo{number:05d}.jpg", quality=90)
    return folder


def write_model(path: Path, arch: str, input_px: int) -> Path:
    import torch

    from rcm.models import ModelMeta, build_network, save_model

    meta = ModelMeta(
        architecture=arch,
        classes=CATEGORIES,
        positive=CATEGORIES[:3],
        in_chans=3,
        tile_px=input_px,
        mean=(0.485, 0.456, 0.406),
        std=(0.229, 0.224, 0.225),
        task="photo-classifier",
        settings={"fit": "centre", "labels": "single"},
    )
    torch.manual_seed(0)
    return save_model(path, build_network(meta), meta, overwrite=True)


def run_infer(folder: Path, weights: Path, out: Path, device: str, batch: int) -> float:
    from rcm.cli.main import main

    start = time.perf_counter()
    flags = ["--overwrite", "--no-progress", "--no-resume", "--device", device]
    code = main(
        [
            "infer",
            str(folder),
            "--weights",
            str(weights),
            "--out",
            str(out),
            *flags,
            "--batch-size",
            str(batch),
        ]
    )
    assert code == 0, code
    return time.perf_counter() - start


def run_bare(folder: Path, weights: Path, device: str, batch: int) -> float:
    """Decode, fit and forward in a plain loop: what a script without rcm would do."""
    import torch

    from rcm.data import fit_photo
    from rcm.models import load_model

    start = time.perf_counter()
    model = load_model(weights, device=device)
    meta, module = model.meta, model.module
    cuda = device.startswith("cuda")
    if cuda:
        module = module.to(memory_format=torch.channels_last)
    mean = torch.tensor(meta.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(meta.std, device=device).view(1, 3, 1, 1)
    paths = sorted(folder.glob("*.jpg"))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)
    with torch.inference_mode(), autocast:
        for first in range(0, len(paths), batch):
            fitted = []
            for path in paths[first : first + batch]:
                with Image.open(path) as image:
                    rgb = np.asarray(image.convert("RGB"))
                fitted.append(fit_photo(rgb, meta.tile_px, "centre"))
            x = torch.from_numpy(np.stack(fitted)).to(device).permute(0, 3, 1, 2).float() / 255
            x = (x - mean) / std
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            torch.softmax(module(x).float(), 1).cpu()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--arch", default="efficientnet_b0")
    parser.add_argument("--input-px", type=int, default=384)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-record", dest="record", action="store_false")
    args = parser.parse_args()

    folder = ensure_photos(args.photos)
    with tempfile.TemporaryDirectory() as work:
        weights = write_model(Path(work) / "photo.safetensors", args.arch, args.input_px)
        run_bare(folder, weights, args.device, args.batch_size)  # warm-up: caches, kernels
        infer, bare = [], []
        for _ in range(args.repeats):  # alternating, so drift hits both sides alike
            infer.append(
                run_infer(folder, weights, Path(work) / "out", args.device, args.batch_size)
            )
            bare.append(run_bare(folder, weights, args.device, args.batch_size))
    infer_s, bare_s = statistics.median(infer), statistics.median(bare)
    ratio = infer_s / bare_s
    table = markdown_table(
        [
            "photos",
            "model",
            "input px",
            "device",
            "batch",
            "rcm infer s",
            "bare loop s",
            "infer / bare",
            "photos/s",
            "goal",
            "met",
        ],
        [
            [
                str(args.photos),
                args.arch,
                str(args.input_px),
                args.device,
                str(args.batch_size),
                f"{infer_s:.1f}",
                f"{bare_s:.1f}",
                f"{ratio:.3f}",
                f"{args.photos / infer_s:.1f}",
                f"<= {GOAL}",
                "yes" if ratio <= GOAL else "no",
            ]
        ],
    )
    runs = ", ".join(f"{a:.1f}/{b:.1f}" for a, b in zip(infer, bare, strict=True))
    notes = (
        f"Synthetic JPEGs of about 640 x 480, random-init weights, {len(CATEGORIES)} categories, "
        f"centre fit; median of {args.repeats} alternating runs after one warm-up of the bare "
        "loop. rcm infer: the whole command (model load, listing, threaded decoding with "
        "content hashes, per-batch shards, predictions.csv, summary.json, a gallery of 48); "
        "bare loop: model load, Pillow decode, fit_photo, normalise, forward, softmax to host. "
        f"Runs (rcm infer / bare, s): {runs}; "
        f"load average at the end {os.getloadavg()[0]:.1f}."
    )
    print(table)
    print(notes)
    if args.record:
        record("Photo inference (`rcm infer FOLDER` with a photo classifier)", table, notes)


if __name__ == "__main__":
    main()
