"""``rcm demo [mosaic]``: the whole mosaic loop on a fresh machine, from nothing to a report.

It synthesises a small RCM cohort with known lesions, splits it by patient,
trains a small tile classifier on the CPU, runs it on the held-out mosaics and
evaluates them, printing each step as the ``rcm`` command a user would type, so
the demo doubles as a worked example. Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import yaml

from rcm.cli._demo_steps import add_demo_flags, check_demo_folder, number, show, step, timed
from rcm.cli._options import positive_int
from rcm.cli._split_commands import format_summary
from rcm.errors import InputError

MODEL_NAME = "rcm-demo"
MIN_PATIENTS = 8
# A small CNN on 64 px tiles at 1 um/px (128 mosaic pixels at the cohort's 0.5 um/px):
# enough to see the synthetic lesions, small enough to train in minutes on two cores.
DEMO_TRAINING: dict[str, Any] = {
    "task": "classifier",
    # Tiles are labelled as `rcm evaluate` scores them: lesion from 50% lesion pixels up,
    # benign below (no ambiguous band), so the held-out tile AUROC measures what was taught.
    "data": {
        "manifest": "cohort/manifest.csv",
        "split": "cohort/split.csv",
        "positive_at": 0.5,
        "negative_below": 0.5,
    },
    "model": {"architecture": "resnet10t", "tile_px": 64, "um_per_px": 1.0},
    "optim": {"epochs": 5, "batch_size": 64, "lr": 0.003, "warmup_epochs": 0.5, "patience": 3},
    "runtime": {"device": "auto", "workers": 1, "seed": 0},
}


def register(commands: Any) -> None:
    from rcm.cli import _demo_photos

    parser = commands.add_parser(
        "demo",
        help="run a built-in example end to end: synthesise, split, train, infer, evaluate",
        description="On a fresh machine, with no data and no weights: the whole workflow for "
        "RCM mosaics (rcm demo mosaic, or just rcm demo) or for clinical photographs "
        "(rcm demo photos), each step shown as the rcm command a user would type.",
    )
    targets = parser.add_subparsers(dest="demo_target", metavar="TARGET", required=True)
    _register_mosaic(targets)
    _demo_photos.register(targets)


def _register_mosaic(targets: Any) -> None:
    demo = targets.add_parser(
        "mosaic",
        help="RCM mosaics: a tile classifier (the default target)",
        description="On a fresh machine, with no data and no weights: synthesise a small RCM "
        "cohort with known lesions, split it by patient, train a small tile classifier on the "
        "CPU, run it on the held-out mosaics and evaluate them (metrics.json and report.html). "
        f"The model is added to the model store as {MODEL_NAME!r}. About 5 minutes on 2 cores.",
    )
    demo.add_argument("--out", default="rcm-demo", help="output folder (default %(default)s)")
    demo.add_argument(
        "--patients", type=positive_int, default=24, help="synthetic patients (default %(default)s)"
    )
    demo.add_argument(
        "--size",
        type=positive_int,
        default=1536,
        help="mosaic edge in pixels (default %(default)s)",
    )
    demo.add_argument(
        "--epochs", type=positive_int, default=5, help="training epochs (default %(default)s)"
    )
    add_demo_flags(demo)
    demo.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> None:
    folder = Path(args.out)
    if args.patients < MIN_PATIENTS:
        raise InputError(
            None,
            f"the demo needs at least {MIN_PATIENTS} patients, so that validation and test "
            "each get patients with and without lesions",
        )
    check_demo_folder(folder, args.overwrite)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with timed(timings, "synthesise_s"):
        manifest = _synthesise(folder / "cohort", args)
    with timed(timings, "split_s"):
        _split(manifest, folder / "cohort" / "split.csv", args.seed)
    with timed(timings, "train_s"):
        _train(folder, manifest.parent / "split.csv", args)
    with timed(timings, "infer_s"):
        held_out = _held_out(manifest.parent / "split.csv", manifest, folder / "test-manifest.csv")
        _infer(held_out, folder / "outputs")
    with timed(timings, "evaluate_s"):
        evaluation = _evaluate(folder)
    timings["total_s"] = time.perf_counter() - started
    _print_results(folder, evaluation, timings)


def _step(number: int, text: str, argv: list[str] | None = None) -> None:
    step(number, 5, text, argv)


def _synthesise(cohort: Path, args: argparse.Namespace) -> Path:
    from rcm.data import write_synthetic_cohort

    _step(1, f"synthesising {args.patients} patients x 2 mosaics of {args.size} px -> {cohort}")
    return write_synthetic_cohort(
        cohort,
        patients=args.patients,
        size=args.size,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=args.progress,
    )


def _split(manifest: Path, out: Path, seed: int) -> None:
    from rcm.pipeline.split import SplitOptions, split_table

    argv = ["data", "split", str(manifest), "--out", str(out), "--stratify-column", "label"]
    argv += ["--fractions", "0.6", "0.2", "0.2", "--seed", str(seed), "--overwrite"]
    _step(2, "splitting by patient (no patient in two splits)", argv)
    fractions = (("train", 0.6), ("validation", 0.2), ("test", 0.2))
    options = SplitOptions(fractions=fractions, seed=seed, stratify_column="label")
    outcome = split_table(manifest, out, options, overwrite=True)
    print(format_summary(outcome.split.summary()))


def _train(folder: Path, split: Path, args: argparse.Namespace) -> None:
    from rcm.train import describe, load_config, train

    config_path = folder / "train.yaml"
    settings = json.loads(json.dumps(DEMO_TRAINING))
    settings["optim"]["epochs"] = args.epochs
    settings["runtime"]["seed"] = args.seed
    config_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    out = folder / "training"
    argv = ["train", "classifier", "--config", str(config_path), "--out", str(out)]
    argv += ["--name", MODEL_NAME, "--replace", "--overwrite"]
    architecture = settings["model"]["architecture"]
    _step(3, f"training a {architecture} tile classifier on the CPU", argv)
    config = load_config(config_path, [], task="classifier")
    result, _ = train(
        config, out, name=MODEL_NAME, replace=True, overwrite=True, progress=args.progress
    )
    print(json.dumps(describe(result), indent=2))


def _infer(held_out: list[tuple[str, Path]], outputs: Path) -> None:
    from rcm.cli._infer_commands import describe
    from rcm.infer import ClassifyOptions
    from rcm.io import open_mosaic
    from rcm.pipeline.infer import infer_mosaic, load_for_run, stored_model

    _step(4, f"running the model on the {len(held_out)} held-out test mosaics")
    reference = stored_model(MODEL_NAME)
    options = ClassifyOptions()
    model = load_for_run(reference.path, options.device)
    for mosaic_id, path in held_out:
        output = outputs / f"{mosaic_id}.rcm"
        show(["infer", str(path), "--model", MODEL_NAME, "--out", str(output), "--overwrite"])
        outcome = infer_mosaic(
            open_mosaic(path), model, output, options=options, model_name=MODEL_NAME, overwrite=True
        )
        print(f"{path}: {describe(outcome.result, options)}")


def _evaluate(folder: Path) -> Path:
    from rcm.pipeline.evaluate import evaluate_outputs

    evaluation, truth = folder / "evaluation", folder / "test-manifest.csv"
    argv = ["evaluate", str(folder / "outputs"), "--truth", str(truth)]
    argv += ["--out", str(evaluation), "--overwrite"]
    _step(5, "evaluating the held-out mosaics against their labels and lesion masks", argv)
    from rcm.cli._evaluate_commands import print_problems

    result = evaluate_outputs(folder / "outputs", truth, evaluation, overwrite=True)
    print_problems(result.problems)
    return evaluation


def _held_out(split: Path, manifest: Path, target: Path) -> list[tuple[str, Path]]:
    """The test split's rows of the manifest, written as the evaluation manifest."""
    with split.open(newline="") as handle:
        test = {row["item_id"] for row in csv.DictReader(handle) if row["split"] == "test"}
    with manifest.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["mosaic_id"] in test]
    base = manifest.parent
    for row in rows:  # paths relative to the new manifest's folder
        for column in ("mosaic", "mask", "coco"):
            row[column] = str((base / row[column]).resolve())
    with target.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return [(row["mosaic_id"], Path(row["mosaic"])) for row in rows]


def _print_results(folder: Path, evaluation: Path, timings: dict[str, float]) -> None:
    from rcm.models import read_meta
    from rcm.outputs import EvaluationDocument

    document = EvaluationDocument.read(evaluation / "metrics.json")
    trained = read_meta(folder / "training" / "model.safetensors").provenance
    tiles = document.tile_auroc
    results = {
        "validation_tile_auroc": trained["validation"]["auroc"],
        "best_epoch": trained["epoch"],
        "held_out_mosaics": document.counts.mosaics,
        "mosaic_auroc": document.auroc.estimate if document.auroc else None,
        "tile_auroc": tiles.estimate if tiles else None,
        "tile_auroc_interval": [tiles.low, tiles.high] if tiles else [None, None],
        "tiles": (document.metrics.get("tile_level") or {}).get("tiles"),
        "timings": {key: round(value, 1) for key, value in timings.items()},
    }
    (folder / "demo.json").write_text(json.dumps(results, indent=2))
    print(
        f"\nvalidation tile AUROC {number(results['validation_tile_auroc'])} "
        f"(best epoch {results['best_epoch']})"
    )
    print(f"held-out test set: {results['held_out_mosaics']} mosaics, {results['tiles']} tiles")
    print(f"   mosaic AUROC {number(results['mosaic_auroc'])}")
    low, high = results["tile_auroc_interval"]
    print(
        f"   tile AUROC   {number(results['tile_auroc'])} "
        f"(95% CI {number(low)}-{number(high)}, by patient)"
    )
    print(f"done in {timings['total_s']:.0f} s; open {evaluation / 'report.html'} in a browser")
