"""``rcm infer``: one model over one mosaic; the flags come from the options' fields."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm.cli._explain_commands import EXPLAIN_KINDS, add_explain_options, explain_options, report
from rcm.cli._flags import add_option_flags, cli_fields, given, refuse_foreign
from rcm.cli._io_commands import add_pixel_options, pixel_options
from rcm.errors import InputError
from rcm.infer import ClassifyOptions, RunOptions, WindowOptions
from rcm.io import open_mosaic

if TYPE_CHECKING:
    from rcm.infer import MosaicResult

# torch and timm take seconds to import: commands that need them import them when run.

KINDS = (("classifiers", ClassifyOptions), ("windows", WindowOptions))
SHARED = cli_fields(RunOptions)
TILE_ONLY = [name for name in cli_fields(ClassifyOptions) if name not in SHARED]
WINDOW_ONLY = [name for name in cli_fields(WindowOptions) if name not in SHARED]


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
        "summary.json with the mosaic score (the coverage rule on the stitched map).",
    )
    infer.add_argument("mosaic", help="mosaic file or OME-Zarr store")
    source = infer.add_mutually_exclusive_group()
    source.add_argument("--model", help="name of a model in the model store (rcm models list)")
    source.add_argument("--weights", help="a model file (.safetensors) to use directly")
    infer.add_argument("--out", help="output folder (default: ./NAME.rcm for mosaic NAME)")
    add_option_flags(infer, KINDS, SHARED + TILE_ONLY)
    add_option_flags(infer.add_argument_group("detectors and segmenters"), KINDS, WINDOW_ONLY)
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
    values = given(args, SHARED + TILE_ONLY + WINDOW_ONLY)
    refuse_foreign(values, KINDS, options_class(task), f"a {task}")
    options = options_for(task, values, where="")
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
