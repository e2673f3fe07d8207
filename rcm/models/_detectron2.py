"""Detectron2 instance models (Mask R-CNN and relatives) as window detectors.

Detectron2 is not on the Python package index, so it is imported only inside
this adapter, when a Detectron2 model is built. A model file keeps the fully
resolved Detectron2 config (YAML text) in its settings and the weights as
safetensors, so loading it runs no pickle. Detectron2's own ``.pkl``
checkpoints are pickles (they can run code when read): `import_detectron2`
reads them only when the caller says it trusts the file.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rcm.config import parse_yaml, read_yaml
from rcm.errors import BackendMissingError, InputError, bad_input
from rcm.models._families import (
    WindowDetections,
    WindowFamily,
    register_window_model,
    settings_of,
)
from rcm.models._task import Task
from rcm.models._weights import load_torch

INSTALL_HINT = (
    "Detectron2 is not installed; it is not on PyPI: build it from source with "
    "`pip install --no-build-isolation 'git+https://github.com/facebookresearch/detectron2.git'` "
    "(see https://detectron2.readthedocs.io/en/latest/tutorials/install.html)"
)


def _detectron2() -> Any:
    try:
        import detectron2.config
        import detectron2.modeling
    except ImportError as error:
        raise BackendMissingError(INSTALL_HINT) from error
    return detectron2


def detectron2_available() -> bool:
    try:
        _detectron2()
    except BackendMissingError:
        return False
    return True


def resolve_config(path: str | os.PathLike[str]) -> str:
    """A Detectron2 YAML config (``_BASE_`` files followed) as one self-contained YAML text.

    Raises:
        InputError: If the file is missing or Detectron2 cannot read it.

    """
    if not Path(path).is_file():
        raise InputError(path, "Detectron2 config not found")
    if Path(path).suffix.lower() not in (".yaml", ".yml"):
        raise InputError(path, "only YAML Detectron2 configs are supported (not LazyConfig .py)")
    _check_config_chain(Path(path))
    d2 = _detectron2()
    cfg = d2.config.get_cfg()
    # yacs raises KeyError/AssertionError/YAMLError for bad configs
    with bad_input(path, kinds=(Exception,), what="not a usable Detectron2 config"):
        cfg.merge_from_file(os.fspath(path))
    cfg.MODEL.WEIGHTS = ""
    text: str = cfg.dump()
    return text


def _check_config_chain(path: Path) -> None:
    """Read `path` and every ``_BASE_`` file it names with rcm's bounded, safe YAML reader.

    yacs loads them with an unbounded loader that falls back to one that runs
    Python tags; reading them first refuses alias bombs and code before it does.
    """
    seen: set[Path] = set()
    pending = [path]
    while pending:
        current = pending.pop()
        if current.resolve() in seen:
            raise InputError(current, "Detectron2 config includes itself through _BASE_")
        seen.add(current.resolve())
        data = read_yaml(current)
        base = data.get("_BASE_") if isinstance(data, dict) else None
        for name in [base] if isinstance(base, str) else []:
            # Detectron2's rule: relative to the including file unless absolute or a URL.
            if name.startswith(("http://", "https://")):
                raise InputError(current, f"_BASE_ {name!r} is a URL: rcm reads local files only")
            named = Path(name).expanduser()
            pending.append(named if named.is_absolute() else current.parent / named)


def build_detectron2(*, num_classes: int, in_chans: int, window_px: int, config: str) -> nn.Module:
    """The network a resolved Detectron2 config describes, randomly initialised, on CPU."""
    del window_px  # Detectron2 models run on the window as given (no test-time resize here)
    d2 = _detectron2()
    cfg = d2.config.get_cfg()
    parse_yaml(config, None)  # bounded and safe first: the text comes from a model file
    cfg.merge_from_other_cfg(d2.config.CfgNode.load_cfg(config))
    if cfg.MODEL.META_ARCHITECTURE != "GeneralizedRCNN":
        raise ValueError(
            f"only Detectron2 instance models (GeneralizedRCNN) are supported, "
            f"not {cfg.MODEL.META_ARCHITECTURE}"
        )
    if num_classes != cfg.MODEL.ROI_HEADS.NUM_CLASSES:
        raise ValueError(
            f"the Detectron2 config has {cfg.MODEL.ROI_HEADS.NUM_CLASSES} classes, "
            f"the model file {num_classes}"
        )
    if len(cfg.MODEL.PIXEL_MEAN) != in_chans:
        raise ValueError(f"the Detectron2 config expects {len(cfg.MODEL.PIXEL_MEAN)} channels")
    cfg.MODEL.DEVICE = "cpu"
    model: nn.Module = d2.modeling.build_model(cfg)
    # Inputs arrive as RGB or gray; a BGR-trained network needs its channels swapped.
    model.rcm_swap_channels = in_chans == 3 and cfg.INPUT.FORMAT == "BGR"  # type: ignore[assignment]
    return model


def detect(module: nn.Module, windows: torch.Tensor) -> list[WindowDetections]:
    """Normalised windows (0-255 scale, see `import_detectron2`) through a Detectron2 model."""
    if getattr(module, "rcm_swap_channels", False):
        windows = windows.flip(1)
    height, width = windows.shape[-2:]
    inputs = [{"image": window, "height": height, "width": width} for window in windows]
    results = []
    for output in module(inputs):
        found = output["instances"]
        masks = found.pred_masks.float() if found.has("pred_masks") else None
        results.append(
            WindowDetections(
                boxes=found.pred_boxes.tensor,
                scores=found.scores,
                labels=found.pred_classes.long(),
                masks=masks,
            )
        )
    return results


def configure(module: nn.Module, min_score: float, max_detections: int) -> None:
    predictor: Any = getattr(module.roi_heads, "box_predictor")  # noqa: B009 (typed as Any)
    predictor.test_score_thresh = min_score
    predictor.test_topk_per_image = max_detections


def read_checkpoint(
    path: str | os.PathLike[str], *, trust_pickle: bool = False
) -> dict[str, torch.Tensor]:
    """The weights of a Detectron2 checkpoint (``.pth`` or, if trusted, ``.pkl``).

    Raises:
        InputError: If the file is missing, a pickle that is not trusted, or holds
            no weights.

    """
    target = Path(path)
    if not target.is_file():
        raise InputError(path, "checkpoint not found")
    unreadable = (OSError, pickle.UnpicklingError, EOFError, RuntimeError, ValueError)
    with bad_input(path, kinds=unreadable, what="cannot read checkpoint"):
        if target.suffix.lower() == ".pkl":
            if not trust_pickle:
                raise InputError(
                    path,
                    "Detectron2 .pkl checkpoints are pickles, which can run code when read; "
                    "pass --trust-pickle if you trust where this file came from",
                )
            with target.open("rb") as handle:
                blob = pickle.load(handle, encoding="latin1")
        else:
            blob = load_torch(target)
    weights = blob.get("model", blob) if isinstance(blob, dict) else None
    if not isinstance(weights, dict) or not weights:
        raise InputError(path, "no model weights in the checkpoint")
    if isinstance(blob, dict) and blob.get("matching_heuristics"):
        raise InputError(path, "Caffe2-style checkpoint: convert it with Detectron2 first")
    return {
        key: value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
        for key, value in weights.items()
    }


def _build(*, num_classes: int, in_chans: int, window_px: int, **settings: str) -> nn.Module:
    chosen = settings_of(settings, ("config",), "detectron2")
    if "config" not in chosen:
        raise ValueError("a detectron2 model file needs its config in settings['config']")
    return build_detectron2(
        num_classes=num_classes, in_chans=in_chans, window_px=window_px, config=chosen["config"]
    )


register_window_model(
    WindowFamily("detectron2", Task.DETECTOR, _build, detect=detect, configure=configure)
)
