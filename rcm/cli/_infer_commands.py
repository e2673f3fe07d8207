"""``rcm infer`` and ``rcm models``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rcm.cli._explain_commands import add_explain_options, explain_options, report
from rcm.cli._io_commands import add_pixel_options
from rcm.cli._options import positive_int
from rcm.errors import InputError
from rcm.infer._options import ClassifyOptions
from rcm.infer._window_options import WindowOptions
from rcm.io import open_mosaic

# torch and timm take seconds to import: commands that need them import them when run.


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
    defaults = ClassifyOptions()
    infer.add_argument(
        "--threshold",
        type=float,
        default=None,
        help=f"probability counted as suspicious (default {defaults.threshold})",
    )
    infer.add_argument(
        "--coverage",
        type=float,
        default=None,
        help=f"share of tissue that must be suspicious (default {defaults.coverage})",
    )
    infer.add_argument(
        "--overlap",
        type=float,
        default=None,
        help="fraction of a tile or window shared by neighbours (default 0 for classifiers, "
        f"{WindowOptions().overlap} for windows)",
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
        default=None,
        help="least tissue fraction of a tile or window that is run (default "
        f"{defaults.min_tissue} for classifiers, {WindowOptions().min_tissue} for windows)",
    )
    infer.add_argument(
        "--blend",
        choices=["constant", "cosine", "gaussian"],
        default=None,
        help="weight of overlapping tiles or windows in the map (default constant for "
        "classifiers, cosine for windows)",
    )
    infer.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help=f"tiles or windows per forward pass (default {defaults.batch_size} for "
        f"classifiers, {WindowOptions().batch_size} for windows)",
    )
    infer.add_argument(
        "--device", default=defaults.device, help="auto, cpu or cuda[:N] (default %(default)s)"
    )
    _add_window_arguments(infer.add_argument_group("detectors and segmenters"))
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
    listing = actions.add_parser("list", help="list the models in the store")
    listing.set_defaults(run=run_models_list)
    remove = actions.add_parser("remove", help="delete a model from the store")
    remove.add_argument("name")
    remove.set_defaults(run=run_models_remove)
    show = actions.add_parser("show", help="print a model file's metadata")
    show.add_argument("file")
    show.set_defaults(run=run_models_show)


def _add_window_arguments(group: Any) -> None:
    defaults = WindowOptions()
    group.add_argument(
        "--window",
        dest="window_px",
        type=positive_int,
        help="window edge in mosaic pixels (default: the model's window, rescaled by pixel size)",
    )
    group.add_argument(
        "--margin",
        type=int,
        default=defaults.margin,
        help="pixels at inner window edges left out of the blend (default %(default)s)",
    )
    group.add_argument(
        "--tissue",
        choices=["auto", "detect", "all"],
        default=defaults.tissue,
        help="run windows on detected RCM tissue or everywhere; auto: everywhere for colour "
        "images such as clinical photographs (default %(default)s)",
    )
    group.add_argument(
        "--min-score",
        type=float,
        default=defaults.min_score,
        help="least detection score kept (default %(default)s)",
    )
    group.add_argument(
        "--max-detections",
        type=positive_int,
        default=defaults.max_detections,
        help="detections kept per window at most (default %(default)s)",
    )
    group.add_argument(
        "--merge",
        choices=["nmm", "nms"],
        default=defaults.merge,
        help="unite the pieces of an object seen by several windows (nmm) or keep the best "
        "(nms) (default %(default)s)",
    )
    group.add_argument(
        "--merge-metric",
        choices=["ios", "iou"],
        default=defaults.merge_metric,
        help="overlap measure for merging: intersection over the smaller box, or IoU "
        "(default %(default)s)",
    )
    group.add_argument(
        "--merge-threshold",
        type=float,
        default=defaults.merge_threshold,
        help="overlap at which two detections are one object (default %(default)s)",
    )


def _options(args: argparse.Namespace, task: str) -> ClassifyOptions | WindowOptions:
    """The options object of the model's task, with the flags that were given."""
    shared = {
        name: getattr(args, name)
        for name in ("threshold", "coverage", "overlap", "min_tissue", "blend", "batch_size")
        if getattr(args, name) is not None
    }
    try:
        if task == "classifier":
            return ClassifyOptions(edge=args.edge, device=args.device, **shared)
        return WindowOptions(
            device=args.device,
            window_px=args.window_px,
            margin=args.margin,
            tissue=args.tissue,
            min_score=args.min_score,
            max_detections=args.max_detections,
            merge=args.merge,
            merge_metric=args.merge_metric,
            merge_threshold=args.merge_threshold,
            **shared,
        )
    except ValueError as error:
        raise InputError(None, str(error)) from error


def run_infer(args: argparse.Namespace) -> None:
    if args.model is None and args.weights is None:
        raise InputError(
            None,
            "no model given: pass --model NAME (a model added with `rcm models add FILE "
            "--name NAME`) or --weights FILE (a trained rcm model file); rcm does not run "
            "untrained models",
        )
    from rcm.infer import ClassifyResult, WindowResult, classify_mosaic, detect_mosaic, pick_device
    from rcm.models import ModelStore, load_model, read_meta

    weights = Path(args.weights) if args.weights else ModelStore().resolve(args.model)
    task = read_meta(weights).task
    options = _options(args, task)
    if args.explain and task != "classifier":
        raise InputError(weights, f"--explain needs a tile classifier; this model is a {task}")
    explaining = explain_options(args) if args.explain else None
    mosaic = open_mosaic(args.mosaic, um_per_px=args.um_per_px, max_pixels=args.max_pixels)
    try:
        model = load_model(weights, device=pick_device(options.device))
    except ValueError as error:
        raise InputError(None, str(error)) from error
    output = Path(args.out) if args.out else Path(f"{Path(args.mosaic).name.split('.')[0]}.rcm")
    common = {
        "model_name": args.model,
        "overwrite": args.overwrite,
        "progress": args.progress,
    }
    if isinstance(options, ClassifyOptions):
        result: ClassifyResult | WindowResult = classify_mosaic(
            mosaic, model, output, options=options, **common
        )
        assert isinstance(result, ClassifyResult)
        seconds, objects = result.timings.get("classify_s", 0.0), ""
        done, total, unit = result.tiles_classified, result.tiles_total, "tiles"
    else:
        result = detect_mosaic(mosaic, model, output, options=options, **common)
        assert isinstance(result, WindowResult)
        seconds, objects = result.timings.get("windows_s", 0.0), f"; {result.instances} objects"
        done, total, unit = result.windows_run, result.windows_total, "windows"
    rate = done / seconds if seconds else 0.0
    print(
        f"{args.mosaic}: {result.decision} (score {result.score:.3f}, "
        f"{result.coverage_at_threshold:.2%} of tissue >= {options.threshold}); "
        f"{done}/{total} {unit} run at {rate:.1f} {unit}/s{objects}"
    )
    print(f"wrote {result.output}")
    if explaining is not None:
        from rcm.explain import explain_output

        explained = explain_output(
            output, mosaic=mosaic, model=model, options=explaining, progress=args.progress
        )
        report(explained)


def run_models_add(args: argparse.Namespace) -> None:
    from rcm.models import ModelStore

    entry = ModelStore().add(args.file, args.name, replace=args.replace)
    print(
        f"added {entry.name}: {entry.architecture}, classes {', '.join(entry.classes)}, "
        f"tile {entry.tile_px} px"
    )


def run_models_import(args: argparse.Namespace) -> None:
    import tempfile

    from rcm.models import WINDOW_MODELS, ModelMeta, ModelStore, Task, save_model
    from rcm.models._import import detectron2_meta, import_weights

    classes = tuple(name.strip() for name in args.classes.split(",") if name.strip())
    family = WINDOW_MODELS.get(args.architecture)
    task = Task.CLASSIFIER if family is None else family.task
    if args.positive:
        positive = tuple(name.strip() for name in args.positive.split(","))
    else:
        positive = classes if task == "detector" else classes[1:]
    try:
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
    except ValueError as error:
        raise InputError(None, str(error)) from error
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
