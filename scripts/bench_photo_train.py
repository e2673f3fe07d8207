"""Benchmark photo training (`rcm train photo-classifier`, or `--task photo-detector`).

Synthetic clinical photographs (bench-data/photo-train: 640 x 480 RGB JPEGs of
mottled skin with coloured lesion discs, their boxes in a COCO file, a patient
split; generated on first use) are trained on for one epoch of a fixed number
of photos, each configuration in a fresh process through `rcm.train.train`
(photos decoded by DataLoader workers: `read_photo`, then `fit_photo` for the
classifier; augmented and normalised on the device). For the classifier, the
same steps are then run on photos already on the device ("bare": no decoding).
Reported: photos/s, bare photos/s and the share of the training pass spent
waiting for the DataLoader (goal on GPU: under 10%).

Usage: python scripts/bench_photo_train.py [--arch efficientnet_b0] [--device cpu]
       [--photos 64] [--batch 16] [--workers 2] [--input-px 384] [--no-record]
       python scripts/bench_photo_train.py --task photo-detector [--arch fasterrcnn]
       GPU: --device cuda --photos 2048 --batch 64 --workers 8
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _bench import ROOT, markdown_table, record
from PIL import Image

PHOTOS = ROOT / "bench-data" / "photo-train"
CATEGORIES = ("melanoma", "naevus", "angioma")
COLOURS = {"melanoma": (45, 30, 25), "naevus": (150, 95, 60), "angioma": (190, 40, 70)}
PATIENTS, PER_PATIENT, VALIDATION_PATIENTS = 24, 4, 2

_CHILD = r"""
import json, sys, time
import torch
from rcm.models import ModelMeta, build_classifier, normalise
from rcm.train import load_config, train
from rcm.train._augment import augment_photos
from rcm.train._distributed import pick_training_device

config_path, out = sys.argv[1:3]
config = load_config(config_path)
result, _ = train(config, out, progress=False)
row = result.state.history[-1]
bare = None
if config.task == "photo-classifier":  # the same steps on photos already on the device
    device = pick_training_device(config.runtime.device)
    size, batch = config.photo.input_px, config.optim.batch_size
    torch.manual_seed(0)
    model = build_classifier(config.model.architecture, num_classes=3, in_chans=3,
                             tile_px=size).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    photos = torch.rand(batch, 3, size, size, device=device)
    targets = (torch.rand(batch, 3, device=device) < 0.4).float()
    meta = ModelMeta(config.model.architecture, ("a", "b", "c"), ("a",), in_chans=3,
                     mean=config.model.mean, std=config.model.std, task="photo-classifier")
    generator = torch.Generator().manual_seed(0)
    precision = torch.bfloat16 if device.type == "cuda" else None
    def step():
        x = normalise(augment_photos(photos, config.augment, config.photo, generator), meta)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=precision or torch.float32,
                            enabled=precision is not None):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(x).float(), targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    step()
    steps = max(1, config.optim.examples_per_epoch // batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    bare = steps * batch / (time.perf_counter() - start)
print(json.dumps({"photos_per_s": row["examples_per_s"], "data_wait_share": row["data_wait_share"],
                  "bare_photos_per_s": bare, "train_seconds": row["train_seconds"]}))
"""


def ensure_photos() -> tuple[Path, Path]:
    """96 synthetic 640 x 480 photos of 24 patients, their COCO file and a split."""
    coco, split = PHOTOS / "images" / "annotations.coco.json", PHOTOS / "split.csv"
    if split.exists():
        return coco, split
    print(f"generating {PHOTOS} ...", flush=True)
    sys.path.insert(0, str(ROOT))
    from rcm.data import PhotoDataset, PhotoRecord, Split, write_coco, write_split

    rng = np.random.default_rng(11)
    records, part_of = [], {}
    for patient in range(PATIENTS):
        for shot in range(PER_PATIENT):
            name = f"P{patient:03d}/IMG_{shot:04d}.jpg"
            image, boxes = _photo(rng)
            path = PHOTOS / "images" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, quality=90)
            records.append(PhotoRecord(name, 640, 480, 3, f"P{patient:03d}", None, None, boxes))
            part_of[name] = "validation" if patient < VALIDATION_PATIENTS else "train"
    write_coco(PhotoDataset(CATEGORIES, tuple(records)), coco)
    patients = {r.image: r.patient_id for r in records}
    first = {r.image: (r.boxes[0].category if r.boxes else "none") for r in records}
    write_split(Split(assignment=part_of, patient_of=patients, category_of=first), split)
    return coco, split


def _photo(rng: np.random.Generator) -> tuple[Image.Image, list[Any]]:
    """Mottled skin (smooth colour noise) with 0-3 lesion discs; their boxes."""
    from rcm.data import PhotoBox

    height, width = 480, 640
    coarse = np.uint8(np.clip(rng.normal(128, 14, (12, 16, 3)), 0, 255))
    mottle = np.asarray(Image.fromarray(coarse).resize((width, height)), dtype=float) - 128
    pixels = np.array([222, 170, 138]) + mottle + rng.normal(0, 4, (height, width, 3))
    yy, xx = np.mgrid[:height, :width]
    boxes = []
    for name in CATEGORIES:
        if rng.random() >= 0.4:
            continue
        radius = int(rng.integers(30, 80))
        cx = int(rng.integers(radius, width - radius))
        cy = int(rng.integers(radius, height - radius))
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        pixels[disc] = np.array(COLOURS[name]) + rng.normal(0, 10, (int(disc.sum()), 3))
        side = float(2 * radius + 1)
        boxes.append(PhotoBox(name, float(cx - radius), float(cy - radius), side, side))
    return Image.fromarray(np.uint8(np.clip(pixels, 0, 255))), boxes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--task", choices=["photo-classifier", "photo-detector"], default="photo-classifier"
    )
    parser.add_argument("--arch", nargs="+", help="default efficientnet_b0 / fasterrcnn")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--photos", type=int, default=64, help="photos in the timed epoch")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input-px", type=int, default=384, help="classifier input edge")
    parser.add_argument("--min-size", type=int, default=480, help="detector's shorter side")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    detector = args.task == "photo-detector"
    if detector and importlib.util.find_spec("rcm.train._photo_detector") is None:
        sys.exit("photo-detector training is not available in this rcm (rcm.train._photo_detector)")
    archs = args.arch or (["fasterrcnn"] if detector else ["efficientnet_b0"])
    coco, split = ensure_photos()
    rows = []
    for arch in archs:
        result = _run(args, arch, coco, split)
        bare = result["bare_photos_per_s"]
        rows.append(
            [
                args.task,
                arch,
                str(args.min_size if detector else args.input_px),
                args.device,
                str(args.batch),
                str(args.workers),
                f"{result['photos_per_s']:.1f}",
                "-" if bare is None else f"{bare:.1f}",
                f"{100 * result['data_wait_share']:.1f}%",
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "task",
        "model",
        "input px",
        "device",
        "batch",
        "workers",
        "rcm train photos/s",
        "bare photos/s",
        "waiting for data",
    ]
    table = markdown_table(header, rows)
    print(table)
    if not args.no_record:
        record(
            f"Photo training throughput (`rcm train {args.task}`)",
            table,
            f"{PATIENTS * PER_PATIENT} synthetic 640 x 480 JPEG photos (COCO boxes), one epoch "
            f"of {args.photos} photos decoded by DataLoader workers (read_photo"
            f"{'' if detector else ' + fit_photo'}), augmented and normalised on the device; "
            "validation excluded. Bare = the same steps on random photos already on the device "
            "(classifier only). Waiting for data = time blocked on the DataLoader / training "
            "pass. Goal on GPU: waiting for data < 10% of the training pass.",
        )


def _run(args: argparse.Namespace, arch: str, coco: Path, split: Path) -> dict[str, Any]:
    """One epoch in a fresh process; the child's figures."""
    with tempfile.TemporaryDirectory() as workdir:
        config = {
            "task": args.task,
            "data": {"coco": str(coco), "split": str(split)},
            "model": {"architecture": arch},
            "photo": {
                "input_px": args.input_px,
                "min_size": args.min_size,
                "max_size": max(args.min_size, 1333 * args.min_size // 800),
            },
            "optim": {"epochs": 1, "batch_size": args.batch, "examples_per_epoch": args.photos},
            "runtime": {"device": args.device, "workers": args.workers, "deterministic": False},
        }
        path = Path(workdir) / "config.json"
        path.write_text(json.dumps(config))
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path), str(Path(workdir) / "run")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            sys.exit(f"{arch}: training failed\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
