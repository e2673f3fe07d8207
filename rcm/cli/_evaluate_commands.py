"""``rcm evaluate``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rcm.cli._flags import add_option_flags, cli_fields, given
from rcm.cli._photo_evaluate import add_photo_arguments, refuse_photo_only
from rcm.errors import bad_input
from rcm.pipeline.evaluate import EvaluateOptions
from rcm.pipeline.evaluate_photos import PhotoEvaluateOptions

if TYPE_CHECKING:
    from rcm.report import Problem


KINDS = (("evaluations", EvaluateOptions), ("photo evaluations", PhotoEvaluateOptions))


def register(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score a cohort of rcm infer outputs against ground truth",
        description="Join per-mosaic outputs (folders with summary.json, named MOSAIC_ID[.rcm]) "
        "to a manifest CSV (mosaic_id, patient_id, label) and write metrics.json and a "
        "self-contained report.html: AUROC with patient-level bootstrap intervals, ROC with a "
        "confidence band, operating points, confusion matrix and a per-mosaic table. "
        "Given a photo run's output folder instead (rcm infer on photos), it scores it "
        "against the expert boxes (--truth COCO .json or VOC folder): AUROC per category, "
        "macro and micro, calibration, COCO mAP and FROC for detectors, and clinicians.",
    )
    evaluate.add_argument(
        "outputs",
        help="folder holding one output folder per mosaic, or a photo run's output folder",
    )
    evaluate.add_argument(
        "--truth",
        required=True,
        help="ground-truth manifest CSV; for a photo run a COCO .json file or VOC folder",
    )
    evaluate.add_argument(
        "--compare",
        metavar="OTHER_OUTPUTS",
        help="outputs of a second model on the same mosaics: DeLong's test "
        "and a paired bootstrap of the AUROC difference",
    )
    evaluate.add_argument(
        "--readers",
        help="clinicians' reads: CSV with reader, mosaic_id, call (a label, or a score in [0, 1]); "
        "for a photo run reader, image and category (or score_<category> columns)",
    )
    evaluate.add_argument("--out", default="evaluation", help="report folder (default %(default)s)")
    add_option_flags(evaluate, KINDS, cli_fields(EvaluateOptions))
    add_photo_arguments(evaluate, KINDS)
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing report")
    evaluate.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> None:
    from rcm.cli._photo_evaluate import run_photo_evaluate
    from rcm.pipeline.evaluate import EvaluationInputError, evaluate_outputs
    from rcm.pipeline.evaluate_photos import is_photo_output

    if is_photo_output(args.outputs):
        run_photo_evaluate(args)
        return
    refuse_photo_only(args)
    with bad_input():
        options = EvaluateOptions(**given(args, cli_fields(EvaluateOptions)))
    try:
        result = evaluate_outputs(
            args.outputs,
            args.truth,
            args.out,
            options=options,
            readers=args.readers or None,
            compare=args.compare or None,
            overwrite=args.overwrite,
        )
    except EvaluationInputError as error:
        print_problems(error.problems)
        raise
    print_problems(result.problems)
    document = result.document
    auc = document.auroc
    summary = (
        f"AUROC {auc.estimate:.3f} ({auc.low:.3f}-{auc.high:.3f})" if auc else document.note or ""
    )
    print(f"{document.counts.mosaics} mosaics: {summary}")
    print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / 'report.html'}")


def print_problems(problems: Sequence[Problem]) -> None:
    for problem in problems:
        print(f"rcm: {problem}", file=sys.stderr)
