"""``livematch fit``: from a user's annotated data to a calibrated pipeline in one command.

Stages, each skipped when its output exists (a killed training resumes from its last epoch):

1. **embedder**: trained on TRAIN's annotated crops (from the ``fit.recipe`` recipe, or fine-tuned
   from ``--init-from``), validated on VAL; exported to ``OUT/weights/embedder``;
2. **detector**: trained the same way, with two classes (``fit.split_by``; ``auto``: ``worn`` /
   ``alone`` where TRAIN annotates both, else ``product``: garments of catalogue items /
   ``other``); exported to ``OUT/weights/detector``. ``fit.finetune.<model>_epochs=0`` keeps an
   ``--init-from`` model as it is;
3. **worn**: the worn scorer (:mod:`detector.worn`: is a frame garment worn by a person, from the
   box and its surroundings) trained on TRAIN's annotated frames where they annotate both worn and
   alone garments (``display``); exported to ``OUT/weights/worn``; ``fit.worn=false`` skips it;
4. **calibrate**: VAL detected and embedded once at the lowest threshold under consideration,
   every class, the whole frame, every worn probability (``OUT/calibration/val_run``, cached per
   item and clip); then :func:`livematch.calibration.coordinate_ascent` chooses the detection
   thresholds, the worn cut-off, the frame classes, the frame region (learned from TRAIN's clips,
   kept only when it raises VAL's score), the evidence rules and the vote's cut-offs by the
   contest score on VAL; with one or two VAL roots (``fit.train_calibration``), TRAIN's clips
   calibrate too: detected and embedded the same way (``OUT/calibration/train_run*``), cut into
   ``fit.parts`` parts of about VAL's size, each matched on its own (one or two small roots alone
   chose settings that transferred worse); then the held-out estimate (:mod:`livematch.estimate`:
   VAL held out root by root, or part by part with one root, each scored at the settings calibrated
   without it; TRAIN is never held out): what to expect on new data, with its interval, where the
   VAL score itself is optimistic; then each candidate (:mod:`livematch.candidates`), kept only when
   its estimate is higher by more than the uncertainty of the difference;
5. writes ``OUT/pipeline.yaml`` (weights relative to it, every chosen setting, the VAL score of
   each choice) for ``livematch run --config OUT/pipeline.yaml``, ``OUT/fit.json`` and
   ``OUT/fit.html`` (the calibration curves, the region on VAL frames).

With ``detector`` and ``embedder`` given, stages 1-2 are skipped (own or GPU-trained weights).
Under ``torchrun`` the training stages run on every rank; calibration runs on rank 0.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ground.dataset import annotation_grid, check_root, load_dataset
from ground.errors import ConfigError
from livematch import calibration
from livematch.candidates import tta_sizes
from livematch.config import given_keys, use_checkpoints
from livematch.fit.calibrate import calibrate_and_try
from livematch.fit.inputs import Job, check_inputs, find_init, fit_config, use_annotation_grid
from livematch.fit.outputs import FitReport, write_outputs
from livematch.fit.training import train_models, worn_stage

log = logging.getLogger(__name__)

__all__ = ["FitReport", "fit"]


def fit(
    train_roots,
    val_roots,
    out,
    config=None,
    overrides=(),
    recipe=None,
    init_from=None,
    detector=None,
    embedder=None,
    progress: bool = True,
    procedure: calibration.Procedure = calibration.Procedure(),
) -> FitReport | None:
    """The whole fit (module docstring). ``embedder``: one checkpoint folder or several (an
    ensemble, embedded as ``livematch run`` embeds it); ``procedure``: how the calibration
    searches, estimates and decides (fixed for users). Returns ``None`` on torchrun ranks other
    than 0."""
    job, init = prepare(
        train_roots, val_roots, out, config, overrides, recipe, init_from, detector, embedder
    )
    job.progress, job.procedure = progress, procedure
    calibration.vote_rules(procedure.vote_rules)  # a bad rule fails before training, not after
    seconds, skipped = train_models(job, init)
    job.detector = Path(job.detector or job.out / "weights" / "detector")
    job.embedders = job.embedders or [job.out / "weights" / "embedder"]
    use_checkpoints(job.cfg, job.detector, job.embedders[0], given_keys(config, overrides))
    job.cfg.embedder.extract.scales_tta = []  # fit.tta_scales: a candidate (livematch.candidates)
    worn_stage(job, seconds, skipped)
    t0 = time.perf_counter()
    chosen = calibrate_and_try(job)
    if chosen is None:  # the ranks shared the detection; rank 0 calibrates
        return None
    cfg, found, candidates = chosen
    seconds["calibrate"] = time.perf_counter() - t0
    return write_outputs(job, cfg, found, seconds, skipped, candidates)


def prepare(
    train_roots, val_roots, out, config, overrides, recipe, init_from, detector, embedder
) -> tuple[Job, dict]:
    """Everything checked before any work: the roots (TRAIN loaded once), the models given or
    to fine-tune from (``init``), the config layered, the output folder, the annotated grid.
    Raises a one-line error naming what is wrong."""
    from livematch.pipeline import check_output_dir

    out = Path(out)
    train_roots, val_roots = [Path(r) for r in train_roots], [Path(r) for r in val_roots]
    single = isinstance(embedder, (str, Path))
    embedders = [Path(e) for e in ([embedder] if single else embedder or [])]
    if bool(detector) != bool(embedders):
        raise ConfigError("give both --detector and --embedder to skip training, or neither")
    init = find_init(init_from) if init_from else {}
    for root in train_roots:
        check_root(root)
    # TRAIN, loaded once: checks, split, grid, worn, region
    train_ds = load_dataset(train_roots, probe_media=True)
    cfg = fit_config(train_roots, val_roots, out, init, config, overrides, recipe, train_ds)
    splits = check_inputs(None if detector else train_ds, train_roots, val_roots, cfg.fit.split_by)
    check_output_dir(out)  # only once the inputs check out
    use_annotation_grid(cfg, annotation_grid([train_ds, *splits]))
    tta_sizes(1, cfg.fit.tta_scales)  # a bad multiple fails before training
    job = Job(
        train_roots,
        val_roots,
        out,
        cfg,
        train_ds,
        splits,
        Path(detector) if detector else None,
        embedders,
        calibration.Procedure(),
    )
    return job, init
