"""Weights trained elsewhere (plain state dicts, Detectron2 checkpoints) into rcm model files.

A foreign checkpoint carries no description of itself, so the user states it
(architecture, classes, window size...) once, here; the weights are checked
against the network that description builds before anything is written.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from rcm.config import parse_yaml
from rcm.errors import InputError, bad_input
from rcm.models._build import build_network
from rcm.models._detectron2 import read_checkpoint, resolve_config
from rcm.models._meta import ModelMeta
from rcm.models._modelfile import check_fits
from rcm.models._task import Task
from rcm.models._weights import load_torch


def detectron2_meta(
    config: str | os.PathLike[str],
    *,
    classes: tuple[str, ...],
    positive: tuple[str, ...],
    window_px: int,
    um_per_px: float | None = None,
) -> ModelMeta:
    """Metadata for a Detectron2 model: its resolved config, classes and input scaling.

    Detectron2 normalises 0-255 pixels itself (PIXEL_MEAN / PIXEL_STD in its
    config), so the runner is told to scale inputs to 0-255 and nothing else.

    Raises:
        InputError: If the config is missing, unreadable, or counts other classes.

    """
    text = resolve_config(config)
    model = parse_yaml(text, config)["MODEL"]  # bounded, as every YAML rcm reads
    expected = model["ROI_HEADS"]["NUM_CLASSES"]
    if expected != len(classes):
        raise InputError(
            config, f"the config has {expected} classes (ROI_HEADS.NUM_CLASSES), not {len(classes)}"
        )
    channels = len(model["PIXEL_MEAN"])
    return ModelMeta(
        architecture="detectron2",
        task=Task.DETECTOR,
        classes=classes,
        positive=positive,
        in_chans=channels,
        tile_px=window_px,
        um_per_px=um_per_px,
        mean=(0.0,) * channels,
        std=(1 / 255,) * channels,
        settings={"config": text},
        provenance={"imported_from": {"config": str(config)}},
    )


def import_weights(
    checkpoint: str | os.PathLike[str], meta: ModelMeta, *, trust_pickle: bool = False
) -> torch.nn.Module:
    """The network `meta` describes, carrying the weights of `checkpoint`.

    Args:
        checkpoint: Detectron2 ``.pth``/``.pkl`` for ``detectron2``; otherwise a
            state dict as ``.safetensors`` or ``.pt``/``.pth`` (read without
            unpickling code; a ``{"state_dict": ...}`` or ``{"model": ...}``
            wrapper is unwrapped).
        meta: What the weights are.
        trust_pickle: Allow Detectron2 ``.pkl`` pickles.

    Raises:
        InputError: If the checkpoint cannot be read or does not fit the network.

    """
    if meta.architecture == "detectron2":
        state = read_checkpoint(checkpoint, trust_pickle=trust_pickle)
    else:
        state = _state_dict(checkpoint)
    try:
        module = build_network(meta)
    except InputError:
        raise
    except Exception as error:  # torchvision, smp and timm raise several types for bad names
        raise InputError(checkpoint, f"cannot build {meta.architecture!r}: {error}") from error
    check_fits(checkpoint, module, state, meta)
    module.load_state_dict(state, strict=True)
    return module


def _state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    target = Path(path)
    if not target.is_file():
        raise InputError(path, "checkpoint not found")
    unreadable = (OSError, RuntimeError, ValueError, SafetensorError)
    with bad_input(path, kinds=unreadable, what="cannot read checkpoint"):
        if target.suffix.lower() == ".safetensors":
            return load_file(str(target))
    blob = load_torch(target)
    for key in ("state_dict", "model"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
    if not isinstance(blob, dict) or not all(isinstance(v, torch.Tensor) for v in blob.values()):
        raise InputError(path, "not a state dict of tensors")
    return blob
