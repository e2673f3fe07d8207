"""``rcm infer`` and ``rcm models``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rcm.cli._io_commands import add_pixel_options
from rcm.cli._options import positive_int
from rcm.errors import InputError
from rcm.infer._options import ClassifyOptions
from rcm.io import open_mosaic

# torch and timm take seconds to import: commands that need them import them when run.


def register(commands: Any) -> None:
    infer = commands.add_parser(
        "infer",
        help="classify the tiles of a mosaic and score it",
        description="Run a tile classifier over the tissue of a mosaic and write per-tile "
        "probabilities, a probability heatmap and suspicious mask (OME-Zarr), an overlay PNG, "
        "QuPath GeoJSON of suspicious regions and summary.json with the mosaic score.",
    )
    infer.add_argument("mosaic", help="mosaic file or OME-Zarr store")
    source = infer.add_mutually_exclusive_group()
    source.add_argument("--model", help="name of a model in the model store (rcm models list)")
    source.add_argument("--weights", help="a model file (.safetensors) to use directly")
    infer.add_argument("--out", help="output folder (default: ./NAME.rcm for mosaic NAME)")
    defaults = ClassifyOptions()
    infer.add_argument(
        "--threshold",
        type=float,
        default=defaults.threshold,
        help="tile probability counted as suspicious (default %(default)s)",
    )
    infer.add_argument(
        "--coverage",
        type=float,
        default=defaults.coverage,
        help="share of tissue that must be suspicious (default %(default)s)",
    )
    infer.add_argument(
        "--overlap",
        type=float,
        default=defaults.overlap,
        help="fraction of a tile shared by neighbours (default %(default)s)",
    )
    infer.add_argument(
        "--edge",
        choices=["pad", "drop", "shift"],
        default=defaults.edge,
        help="tiles at the right and bottom edges (default %(default)s)",
    )
    infer.add_argument(
        "--min-tissue",
        type=float,
        default=defaults.min_tissue,
        help="least tissue fraction of a classified tile (default %(default)s)",
    )
    infer.add_argument(
        "--blend",
        choices=["mean", "gaussian"],
        default=defaults.blend,
        help="how overlapping tiles combine in the map (default %(default)s)",
    )
    infer.add_argument(
        "--batch-size",
        type=positive_int,
        default=defaults.batch_size,
        help="tiles per forward pass (default %(default)s)",
    )
    infer.add_argument(
        "--device", default=defaults.device, help="auto, cpu or cuda[:N] (default %(default)s)"
    )
    add_pixel_options(infer)
    infer.add_argument("--overwrite", action="store_true", help="replace an existing output")
    infer.add_argument(
        "--no-progress", dest="progress", action="store_false", help="do not show progress bars"
    )
    infer.set_defaults(run=run_infer)

    models = commands.add_parser(
        "models",
        help="manage the local model store",
        description="Named model files under $RCM_HOME/models (default ~/.local/share/rcm).",
    )
    actions = models.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="copy a model file into the store under a name")
    add.add_argument("file", help="model file (.safetensors)")
    add.add_argument("--name", required=True, help="name to use with rcm infer --model")
    add.add_argument("--replace", action="store_true", help="replace a model of that name")
    add.set_defaults(run=run_models_add)
    listing = actions.add_parser("list", help="list the models in the store")
    listing.set_defaults(run=run_models_list)
    remove = actions.add_parser("remove", help="delete a model from the store")
    remove.add_argument("name")
    remove.set_defaults(run=run_models_remove)
    show = actions.add_parser("show", help="print a model file's metadata")
    show.add_argument("file")
    show.set_defaults(run=run_models_show)


def run_infer(args: argparse.Namespace) -> None:
    if args.model is None and args.weights is None:
        raise InputError(
            None,
            "no model given: pass --model NAME (a model added with `rcm models add FILE "
            "--name NAME`) or --weights FILE (a trained rcm model file); rcm does not run "
            "untrained models",
        )
    try:
        options = ClassifyOptions(
            threshold=args.threshold,
            coverage=args.coverage,
            overlap=args.overlap,
            edge=args.edge,
            min_tissue=args.min_tissue,
            blend=args.blend,
            batch_size=args.batch_size,
            device=args.device,
        )
    except ValueError as error:
        raise InputError(None, str(error)) from error
    from rcm.infer import classify_mosaic, pick_device
    from rcm.models import ModelStore, load_model

    weights = Path(args.weights) if args.weights else ModelStore().resolve(args.model)
    mosaic = open_mosaic(args.mosaic, um_per_px=args.um_per_px, max_pixels=args.max_pixels)
    try:
        model = load_model(weights, device=pick_device(options.device))
    except ValueError as error:
        raise InputError(None, str(error)) from error
    output = Path(args.out) if args.out else Path(f"{Path(args.mosaic).name.split('.')[0]}.rcm")
    result = classify_mosaic(
        mosaic,
        model,
        output,
        options=options,
        model_name=args.model,
        overwrite=args.overwrite,
        progress=args.progress,
    )
    seconds = result.timings.get("classify_s", 0.0)
    rate = result.tiles_classified / seconds if seconds else 0.0
    print(
        f"{args.mosaic}: {result.decision} (score {result.score:.3f}, "
        f"{result.coverage_at_threshold:.2%} of tissue >= {options.threshold}); "
        f"{result.tiles_classified}/{result.tiles_total} tiles classified at {rate:.1f} tiles/s"
    )
    print(f"wrote {result.output}")


def run_models_add(args: argparse.Namespace) -> None:
    from rcm.models import ModelStore

    entry = ModelStore().add(args.file, args.name, replace=args.replace)
    print(
        f"added {entry.name}: {entry.architecture}, classes {', '.join(entry.classes)}, "
        f"tile {entry.tile_px} px"
    )


def run_models_list(args: argparse.Namespace) -> None:
    from rcm.models import ModelStore

    store = ModelStore()
    entries = store.entries()
    if not entries:
        print(f"no models in {store.root}; add one with `rcm models add FILE --name NAME`")
        return
    print(f"{'name':16} {'architecture':32} {'tile':>5} {'um/px':>6}  classes")
    for entry in entries:
        um = f"{entry.um_per_px:g}" if entry.um_per_px else "-"
        print(
            f"{entry.name:16} {entry.architecture:32} {entry.tile_px:>5} {um:>6}  "
            + ", ".join(entry.classes)
        )


def run_models_remove(args: argparse.Namespace) -> None:
    from rcm.models import ModelStore

    ModelStore().remove(args.name)
    print(f"removed {args.name}")


def run_models_show(args: argparse.Namespace) -> None:
    from rcm.models import read_meta

    print(read_meta(args.file).to_json())
