"""Local pretrained weights (``model.init``) placed into a detector or segmenter network."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from rcm.errors import InputError

log = logging.getLogger(__name__)

# Where local pretrained weights (model.init) may sit inside the network, tried in
# turn: the whole network, a torchvision detector's ResNet, an smp encoder (its own
# or a timm one). The prefix that places the most tensors wins.
INIT_PREFIXES = ("", "backbone.body.", "encoder.", "encoder.model.")


def load_init(network: nn.Module, path: Path) -> dict[str, int]:
    """Load local pretrained weights into the part of `network` they fit.

    Takes a safetensors file or a PyTorch state dict (read with
    ``weights_only=True``; ``{"state_dict": ...}`` and ``{"model": ...}`` wrappers
    are opened). The weights are placed under the prefix of `INIT_PREFIXES` where
    most of them fit by name and shape; an RGB first convolution is summed to
    one channel for grayscale networks (and a gray one spread over three).

    Returns:
        Counts of ``loaded`` tensors and of network tensors left ``initialised``.

    Raises:
        InputError: If the file cannot be read or none of its weights fit.

    """
    state = _read_state(path)
    expected = network.state_dict()
    best: dict[str, torch.Tensor] = {}
    for prefix in INIT_PREFIXES:
        fitted = {}
        for key, value in state.items():
            name = prefix + key
            if name in expected:
                adapted = _fit_channels(value, expected[name].shape)
                if adapted is not None:
                    fitted[name] = adapted
        if len(fitted) > len(best):
            best = fitted
    if not best:
        raise InputError(path, "none of its weights fit the network (names or shapes differ)")
    network.load_state_dict(best, strict=False)
    counts = {"loaded": len(best), "initialised": len(expected) - len(best)}
    log.info("initial weights from %s: %d tensors loaded, %d left random", path, *counts.values())
    return counts


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix.lower() == ".safetensors":
            return load_file(str(path))
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, SafetensorError, pickle.UnpicklingError) as error:
        raise InputError(path, f"cannot read initial weights ({error})") from error
    for key in ("state_dict", "model"):
        if isinstance(blob, dict) and isinstance(blob.get(key), dict):
            blob = blob[key]
    if not isinstance(blob, dict):
        raise InputError(path, "initial weights must be a state dict")
    return {k: v for k, v in blob.items() if isinstance(v, torch.Tensor)}


def _fit_channels(value: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """`value` shaped as `shape` (first convolution's input channels adapted), or None."""
    if value.shape == shape:
        return value
    if value.ndim == 4 and value.shape[0] == shape[0] and value.shape[2:] == shape[2:]:
        if value.shape[1] == 3 and shape[1] == 1:
            return value.sum(dim=1, keepdim=True)
        if value.shape[1] == 1 and shape[1] == 3:
            return value.expand(-1, 3, -1, -1) / 3
    return None
