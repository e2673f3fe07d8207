"""One epoch: each process's share of the draw, the training pass, and validation."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from rcm.train._config import TrainConfig
from rcm.train._distributed import Processes
from rcm.train._schedule import Optimisation
from rcm.train._state import TrainState
from rcm.train._task import TrainTask


def process_share(indices: np.ndarray, processes: Processes, batch_size: int) -> np.ndarray:
    """The examples of the epoch's draw that the process `processes` describes takes.

    Every process must take the same number of batches, or the collectives of the
    longer ones wait forever: the draw is wrapped to a multiple of the world. A
    last batch of one example is dropped: BatchNorm cannot train on it.
    """
    wrapped = np.resize(indices, -(-len(indices) // processes.world) * processes.world)
    own = wrapped[processes.rank :: processes.world]
    if len(own) > 1 and len(own) % batch_size == 1:
        own = own[:-1]
    return own


def steps_per_epoch(task: TrainTask, config: TrainConfig, processes: Processes) -> int:
    """Optimiser steps in one epoch of this process (the schedule's unit)."""
    examples = task.epoch_examples(0, np.random.default_rng(0))
    per_process = len(process_share(examples, processes, config.optim.batch_size))
    return math.ceil(math.ceil(per_process / config.optim.batch_size) / config.optim.accumulate)


def train_epoch(
    task: TrainTask,
    model: nn.Module,
    optimisation: Optimisation,
    indices: np.ndarray,
    device: torch.device,
    generator: torch.Generator,
    config: TrainConfig,
    epoch: int,
    progress: bool,
    state: TrainState,
) -> tuple[float, float, int, float]:
    """One pass; returns the mean loss, seconds waiting for data, examples seen, and seconds."""
    started = time.perf_counter()
    batch_size, accumulate = config.optim.batch_size, config.optim.accumulate
    total_loss, batches, waited, examples = 0.0, 0, 0.0, 0
    optimisation.optimizer.zero_grad(set_to_none=True)
    bar = tqdm(
        total=math.ceil(len(indices) / batch_size),
        desc=f"epoch {epoch + 1}/{config.optim.epochs}",
        unit="batch",
        disable=not progress,
        leave=False,
    )
    for micro, (batch, wait) in enumerate(_timed(task.batches(indices, device))):
        waited += wait
        last_micro = (micro + 1) % accumulate == 0 or (micro + 1) * batch_size >= len(indices)
        loss = _micro_step(
            task, model, optimisation, batch, generator, device, accumulate, last_micro
        )
        if last_micro:
            state.step += 1
        value = float(loss.detach())
        if not math.isfinite(value):
            raise FloatingPointError(f"loss became {value} in epoch {epoch + 1}; lower optim.lr")
        total_loss += value
        batches += 1
        examples += _batch_size(batch)
        bar.update()
        bar.set_postfix(loss=f"{total_loss / batches:.4f}")
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # so the epoch's time includes its last kernels
    return total_loss / max(batches, 1), waited, examples, time.perf_counter() - started


def _micro_step(
    task: TrainTask,
    model: nn.Module,
    optimisation: Optimisation,
    batch: Any,
    generator: torch.Generator,
    device: torch.device,
    accumulate: int,
    last_micro: bool,
) -> torch.Tensor:
    """Accumulate one batch's gradients; the last batch of a group steps the optimiser."""
    precision, scaler = optimisation.precision, optimisation.scaler
    # Between optimiser steps DDP need not average gradients: only the last batch syncs.
    sync = (
        nullcontext()
        if last_micro or not isinstance(model, DistributedDataParallel)
        else model.no_sync()
    )
    with sync:
        with torch.autocast(
            device.type, dtype=precision or torch.float32, enabled=precision is not None
        ):
            loss = task.loss(model, batch, generator)
        scaler.scale(loss / accumulate).backward()
    if last_micro:
        scaler.step(optimisation.optimizer)
        scaler.update()
        optimisation.optimizer.zero_grad(set_to_none=True)
        optimisation.scheduler.step()
    return loss


def _timed(batches: Iterable[Any]) -> Iterator[tuple[Any, float]]:
    """Each batch with the seconds spent waiting for it (the data-loading share)."""
    iterator = iter(batches)
    while True:
        started = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            return
        yield batch, time.perf_counter() - started


def _batch_size(batch: Any) -> int:
    first = batch[0] if isinstance(batch, tuple | list) else batch
    return len(first)


def validate(
    task: TrainTask, model: nn.Module, device: torch.device, processes: Processes
) -> dict[str, float]:
    """Validation on the main process; the others receive its metrics."""
    metrics: list[dict[str, float] | None] = [None]
    if processes.main:
        model.eval()
        with torch.inference_mode():
            found = task.validate(model, device)
        if task.monitor not in found:
            raise KeyError(f"validation gave no {task.monitor!r}")
        metrics[0] = found
    if processes.distributed:
        torch.distributed.broadcast_object_list(metrics, src=0)
    assert metrics[0] is not None
    return metrics[0]
