"""Process-group set-up shared by the training loops (torchrun sets WORLD_SIZE / LOCAL_RANK).
Imports torch: only the model packages use this module."""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup_distributed() -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)``; joins the process group (NCCL on CUDA, gloo on the CPU)
    when launched with more than one process, and pins each CUDA rank to its ``LOCAL_RANK`` GPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return (dist.get_rank() if world > 1 else 0), world, device
