"""Embedder benchmarks, each comparison measured side by side in one run.

    python -m bench.embedder --checkpoint runs/embedder_tiny/best --val data/val  # speed + top-1
    python -m bench.embedder --frozen tf_efficientnet_lite0@160 tf_efficientnet_lite2@224
        --val data/val21
    # training ablation
    python -m bench.embedder --ablation --train data/train --val data/val --epochs 10
    python -m bench.embedder --val-every 10 --epochs 10 --train data/fit_train
        --val data/val21 data/val22

1. extraction: crops per second with aspect-ratio buckets vs padding every crop to a square
   (ratio), and with fit's multi-scale test-time augmentation (``fit.tta_scales``) vs without
   (ratio); shop -> video retrieval top-1 of each on held-out items;
2. frozen ImageNet backbones (``--frozen NAME@SIZE ...``): each backbone's GeM-pooled features
   without training (no neck), side by side on the same crops: top-1, mAP@10, crops per second;
3. ablation (``--ablation``): the tiny recipe trained with and without cross-batch memory, with
   and without aspect-ratio bucketing (one square bucket), ArcFace vs sub-center ArcFace; top-1,
   recall@5 and mAP@10 on held-out items, and training seconds;
4. validation every N epochs (``--val-every N``): the lite0 recipe (``select: last``) trained
   ``--epochs`` epochs validating after each and after every N (and the last), side by side: the
   seconds of each, their ratio, and whether the two trained the same weights.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from embedder.checkpoint import load_embedder
from embedder.evaluate import retrieval_metrics
from embedder.extract import embed_images
from ground.summary import RunSummary
from livematch.commands.embed import labelled_crops, train_embedder
from livematch.config import load_config
from livematch.fit import tta_sizes

RECIPE = Path("configs/embedder/tiny.yaml")
VARIANTS = {
    "reference (xbm, buckets, arcface)": [],
    "no cross-batch memory": ["embedder.loss.xbm=false"],
    "no bucketing (one square bucket)": ["embedder.data.aspect_buckets=[1.0]"],
    "sub-center arcface": ["embedder.loss.head=subcenter"],
}


@torch.no_grad()
def embed_padded(model, images, size: int, batch: int = 64) -> np.ndarray:
    """The naive way: pad each crop to a square (black borders), resize to ``size`` x ``size``."""
    out = []
    for lo in range(0, len(images), batch):
        squares = []
        for im in images[lo : lo + batch]:
            h, w = im.shape[:2]
            side = max(h, w)
            canvas = np.zeros((side, side, 3), np.uint8)
            canvas[(side - h) // 2 : (side - h) // 2 + h, (side - w) // 2 : (side - w) // 2 + w] = (
                im
            )
            squares.append(cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA))
        out.append(model.embed(torch.from_numpy(np.stack(squares).transpose(0, 3, 1, 2))).numpy())
    return np.concatenate(out)


def held_out_crops(val_roots, cfg):
    """The annotated crops of ``val_roots`` as RGB images, which are shop crops, and their
    identities."""
    crops = labelled_crops(val_roots, cfg, RunSummary(), progress=False)
    images = [cv2.imread(c.path)[..., ::-1] for c in crops]
    return images, np.array([c.is_shop for c in crops]), np.array([c.instance_id for c in crops])


def bench_extraction(checkpoint: Path, val_roots, cfg) -> dict:
    model, model_cfg = load_embedder(checkpoint)
    images, shop, ids = held_out_crops(val_roots, cfg)
    extract = cfg.embedder.extract
    extract.scale = model_cfg.extract.scale
    row = {"crops": len(images), "scale": extract.scale}
    tta = replace(extract, scales_tta=tta_sizes(extract.scale, cfg.fit.tta_scales))
    row["tta_scales"] = tta.scales_tta
    for name, fn in [
        ("buckets", lambda: embed_images(model, images, extract).astype(np.float32)),
        ("pad_square", lambda: embed_padded(model, images, extract.scale)),
        ("buckets_tta", lambda: embed_images(model, images, tta).astype(np.float32)),
    ]:
        fn()  # warm-up
        start = time.perf_counter()
        feats = fn()
        row[f"{name}_crops_per_s"] = len(images) / (time.perf_counter() - start)
        row[f"{name}_top1"] = retrieval_metrics(feats[shop], ids[shop], feats[~shop], ids[~shop])[
            "top1"
        ]
    row["throughput_buckets_vs_pad"] = row["buckets_crops_per_s"] / row["pad_square_crops_per_s"]
    row["throughput_tta_vs_buckets"] = row["buckets_tta_crops_per_s"] / row["buckets_crops_per_s"]
    return row


def bench_frozen(specs, val_roots, cfg) -> dict:
    """Retrieval of ImageNet backbones as they are: ``NAME@SIZE`` each, GeM over the last map
    (p = 3), no projection; the same crops and buckets for all."""
    from torch import nn

    from embedder.config import ExtractConfig, ModelConfig
    from embedder.model import Embedder

    images, shop, ids = held_out_crops(val_roots, cfg)
    rows = {}
    for spec in specs:
        name, _, size = spec.partition("@")
        model = Embedder(ModelConfig(backbone=name, weights="imagenet"))
        model.fc, model.bn = nn.Identity(), nn.Identity()
        model.cfg.embedding_dim = model.backbone.num_features
        model.eval()
        start = time.perf_counter()
        feats = embed_images(model, images, ExtractConfig(scale=int(size or 128))).astype(
            np.float32
        )
        rows[spec] = {
            **retrieval_metrics(feats[shop], ids[shop], feats[~shop], ids[~shop]),
            "crops_per_s": len(images) / (time.perf_counter() - start),
        }
        r = rows[spec]
        print(
            f"{spec:<32} top-1 {r['top1']:.4f}  mAP@10 {r['map10']:.4f}  {r['crops_per_s']:.1f} "
            "crops/s"
        )
    return rows


def bench_ablation(train_roots, val_roots, epochs: int, out_root: Path) -> dict:
    rows = {}
    for name, overrides in VARIANTS.items():
        cfg = load_config(
            RECIPE,
            overrides
            + [
                f"embedder.data.roots={list(map(str, train_roots))}",
                f"embedder.data.val_roots={list(map(str, val_roots))}",
                f"embedder.optim.epochs={epochs}",
            ],
        )
        start = time.perf_counter()
        result, _ = train_embedder(
            cfg, out_root / name.split(" (")[0].replace(" ", "_"), progress=False
        )
        best = max(result.history, key=lambda r: r.get("top1", 0))
        rows[name] = {k: best.get(k) for k in ("top1", "recall5", "map10", "epoch")}
        rows[name]["train_seconds"] = time.perf_counter() - start
        print(
            f"{name:<36} top-1 {best['top1']:.4f}  recall@5 {best['recall5']:.4f}  mAP@10 "
            f"{best['map10']:.4f}"
        )
    return rows


def bench_val_every(train_roots, val_roots, epochs: int, every: int, out_root: Path) -> dict:
    from safetensors.torch import load_file

    rows, weights = {}, {}
    for n in (1, every):
        cfg = load_config(
            Path("configs/embedder/lite0.yaml"),
            [
                f"embedder.data.roots={list(map(str, train_roots))}",
                f"embedder.data.val_roots={list(map(str, val_roots))}",
                f"embedder.optim.epochs={epochs}",
                f"embedder.optim.val_every={n}",
                f"embedder.data.cache_dir={out_root / 'crops'}",
            ],
        )
        labelled_crops(
            cfg.embedder.data.roots + cfg.embedder.data.val_roots, cfg, RunSummary(), False
        )  # cached first
        start = time.perf_counter()
        result, _ = train_embedder(cfg, out_root / f"every{n}", progress=False)
        rows[f"every {n}"] = {
            "seconds": time.perf_counter() - start,
            "validations": sum("top1" in r for r in result.history),
        }
        weights[n] = load_file(str(result.checkpoint / "model.safetensors"))
    ratio = rows["every 1"]["seconds"] / rows[f"every {every}"]["seconds"]
    same = weights[1].keys() == weights[every].keys() and all(
        weights[1][k].equal(weights[every][k]) for k in weights[1]
    )
    print(
        f"{epochs} epochs: validated after each {rows['every 1']['seconds']:.0f} s, after every "
        f"{every} {rows[f'every {every}']['seconds']:.0f} s: x{ratio:.2f} the speed; the same "
        f"weights: {same}"
    )
    return {**rows, "speedup": ratio, "same_weights": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--val", type=Path, nargs="+", required=True)
    parser.add_argument("--train", type=Path, nargs="+")
    parser.add_argument(
        "--frozen", nargs="+", metavar="NAME@SIZE", help="ImageNet backbones compared frozen."
    )
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument(
        "--val-every", type=int, metavar="N", help="Time the lite0 recipe validated every N epochs."
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, default=Path("bench/results/embedder.json"))
    args = parser.parse_args()
    cfg = load_config(RECIPE)
    results = {"threads": torch.get_num_threads()}
    if args.checkpoint:
        e = results["extraction"] = bench_extraction(args.checkpoint, args.val, cfg)
        print(
            f"extraction of {e['crops']} crops: buckets {e['buckets_crops_per_s']:.1f}/s (top-1 "
            f"{e['buckets_top1']:.4f}) vs padded squares {e['pad_square_crops_per_s']:.1f}/s "
            f"(top-1 {e['pad_square_top1']:.4f}): x{e['throughput_buckets_vs_pad']:.2f}"
        )
        print(
            f"with test-time scales {e['tta_scales']}: {e['buckets_tta_crops_per_s']:.1f}/s (top-1 "
            f"{e['buckets_tta_top1']:.4f}): x{e['throughput_tta_vs_buckets']:.2f} the throughput "
            "without"
        )
    if args.frozen:
        results["frozen"] = bench_frozen(args.frozen, args.val, cfg)
    if args.ablation:
        if not args.train:
            parser.error("--ablation needs --train")
        results["ablation"] = bench_ablation(
            args.train, args.val, args.epochs, Path("runs/ablation")
        )
    if args.val_every:
        if not args.train:
            parser.error("--val-every needs --train")
        results["val_every"] = bench_val_every(
            args.train, args.val, args.epochs, args.val_every, Path("runs/val_every")
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
