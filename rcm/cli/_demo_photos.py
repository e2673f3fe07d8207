"""``rcm demo photos``: the clinical photograph workflow on a fresh machine, start to finish.

It synthesises a photo set with known lesion boxes and clinicians' reads,
converts the clinic table to COCO, splits it by patient, trains a small photo
classifier (and photo detector) on the CPU, runs them on the held-out test
photos and evaluates them against the truth and the synthetic clinicians,
printing each step as the ``rcm`` command a user would type. Nothing is
downloaded.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from rcm.cli._demo_steps import add_demo_flags, check_demo_folder, number, show, step, timed
from rcm.cli._options import positive_int
from rcm.errors import InputError

if TYPE_CHECKING:
    from rcm.data import PhotoDataset, Split
    from rcm.outputs import PhotoEvaluationDocument
    from rcm.train import TrainResult

MIN_IMAGES = 40  # fewer leave validation or test without photos of most categories
TEST_PART = "test"


@dataclass(frozen=True)
class DemoModel:
    """One model the demo trains, runs and evaluates.

    Attributes:
        key: Its folder under ``training/``, ``outputs/`` and ``evaluation/``.
        command: The ``rcm train`` task word.
        name: Its name in the model store.
        training: The training config (paths relative to the demo folder).
        monitor: The validation metric training keeps the best epoch by.
        what: The step's words for it.

    """

    key: str
    command: str
    name: str
    training: dict[str, Any]
    monitor: str
    what: str


def _classifier() -> DemoModel:
    # Whole photographs letterboxed to a small square: the synthetic lesions are
    # colour and shape more than fine texture, and every photo keeps all its lesions.
    training = {
        "task": "photo-classifier",
        "data": {"coco": "coco/annotations.coco.json", "split": "coco/split.csv"},
        "model": {"architecture": "resnet10t"},
        "photo": {"input_px": 128, "fit": "letterbox", "labels": "multi"},
        "optim": {
            "epochs": 8,
            "batch_size": 32,
            "lr": 0.003,
            "weight_decay": 0.01,
            "warmup_epochs": 0.5,
            "balance": "sampler",
            "patience": 10,
        },
        "runtime": {"device": "auto", "workers": 0, "seed": 0},
    }
    return DemoModel(
        "classifier",
        "photo-classifier",
        "rcm-demo-photo-classifier",
        training,
        "macro_auroc",
        "a resnet10t photo classifier (a probability per category)",
    )


def _detector() -> DemoModel:
    # A plain ResNet-18 FPN below the photographs' own size (the synthetic photos are
    # small, their lesions large: the usual 800 px would cost without helping), and a
    # few hundred photos per epoch: it finds most lesions after about a thousand.
    training = {
        "task": "detector",
        "data": {"coco": "coco/annotations.coco.json", "split": "coco/split.csv"},
        "model": {
            "architecture": "fasterrcnn",
            "settings": {"backbone": "resnet18", "rois_per_image": 128},
        },
        "photo": {"min_size": 192, "max_size": 256},
        "optim": {
            "epochs": 3,
            "examples_per_epoch": 250,
            "batch_size": 4,
            "lr": 0.001,
            "weight_decay": 0.01,
            "warmup_epochs": 0.5,
            "balance": "none",
            "patience": 10,
        },
        "runtime": {"device": "auto", "workers": 0, "seed": 0},
    }
    return DemoModel(
        "detector",
        "detector",
        "rcm-demo-photo-detector",
        training,
        "map",
        "a Faster R-CNN (ResNet-18 FPN) photo detector (a box round each lesion)",
    )


MODELS: tuple[DemoModel, ...] = (_classifier(), _detector())
STEPS = 5 + len(MODELS)  # synthesise, convert, split, train each model, infer, evaluate


@dataclass(frozen=True)
class ModelFigures:
    """What one model learned, on validation photos and on the held-out test photos.

    Attributes:
        name: The model's store name.
        task: Its task.
        validation_metric: The validation metric that chose the best epoch.
        validation: Its value at the best epoch.
        best_epoch: The epoch kept.
        macro_auroc: Held-out macro AUROC (categories with positives and negatives).
        macro_auroc_interval: Its 95% interval by patient bootstrap.
        map50: Held-out COCO AP at IoU 0.5 (detectors), else None.
        report: The evaluation's report.html.

    """

    name: str
    task: str
    validation_metric: str
    validation: float | None
    best_epoch: int
    macro_auroc: float | None
    macro_auroc_interval: tuple[float | None, float | None]
    map50: float | None
    report: str


@dataclass(frozen=True)
class PhotoDemoResults:
    """demo.json: the set, the held-out part, each model's figures, seconds per step."""

    images: int
    patients: int
    test_photos: int
    seed: int
    models: dict[str, ModelFigures]
    timings: dict[str, float]


def register(targets: Any) -> None:
    """Add ``rcm demo photos``."""
    names = ", ".join(repr(model.name) for model in MODELS)
    demo = targets.add_parser(
        "photos",
        help="the clinical photograph workflow: synthesise, convert, split, train, infer, "
        "evaluate with clinicians",
        description="On a fresh machine, with no data and no weights: synthesise clinical "
        "photographs with lesion boxes and clinicians' reads, convert the clinic table to COCO, "
        "split it by patient, train a small photo classifier and a small photo detector on the "
        "CPU, run them on the held-out test photos and evaluate them against the truth and the "
        "clinicians "
        f"(metrics.json and report.html). The models are added to the model store as {names}. "
        "Tens of minutes on 2 busy cores; the detector is the slow part.",
    )
    demo.add_argument(
        "--out", default="rcm-demo-photos", help="output folder (default %(default)s)"
    )
    demo.add_argument(
        "--images",
        type=positive_int,
        default=1000,
        help=f"synthetic photographs, at least {MIN_IMAGES} (default %(default)s)",
    )
    demo.add_argument(
        "--epochs", type=positive_int, help="training epochs of every model (default: each its own)"
    )
    demo.add_argument(
        "--input-px",
        type=positive_int,
        help="the classifier's input edge in pixels (default 128)",
    )
    add_demo_flags(demo)
    demo.set_defaults(run=run_photo_demo)


def run_photo_demo(args: argparse.Namespace) -> None:
    folder = Path(args.out)
    if args.images < MIN_IMAGES:
        raise InputError(
            None,
            f"the photo demo needs at least {MIN_IMAGES} photographs (--images), so that "
            "validation and test each get photos of most categories",
        )
    if args.seed < 0:
        raise InputError(None, f"--seed must be >= 0, got {args.seed}")
    check_demo_folder(folder, args.overwrite)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with timed(timings, "synthesise_s"):
        photos = _synthesise(folder / "photos", args)
    with timed(timings, "convert_s"):
        dataset = _convert(photos, folder / "coco")
    with timed(timings, "split_s"):
        split = _split(folder / "coco", args.seed)
    trained = {}
    for offset, model in enumerate(MODELS):
        with timed(timings, f"train_{model.key}_s"):
            trained[model.key] = _train(folder, model, args, 4 + offset)
    test = _test_part(dataset, split, folder / "coco" / "test.coco.json")
    number_infer = 4 + len(MODELS)
    with timed(timings, "infer_s"):
        _infer(folder, test, number_infer)
    with timed(timings, "evaluate_s"):
        documents = _evaluate(folder, photos.reads_csv, number_infer + 1)
    timings["total_s"] = time.perf_counter() - started
    results = PhotoDemoResults(
        images=len(dataset.images),
        patients=len(dataset.patients),
        test_photos=len(test.images),
        seed=args.seed,
        models={m.key: _figures(folder, m, trained[m.key], documents[m.key]) for m in MODELS},
        timings={key: round(value, 1) for key, value in timings.items()},
    )
    (folder / "demo.json").write_text(json.dumps(asdict(results), indent=2) + "\n")
    _print_results(folder, results)


def _synthesise(out: Path, args: argparse.Namespace) -> Any:
    from rcm.data import write_synthetic_photos

    argv = ["synth", "photos", str(out), "--images", str(args.images), "--seed", str(args.seed)]
    step(1, STEPS, f"synthesising {args.images} clinical photographs with lesion boxes", argv)
    written = write_synthetic_photos(
        out, images=args.images, seed=args.seed, overwrite=args.overwrite, progress=args.progress
    )
    print(
        f"{written.images} photos of {written.patients} patients, {written.boxes} lesion boxes; "
        f"{written.reads} reads by synthetic clinicians in {written.reads_csv.name}"
    )
    return written


def _convert(photos: Any, out: Path) -> PhotoDataset:
    from rcm.cli._photo_commands import print_conversion
    from rcm.pipeline.convert_photos import PhotoConversionOptions, convert_photo_table

    argv = ["data", "photos", str(photos.lesions_csv), "--columns", str(photos.columns_yaml)]
    argv += ["--out", str(out), "--format", "coco", "--overwrite"]
    step(2, STEPS, "converting the clinic's table to COCO", argv)
    options = PhotoConversionOptions(formats=("coco",))
    result = convert_photo_table(
        photos.lesions_csv, photos.columns_yaml, out, options, overwrite=True
    )
    print_conversion(photos.lesions_csv, result.dataset, result.problems)
    return result.dataset


def _split(coco: Path, seed: int) -> Split:
    from rcm.cli._split_commands import format_summary
    from rcm.pipeline.split import SplitOptions, split_photos

    annotations, out = coco / "annotations.coco.json", coco / "split.csv"
    argv = ["data", "split", str(annotations), "--out", str(out), "--seed", str(seed)]
    step(3, STEPS, "splitting by patient (no patient in two parts)", [*argv, "--overwrite"])
    outcome = split_photos(annotations, out, SplitOptions(seed=seed), overwrite=True)
    print(format_summary(outcome.split.summary()))
    return outcome.split


def _train(folder: Path, model: DemoModel, args: argparse.Namespace, number: int) -> TrainResult:
    from rcm.train import describe, load_config, train

    settings = json.loads(json.dumps(model.training))
    settings["runtime"]["seed"] = args.seed
    if args.epochs is not None:
        settings["optim"]["epochs"] = args.epochs
    if settings["optim"].get("examples_per_epoch"):  # a smaller demo draws fewer photos
        drawn = min(settings["optim"]["examples_per_epoch"], max(1, args.images // 4))
        settings["optim"]["examples_per_epoch"] = drawn
    if args.input_px is not None and model.command == "photo-classifier":
        settings["photo"]["input_px"] = args.input_px
    config_path = folder / f"train-{model.key}.yaml"
    config_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    out = folder / "training" / model.key
    argv = ["train", model.command, "--config", str(config_path), "--out", str(out)]
    step(number, STEPS, f"training {model.what} on the CPU", [*argv, "--name", model.name])
    config = load_config(config_path, [], task=model.command)
    result, _ = train(
        config, out, name=model.name, replace=True, overwrite=True, progress=args.progress
    )
    print(json.dumps(describe(result), indent=2))
    return result


def _test_part(dataset: PhotoDataset, split: Split, target: Path) -> PhotoDataset:
    """The split's test photos, written as a COCO file beside the whole set's."""
    from rcm.data import PhotoDataset, write_coco

    held_out = set(split.items(TEST_PART))
    test = PhotoDataset(dataset.categories, tuple(r for r in dataset.images if r.image in held_out))
    write_coco(test, target, overwrite=True)
    return test


def _infer(folder: Path, test: PhotoDataset, number: int) -> None:
    from rcm.cli._photo_infer import describe_photos
    from rcm.pipeline.infer import infer_photo_set, load_for_run, stored_model

    source = folder / "coco" / "test.coco.json"
    step(number, STEPS, f"running the models on the {len(test.images)} held-out test photos")
    print(f"   (the split's test part, written as {source})")
    for model in MODELS:
        output = folder / "outputs" / model.key
        show(["infer", str(source), "--model", model.name, "--out", str(output), "--overwrite"])
        reference = stored_model(model.name)
        loaded = load_for_run(reference.path, "auto")
        result = infer_photo_set(
            source, loaded, output, model_name=model.name, overwrite=True, resume=False
        )
        print(f"{source}: {describe_photos(result)}")


def _evaluate(folder: Path, reads: Path, number: int) -> dict[str, PhotoEvaluationDocument]:
    from rcm.cli._photo_evaluate import print_photo_problems
    from rcm.pipeline.evaluate_photos import evaluate_photo_outputs

    coco = folder / "coco"
    truth, split = coco / "annotations.coco.json", coco / "split.csv"
    step(number, STEPS, "evaluating the test photos against the truth and the clinicians")
    documents = {}
    for model in MODELS:
        output, out = folder / "outputs" / model.key, folder / "evaluation" / model.key
        argv = ["evaluate", str(output), "--truth", str(truth), "--split", str(split)]
        argv += ["--part", TEST_PART, "--readers", str(reads), "--out", str(out), "--overwrite"]
        show(argv)
        result = evaluate_photo_outputs(
            output, truth, out, readers=reads, split=split, part=TEST_PART, overwrite=True
        )
        print_photo_problems(result.problems)
        documents[model.key] = result.document
    return documents


def _figures(
    folder: Path, model: DemoModel, trained: TrainResult, document: PhotoEvaluationDocument
) -> ModelFigures:
    auroc = document.macro_auroc
    detection = document.metrics.get("detection") or {}
    return ModelFigures(
        name=model.name,
        task=document.task,
        validation_metric=model.monitor,
        validation=trained.state.best,
        best_epoch=trained.state.best_epoch or trained.state.epoch,
        macro_auroc=auroc.estimate if auroc else None,
        macro_auroc_interval=(auroc.low, auroc.high) if auroc else (None, None),
        map50=detection.get("AP50"),
        report=str(folder / "evaluation" / model.key / "report.html"),
    )


def _print_results(folder: Path, results: PhotoDemoResults) -> None:
    print(
        f"\nheld-out test set: {results.test_photos} photos of the {results.images} "
        f"({results.patients} patients)"
    )
    for key, figures in results.models.items():
        low, high = figures.macro_auroc_interval
        line = (
            f"   {key}: macro AUROC {number(figures.macro_auroc)} "
            f"(95% CI {number(low)}-{number(high)}, by patient)"
        )
        if figures.map50 is not None:
            line += f", mAP50 {number(figures.map50)}"
        print(line)
        print(f"      open {figures.report} in a browser")
    total = results.timings["total_s"]
    print(f"done in {total:.0f} s; figures in {folder / 'demo.json'}")
