"""Loading a model file: read it, build the network it names, check and load the weights."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from rcm.errors import InputError
from rcm.io import file_checksum
from rcm.models._build import build_network
from rcm.models._meta import ModelMeta
from rcm.models._modelfile import check_fits, read_model_file


@dataclass(frozen=True)
class LoadedModel:
    """A network in eval mode with the metadata and checksum of its file."""

    module: nn.Module
    meta: ModelMeta
    checksum: str
    path: str


def load_model(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the network a model file describes and load its weights.

    Raises:
        InputError: If the file is missing, not a model file, or its weights do
            not fit the architecture it names (before any inference runs).

    """
    meta, state = read_model_file(path)
    try:
        module = build_network(meta)
    except Exception as error:  # timm raises several types for bad architectures
        raise InputError(path, f"cannot build {meta.architecture!r}: {error}") from error
    check_fits(path, module, state, meta)
    module.load_state_dict(state, strict=True)
    module.eval().to(device)
    return LoadedModel(module, meta, file_checksum(path), os.fspath(path))
