"""``rcm infer``: one model over one mosaic; the flags come from the options' fields."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm.cli._explain_commands import EXPLAIN_KINDS, add_explain_options, explain_options, report
from rcm.cli._flags import add_option_flags, cli_fields, given, refuse_foreign
from rcm.cli._io_commands import add_pixel_options, pixel_options
from rcm.cli._photo_infer import PhotoFlags, run_photo_infer
from rcm.errors import InputError
from rcm.infer import (
    ClassifyOptions,
    PhotoDetectorOptions,
    PhotoOptions,
    RunOptions,
    WindowOptions,
    looks_like_photos,
)
from rcm.io import open_mosaic
from rcm.models import PHOTO_TASKS

if TYPE_CHECKING:
    from rcm.infer import MosaicResult

# torch and timm take seconds to import: commands that need them import them when run.

KINDS = (
    ("classifiers", ClassifyOptions),
    ("windows", WindowOptions),
    ("photo models", PhotoOptions),
    ("photo detectors", PhotoDetectorOptions),
)
SHARED = cli_fields(RunOptions)
TILE_ONLY = [name for name in cli_fields(ClassifyOptions) if name not in SHARED]
WINDOW_ONLY = [name for name in cli_fields(WindowOptions) if name not in SHARED]
MOSAIC_FLAGS = SHARED + TILE_ONLY + WINDOW_ONLY
# --gallery is the explanations' flag too (tiles there, photos here): added once, with them.
EXPLAIN_FLAGS = cli_fields(EXPLAIN_KINDS[0][1])
PHOTO_ONLY = [
    name
    for name in dict.fromkeys(cli_fields(PhotoOptions) + cli_fields(PhotoDetectorOptions))
    if name not in MOSAIC_FLAGS and name not in EXPLAIN_FLAGS
]
ALL_FLAGS = MOSAIC_FLAGS + PHOTO_ONLY


def register(commands: Any) -> None:
    infer = commands.add_parser(
        "infer",
        help="run a classifier, detector or segmenter over a mosaic and score it",
        description="Run a model over the tissue of a mosaic (or a clinical photograph) and "
        "score it. Tile classifiers write per-tile probabilities (tiles.csv); detectors "
        "(maskrcnn, fasterrcnn, detectron2) and segmenters (fpn, unet) run in overlapping "
        "sliding windows and write merged objects (instances.json as COCO results, "
        "instances.geojson for QuPath) and class labels (labels.zarr). All write a "
        "probability heatmap and suspicious mask (OME-Zarr), an overlay PNG and "
        "summary.json with the mosaic score (the coverage rule on the stitched map). "
        "Photo classifiers and photo detectors run on a photo, a folder of photos or a "
        "COCO .json file and write predictions.csv, instances.json (detectors), "
        "summary.json and gallery.html for the whole set; rerunning the command after an "
        "interruption continues where it stopped.",
    )
    infer.add_argument(
        "mosaic",
        metavar="INPUT",
        help="mosaic file or OME-Zarr store; for photo models a photo, a folder of photos "
        "or a COCO .json file (or Pascal VOC folder)",
    )
    source = infer.add_mutually_exclusive_group()
    source.add_argument("--model", help="name of a model in the model store (rcm models list)")
    source.add_argument("--weights", help="a model file (.safetensors) to use directly")
    infer.add_argument("--out", help="output folder (default: ./NAME.rcm for mosaic NAME)")
    add_option_flags(infer, KINDS, SHARED + TILE_ONLY)
    add_option_flags(infer.add_argument_group("detectors and segmenters"), KINDS, WINDOW_ONLY)
    photos = infer.add_argument_group(
        "photo models (photo-classifier, photo-detector)",
        "--gallery N: photos shown in gallery.html (default 48; 0: none)",
    )
    add_option_flags(photos, KINDS, PHOTO_ONLY)
    photos.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="start over even when an interrupted run of this output left batches to reuse",
    )
    explain = infer.add_argument_group("explanations (tile classifiers)")
    explain.add_argument(
        "--explain",
        action="store_true",
        help="also write Grad-CAM explanations of the suspicious tiles (see rcm explain)",
    )
    add_explain_options(explain)
    add_pixel_options(infer)
    infer.add_argument("--overwrite", action="store_true", help="replace an existing output")
    infer.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )
    infer.set_defaults(run=run_infer)


def run_infer(args: argparse.Namespace) -> None:
    from rcm.models import read_meta
    from rcm.pipeline.infer import (
        ModelRef,
        check_explainable,
        infer_mosaic,
        load_for_run,
        options_class,
        options_for,
        stored_model,
    )

    if args.model is None and args.weights is None:
        raise InputError(
            None,
            "no model given: pass --model NAME (a model added with `rcm models add FILE "
            "--name NAME`) or --weights FILE (a trained rcm model file); rcm does not run "
            "untrained models",
        )
    model_ref = ModelRef(Path(args.weights), None) if args.weights else stored_model(args.model)
    task = read_meta(model_ref.path).task
    if task in PHOTO_TASKS:
        run_photo_infer(args, model_ref, task, PhotoFlags(ALL_FLAGS, EXPLAIN_FLAGS, KINDS))
        return
    if looks_like_photos(args.mosaic):
        raise InputError(
            args.mosaic,
            f"a folder of photos or a COCO file needs a photo model; {model_ref.path} is a "
            f"{task} (it runs on mosaics)",
        )
    if not args.resume:
        raise InputError(None, "--no-resume applies to photo models only")
    values = given(args, ALL_FLAGS)
    refuse_foreign(values, KINDS, options_class(task), f"a {task}")
    options = options_for(task, values, where="")
    assert isinstance(options, RunOptions)  # a mosaic task's
    if args.explain:
        check_explainable(task, model_ref.path)
    elif given(args, cli_fields(EXPLAIN_KINDS[0][1])):
        raise InputError(None, "explanation options need --explain")
    explaining = explain_options(args) if args.explain else None
    mosaic = open_mosaic(args.mosaic, **pixel_options(args))
    model = load_for_run(model_ref.path, options.device)
    output = Path(args.out) if args.out else Path(f"{Path(args.mosaic).name.split('.')[0]}.rcm")
    outcome = infer_mosaic(
        mosaic,
        model,
        output,
        options=options,
        explain=explaining,
        model_name=model_ref.name,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    print(f"{args.mosaic}: {describe(outcome.result, options)}")
    print(f"wrote {outcome.result.output}")
    if outcome.explanation is not None:
        report(outcome.explanation)


def describe(result: MosaicResult, options: RunOptions) -> str:
    """One line: the decision, its probability (calibrated models), score, and the run's speed."""
    seconds = result.timings.get("classify_s" if result.unit == "tiles" else "windows_s", 0.0)
    objects = "" if result.instances is None else f"; {result.instances} objects"
    rate = result.run / seconds if seconds else 0.0
    calibrated = "" if result.probability is None else f"probability {result.probability:.3f}, "
    return (
        f"{result.decision} ({calibrated}score {result.score:.3f}, "
        f"{result.coverage_at_threshold:.2%} of tissue >= {options.threshold}); "
        f"{result.run}/{result.total} {result.unit} run at {rate:.1f} {result.unit}/s{objects}"
    )
