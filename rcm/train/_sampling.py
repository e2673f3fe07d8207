"""An epoch's examples: which ones (balanced or shuffled, from the seed) and how they are loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from rcm.train._config import TrainConfig


def draw_examples(
    count: int, size: int, weights: np.ndarray | None, rng: np.random.Generator
) -> np.ndarray:
    """`count` indices into `size` examples.

    With `weights` they are drawn with replacement in proportion to them
    (balanced sampling); without, they are whole shuffled passes, cut at `count`.
    """
    if weights is not None:
        return rng.choice(size, size=count, replace=True, p=weights / weights.sum())
    repeats = -(-count // size)
    return np.concatenate([rng.permutation(size) for _ in range(repeats)])[:count]


def example_loader(
    dataset: torch.utils.data.Dataset[Any],
    indices: np.ndarray,
    config: TrainConfig,
    device: torch.device,
    collate: Callable[[list[Any]], Any] | None = None,
) -> Iterator[Any]:
    """Batches of ``dataset[indices]`` in that order, read by ``runtime.workers`` processes."""
    workers = config.runtime.workers
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, indices.tolist()),
        batch_size=config.optim.batch_size,
        shuffle=False,  # the order is the epoch's draw, the same in every process
        num_workers=workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
    )
    yield from loader
