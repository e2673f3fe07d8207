"""A run stopped after its first epoch and resumed must end as if it had never stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rcm.train import TrainConfig, TrainResult, TrainState, train


def train_straight_and_resumed(config: TrainConfig, folder: Path) -> TrainResult:
    """Train `config` straight and stopped-then-resumed; the weights must be equal.

    Returns the resumed run's result; the runs are ``folder/straight`` and ``folder/resumed``.
    """
    train(config, folder / "straight", progress=False)

    def stop_after_first(state: TrainState) -> None:
        if state.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(config, folder / "resumed", progress=False, on_epoch_end=stop_after_first)
    result, _ = train(config, folder / "resumed", resume=True, progress=False)
    straight = load_file(folder / "straight" / "model.safetensors")
    resumed = load_file(folder / "resumed" / "model.safetensors")
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[key], resumed[key]) for key in straight)
    return result
