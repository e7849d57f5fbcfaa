"""Embedder benchmarks on sample roots it generates, each comparison side by side in one run.

    python -m bench.embedder                       # extraction, the committed demo embedder
    python -m bench.embedder --checkpoint CKPT     # extraction, another embedder
    python -m bench.embedder --frozen tf_efficientnet_lite0@160 tf_efficientnet_lite2@224
    python -m bench.embedder --val-every 10 --epochs 10
    python -m bench.embedder --ablation --epochs 10
    python -m bench.embedder --toy [--frozen NAME@SIZE ...] [--val-every 2] [--ablation]

The data: a held-out root (VAL: 24 items, 20 clips) and, for the modes that train, a TRAIN root
(40 items, 30 clips), written under ``--work`` by the sample-data generator (``--val`` and
``--train`` name roots of your own instead). Crops are the roots' annotated boxes (photos and
frames 80..360), cut again each run under ``--work``. With no mode named, or with
``--checkpoint``:

1. extraction: crops per second with aspect-ratio buckets vs padding every crop to a square
   (ratio), and with multi-scale test-time augmentation (``--tta-scales``, as ``fit.tta_scales``:
   multiples of the embedder's scale) vs without (ratio); shop -> video retrieval top-1 of each on
   VAL's items. The embedder is ``--checkpoint`` (default: the demo's, ``weights/embedder_lite0``);
2. frozen ImageNet backbones (``--frozen NAME@SIZE ...``): each backbone's GeM-pooled features
   without training (no neck), side by side on the same crops: top-1, mAP@10, crops per second
   and its ratio to the first backbone's;
3. ablation (``--ablation``): the tiny recipe trained with and without cross-batch memory, with
   and without aspect-ratio bucketing (one square bucket), ArcFace vs sub-center ArcFace; top-1,
   recall@5 and mAP@10 on VAL's items, training seconds and their ratio to the reference's;
4. validation every N epochs (``--val-every N``): the lite0 recipe (``select: last``) trained
   ``--epochs`` epochs validating after each and after every N (and the last), side by side: the
   seconds of each, their ratio, and whether the two trained the same weights.

``--toy``: 5-item roots of small clips, a small backbone at 64 px for the training modes (one or
two epochs), one CPU thread: the test's size. Writes ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

RECIPE = Path("configs/embedder/tiny.yaml")
CHECKPOINT = Path("weights/embedder_lite0")
VARIANTS = {
    "reference (xbm, buckets, arcface)": [],
    "no cross-batch memory": ["embedder.loss.xbm=false"],
    "no bucketing (one square bucket)": ["embedder.data.aspect_buckets=[1.0]"],
    "sub-center arcface": ["embedder.loss.head=subcenter"],
}
SIZES = {"val": {"items": 24, "videos": 20}, "train": {"items": 40, "videos": 30}}
SMALL = {"width": 320, "height": 180, "frames": 200}
TOY = {
    "sizes": {
        "val": {"items": 5, "videos": 4, **SMALL},
        "train": {"items": 6, "videos": 4, **SMALL},
    },
    "epochs": 2,
    "threads": 1,
    # the training modes: a small backbone at 64 px, small batches, no loader processes
    "overrides": [
        "embedder.model.backbone=mobilenetv3_small_050",
        "embedder.model.weights=''",
        "embedder.model.embedding_dim=32",
        "embedder.data.scales=[64]",
        "embedder.extract.scale=64",
        "embedder.data.batch_size=16",
        "embedder.data.workers=0",
        "embedder.data.p_identities=4",
        "embedder.data.k_per_identity=4",
        "embedder.loss.xbm_memory=64",
        "embedder.optim.warmup_steps=2",
    ],
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
    from ground.summary import RunSummary
    from livematch.commands.embed import labelled_crops

    crops = labelled_crops(val_roots, cfg, RunSummary(), progress=False)
    images = [cv2.imread(c.path)[..., ::-1] for c in crops]
    return images, np.array([c.is_shop for c in crops]), np.array([c.instance_id for c in crops])


def top1(feats: np.ndarray, shop: np.ndarray, ids: np.ndarray) -> dict:
    """Shop -> video retrieval metrics of the crops' features."""
    from embedder.evaluate import retrieval_metrics

    return retrieval_metrics(feats[shop], ids[shop], feats[~shop], ids[~shop])


def bench_extraction(checkpoint: Path, val_roots, cfg, tta_scales) -> dict:
    from embedder.checkpoint import load_embedder
    from embedder.extract import embed_images
    from livematch.candidates import tta_sizes

    model, model_cfg = load_embedder(checkpoint)
    images, shop, ids = held_out_crops(val_roots, cfg)
    extract = replace(cfg.embedder.extract, scale=model_cfg.extract.scale)
    tta = replace(extract, scales_tta=tta_sizes(extract.scale, tta_scales))
    row = {"checkpoint": str(checkpoint), "crops": len(images), "scale": extract.scale}
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
        row[f"{name}_top1"] = top1(feats, shop, ids)["top1"]
    row["throughput_buckets_vs_pad"] = row["buckets_crops_per_s"] / row["pad_square_crops_per_s"]
    row["throughput_tta_vs_buckets"] = row["buckets_tta_crops_per_s"] / row["buckets_crops_per_s"]
    e = row
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
    return row


def bench_frozen(specs, val_roots, cfg) -> dict:
    """Retrieval of ImageNet backbones as they are: ``NAME@SIZE`` each, GeM over the last map
    (p = 3), no projection; the same crops and buckets for all."""
    from torch import nn

    from embedder.config import ExtractConfig, ModelConfig
    from embedder.extract import embed_images
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
        feats = embed_images(model, images, ExtractConfig(scale=int(size or 128)))
        rows[spec] = r = {
            **top1(feats.astype(np.float32), shop, ids),
            "crops_per_s": len(images) / (time.perf_counter() - start),
        }
        r["crops_per_s_vs_first"] = r["crops_per_s"] / rows[specs[0]]["crops_per_s"]
        print(
            f"{spec:<32} top-1 {r['top1']:.4f}  mAP@10 {r['map10']:.4f}  {r['crops_per_s']:.1f} "
            f"crops/s (x{r['crops_per_s_vs_first']:.2f} the first's)"
        )
    return rows


def training_config(recipe: Path, train_roots, val_roots, args, overrides=()):
    """``recipe`` trained ``args.epochs`` epochs on ``train_roots``, validated on ``val_roots``,
    its crops cut under ``args.work``."""
    from livematch.config import load_config

    return load_config(
        recipe,
        [
            *args.overrides,
            *overrides,
            f"embedder.data.roots={list(map(str, train_roots))}",
            f"embedder.data.val_roots={list(map(str, val_roots))}",
            f"embedder.optim.epochs={args.epochs}",
            f"embedder.data.cache_dir={args.work / 'crops'}",
        ],
    )


def bench_ablation(train_roots, val_roots, args) -> dict:
    from livematch.commands.embed import train_embedder

    rows = {}
    for name, overrides in VARIANTS.items():
        cfg = training_config(RECIPE, train_roots, val_roots, args, overrides)
        start = time.perf_counter()
        folder = args.work / "ablation" / name.split(" (")[0].replace(" ", "_")
        result, _ = train_embedder(cfg, folder, progress=False)
        best = max(result.history, key=lambda r: r.get("top1", 0))
        rows[name] = r = {k: best.get(k) for k in ("top1", "recall5", "map10", "epoch")}
        r["train_seconds"] = time.perf_counter() - start
        r["seconds_vs_reference"] = r["train_seconds"] / next(iter(rows.values()))["train_seconds"]
        print(
            f"{name:<36} top-1 {r['top1']:.4f}  recall@5 {r['recall5']:.4f}  mAP@10 "
            f"{r['map10']:.4f}  {r['train_seconds']:.0f} s (x{r['seconds_vs_reference']:.2f})"
        )
    return rows


def bench_val_every(train_roots, val_roots, every: int, args) -> dict:
    from safetensors.torch import load_file

    from ground.summary import RunSummary
    from livematch.commands.embed import labelled_crops, train_embedder

    rows, weights = {}, {}
    for n in (1, every):
        cfg = training_config(
            Path("configs/embedder/lite0.yaml"),
            train_roots,
            val_roots,
            args,
            [f"embedder.optim.val_every={n}"],
        )
        labelled_crops(
            cfg.embedder.data.roots + cfg.embedder.data.val_roots, cfg, RunSummary(), False
        )  # cached first
        start = time.perf_counter()
        result, _ = train_embedder(cfg, args.work / f"every{n}", progress=False)
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
        f"{args.epochs} epochs: validated after each {rows['every 1']['seconds']:.0f} s, after "
        f"every {every} {rows[f'every {every}']['seconds']:.0f} s: x{ratio:.2f} the speed; the "
        f"same weights: {same}"
    )
    return {**rows, "speedup": ratio, "same_weights": same}


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint", type=Path, help=f"The embedder extraction measures (default {CHECKPOINT})."
    )
    parser.add_argument("--val", type=Path, nargs="+", help="Held-out roots (default: generated).")
    parser.add_argument(
        "--train", type=Path, nargs="+", help="Training roots (default: generated)."
    )
    parser.add_argument(
        "--work", type=Path, default=Path("runs/bench_embedder"), help="Sample roots, crops, runs."
    )
    parser.add_argument(
        "--frozen", nargs="+", metavar="NAME@SIZE", help="ImageNet backbones compared frozen."
    )
    parser.add_argument("--ablation", action="store_true", help="Train the tiny recipe's variants.")
    parser.add_argument(
        "--val-every", type=int, metavar="N", help="Time the lite0 recipe validated every N epochs."
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument(
        "--tta-scales", default="1.333", help="Test-time scales, multiples of the embedder's."
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of torch")
    parser.add_argument(
        "--toy", action="store_true", help="Tiny roots and models: the test's size."
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/embedder.json"))
    args = parser.parse_args(argv)
    args.sizes, args.overrides = SIZES, []
    if args.toy:
        vars(args).update(TOY)
    return args


def roots(args, kind: str, seed: int) -> list[Path]:
    from bench import sample_root

    given = getattr(args, kind)
    return given or [sample_root(args.work, kind, seed, **args.sizes[kind])]


def main(argv=None) -> dict:
    from bench import bound_threads
    from ground.io import write_json
    from livematch.config import load_config

    args = parse(argv)
    results = {"threads": bound_threads(args.threads)}
    shutil.rmtree(args.work / "crops", ignore_errors=True)  # crops cut from these roots only
    val = roots(args, "val", 71)
    cfg = load_config(RECIPE, [f"embedder.data.cache_dir={args.work / 'crops'}"])
    if args.checkpoint or not (args.frozen or args.ablation or args.val_every):
        scales = [float(s) for s in args.tta_scales.split(",") if s]
        checkpoint = args.checkpoint or CHECKPOINT
        results["extraction"] = bench_extraction(checkpoint, val, cfg, scales)
    if args.frozen:
        results["frozen"] = bench_frozen(args.frozen, val, cfg)
    if args.ablation or args.val_every:
        train = roots(args, "train", 70)
    if args.ablation:
        results["ablation"] = bench_ablation(train, val, args)
    if args.val_every:
        results["val_every"] = bench_val_every(train, val, args.val_every, args)
    results = json.loads(json.dumps(results))
    write_json(args.out, results)
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
