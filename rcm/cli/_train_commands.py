"""``rcm train classifier|detector|segmenter|photo-classifier|photo-detector --config C.yaml``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from rcm.models import PHOTO_TASKS, TASKS


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train a model on labelled mosaics or clinical photographs",
        description="Train a model from a patient-level split and either a training manifest "
        "(mosaics: classifier, detector, segmenter) or an annotated photo set (data.coco or "
        "data.voc: photo-classifier; `detector` with a photo config trains a photo detector). "
        "See configs/. Writes the model file, checkpoints, log.csv and curves.png into --out; "
        "with --name the model goes into the model store, ready for `rcm infer --model NAME`. "
        "Under torchrun, one process per GPU (DistributedDataParallel).",
    )
    parser.add_argument(
        "task",
        choices=TASKS,
        help="what to train: a tile classifier, detector or segmenter of mosaics, or a "
        "photo-classifier / photo-detector of clinical photographs",
    )
    parser.add_argument("--config", required=True, help="training config (YAML)")
    parser.add_argument("--out", required=True, help="training folder")
    parser.add_argument("--name", help="add the trained model to the model store under NAME")
    parser.add_argument(
        "--replace", action="store_true", help="replace a stored model of that name"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue from the last checkpoint in --out"
    )
    parser.add_argument("--overwrite", action="store_true", help="start again in a non-empty --out")
    parser.add_argument("--init", help="local pretrained weights to start from (e.g. ImageNet)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )
    parser.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> None:
    from rcm.train import describe, load_config, train

    paths = {"model.init": args.init} if args.init else None
    config = load_config(args.config, args.overrides, paths=paths, task=args.task)
    result, entry = train(
        config,
        args.out,
        name=args.name,
        replace=args.replace,
        resume=args.resume,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    print(json.dumps(describe(result), indent=2))
    if entry is not None:
        inputs = "PHOTO|FOLDER|coco.json" if config.task in PHOTO_TASKS else "MOSAIC"
        print(f"stored as {entry.name!r}: rcm infer {inputs} --model {entry.name}")
