"""``rcm evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rcm.cli._options import positive_int
from rcm.errors import InputError


def register(commands: Any) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="score a cohort of rcm infer outputs against ground truth",
        description="Join per-mosaic outputs (folders with summary.json, named MOSAIC_ID[.rcm]) "
        "to a manifest CSV (mosaic_id, patient_id, label) and write metrics.json and a "
        "self-contained report.html: AUROC with patient-level bootstrap intervals, ROC with a "
        "confidence band, operating points, confusion matrix and a per-mosaic table.",
    )
    evaluate.add_argument("outputs", help="folder holding one output folder per mosaic")
    evaluate.add_argument("--truth", required=True, help="ground-truth manifest CSV")
    evaluate.add_argument(
        "--compare",
        metavar="OTHER_OUTPUTS",
        help="outputs of a second model on the same mosaics: DeLong's test "
        "and a paired bootstrap of the AUROC difference",
    )
    evaluate.add_argument(
        "--readers",
        help="clinicians' reads: CSV with reader, mosaic_id, call (a label, or a score in [0, 1])",
    )
    evaluate.add_argument(
        "--reader-threshold",
        type=float,
        default=0.5,
        help="reader score counted as a positive call (default %(default)s)",
    )
    evaluate.add_argument("--out", default="evaluation", help="report folder (default %(default)s)")
    evaluate.add_argument("--strict", action="store_true", help="treat warnings as errors")
    evaluate.add_argument(
        "--bootstrap",
        type=positive_int,
        default=2000,
        help="bootstrap resamples (default %(default)s)",
    )
    evaluate.add_argument("--target-sensitivity", type=float, default=0.8)
    evaluate.add_argument("--target-specificity", type=float, default=0.8)
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing report")
    evaluate.set_defaults(run=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> None:
    from rcm._version import __version__
    from rcm.io import file_checksum
    from rcm.io._atomic import atomic_output
    from rcm.report._cohort import load_cohort, load_reads
    from rcm.report._evaluate import evaluate_cohort
    from rcm.report._html import write_report

    cohort = load_cohort(args.outputs, args.truth)
    problems = list(cohort.problems)
    reads = (
        load_reads(args.readers, cohort, problems, threshold=args.reader_threshold)
        if args.readers
        else None
    )
    for problem in problems:
        where = f"{problem.mosaic_id}: " if problem.mosaic_id else ""
        print(f"rcm: {problem.severity}: {where}{problem.message}", file=sys.stderr)
    failing = [p for p in problems if p.severity == "error" or args.strict]
    if failing:
        raise InputError(
            args.truth,
            f"{len(failing)} problem(s) with the inputs (listed above)"
            + ("; --strict counts warnings" if args.strict else ""),
        )
    metrics = evaluate_cohort(
        cohort,
        reads=reads,
        n_resamples=args.bootstrap,
        seed=args.seed,
        target_sensitivity=args.target_sensitivity,
        target_specificity=args.target_specificity,
    )
    if args.compare:
        from rcm.report._compare import compare_cohorts

        second = load_cohort(args.compare, args.truth)
        metrics["comparison"] = {
            "other": str(args.compare),
            **compare_cohorts(cohort, second, n_resamples=args.bootstrap, seed=args.seed),
        }
    document = {
        **metrics,
        "inputs": {
            **cohort.checksums,
            **({"readers": file_checksum(args.readers)} if args.readers else {}),
        },
        "problems": [vars(p) for p in problems],
        "options": {
            "bootstrap": args.bootstrap,
            "seed": args.seed,
            "target_sensitivity": args.target_sensitivity,
            "target_specificity": args.target_specificity,
        },
        "versions": {"rcm": __version__},
    }
    with atomic_output(args.out, overwrite=args.overwrite) as folder:
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps(document, indent=2, sort_keys=True))
        write_report(folder / "report.html", metrics, cohort)
    auc = metrics.get("auroc")
    summary = (
        f"AUROC {auc['estimate']:.3f} ({auc['low']:.3f}-{auc['high']:.3f})"
        if auc
        else metrics.get("note", "")
    )
    print(f"{metrics['counts']['mosaics']} mosaics: {summary}")
    print(f"wrote {Path(args.out) / 'metrics.json'} and {Path(args.out) / 'report.html'}")
