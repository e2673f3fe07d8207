"""``rcm explain``, and the shared ``--explain`` options of ``rcm infer``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rcm.cli._flags import add_option_flags, cli_fields, given
from rcm.cli._io_commands import add_missing_chunks_option
from rcm.cli._options import positive_int
from rcm.errors import bad_input
from rcm.explain import ExplainOptions

EXPLAIN_KINDS = (("explanations", ExplainOptions),)


def add_explain_options(parser: Any) -> None:
    """Options shared by ``rcm explain`` and ``rcm infer --explain``."""
    add_option_flags(parser, EXPLAIN_KINDS, cli_fields(ExplainOptions))


def explain_options(args: argparse.Namespace) -> ExplainOptions:
    """The explanation options given; the batch follows ``--batch-size``, at most 64 tiles."""
    values = given(args, cli_fields(ExplainOptions))
    batch = min(args.batch_size or ExplainOptions().batch_size, 64)
    with bad_input():
        device = args.device or ExplainOptions().device  # infer's --device defaults to None
        return ExplainOptions(**values, batch_size=batch, device=device)


def register(commands: Any) -> None:
    explain = commands.add_parser(
        "explain",
        help="add Grad-CAM explanations to a classifier's output",
        description="Explain the suspicious tiles of an `rcm infer` output (tile classifiers): "
        "Grad-CAM maps stitched into explanation/explanation.zarr, an overlay PNG, a crop "
        "gallery of the highest-scoring tiles, and a faithfulness test (score drop when the "
        "most explained pixels are blocked, against random pixels). The mosaic and model "
        "recorded in the output are used, and checked by checksum.",
    )
    explain.add_argument("output", help="an output folder written by rcm infer")
    explain.add_argument("--mosaic", help="the mosaic, if it moved since rcm infer ran")
    explain.add_argument("--weights", help="the model file, if it moved since rcm infer ran")
    add_missing_chunks_option(explain)
    add_explain_options(explain)
    explain.add_argument("--batch-size", type=positive_int, help="tiles per forward pass")
    explain.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    explain.add_argument("--overwrite", action="store_true", help="replace an explanation")
    explain.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )
    explain.set_defaults(run=run_explain)


def run_explain(args: argparse.Namespace) -> None:
    from rcm.explain import explain_output
    from rcm.io import open_mosaic
    from rcm.pipeline.infer import load_for_run

    options = explain_options(args)
    allow = args.allow_missing_chunks
    mosaic = open_mosaic(args.mosaic, allow_missing_chunks=allow) if args.mosaic else None
    model = load_for_run(args.weights, args.device) if args.weights else None
    result = explain_output(
        Path(args.output),
        mosaic=mosaic,
        model=model,
        options=options,
        overwrite=args.overwrite,
        progress=args.progress,
        allow_missing_chunks=allow,
    )
    report(result)


def report(result: Any) -> None:
    """One line on what was explained and how faithful the maps are."""
    faithful = result.faithfulness
    detail = ""
    if faithful.get("tiles"):
        detail = (
            f"; blocking the top explained pixels lowers the score by "
            f"{faithful['mean_drop_explained']:.3f} on average, random pixels by "
            f"{faithful['mean_drop_random']:.3f}"
        )
    print(f"explained {result.tiles_explained} tiles{detail}")
    print(f"wrote {result.output}")
