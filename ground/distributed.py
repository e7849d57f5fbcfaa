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
    device = pick_device("auto")
    if (
        device.type == "cuda"
    ):  # before the process group, so that NCCL binds each rank to its own GPU
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        extra = {"timeout": timedelta(minutes=timeout_min)} if timeout_min else {}
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", **extra)
    return (dist.get_rank() if world > 1 else 0), world, device


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU; otherwise a torch device
    name (``cpu``, ``cuda``, ``cuda:1``). A name torch does not know, or CUDA on a machine
    without it, is a ``ConfigError``."""
    from ground.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(
            f"--device {name!r}: not a device; use auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: this machine has no CUDA device; use auto or cpu")
    return device
