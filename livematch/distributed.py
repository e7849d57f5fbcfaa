"""Process-group set-up shared by the training loops and the sharded ``livematch run`` (torchrun
sets WORLD_SIZE / RANK / LOCAL_RANK). Imports torch."""
from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist


def setup_distributed(timeout_min: float | None = None) -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; joins the process group (NCCL on CUDA, gloo on the CPU)
    when launched with more than one process, and pins each CUDA rank to its ``LOCAL_RANK`` GPU.
    ``timeout_min`` bounds collective waits (torch's default when ``None``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":  # before the process group, so that NCCL binds each rank to its own GPU
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        extra = {"timeout": timedelta(minutes=timeout_min)} if timeout_min else {}
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", **extra)
    return (dist.get_rank() if world > 1 else 0), world, device
