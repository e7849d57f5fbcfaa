"""COCO box AP / AP50 with pycocotools, from in-memory predictions and ground truth, and of a
model on annotated samples."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector.infer import predict
from ground.media import read_photo


def _xywh(box) -> list[float]:
    """An ``[x1, y1, x2, y2]`` box as COCO's ``[x, y, width, height]`` floats."""
    return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]


def _coco_records(predictions, ground_truth) -> tuple[list, list, list]:
    """COCO's images, annotations and detections of per-image ground truth and predictions (the
    arguments of :func:`coco_ap`); image ids count from 0, annotation ids from 1."""
    images, anns, dets = [], [], []
    for i, ((gb, gl), (pb, ps, pl)) in enumerate(zip(ground_truth, predictions)):
        images.append({"id": i, "width": 1, "height": 1})
        for box, label in zip(np.asarray(gb).reshape(-1, 4), np.asarray(gl)):
            bbox = _xywh(box)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": int(label),
                    "iscrowd": 0,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                }
            )
        for box, score, label in zip(np.asarray(pb).reshape(-1, 4), np.asarray(ps), np.asarray(pl)):
            dets.append(
                {
                    "image_id": i,
                    "category_id": int(label),
                    "score": float(score),
                    "bbox": _xywh(box),
                }
            )
    return images, anns, dets


def _coco_eval(images, anns, dets, num_classes: int) -> COCOeval | None:
    """pycocotools' box evaluation of ``dets`` against ``anns`` (evaluated, accumulated and
    summarised, its printing swallowed); ``None`` without detections."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": images,
            "annotations": anns,
            "categories": [{"id": k} for k in range(1, num_classes + 1)],
        }
        gt.createIndex()
        if not dets:
            return None
        result = gt.loadRes(dets)
        ev = COCOeval(gt, result, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def coco_ap(predictions, ground_truth, num_classes: int = 1) -> dict:
    """``predictions``: per image ``(boxes (N, 4), scores (N,), labels (N,))``; ``ground_truth``:
    per image ``(boxes (M, 4), labels (M,))``; boxes ``[x1, y1, x2, y2]``. Returns
    ``{"AP": AP@[.5:.95], "AP50": AP@.5}`` (0 when there is no ground-truth box); with several
    classes also ``"AP50_by_class"``, one value per class (-1 for a class without ground truth)."""
    images, anns, dets = _coco_records(predictions, ground_truth)
    if not anns:
        return {"AP": 0.0, "AP50": 0.0}
    ev = _coco_eval(images, anns, dets, num_classes)
    if ev is None:
        return {"AP": 0.0, "AP50": 0.0}
    out = {"AP": float(max(ev.stats[0], 0.0)), "AP50": float(max(ev.stats[1], 0.0))}
    if num_classes > 1:  # precision[iou .5, recall, class, all areas, most detections]
        p = ev.eval["precision"][0, :, :, 0, -1]
        out["AP50_by_class"] = [
            float(p[:, k][p[:, k] > -1].mean()) if (p[:, k] > -1).any() else -1.0
            for k in range(num_classes)
        ]
    return out


def evaluate_detector(model, samples, short_side: int, num_classes: int) -> dict:
    """COCO AP / AP50 of ``model`` on annotated samples (``DetSample``; boxes of every score)."""
    images = [read_photo(s.path) for s in samples]
    dets = predict(model, images, short_side, threshold=0.0)
    return coco_ap(
        [(d.boxes, d.scores, d.labels) for d in dets],
        [(s.boxes, s.labels) for s in samples],
        num_classes,
    )
