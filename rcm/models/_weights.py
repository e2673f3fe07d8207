"""Weights as rcm reads them: torch files without running code, and finite numbers only.

A NaN or infinite weight makes every output NaN, which later reads as "no
suspicious tissue": a wrong answer given silently. So weights are refused when
read (model files and imported checkpoints alike), naming the first bad tensor.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from typing import Any

import torch

from rcm.errors import InputError

# torch explains a refusal in several lines; the object it refused is the one fact kept.
_GLOBAL = re.compile(r"GLOBAL [\w.]+")


def load_torch(path: str | os.PathLike[str]) -> Any:
    """``torch.load`` of a ``.pt``/``.pth`` file with ``weights_only=True`` (no code runs).

    Raises:
        InputError: In one line naming the file: a pickle holding Python objects
            other than tensors and plain containers, or a file torch cannot read.

    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except MemoryError:
        raise
    except Exception as error:  # torch.load of arbitrary bytes raises KeyError, struct.error...
        found = _GLOBAL.search(str(error))
        if isinstance(error, pickle.UnpicklingError) and found:
            raise InputError(
                path,
                f"holds pickled Python objects ({found.group(0)}), which can run code when read; "
                "rcm reads torch files as tensors only: save a plain state dict or safetensors",
            ) from error
        raise InputError(path, f"cannot read the torch file ({_reason(error)})") from error


def _reason(error: Exception) -> str:
    """The line of torch's message that says what is wrong, with the error's type."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    marker = "WeightsUnpickler error:"
    for number, line in enumerate(lines):
        if marker in line:
            rest = line.split(marker, 1)[1].strip()
            return rest or (lines[number + 1] if number + 1 < len(lines) else "")
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def check_finite_weights(path: str | os.PathLike[str], state: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or infinity, naming the first such tensor.

    Raises:
        InputError: Naming `path`, the tensor and what it holds (NaN, Inf).

    """
    for name, tensor in state.items():
        if not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        if bool(torch.isfinite(tensor).all()):
            continue
        kinds = [
            kind
            for kind, test in (("NaN", torch.isnan), ("Inf", torch.isinf))
            if test(tensor).any()
        ]
        raise InputError(
            path, f"weight {name} holds non-finite values ({' and '.join(kinds)}): not usable"
        )
