"""What each setting ``livematch fit`` calibrated adds, on annotated test roots it never saw.

    python -m bench.fit_ablation --fit runs/fit_ft --data data/seed31 --data data/seed32 --data data/seed33

Per test root: its crop rows are computed once with the fit's models at the lowest threshold,
every class and the whole frame (cached under ``--work``); then the fit's chosen setting is
scored, each setting reverted alone to its starting value (the reference defaults, or the
``--config`` the fit started from), and the starting setting as a whole; with ``--oracle`` also
the chosen setting on the sold garments' boxes alone (the frame crops overlapping an annotated
box of the clip's sold item at IoU >= 0.5, on annotated frames): the ceiling of a perfect sold /
other filter for these models. Printed as a table and
written to ``bench/results/fit_ablation.json`` (contest score, and item / frame / box F1 of the
chosen setting).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from livematch.calibration import SplitScorer, Setting, describe


def as_setting(record: dict) -> Setting:
    """A setting as fit.json records it (lists back to tuples)."""
    return Setting(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})


def root_arguments(description: str, json_default: str) -> argparse.ArgumentParser:
    """The options of the benches that score a fit on annotated roots: --fit, --data, --work, --json."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--fit", type=Path, required=True, help="A livematch fit output folder.")
    parser.add_argument("--data", type=Path, action="append", required=True, help="Annotated test root(s).")
    parser.add_argument("--work", type=Path, default=Path("runs/fit_ablation"), help="Cache of the roots' crop rows.")
    parser.add_argument("--json", type=Path, default=Path(json_default))
    return parser


def root_scorers(fit: Path, roots, work: Path):
    """Per annotated root, ``(root, its crop rows, a SplitScorer on them)``: the rows computed once
    with the fit's models (its checkpoints' settings applied) at the lowest threshold, every
    class, the whole frame, and cached under ``work``."""
    from detector.model import class_names
    from ground.dataset import load_dataset
    from livematch.config import load_config, use_checkpoints
    from livematch.fit import validation_rows
    cfg = load_config(fit / "pipeline.yaml")
    detector, embedders = cfg.weights.detector, cfg.weights.embedders  # several: an ensemble
    use_checkpoints(cfg, detector, embedders[0])
    for root in roots:
        gt = load_dataset([root])
        store = validation_rows(cfg, [root], detector, embedders, work / root.name, progress=False)
        yield root, store, SplitScorer(store, class_names(cfg.detector.model),
                                       {v.video_id: v.size for v in gt.videos.values()}, gt, cfg.matcher)


def variants(chosen: Setting, start: Setting) -> dict[str, Setting]:
    """The chosen setting, each calibrated coordinate reverted alone, and the start."""
    out = {"chosen": chosen}
    for name in ("photo_threshold", "frame_threshold", "min_worn", "trust_worn", "frame_classes", "region", "frame_box",
                 "item_box"):
        if getattr(chosen, name) != getattr(start, name):
            out[f"{name} -> {describe(getattr(start, name), name)}"] = replace(chosen, **{name: getattr(start, name)})
    vote = ("keep_fraction", "vote_fraction", "max_distance")
    if any(getattr(chosen, k) != getattr(start, k) for k in vote):
        out["vote cut-offs -> start"] = replace(chosen, **{k: getattr(start, k) for k in vote})
    out["start (nothing calibrated)"] = start
    return out


def sold_only(store, gt):
    """``store`` with only the frame crops that overlap (IoU >= 0.5) an annotated box of their
    clip's sold item on an annotated frame: the oracle sold-garment filter."""
    import numpy as np
    from ground.boxes import box_iou
    from matcher.store import FeatureStore
    keep = np.zeros(len(store.video), bool)
    for k in range(len(store.video)):
        video = gt.videos.get(str(store.video.owner[k]))
        boxes = [a.box for a in ((video.frames or {}).get(int(store.video.frame[k])) or ())
                 if video.sold_item and a.item_id == video.sold_item] if video else []
        keep[k] = bool(boxes) and box_iou(store.video.boxes[k:k + 1], boxes).max() >= 0.5
    return FeatureStore(store.shop, store.video[keep], store.dropped)


def main(argv=None) -> dict:
    from ground.io import write_json
    parser = root_arguments(__doc__.splitlines()[0], "bench/results/fit_ablation.json")
    parser.add_argument("--oracle", action="store_true", help="Also score the sold garments' boxes alone.")
    args = parser.parse_args(argv)
    record = json.loads((args.fit / "fit.json").read_text())
    chosen, start = as_setting(record["setting"]), as_setting(record["start"])
    table, levels = {}, {}
    for root, store, cal in root_scorers(args.fit, args.data, args.work):
        gt = cal.gt
        for name, s in variants(chosen, start).items():
            table.setdefault(name, {})[root.name] = cal.score(s)
        if args.oracle:
            oracle = SplitScorer(sold_only(store, gt), cal.classes, cal.sizes, gt, cal.matcher)
            table.setdefault("oracle: sold garments' boxes only", {})[root.name] = oracle.score(chosen)
        levels[root.name] = cal.evaluation(chosen).to_dict()
    roots = [r.name for r in args.data]
    print(f"{'setting':<40}" + "".join(f"{r:>10}" for r in roots) + f"{'mean':>10}")
    for name, scores in table.items():
        mean = sum(scores.values()) / len(scores)
        scores["mean"] = mean
        print(f"{name:<40}" + "".join(f"{scores[r]:>10.4f}" for r in roots) + f"{mean:>10.4f}")
    for r in roots:
        print(f"{r}: " + ", ".join(f"{k} F1 {levels[r][k]['f1']:.3f}" for k in ("item", "frame", "box")))
    result = {"fit": str(args.fit), "roots": roots, "scores": table, "chosen_levels": levels}
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
