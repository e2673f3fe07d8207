"""The optimiser and what steers it: warm-up cosine schedule, autocast type, epoch seeds."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
from timm.optim import param_groups_weight_decay
from torch import nn

from rcm.train._config import TrainConfig


@dataclass(frozen=True)
class Optimisation:
    """What an optimiser step uses: optimiser, learning-rate schedule, gradient scaler, autocast."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    precision: torch.dtype | None  # None: full fp32


def optimisation(
    model: nn.Module, config: TrainConfig, device: torch.device, steps_per_epoch: int
) -> Optimisation:
    """AdamW (no weight decay on norms and biases) with `WarmupCosine` over every step."""
    optimizer = torch.optim.AdamW(
        param_groups_weight_decay(model, config.optim.weight_decay), lr=config.optim.lr
    )
    total_steps = steps_per_epoch * config.optim.epochs
    warmup = round(config.optim.warmup_epochs * steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup, total_steps))
    precision = autocast_type(config, device)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    return Optimisation(optimizer, scheduler, scaler, precision)


class WarmupCosine:
    """Learning-rate factor: linear warm-up over `warmup` steps, then cosine decay to 0."""

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup, self.total = warmup, max(total, 1)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / (self.warmup + 1)
        progress = (step - self.warmup) / max(1, self.total - self.warmup)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def autocast_type(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast type, or None for full fp32."""
    chosen = config.runtime.precision
    if chosen == "auto":
        return torch.bfloat16 if device.type == "cuda" else None
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[chosen]


def seed_everything(seed: int, epoch: int) -> torch.Generator:
    """Seed Python, NumPy and torch from ``(seed, epoch)``; return the augmentation generator."""
    mixed = int(np.random.SeedSequence([seed, epoch + 1]).generate_state(1)[0])
    random.seed(mixed)
    np.random.seed(mixed)
    torch.manual_seed(mixed)
    return torch.Generator().manual_seed(mixed + 1)
