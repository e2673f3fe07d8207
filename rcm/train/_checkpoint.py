"""The training folder: its checkpoint (save and resume) and the check before a run starts.

A checkpoint holds the config, the number of processes, the network, the
optimiser, schedule and scaler states and the `TrainState`; no random state,
since every epoch reseeds from ``(seed, epoch)``. Resuming needs the same config
(but for `RESUMABLE_CHANGES`) and the same number of processes.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rcm.errors import InputError
from rcm.io import atomic_output
from rcm.train._config import TrainConfig
from rcm.train._schedule import Optimisation
from rcm.train._state import TrainState

CHECKPOINT = "checkpoints/last.pt"
MODEL_FILE = "model.safetensors"
# Settings that change where and how fast training runs, not what it computes.
RESUMABLE_CHANGES = (("runtime", "workers"), ("runtime", "device"))


def save_checkpoint(
    path: Path,
    config: TrainConfig,
    world: int,
    model: nn.Module,
    optimisation: Optimisation,
    state: TrainState,
) -> None:
    """Write everything `load_checkpoint` needs to continue, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "config": config.to_dict(),
        "world": world,
        "model": model.state_dict(),
        "optimizer": optimisation.optimizer.state_dict(),
        "scheduler": optimisation.scheduler.state_dict(),
        "scaler": optimisation.scaler.state_dict(),
        "state": asdict(state),
    }
    with atomic_output(path, overwrite=True) as partial:
        torch.save(blob, partial)


def load_checkpoint(
    path: Path,
    config: TrainConfig,
    world: int,
    model: nn.Module,
    optimisation: Optimisation,
) -> TrainState:
    """Restore the network and optimisation from `path`; return where training stood.

    Raises:
        InputError: If there is no readable checkpoint, or it was written with
            another config or another number of processes.

    """
    if not path.is_file():
        raise InputError(path, "no checkpoint to resume from (train without --resume first)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, ValueError) as error:
        raise InputError(path, f"unreadable checkpoint ({error})") from error
    changed = config_changes(blob.get("config", {}), config.to_dict())
    if changed:
        raise InputError(
            path,
            f"the checkpoint was written with another config ({', '.join(changed)} differ); "
            "resume with the same config (or start a new training folder)",
        )
    if blob.get("world", 1) != world:
        raise InputError(
            path,
            f"the checkpoint was written by {blob.get('world', 1)} process(es), not {world}: "
            "resume with the same number of processes (the epoch's sharding depends on it)",
        )
    model.load_state_dict(blob["model"])
    optimisation.optimizer.load_state_dict(blob["optimizer"])
    optimisation.scheduler.load_state_dict(blob["scheduler"])
    optimisation.scaler.load_state_dict(blob["scaler"])
    return TrainState(**blob["state"])


def config_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Dotted keys whose values differ between two configs, ignoring `RESUMABLE_CHANGES`."""
    changed = []
    for section in sorted(set(saved) | set(current)):
        old, new = saved.get(section), current.get(section)
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new)):
                if (section, key) not in RESUMABLE_CHANGES and old.get(key) != new.get(key):
                    changed.append(f"{section}.{key}")
        elif old != new:
            changed.append(section)
    return changed


def output_ready(output: Path, *, resume: bool, overwrite: bool) -> None:
    """Check the training folder: a fresh run needs it empty (or --overwrite), resume needs it."""
    if resume:
        return
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise InputError(
                output,
                "training folder is not empty: pass --resume to continue it or "
                "--overwrite to start again",
            )
        for name in (CHECKPOINT, MODEL_FILE, "log.csv", "curves.png"):
            (output / name).unlink(missing_ok=True)
    output.mkdir(parents=True, exist_ok=True)
