"""Where training stands (saved in every checkpoint), and the epoch record behind early stopping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rcm.train._config import TrainConfig


@dataclass
class TrainState:
    """Where training is: saved in every checkpoint."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken
    best: float | None = None
    best_epoch: int | None = None
    stale_epochs: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainResult:
    """The trained model file and how training went."""

    model_path: Path
    state: TrainState
    stopped_early: bool


@dataclass(frozen=True)
class Timing:
    """One epoch's clock: whole epoch, training pass, waiting for data, examples seen."""

    seconds: float
    train_seconds: float
    waited: float
    examples: int


def record_epoch(
    state: TrainState,
    config: TrainConfig,
    epoch: int,
    loss: float,
    metrics: dict[str, float],
    timing: Timing,
    optimizer: torch.optim.Optimizer,
    monitor: str,
) -> bool:
    """Add the epoch to the history; True when the monitored metric improved."""
    value = metrics[monitor] if math.isfinite(metrics[monitor]) else -math.inf
    # The first epoch always writes a model file, so there is one to resume towards.
    improved = state.best is None or value > state.best + config.optim.min_delta
    if improved:
        state.best, state.best_epoch, state.stale_epochs = value, epoch + 1, 0
    else:
        state.stale_epochs += 1
    state.epoch = epoch + 1
    state.history.append(
        {
            "epoch": epoch + 1,
            "step": state.step,
            "lr": optimizer.param_groups[0]["lr"],
            "train_loss": loss,
            **{f"val_{name}": float(v) for name, v in metrics.items()},
            "examples_per_s": timing.examples / timing.train_seconds,
            "data_wait_share": timing.waited / timing.train_seconds,
            "train_seconds": timing.train_seconds,
            "seconds": timing.seconds,
        }
    )
    return improved


def stops_early(state: TrainState, config: TrainConfig) -> bool:
    """Whether the monitored metric has not improved for ``optim.patience`` epochs."""
    return state.stale_epochs >= config.optim.patience
