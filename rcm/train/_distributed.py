"""torchrun support: one process per GPU, gradients averaged with DistributedDataParallel.

torchrun sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; without them training
runs in one process. Every process draws the same epoch order from the seed and
takes every ``world``-th example, so no sampler state needs to be shared.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from rcm.errors import InputError


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


# Only the main process validates while the others wait in a collective: give it hours,
# not the 10 minutes NCCL allows by default.
COLLECTIVE_TIMEOUT = timedelta(hours=6)


def launched_rank() -> int:
    """The rank torchrun gave the current process (0 when not launched by torchrun)."""
    return int(os.environ.get("RANK", "0"))


def start_processes(device: torch.device) -> Processes:
    """Join the torchrun process group when launched by torchrun (NCCL on GPU, else Gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Processes()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return Processes(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def stop_processes(processes: Processes) -> None:
    if processes.distributed and dist.is_initialized():
        dist.destroy_process_group()


def pick_training_device(requested: str) -> torch.device:
    """The device of this process: the local rank's GPU under torchrun."""
    from rcm.infer import pick_device

    try:
        device = pick_device(requested)
    except ValueError as error:
        raise InputError(None, f"runtime.device: {error}") from error
    if device.type == "cuda" and device.index is None:
        # torch.cuda.set_device needs an index: the local rank's GPU, else the current one.
        index = int(os.environ.get("LOCAL_RANK", torch.cuda.current_device()))
        device = torch.device("cuda", index)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device
