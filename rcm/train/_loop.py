"""The training loop shared by classifiers, detectors and segmenters.

Plain PyTorch: AdamW, linear warm-up then cosine decay (per optimiser step),
gradient accumulation, bf16 autocast on GPU (fp16 with a gradient scaler on
request), early stopping on a validation metric, torchrun/DDP. Each epoch
reseeds every generator from ``(seed, epoch)``, so a checkpoint needs no random
state and ``--resume`` continues exactly where an uninterrupted run would be.
A loop written here rather than Lightning or Accelerate: the whole of it fits
on a page, and those would add a framework for what one function does.

The pieces: `rcm.train._schedule` (optimiser, schedule, precision, seeds),
`rcm.train._epoch` (one pass and validation), `rcm.train._state` (history and
early stopping), `rcm.train._checkpoint` (save, resume, the training folder).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rcm.io import atomic_output
from rcm.models import save_model
from rcm.train._checkpoint import CHECKPOINT, MODEL_FILE, load_checkpoint, save_checkpoint
from rcm.train._config import TrainConfig
from rcm.train._distributed import (
    Processes,
    pick_training_device,
    start_processes,
    stop_processes,
)
from rcm.train._epoch import process_share, steps_per_epoch, train_epoch, validate
from rcm.train._log import write_curves, write_log
from rcm.train._schedule import Optimisation, optimisation, seed_everything
from rcm.train._state import Timing, TrainResult, TrainState, record_epoch, stops_early
from rcm.train._task import TrainTask


def fit(
    task: TrainTask,
    config: TrainConfig,
    output: Path,
    *,
    resume: bool = False,
    progress: bool = True,
    provenance: dict[str, Any] | None = None,
    on_epoch_end: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train `task` as `config` says, writing checkpoints, log and model file into `output`.

    Args:
        task: The task (data, network, loss, validation).
        config: The resolved training config.
        output: Training folder; ``checkpoints/last.pt`` is written every epoch,
            ``model.safetensors`` whenever the validation metric improves.
        resume: Continue from ``checkpoints/last.pt`` (same config required).
        progress: Show a progress bar per epoch.
        provenance: Facts stored in the model file (split, data checksums...).
        on_epoch_end: Called after each epoch's checkpoint is written.

    """
    device = pick_training_device(config.runtime.device)
    processes = start_processes(device)
    # Deterministic kernels are switched on for training only, not for later inference.
    settings = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
    )
    try:
        run, state = _start(task, config, output, device, processes, resume)
        return _fit(run, state, progress, provenance or {}, on_epoch_end)
    finally:
        torch.use_deterministic_algorithms(settings[0], warn_only=settings[1])
        torch.backends.cudnn.benchmark = settings[2]
        stop_processes(processes)


@dataclass(frozen=True)
class _Run:
    """What stays fixed through one training run."""

    task: TrainTask
    config: TrainConfig
    output: Path
    device: torch.device
    processes: Processes
    model: nn.Module  # the network itself (saved, validated)
    trained: nn.Module  # what the passes run: the network, or its DDP wrapper
    optimisation: Optimisation


def _start(
    task: TrainTask,
    config: TrainConfig,
    output: Path,
    device: torch.device,
    processes: Processes,
    resume: bool,
) -> tuple[_Run, TrainState]:
    """Seed, build the network and optimiser, resume if asked, record the config."""
    seed_everything(config.runtime.seed, -1)
    if config.runtime.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    model = task.build().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimised = optimisation(model, config, device, steps_per_epoch(task, config, processes))
    state = TrainState()
    if resume:
        state = load_checkpoint(output / CHECKPOINT, config, processes.world, model, optimised)
    if processes.main:  # after a resume was accepted, so a refused one changes nothing
        with atomic_output(output / "config.json", overwrite=True) as partial:
            partial.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    trained: nn.Module = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if processes.distributed
        else model
    )
    return _Run(task, config, output, device, processes, model, trained, optimised), state


def _fit(
    run: _Run,
    state: TrainState,
    progress: bool,
    provenance: dict[str, Any],
    on_epoch_end: Callable[[TrainState], None] | None,
) -> TrainResult:
    stopped_early = stops_early(state, run.config)
    for epoch in range(state.epoch, run.config.optim.epochs):
        if stopped_early:
            break
        metrics, improved = _epoch(run, state, epoch, progress and run.processes.main)
        if run.processes.main:
            _write_epoch(run, state, epoch, metrics, improved, provenance)
        run.processes.barrier()
        if on_epoch_end is not None:
            on_epoch_end(state)
        stopped_early = stops_early(state, run.config)
    return TrainResult(run.output / MODEL_FILE, state, stopped_early)


def _epoch(
    run: _Run, state: TrainState, epoch: int, progress: bool
) -> tuple[dict[str, float], bool]:
    """Train and validate one epoch; its validation metrics, and whether they improved."""
    started = time.perf_counter()
    config, seed = run.config, run.config.runtime.seed
    generator = seed_everything(seed, epoch)
    indices = run.task.epoch_examples(epoch, np.random.default_rng([seed, epoch]))
    own = process_share(indices, run.processes, config.optim.batch_size)
    run.trained.train()
    loss, waited, examples, train_seconds = train_epoch(
        run.task,
        run.trained,
        run.optimisation,
        own,
        run.device,
        generator,
        config,
        epoch,
        progress,
        state,
    )
    metrics = validate(run.task, run.model, run.device, run.processes)
    timing = Timing(time.perf_counter() - started, train_seconds, waited, examples)
    optimizer = run.optimisation.optimizer
    improved = record_epoch(
        state, config, epoch, loss, metrics, timing, optimizer, run.task.monitor
    )
    return metrics, improved


def _write_epoch(
    run: _Run,
    state: TrainState,
    epoch: int,
    metrics: dict[str, float],
    improved: bool,
    provenance: dict[str, Any],
) -> None:
    """The main process's files: the model when it improved, then checkpoint, log and curves."""
    config, output = run.config, run.output
    if improved:
        meta = run.task.meta(
            {**provenance, "epoch": epoch + 1, "validation": metrics, "config": config.to_dict()}
        )
        save_model(output / MODEL_FILE, run.model, meta, overwrite=True)
    save_checkpoint(
        output / CHECKPOINT, config, run.processes.world, run.model, run.optimisation, state
    )
    write_log(output / "log.csv", state.history)
    write_curves(output / "curves.png", state.history, run.task.monitor)
