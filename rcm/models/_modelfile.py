"""Model files that carry their own metadata and load without executing code.

A model file is a safetensors file whose header metadata holds, under the key
``rcm``, a JSON `ModelMeta`: architecture, classes, tile size, microns per
pixel, normalisation and provenance. Inference builds the network from that
metadata, so it cannot silently mismatch training. Plain PyTorch files
(``.pt``/``.pth``) are accepted when they hold ``{"rcm": <json>, "state_dict":
{...}}`` and are read with ``torch.load(weights_only=True)``.

This module writes and reads the file; building the network is
`rcm.models.build_network` and both together are `rcm.models.load_model`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from rcm.errors import InputError, bad_input
from rcm.io import atomic_output
from rcm.models._meta import FORMAT, ModelMeta
from rcm.models._weights import check_finite_weights, load_torch

__all__ = [
    "FORMAT",
    "ModelMeta",
    "check_fits",
    "read_meta",
    "read_model_file",
    "save_model",
    "save_state",
]

_TORCH_SUFFIXES = (".pt", ".pth")
# What reading a damaged or foreign file raises (JSON, metadata, safetensors).
_UNUSABLE = (ValueError, TypeError, KeyError, SafetensorError, RuntimeError, OSError)


def save_model(
    path: str | os.PathLike[str], module: nn.Module, meta: ModelMeta, *, overwrite: bool = False
) -> Path:
    """Write weights and metadata to one safetensors file, atomically."""
    return save_state(path, module.state_dict(), meta, overwrite=overwrite)


def save_state(
    path: str | os.PathLike[str],
    state: Mapping[str, torch.Tensor],
    meta: ModelMeta,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the weights `state` (as `read_model_file` gives them) with `meta`, atomically.

    The same weights under new metadata (a calibration added) need no network built.
    """
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in state.items()}
    with atomic_output(path, overwrite=overwrite) as partial:
        save_file(tensors, str(partial), metadata={"rcm": meta.to_json()})
    return Path(path)


def read_meta(path: str | os.PathLike[str]) -> ModelMeta:
    """The metadata of a model file, without reading its weights."""
    meta, _ = _read(path, weights=False)
    return meta


def read_model_file(path: str | os.PathLike[str]) -> tuple[ModelMeta, dict[str, torch.Tensor]]:
    """The metadata and weights of a model file.

    Raises:
        InputError: If the file is missing or not a model file (its message names the file).

    """
    return _read(path, weights=True)


def _read(
    path: str | os.PathLike[str], *, weights: bool
) -> tuple[ModelMeta, dict[str, torch.Tensor]]:
    target = Path(path)
    if not target.is_file():
        raise InputError(path, "model file not found")
    with bad_input(path, kinds=_UNUSABLE, what="not a usable model file"):
        if target.suffix.lower() in _TORCH_SUFFIXES:
            blob = load_torch(target)  # its own one-line InputError
            if not isinstance(blob, dict) or "rcm" not in blob or "state_dict" not in blob:
                raise ValueError("a .pt model file must hold {'rcm': <json>, 'state_dict': {...}}")
            return ModelMeta.from_json(blob["rcm"]), dict(blob["state_dict"]) if weights else {}
        with safe_open(str(target), framework="pt") as handle:
            header = handle.metadata() or {}
            if "rcm" not in header:
                raise ValueError("safetensors file has no rcm metadata (not an rcm model file)")
            meta = ModelMeta.from_json(header["rcm"])
            names = handle.keys() if weights else []
            state = {key: handle.get_tensor(key) for key in names}
        return meta, state


def check_fits(
    path: str | os.PathLike[str], module: nn.Module, state: dict[str, torch.Tensor], meta: ModelMeta
) -> None:
    """Check that the weights `state` read from `path` fit `module` exactly and are finite.

    Raises:
        InputError: Naming how many weights are missing, unexpected or of another
            shape, or the first weight holding NaN or infinity.

    """
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        f"{key}: file {tuple(state[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in sorted(set(state) & set(expected))
        if state[key].shape != expected[key].shape
    ]
    if not (missing or unexpected or mismatched):
        check_finite_weights(path, state)
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if mismatched:
        problems.append(f"{len(mismatched)} of another shape (e.g. {mismatched[0]})")
    raise InputError(
        path,
        f"weights do not fit {meta.architecture} with {len(meta.classes)} classes and "
        f"{meta.in_chans} input channel(s): " + "; ".join(problems),
    )
