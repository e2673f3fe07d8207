"""The training loop shared by classifiers, detectors and segmenters.

Plain PyTorch: AdamW, linear warm-up then cosine decay (per optimiser step),
gradient accumulation, bf16 autocast on GPU (fp16 with a gradient scaler on
request), early stopping on a validation metric, torchrun/DDP. Each epoch
reseeds every generator from ``(seed, epoch)``, so a checkpoint needs no random
state and ``--resume`` continues exactly where an uninterrupted run would be.
A loop written here rather than Lightning or Accelerate: the whole of it fits
on a page, and those would add a framework for what one function does.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from timm.optim import param_groups_weight_decay
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from rcm.errors import InputError
from rcm.io._atomic import atomic_output
from rcm.models import ModelMeta, Task, save_model
from rcm.train._config import TrainConfig
from rcm.train._distributed import (
    Processes,
    pick_training_device,
    start_processes,
    stop_processes,
)
from rcm.train._log import write_curves, write_log

CHECKPOINT = "checkpoints/last.pt"
MODEL_FILE = "model.safetensors"


class TrainTask(Protocol):
    """What differs between classifiers, detectors and segmenters."""

    monitor: str  # the validation metric to maximise (early stopping, best model)

    def build(self) -> nn.Module:
        """The network, initialised (randomly or from local pretrained weights)."""

    def epoch_examples(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
        """Indices of the training examples of one epoch, in order (all processes alike)."""

    def batches(self, indices: np.ndarray, device: torch.device) -> Iterable[Any]:
        """Batches of those examples, as the loss takes them."""

    def loss(self, model: nn.Module, batch: Any, generator: torch.Generator) -> torch.Tensor:
        """Augment the batch (with `generator`) and return the mean loss."""

    def validate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Metrics on the validation split; must contain `monitor`."""

    def meta(self, provenance: dict[str, Any]) -> ModelMeta:
        """The model file's metadata."""


def model_meta(
    config: TrainConfig,
    *,
    task: str,
    classes: tuple[str, ...],
    positive: tuple[str, ...],
    um_per_px: float | None,
    provenance: dict[str, Any],
) -> ModelMeta:
    """The model file's metadata: the config's model section plus what the task decided."""
    model = config.model
    return ModelMeta(
        architecture=model.architecture,
        classes=classes,
        positive=positive,
        in_chans=model.in_chans,
        tile_px=model.tile_px,
        um_per_px=um_per_px,
        mean=model.mean,
        std=model.std,
        task=Task(task),
        settings=dict(model.settings),
        provenance=provenance,
    )


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
        return _fit(
            task,
            config,
            output,
            device,
            processes,
            resume,
            progress,
            provenance or {},
            on_epoch_end,
        )
    finally:
        torch.use_deterministic_algorithms(settings[0], warn_only=settings[1])
        torch.backends.cudnn.benchmark = settings[2]
        stop_processes(processes)


def _fit(
    task: TrainTask,
    config: TrainConfig,
    output: Path,
    device: torch.device,
    processes: Processes,
    resume: bool,
    progress: bool,
    provenance: dict[str, Any],
    on_epoch_end: Callable[[TrainState], None] | None,
) -> TrainResult:
    seed = config.runtime.seed
    _seed_everything(seed, -1)
    if config.runtime.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    model = task.build().to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        param_groups_weight_decay(model, config.optim.weight_decay), lr=config.optim.lr
    )
    steps_per_epoch = _steps_per_epoch(task, config, processes)
    total_steps = steps_per_epoch * config.optim.epochs
    warmup = round(config.optim.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup, total_steps))
    precision = _precision(config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    state = TrainState()
    checkpoint = output / CHECKPOINT
    if resume:
        state = _load_checkpoint(
            checkpoint, config, processes.world, model, optimizer, scheduler, scaler
        )
    if processes.main:  # after a resume was accepted, so a refused one changes nothing
        with atomic_output(output / "config.json", overwrite=True) as partial:
            partial.write_text(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    trained: nn.Module = (
        DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
        if processes.distributed
        else model
    )
    stopped_early = state.stale_epochs >= config.optim.patience
    for epoch in range(state.epoch, config.optim.epochs):
        if stopped_early:
            break
        started = time.perf_counter()
        generator = _seed_everything(seed, epoch)
        indices = task.epoch_examples(epoch, np.random.default_rng([seed, epoch]))
        own = process_share(indices, processes, config.optim.batch_size)
        trained.train()
        loss, waited, examples, train_seconds = _train_epoch(
            task,
            trained,
            optimizer,
            scheduler,
            scaler,
            own,
            device,
            precision,
            generator,
            config,
            epoch,
            progress and processes.main,
            state,
        )
        metrics = _validate(task, model, device, processes)
        seconds = time.perf_counter() - started
        improved = _record(
            state,
            config,
            epoch,
            loss,
            metrics,
            Timing(seconds, train_seconds, waited, examples),
            optimizer,
            task.monitor,
        )
        if processes.main:
            if improved:
                meta = task.meta(
                    {
                        **provenance,
                        "epoch": epoch + 1,
                        "validation": metrics,
                        "config": config.to_dict(),
                    }
                )
                save_model(output / MODEL_FILE, model, meta, overwrite=True)
            _save_checkpoint(
                checkpoint, config, processes.world, model, optimizer, scheduler, scaler, state
            )
            write_log(output / "log.csv", state.history)
            write_curves(output / "curves.png", state.history, task.monitor)
        processes.barrier()
        if on_epoch_end is not None:
            on_epoch_end(state)
        stopped_early = state.stale_epochs >= config.optim.patience
    return TrainResult(output / MODEL_FILE, state, stopped_early)


def _train_epoch(
    task: TrainTask,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    indices: np.ndarray,
    device: torch.device,
    precision: torch.dtype | None,
    generator: torch.Generator,
    config: TrainConfig,
    epoch: int,
    progress: bool,
    state: TrainState,
) -> tuple[float, float, int, float]:
    """One pass; returns the mean loss, seconds waiting for data, examples seen, and seconds."""
    started = time.perf_counter()
    accumulate = config.optim.accumulate
    total_loss, batches, waited, examples = 0.0, 0, 0.0, 0
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(
        total=math.ceil(len(indices) / config.optim.batch_size),
        desc=f"epoch {epoch + 1}/{config.optim.epochs}",
        unit="batch",
        disable=not progress,
        leave=False,
    )
    stream = _timed(task.batches(indices, device))
    for micro, (batch, wait) in enumerate(stream):
        waited += wait
        last_micro = (micro + 1) % accumulate == 0 or (micro + 1) * config.optim.batch_size >= len(
            indices
        )
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
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
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


def _validate(
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


def _record(
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


@dataclass(frozen=True)
class Timing:
    """One epoch's clock: whole epoch, training pass, waiting for data, examples seen."""

    seconds: float
    train_seconds: float
    waited: float
    examples: int


class WarmupCosine:
    """Learning-rate factor: linear warm-up over `warmup` steps, then cosine decay to 0."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, max(total, 1)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


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


def _steps_per_epoch(task: TrainTask, config: TrainConfig, processes: Processes) -> int:
    examples = task.epoch_examples(0, np.random.default_rng(0))
    per_process = len(process_share(examples, processes, config.optim.batch_size))
    return math.ceil(math.ceil(per_process / config.optim.batch_size) / config.optim.accumulate)


def _precision(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast type, or None for full fp32."""
    chosen = config.runtime.precision
    if chosen == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[chosen]


def _seed_everything(seed: int, epoch: int) -> torch.Generator:
    """Seed Python, NumPy and torch from ``(seed, epoch)``; return the augmentation generator."""
    mixed = int(np.random.SeedSequence([seed, epoch + 1]).generate_state(1)[0])
    random.seed(mixed)
    np.random.seed(mixed)
    torch.manual_seed(mixed)
    return torch.Generator().manual_seed(mixed + 1)


def _save_checkpoint(
    path: Path,
    config: TrainConfig,
    world: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: TrainState,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "config": config.to_dict(),
        "world": world,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "state": asdict(state),
    }
    with atomic_output(path, overwrite=True) as partial:
        torch.save(blob, partial)


def _load_checkpoint(
    path: Path,
    config: TrainConfig,
    world: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
) -> TrainState:
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
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    scaler.load_state_dict(blob["scaler"])
    return TrainState(**blob["state"])


# Settings that change where and how fast training runs, not what it computes.
RESUMABLE_CHANGES = (("runtime", "workers"), ("runtime", "device"))


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
