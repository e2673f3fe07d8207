"""torchrun support: one process per GPU, gradients averaged with DistributedDataParallel.

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them training
runs in one process. Every process draws the same epoch order from the seed and
takes every ``world``-th example, so no sampler state needs to be shared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Processes:
    """Where the current process stands among the training processes."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Only the main process writes checkpoints, logs and the model file."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


def start_processes(device: torch.device) -> Processes:
    """Join the torchrun process group when launched by torchrun (NCCL on GPU, else Gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def stop_processes(processes: Processes) -> None:
    if processes.distributed and dist.is_initialized():
        dist.destroy_process_group()


def pick_training_device(requested: str) -> torch.device:
    """The device of this process: the local rank's GPU under torchrun."""
    from rcm.infer._runner import pick_device

    device = pick_device(requested)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device
