"""``rcm models``: the local model store, and weights trained elsewhere brought into it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rcm.cli._options import positive_int
from rcm.errors import InputError, bad_input


def register(commands: Any) -> None:
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
    _add_import(actions)
    listing = actions.add_parser("list", help="list the models in the store")
    listing.set_defaults(run=run_models_list)
    remove = actions.add_parser("remove", help="delete a model from the store")
    remove.add_argument("name")
    remove.set_defaults(run=run_models_remove)
    show = actions.add_parser("show", help="print a model file's metadata")
    show.add_argument("file")
    show.set_defaults(run=run_models_show)
    _add_calibrate(actions)


def _add_calibrate(actions: Any) -> None:
    calibrate = actions.add_parser(
        "calibrate",
        help="make a mosaic model's score a probability, fitted on validation outputs",
        description="Read the rcm infer outputs of validation mosaics made by MODEL, join them "
        "to the manifest as rcm evaluate does, fit Platt or isotonic scaling of the mosaic "
        "score, and write a new model file with the same weights and the calibration in its "
        "metadata (MODEL itself is left unchanged). Its outputs then carry a calibrated "
        "probability next to the score. Photo models are calibrated in training.",
    )
    calibrate.add_argument("model", help="model name in the store, or a model file")
    calibrate.add_argument(
        "--outputs",
        required=True,
        nargs="+",
        metavar="OUTPUTS",
        help="folder(s) of rcm infer output folders, or output folders themselves",
    )
    calibrate.add_argument("--truth", required=True, help="ground-truth manifest CSV")
    calibrate.add_argument("--split", help="split file: every output must be of a mosaic of --part")
    calibrate.add_argument(
        "--part", default="validation", help="split part calibrated on (default %(default)s)"
    )
    calibrate.add_argument(
        "--method",
        choices=("platt", "isotonic"),
        default="platt",
        help="Platt (logistic) or isotonic scaling of the score (default %(default)s)",
    )
    destination = calibrate.add_mutually_exclusive_group(required=True)
    destination.add_argument("--name", help="add the calibrated model to the store as NAME")
    destination.add_argument("--out", help="write the calibrated model file (.safetensors)")
    calibrate.add_argument(
        "--replace", action="store_true", help="replace an existing --out file or --name model"
    )
    calibrate.set_defaults(run=run_models_calibrate)


def _add_import(actions: Any) -> None:
    imported = actions.add_parser(
        "import",
        help="turn weights trained elsewhere into a stored rcm model",
        description="Describe a plain state dict (timm classifier, torchvision detector, "
        "segmentation_models_pytorch segmenter) or a Detectron2 checkpoint, check that its "
        "weights fit, and store it as a self-describing model file.",
    )
    imported.add_argument("checkpoint", help="weights: .safetensors, .pt/.pth, or Detectron2 .pkl")
    imported.add_argument("--name", required=True, help="name to use with rcm infer --model")
    imported.add_argument(
        "--architecture",
        required=True,
        help="classifier (swin, efficientnet, any timm name), detector (maskrcnn, fasterrcnn, "
        "detectron2) or segmenter (fpn, unet)",
    )
    imported.add_argument(
        "--classes",
        required=True,
        help="comma-separated class names in output order (detectors: no background; "
        "segmenters: background first)",
    )
    imported.add_argument(
        "--positive",
        help="comma-separated suspicious classes (default: every class but the first; "
        "every class for detectors)",
    )
    imported.add_argument(
        "--window", type=positive_int, default=512, help="input edge in pixels (default 512)"
    )
    imported.add_argument("--um-per-px", type=float, help="pixel size the model was trained at")
    imported.add_argument(
        "--in-chans", type=int, choices=[1, 3], default=1, help="input channels (default 1)"
    )
    imported.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="architecture setting, e.g. backbone=resnet50 (detectors), encoder=resnet34 "
        "(segmenters)",
    )
    imported.add_argument(
        "--mean",
        help="per-channel mean subtracted from [0, 1] inputs in training, comma-separated "
        "(default 0.5 per channel)",
    )
    imported.add_argument(
        "--std", help="per-channel standard deviation in training (default 0.25 per channel)"
    )
    imported.add_argument("--detectron2-config", help="the Detectron2 YAML config of the weights")
    imported.add_argument(
        "--trust-pickle",
        action="store_true",
        help="allow Detectron2 .pkl checkpoints, which are pickles and can run code when read",
    )
    imported.add_argument("--replace", action="store_true", help="replace a model of that name")
    imported.set_defaults(run=run_models_import)


def run_models_add(args: argparse.Namespace) -> None:
    from rcm.models import ModelStore

    entry = ModelStore().add(args.file, args.name, replace=args.replace)
    print(
        f"added {entry.name}: {entry.architecture}, classes {', '.join(entry.classes)}, "
        f"tile {entry.tile_px} px"
    )


def run_models_import(args: argparse.Namespace) -> None:
    import tempfile

    from rcm.models import (
        WINDOW_MODELS,
        ModelMeta,
        ModelStore,
        Task,
        detectron2_meta,
        import_weights,
        save_model,
    )

    classes = tuple(name.strip() for name in args.classes.split(",") if name.strip())
    family = WINDOW_MODELS.get(args.architecture)
    task = Task.CLASSIFIER if family is None else family.task
    if args.positive:
        positive = tuple(name.strip() for name in args.positive.split(","))
    else:
        positive = classes if task == Task.DETECTOR else classes[1:]
    with bad_input():
        if args.architecture == "detectron2":
            if not args.detectron2_config:
                raise InputError(None, "detectron2 weights need --detectron2-config CONFIG.yaml")
            meta = detectron2_meta(
                args.detectron2_config,
                classes=classes,
                positive=positive,
                window_px=args.window,
                um_per_px=args.um_per_px,
            )
        else:
            malformed = [item for item in args.setting if "=" not in item]
            if malformed:
                raise InputError(None, f"--setting takes KEY=VALUE, got {malformed[0]!r}")
            settings = dict(item.split("=", 1) for item in args.setting)
            meta = ModelMeta(
                architecture=args.architecture,
                task=task,
                classes=classes,
                positive=positive,
                in_chans=args.in_chans,
                tile_px=args.window,
                um_per_px=args.um_per_px,
                mean=_floats(args.mean, 0.5, args.in_chans),
                std=_floats(args.std, 0.25, args.in_chans),
                settings=settings,
                provenance={"imported_from": {"checkpoint": str(args.checkpoint)}},
            )
    module = import_weights(args.checkpoint, meta, trust_pickle=args.trust_pickle)
    with tempfile.TemporaryDirectory() as scratch:
        staged = save_model(Path(scratch) / "model.safetensors", module, meta)
        entry = ModelStore().add(staged, args.name, replace=args.replace)
    print(
        f"imported {args.checkpoint} as {entry.name}: {meta.task} {meta.architecture}, "
        f"classes {', '.join(meta.classes)}, window {meta.tile_px} px"
    )


def _floats(text: str | None, default: float, count: int) -> tuple[float, ...]:
    if text is None:
        return (default,) * count
    try:
        return tuple(float(value) for value in text.split(","))
    except ValueError as error:
        raise InputError(None, f"expected comma-separated numbers, got {text!r}") from error


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


def run_models_calibrate(args: argparse.Namespace) -> None:
    from rcm.cli._evaluate_commands import print_problems
    from rcm.pipeline.calibrate import calibrate_model
    from rcm.pipeline.evaluate import EvaluationInputError
    from rcm.pipeline.infer import resolve_model

    source = resolve_model(args.model)
    try:
        result = calibrate_model(
            source.path,
            args.outputs,
            args.truth,
            method=args.method,
            split=args.split,
            part=args.part,
            out=args.out,
            name=args.name,
            replace_existing=args.replace,
        )
    except EvaluationInputError as error:
        print_problems(error.problems)
        raise
    print_problems(result.problems)
    calibration = result.calibration
    fitted = (
        f"slope {calibration.slope:.4g}, intercept {calibration.intercept:.4g}"
        if calibration.method == "platt"
        else f"{len(calibration.knots_x)} knots"
    )
    print(
        f"calibrated {args.model} ({calibration.method}: {fitted}) on {result.cases} mosaics "
        f"({result.positive} positive): Brier score {result.brier:.3f}, expected calibration "
        f"error {result.expected_calibration_error:.3f} on them"
    )
    where = f"added {result.name} to the store" if result.name else f"wrote {result.path}"
    print(f"{where}; run it on new mosaics for calibrated probabilities")
