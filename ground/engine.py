"""The one training loop of both models: AMP on CUDA, gradient accumulation and clipping, one
warm-up + cosine learning-rate curve (timm's ``CosineLRScheduler``, stepped per update), DDP under
torchrun, validation on rank 0 after each epoch, ``last`` and ``best`` checkpoints, resume after a
kill, progress (a bar on a terminal, one line per epoch in logs), a CSV log and TensorBoard scalars.

Each model brings a :class:`Task`: what to train, its batches, one forward step, its evaluation
and its checkpoint. The loop is ours rather than Accelerate's or Fabric's: both would wrap the
same twenty lines and bring their own checkpoint layout and launcher, where we keep torchrun, our
safetensors checkpoints and a resume that restarts the interrupted epoch from its first batch (the
samplers' orders are functions of the seed and the epoch, so a resumed run is the one it would
have been).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable

import torch

from ground.checkpoint import read_meta, read_train_state
from ground.errors import TrainingError
from ground.io import append_csv
from ground.progress import enabled, progress_bar, say

log = logging.getLogger(__name__)


@dataclass
class Loop:
    """The settings every training shares (each model's config names them)."""

    epochs: int
    #: > 0: train this many optimiser updates (detectron2's MAX_ITER) instead of whole epochs
    steps: int = 0
    seed: int = 0
    warmup_steps: int = 500  # at most a third of all updates
    #: > 0: the warm-up is this share of all updates (replaces warmup_steps)
    warmup_fraction: float = 0.0
    #: the first update's learning rate, as a fraction of the configured one
    warmup_factor: float = 0.001
    decay: str = "cosine"  # after the warm-up: cosine (to 0 at the end) | none (constant)
    clip_grad: float = 10.0  # max gradient norm; <= 0: no clipping
    accumulate: int = 1
    amp: bool = True  # CUDA only
    #: torchrun on GPUs: BatchNorm statistics over every rank's batch (SyncBatchNorm)
    sync_bn: bool = False
    tensorboard: bool = True  # scalars under OUT/tensorboard beside OUT/log.csv
    val_every: int = 1  # validate after every this many epochs, and after the last

    @classmethod
    def of(cls, section) -> Loop:
        """The loop settings a model's config section (``detector.train``, ``embedder.optim``)
        names, field by field; fields it does not name keep their defaults."""
        return cls(
            **{f.name: getattr(section, f.name) for f in fields(cls) if hasattr(section, f.name)}
        )


@dataclass
class TrainResult:
    checkpoint: Path  # OUT/best when validation chose one, else OUT/last
    history: list[dict] = field(default_factory=list)  # one row per epoch run (what log.csv holds)
    model: object = None  # the model in memory at the end of training (what OUT/last holds)


class Task(ABC):
    """What one model brings to :func:`train_loop`, the loop's contract with it.

    Attributes (set by the subclass): ``kind``, the checkpoint kind written into every
    ``meta.json`` (``detector``, ``embedder``, ``worn``; :func:`ground.checkpoint.check_kind`);
    ``module``, what DDP wraps and the optimiser trains;
    ``model``, what :class:`TrainResult` returns (often the same); ``log_fields``, the columns of
    ``log.csv``; ``select``, the validation metric that chooses ``OUT/best`` ("" keeps every
    epoch's as best); ``has_val``, whether :meth:`evaluate` reports anything;
    ``find_unused_parameters``, DDP's flag.

    Per epoch the loop iterates :meth:`batches` (``len(task)`` of them), calls :meth:`step` on
    each and steps the optimiser every ``accumulate`` batches (and on the last, partial group),
    calling :meth:`after_update` after each update; then rank 0 calls :meth:`evaluate` and
    :meth:`save`. ``save(folder, meta)`` writes a checkpoint folder (weights, config, ``meta``);
    ``save(folder, meta, state)`` also the training state (``state`` holds the optimiser's and
    scaler's, and :meth:`state`'s own entries) that ``resume(last, meta, state)`` restores after
    a kill, before the loop loads the optimiser and scaler itself."""

    kind: str
    module: torch.nn.Module
    model: torch.nn.Module
    log_fields: tuple[str, ...] = ()
    select: str = ""
    has_val: bool = False
    find_unused_parameters: bool = False

    @abstractmethod
    def batches(self, epoch: int) -> Iterable:
        """The epoch's batches, seeded by ``epoch`` (a resumed run draws the same ones)."""

    @abstractmethod
    def __len__(self) -> int:
        """Batches per epoch."""

    @abstractmethod
    def step(self, module, batch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Forward one batch through ``module`` (DDP-wrapped or not): the loss and its named
        parts."""

    @abstractmethod
    def save(self, folder: Path, meta: dict, state: dict | None = None) -> None:
        """Write a checkpoint folder; with ``state``, the training state to resume from."""

    @abstractmethod
    def resume(self, last: Path, meta: dict, state: dict) -> None:
        """Restore the model (and :meth:`state`'s entries) from ``last``."""

    def after_update(self, step: int) -> None:  # noqa: B027 (a hook: a no-op unless overridden)
        """Called after each optimiser step (e.g. an EMA update)."""

    def evaluate(self) -> dict:
        """Validation metrics of the current model (rank 0 only); ``{}`` without validation."""
        return {}

    def meta(self) -> dict:
        """Extra entries for the checkpoint's ``meta.json``."""
        return {}

    def state(self) -> dict:
        """Extra entries for the training state (e.g. a loss's memory), restored by
        :meth:`resume`."""
        return {}


DECAYS = ("cosine", "none")


def build_scheduler(optimizer, loop: Loop, total: int):
    """Linear warm-up from ``warmup_factor`` x lr to lr (over ``warmup_fraction`` of ``total``
    updates, or ``warmup_steps`` but at most a third of them), then half a cosine down to 0 at
    ``total`` (``decay: none``: lr stays); timm schedulers, functions of the update count
    (``step_update``)."""
    from timm.scheduler import CosineLRScheduler, StepLRScheduler

    if loop.decay not in DECAYS:
        raise TrainingError(
            f"unknown learning-rate decay {loop.decay!r}; choose {' or '.join(DECAYS)}"
        )
    warmup = (
        int(loop.warmup_fraction * total)
        if loop.warmup_fraction > 0
        else min(loop.warmup_steps, total // 3)
    )
    base = optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"])
    common = dict(warmup_t=warmup, warmup_lr_init=base * loop.warmup_factor, t_in_epochs=False)
    if loop.decay == "none":
        return StepLRScheduler(optimizer, decay_t=total + 1, decay_rate=1.0, **common)
    return CosineLRScheduler(
        optimizer, t_initial=max(1, total - warmup), lr_min=0.0, warmup_prefix=True, **common
    )


def sync_batchnorm(module: torch.nn.Module, loop: Loop, world: int, device: torch.device) -> bool:
    """Swap ``module``'s BatchNorm layers for SyncBatchNorm in place (their parameters, hence the
    optimiser's, are kept) when asked and useful: several ranks on CUDA. Returns whether it did."""
    if not (loop.sync_bn and world > 1 and device.type == "cuda"):
        return False
    for name, child in module.named_children():
        setattr(module, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
    return True


def _resume(task: Task, last: Path, optimizer, scaler) -> tuple[int, int, float]:
    meta, state = read_meta(last), read_train_state(last)
    task.resume(last, meta, state)
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    log.info("resumed from %s at epoch %d, step %d", last, meta["epoch"], meta["step"])
    return meta["epoch"], meta["step"], meta.get("best", -1.0)


class _Board:
    """TensorBoard scalars on rank 0 (nothing when off or when tensorboard is not installed)."""

    def __init__(self, folder: Path, on: bool):
        self.writer = None
        if on:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                log.warning("tensorboard is not installed: training logs go to log.csv only")
                return
            self.writer = SummaryWriter(str(folder))

    def scalars(self, prefix: str, values: dict, step: int) -> None:
        if self.writer is not None:
            for key, value in values.items():
                if isinstance(value, (int, float)) and key not in ("epoch", "step"):
                    self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def epoch_line(row: dict, epochs: int) -> str:
    """One epoch's line for logs: its losses, learning rate, validation metrics and seconds."""
    values = ", ".join(
        f"{k} {v:.4g}"
        for k, v in row.items()
        if k not in ("epoch", "step", "seconds") and isinstance(v, (int, float))
    )
    return f"epoch {row['epoch']}/{epochs} (step {row['step']}): {values}; {row['seconds']:.0f} s"


def _rank_mean(values: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    """The epoch's mean losses averaged over the ranks (each rank saw its own share of the data)."""
    if world == 1 or not values:
        return values
    import torch.distributed as dist

    t = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(values, (t / world).tolist()))


def _budget(n_batches: int, loop: Loop, max_steps: int | None) -> tuple[int, int, int | None]:
    """Epochs to run, updates the schedule spans, and the update count to stop at (``None``: the
    schedule's end) for ``n_batches`` batches per epoch."""
    # a last, partial accumulation is stepped too
    per_epoch = max(1, -(-n_batches // loop.accumulate))
    epochs = -(-loop.steps // per_epoch) if loop.steps > 0 else loop.epochs
    total = loop.steps if loop.steps > 0 else epochs * per_epoch
    stops = [n for n in (max_steps, loop.steps) if n]
    return epochs, total, min(stops) if stops else None


def _distributed(task: Task, world: int, device: torch.device) -> torch.nn.Module:
    """``task.module`` wrapped in DDP on several ranks, else itself."""
    if world > 1:
        return torch.nn.parallel.DistributedDataParallel(
            task.module,
            device_ids=[device] if device.type == "cuda" else None,
            find_unused_parameters=task.find_unused_parameters,
        )
    return task.module


@dataclass
class _Run:
    """One training's parts and its running counters (the update count and the best score)."""

    task: Task
    optimizer: object
    loop: Loop
    scheduler: object
    scaler: torch.amp.GradScaler
    ddp: torch.nn.Module  # task.module, DDP-wrapped on several ranks
    board: _Board
    out_dir: Path
    rank: int
    world: int
    device: torch.device
    epochs: int
    max_steps: int | None
    progress: bool
    use_amp: bool
    step: int = 0
    best: float = -1.0

    @property
    def last(self) -> Path:
        """``OUT/last``: the checkpoint with the training state."""
        return self.out_dir / "last"

    def stopped(self) -> bool:
        """Whether the update budget (``max_steps``) is spent."""
        return self.max_steps is not None and self.step >= self.max_steps

    def train_epoch(self, epoch: int) -> tuple[dict, bool]:
        """One pass over the epoch's batches: its log row (with the validation metrics on rank 0
        when due) and whether it is a validated epoch."""
        self.task.module.train()
        self.optimizer.zero_grad(set_to_none=True)
        torch.manual_seed(self.loop.seed + epoch)  # the epoch's random draws, also after a resume
        sums, n, start = {}, 0, time.perf_counter()
        bar = progress_bar(
            self.task.batches(epoch),
            total=len(self.task),
            desc=f"epoch {epoch + 1}/{self.epochs}",
            unit="batch",
            show=self.progress and not self.rank,
        )
        n_batches = len(self.task)
        for i, batch in enumerate(bar):
            value, parts = self.batch(epoch, i, n_batches, batch)
            for key, part in {"loss": value, **parts}.items():
                sums[key] = sums.get(key, 0.0) + part
            n += 1
            bar.set_postfix(
                loss=f"{sums['loss'] / n:.3f}", lr=f"{self.optimizer.param_groups[0]['lr']:.2e}"
            )
            if self.stopped():
                break
        return self.epoch_row(epoch, sums, n, start)

    def batch(self, epoch: int, i: int, n_batches: int, batch) -> tuple[float, dict]:
        """Forward and backward batch ``i`` of ``n_batches``, stepping the optimiser when it ends
        an accumulation group: the batch's loss and its named parts."""
        accumulate = self.loop.accumulate
        group = min(accumulate, n_batches - i // accumulate * accumulate)  # this update's batches
        update = (i + 1) % accumulate == 0 or i + 1 == n_batches
        with (
            self.ddp.no_sync() if self.world > 1 and not update else nullcontext()
        ):  # all-reduce once per update
            with torch.autocast(
                device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp
            ):
                loss, parts = self.task.step(self.ddp, batch, self.step)
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss is {loss.item()} at epoch {epoch + 1} step {self.step}; "
                    f"last good checkpoint kept at {self.last}"
                )
            self.scaler.scale(loss / group).backward()
        value = float(loss.detach())
        if update:
            self.update(value)
        return value, parts

    def update(self, value: float) -> None:
        """One optimiser update (unscale, clip, step), then the schedule, the task's hook and the
        update's scalars."""
        optimizer = self.optimizer
        self.scaler.unscale_(optimizer)
        if self.loop.clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(self.task.module.parameters(), self.loop.clip_grad)
        self.scaler.step(optimizer)
        self.scaler.update()
        optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.scheduler.step_update(self.step)
        self.task.after_update(self.step)
        self.board.scalars(
            "train", {"loss": value, "lr": optimizer.param_groups[0]["lr"]}, self.step
        )

    def epoch_row(self, epoch: int, sums: dict, n: int, start: float) -> tuple[dict, bool]:
        """The epoch's log row from its summed losses over ``n`` batches (validated on rank 0
        when due) and whether the epoch is a validated one."""
        means = _rank_mean({k: v / max(1, n) for k, v in sums.items()}, self.world, self.device)
        row = {
            "epoch": epoch + 1,
            "step": self.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": round(time.perf_counter() - start, 2),
            **means,
        }
        validated = self.task.has_val and (
            (epoch + 1) % max(1, self.loop.val_every) == 0 or epoch + 1 == self.epochs
        )
        if validated and self.rank == 0:
            row.update(self.task.evaluate())
        return row, validated

    def record(self, epoch: int, row: dict, validated: bool) -> None:
        """Rank 0's end of an epoch: its progress line, log.csv and TensorBoard rows, ``OUT/best``
        when it scored best, and ``OUT/last`` with the training state."""
        task = self.task
        if enabled(self.progress):
            say(epoch_line(row, self.epochs))
        append_csv(self.out_dir / "log.csv", row, task.log_fields)
        self.board.scalars("epoch", row, self.step)
        meta = {
            "kind": task.kind,
            "epoch": epoch + 1,
            "step": self.step,
            "select": task.select or "last",
            "best": self.best,
            **task.meta(),
        }
        score = row.get(task.select) if task.select else None  # None: every epoch replaces OUT/best
        if validated and (score is None or score > self.best):
            self.best = meta["best"] = self.best if score is None else score
            task.save(self.out_dir / "best", meta)
        state = {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            **task.state(),
        }
        task.save(self.last, meta, state)


def _start(
    task: Task,
    optimizer,
    loop: Loop,
    out_dir,
    rank: int,
    world: int,
    device: torch.device,
    progress: bool,
    max_steps: int | None,
) -> tuple[_Run, int]:
    """Everything a training needs before its first batch (the schedule, the AMP scaler, the
    state resumed from ``out_dir/last``, the DDP wrapper, the TensorBoard writer) and the epoch to
    start at."""
    out_dir, last = Path(out_dir), Path(out_dir) / "last"
    epochs, total, max_steps = _budget(len(task), loop, max_steps)
    scheduler = build_scheduler(optimizer, loop, total)
    use_amp = loop.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    start_epoch, step, best = 0, 0, -1.0
    if (last / "train_state.pt").is_file():
        start_epoch, step, best = _resume(task, last, optimizer, scaler)
    scheduler.step_update(step)
    sync_batchnorm(task.module, loop, world, device)
    ddp = _distributed(task, world, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    board = _Board(out_dir / "tensorboard", loop.tensorboard and rank == 0)
    run = _Run(
        task=task,
        optimizer=optimizer,
        loop=loop,
        scheduler=scheduler,
        scaler=scaler,
        ddp=ddp,
        board=board,
        out_dir=out_dir,
        rank=rank,
        world=world,
        device=device,
        epochs=epochs,
        max_steps=max_steps,
        progress=progress,
        use_amp=use_amp,
        step=step,
        best=best,
    )
    return run, start_epoch


def train_loop(
    task: Task,
    optimizer,
    loop: Loop,
    out_dir,
    rank: int,
    world: int,
    device: torch.device,
    progress: bool = True,
    max_steps: int | None = None,
) -> TrainResult:
    """Train ``task`` for ``loop.epochs`` or ``loop.steps`` updates (resuming from ``out_dir/last``
    when it holds a training state); ``max_steps`` stops early without changing the schedule
    (tests: a killed run)."""
    run, start_epoch = _start(
        task, optimizer, loop, out_dir, rank, world, device, progress, max_steps
    )
    history = []
    for epoch in range(start_epoch, run.epochs):
        row, validated = run.train_epoch(epoch)
        history.append(row)
        if rank == 0:
            run.record(epoch, row, validated)
        if run.stopped():
            break
    run.board.close()
    out_dir = run.out_dir
    final = out_dir / "best" if task.has_val and (out_dir / "best").exists() else run.last
    return TrainResult(final, history, task.model)
