"""``rcm infer`` with a photo model: a photo, a folder of photos or a COCO file, one output."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rcm.cli._flags import Kind, given, refuse_foreign
from rcm.errors import InputError
from rcm.infer import looks_like_mosaic


@dataclass(frozen=True)
class PhotoFlags:
    """The flags of ``rcm infer``: every option's, the explanations', and the options types."""

    options: Sequence[str]
    explain: Sequence[str]
    kinds: Sequence[Kind]


if TYPE_CHECKING:
    from rcm.infer import PhotoRunResult
    from rcm.models import Task
    from rcm.pipeline.infer import ModelRef


def run_photo_infer(
    args: argparse.Namespace, model_ref: ModelRef, task: Task, flags: PhotoFlags
) -> None:
    """Run a photo model over the photos `args.mosaic` names and report one line."""
    from rcm.pipeline.infer import infer_photo_set, load_for_run, options_class, options_for

    source = Path(args.mosaic)
    if looks_like_mosaic(source):
        raise InputError(
            source,
            f"is a mosaic; {model_ref.path} is a {task} (it runs on clinical photographs): "
            "use a mosaic model, or give a photo, a folder of photos or a COCO .json file",
        )
    mosaic_only = [
        flag
        for flag, value in (
            ("--explain", args.explain),
            ("--um-per-px", args.um_per_px),
            ("--allow-missing-chunks", args.allow_missing_chunks),
        )
        if value
    ]
    explaining = [name for name in given(args, flags.explain) if name != "gallery"]
    mosaic_only += ["--" + name.replace("_", "-") for name in explaining]
    if mosaic_only:
        raise InputError(None, f"{', '.join(mosaic_only)} does not apply to a {task}")
    values = given(args, [*flags.options, "gallery"])
    refuse_foreign(values, flags.kinds, options_class(task), f"a {task}")
    if args.max_pixels is not None:
        values["max_pixels"] = args.max_pixels
    options = options_for(task, values, where="")
    model = load_for_run(model_ref.path, options.device)
    output = Path(args.out) if args.out else Path(f"{source.name.split('.')[0]}.rcm")
    result = infer_photo_set(
        source,
        model,
        output,
        options=options,
        model_name=model_ref.name,
        overwrite=args.overwrite,
        resume=args.resume,
        progress=args.progress,
    )
    print(f"{source}: {describe_photos(result)}")
    print(f"wrote {result.output}")


def describe_photos(result: PhotoRunResult) -> str:
    """One line: photos run, skipped and reused, boxes found, and how fast."""
    seconds = result.timings.get("photos_s", 0.0)
    rate = result.images / seconds if seconds else 0.0
    parts = [f"{result.images} photos at {rate:.1f} photos/s"]
    if result.instances is not None:
        parts.append(f"{result.instances} boxes")
    if result.skipped:
        parts.append(f"{result.skipped} unreadable skipped (skipped.csv)")
    if result.reused:
        parts.append(f"{result.reused} of {result.batches} batches reused from the interrupted run")
    return "; ".join(parts)
