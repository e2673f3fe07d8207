"""``rcm evaluate`` on a photo run's output folder: the photo flags and the run."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm.cli._flags import add_option_flags, cli_fields, given
from rcm.errors import InputError, bad_input
from rcm.pipeline.evaluate import EvaluateOptions
from rcm.pipeline.evaluate_photos import PhotoEvaluateOptions

if TYPE_CHECKING:
    from rcm.outputs import InputProblem

PHOTO_FLAGS = [
    name for name in cli_fields(PhotoEvaluateOptions) if name not in cli_fields(EvaluateOptions)
]
PHOTO_ONLY = {"split": "--split", "part": "--part", "images_root": "--images-root"}


def add_photo_arguments(parser: Any, kinds: Any) -> None:
    """The flags only a photo run takes."""
    photos = parser.add_argument_group("photo runs")
    photos.add_argument("--split", help="split file (rcm data split): evaluate one part of it")
    photos.add_argument("--part", help="the part of --split to evaluate (default test)")
    photos.add_argument(
        "--images-root", help="folder the truth's image paths are relative to (default its own)"
    )
    add_option_flags(photos, kinds, PHOTO_FLAGS)


def refuse_photo_only(args: argparse.Namespace) -> None:
    """A photo flag given with mosaic outputs is an error, not silently ignored."""
    given_flags = [flag for name, flag in PHOTO_ONLY.items() if getattr(args, name, None)]
    given_flags += ["--" + name.replace("_", "-") for name in given(args, PHOTO_FLAGS)]
    if given_flags:
        raise InputError(
            args.outputs,
            f"{', '.join(given_flags)} applies to a photo run's output folder; "
            "this is a folder of mosaic outputs",
        )


def print_photo_problems(problems: Sequence[InputProblem]) -> None:
    """Each problem with the inputs, on stderr."""
    for problem in problems:
        print(f"rcm: {problem}", file=sys.stderr)


def run_photo_evaluate(args: argparse.Namespace) -> None:
    """Evaluate a photo run and report one line."""
    from rcm.pipeline.evaluate_photos import PhotoEvaluationInputError, evaluate_photo_outputs

    if args.compare:
        raise InputError(args.compare, "--compare is for mosaic outputs; not yet for photo runs")
    with bad_input():
        options = PhotoEvaluateOptions(**given(args, cli_fields(PhotoEvaluateOptions)))
    try:
        result = evaluate_photo_outputs(
            args.outputs,
            args.truth,
            args.out,
            options,
            readers=args.readers or None,
            split=args.split or None,
            part=args.part or None,
            images_root=args.images_root or None,
            overwrite=args.overwrite,
        )
    except PhotoEvaluationInputError as error:
        print_photo_problems(error.problems)
        raise
    print_photo_problems(result.problems)
    document = result.document
    auc = document.macro_auroc
    summary = f"macro AUROC {auc.estimate:.3f} ({auc.low:.3f}-{auc.high:.3f})" if auc else ""
    print(f"{document.counts.images} photos, {len(document.categories)} categories: {summary}")
    print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / 'report.html'}")
