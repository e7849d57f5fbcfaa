"""fit's training stages: the embedder, the detector and the worn scorer, each trained (or
fine-tuned, or kept) unless given or already done, and exported to ``OUT/weights``."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from detector.data import split_counts

log = logging.getLogger(__name__)


def _export(src: Path, dst: Path) -> Path:
    """Rank 0 exports the trained checkpoint (fp16 weights); every rank waits for it."""
    from ground.distributed import setup_distributed
    from livematch.export import export_checkpoint

    rank, world, _ = setup_distributed()
    if rank == 0:
        export_checkpoint(src, dst)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return dst


def _train_embedder(cfg, train_roots, val_roots, out: Path, init, progress: bool) -> Path:
    """Its roots come from ``cfg.embedder.data`` (set by :func:`fit_config`)."""
    from livematch.commands.embed import train_embedder

    result, summary = train_embedder(cfg, out / "embedder", init, progress)
    log.info("%s", summary.format("embedder training data"))
    return _export(result.checkpoint, out / "weights" / "embedder")


def _train_detector(cfg, train_roots, val_roots, out: Path, init, progress: bool) -> Path:
    from livematch.commands.detect import train_detector_on

    result, summary = train_detector_on(
        cfg, train_roots, val_roots, out / "detector", progress, init_from=init
    )
    log.info("%s", summary.format("detector training data"))
    return _export(result.checkpoint, out / "weights" / "detector")


def _train_worn(cfg, ds, out: Path, progress: bool) -> Path | None:
    """Stage 3 on rank 0 (the other ranks wait in :func:`_export`): the worn scorer on TRAIN
    (``ds``, loaded without probing), or ``None`` with a warning when TRAIN's frames do not
    annotate both worn and alone garments."""
    from detector.worn import train_worn
    from ground.distributed import setup_distributed

    counts = split_counts(ds, "display")
    if not all(counts.values()):
        log.warning(
            "no worn scorer: TRAIN's frames annotate %s garments (display 0 / 1); it needs both",
            counts,
        )
        return None
    if setup_distributed()[0] == 0:
        train_worn(cfg.detector.worn, ds, out / "worn", progress, cfg.media.backend.value)
    return _export(
        out / "worn" / "last", out / "weights" / "worn"
    )  # no validation: OUT/last is the checkpoint


def _trained(target: Path, stage: str, skipped: list) -> bool:
    """Whether ``stage``'s checkpoint is at ``target`` already (then listed in ``skipped``)."""
    if not (target / "model.safetensors").is_file():
        return False
    skipped.append(stage)
    log.warning("%s: already trained (%s); delete it to train again", stage, target)
    return True


def train_models(job, init: dict) -> tuple[dict, list]:
    """Stages 1-2: each model trained (or fine-tuned from ``init``, or kept) unless the job names
    its checkpoint or it was trained already. Returns ``(seconds, skipped)``."""
    seconds, skipped = {}, []
    given = {"detector": job.detector, "embedder": job.embedders}
    for stage, train in (("embedder", _train_embedder), ("detector", _train_detector)):
        target = job.out / "weights" / stage
        if given.get(stage) or _trained(target, stage, skipped):
            continue
        t0 = time.perf_counter()
        if stage in init and getattr(job.cfg.fit.finetune, f"{stage}_epochs") == 0:
            log.warning("%s: fit.finetune.%s_epochs=0 keeps %s as it is", stage, stage, init[stage])
            _export(init[stage], target)
        else:
            train(job.cfg, job.train_roots, job.val_roots, job.out, init.get(stage), job.progress)
        seconds[stage] = time.perf_counter() - t0
    return seconds, skipped


def worn_stage(job, seconds: dict, skipped: list) -> None:
    """Stage 3: the worn scorer trained (``fit.worn``) unless already done; sets
    ``weights.worn`` in the job's config (empty: no scorer)."""
    cfg = job.cfg
    worn = job.out / "weights" / "worn" if cfg.fit.worn else None
    if worn is not None and not _trained(worn, "worn", skipped):
        t0 = time.perf_counter()
        worn = _train_worn(cfg, job.train_ds, job.out, job.progress)
        seconds["worn"] = time.perf_counter() - t0
    cfg.weights.worn = str(worn) if worn is not None else ""
