"""Embed cached crop rows again at other extraction settings, keeping their detections.

    python -m bench.reembed --fit runs/ship --rows data/seed32=runs/abl_ship/seed32 --out runs/tta/seed32 \
        --keep configs/pipeline/demo.yaml --hflip

Each ``DATA=RUN`` is an annotated root and a folder of its crop rows (``RUN/features``, as
``bench.holdout`` reads them). The crops of those rows (only those that ``--keep``'s detection
settings keep, when given) are cut again from their photos and frames and embedded with the
fit's embedder at its checkpoint's extraction settings, changed by ``--scale`` (the crops' short
side), ``--hflip`` (horizontal-flip test-time augmentation) and ``--scales`` (extra short sides
averaged in); boxes, scores, classes
and worn probabilities stay as they are. The new rows go to ``OUT/features``: what a run at those
extraction settings would have cached, without detecting again, so ``bench.holdout`` can score
them beside the old rows. Prints crops and seconds per root.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def main(argv=None) -> dict:
    from detector.model import class_names
    from embedder.checkpoint import load_embedder
    from embedder.extract import embed_images
    from ground.dataset import load_dataset
    from ground.summary import RunSummary
    from livematch.calibration import SplitScorer, setting_of
    from livematch.commands.embed import crops_of
    from livematch.config import load_config
    from livematch.config import use_checkpoints
    from matcher.store import FeatureStore, load_store, save_store
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", type=Path, required=True, help="A livematch fit output folder (its embedder).")
    parser.add_argument("--rows", action="append", required=True, help="DATA=RUN: a root and its crop rows.")
    parser.add_argument("--out", type=Path, required=True, help="Folder: OUT/<root name>/features per root.")
    parser.add_argument("--keep", type=Path, help="Only the rows this pipeline YAML's detection settings keep.")
    parser.add_argument("--hflip", action="store_true", help="Average in the horizontally flipped crop.")
    parser.add_argument("--scale", type=int, help="Short side of the crops (default: the checkpoint's).")
    parser.add_argument("--scales", type=int, nargs="*", default=[], help="Extra short sides averaged in.")
    args = parser.parse_args(argv)
    cfg = load_config(args.fit / "pipeline.yaml")
    use_checkpoints(cfg, cfg.weights.detector, cfg.weights.embedders[0])
    extract = replace(cfg.embedder.extract, hflip_tta=args.hflip, scales_tta=list(args.scales),
                      scale=args.scale or cfg.embedder.extract.scale)
    model, _ = load_embedder(cfg.weights.embedders[0], "cpu")
    keep = setting_of(load_config(args.keep)) if args.keep else None
    done = {}
    for spec in args.rows:
        data, _, run = spec.partition("=")
        started = time.perf_counter()
        gt = load_dataset([data])
        store = load_store(Path(run) / "features")
        if keep is not None:
            sizes = {v.video_id: v.size for v in gt.videos.values() if v.size}
            cal = SplitScorer(store, class_names(cfg.detector.model), sizes, gt, cfg.matcher)
            store = FeatureStore(*cal.tables(keep))
        tables = []
        for table in (store.shop, store.video):  # row index as the owner, so the crops can be put back in order
            paths = [gt.items[o].photo(n).path if f < 0 else gt.videos[o].path
                     for o, n, f in zip(table.owner, table.name, table.frame)]
            rows = list(zip(range(len(table)), table.name, table.frame.tolist(), paths, table.boxes))
            crops, kept = crops_of(rows, cfg.embedder.data.crop_margin, RunSummary())
            if len(kept) < len(rows):
                lost = sorted(set(range(len(rows))) - {r[0] for r in kept})
                raise SystemExit(f"{data}: {len(lost)} crops could not be cut again (first: {table.describe(lost[0])})")
            feats = embed_images([model], crops, extract, buckets=cfg.embedder.data.aspect_buckets)
            order = np.array([r[0] for r in kept], np.int64)
            tables.append(replace(table[order], features=feats))
        save_store(args.out / Path(data).name / "features", FeatureStore(*tables))
        done[Path(data).name] = {"shop": len(tables[0]), "video": len(tables[1]),
                                 "seconds": round(time.perf_counter() - started, 1)}
        print(f"{data}: {done[Path(data).name]}", flush=True)
    return done


if __name__ == "__main__":
    main()
