"""Shop-crop -> video-crop retrieval metrics on held-out identities, and of a model on crops."""

from __future__ import annotations

import numpy as np


def retrieval_metrics(
    query: np.ndarray, query_ids, gallery: np.ndarray, gallery_ids, k: int = 10
) -> dict:
    """Top-1 accuracy, recall@5 and mAP@k of unit-feature retrieval (cosine similarity).

    A gallery item is relevant when its id equals the query's; queries without any relevant
    gallery item are left out (``queries`` counts the rest). mAP@k averages
    ``AP@k = sum_{i<=k} P(i) rel(i) / min(R, k)`` with ``R`` relevant items in the gallery.
    """
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    has_match = np.isin(query_ids, gallery_ids)
    if not has_match.any() or not len(gallery):
        return {"top1": 0.0, "recall5": 0.0, f"map{k}": 0.0, "queries": 0}
    q, qid = np.asarray(query, np.float32)[has_match], query_ids[has_match]
    sim = q @ np.asarray(gallery, np.float32).T
    order = np.argsort(-sim, axis=1, kind="stable")[:, : max(k, 5)]
    rel = gallery_ids[order] == qid[:, None]
    n_rel = (gallery_ids[None, :] == qid[:, None]).sum(axis=1)
    top = rel[:, :k]
    precision = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    ap = (precision * top).sum(axis=1) / np.minimum(n_rel, k)
    return {
        "top1": float(rel[:, 0].mean()),
        "recall5": float(rel[:, :5].any(axis=1).mean()),
        f"map{k}": float(ap.mean()),
        "queries": int(len(q)),
    }


def evaluate_crops(model, crops, cfg, scales=None) -> dict:
    """Shop -> video retrieval metrics of ``model`` (an ``Embedder``, or a list of them: an
    ensemble, ``scales`` their short sides) on (held-out) crops (``embedder.data.Crop``), embedded
    with ``cfg`` (an ``EmbedderConfig``)'s extraction settings."""
    import cv2

    from embedder.extract import embed_images

    models = model if isinstance(model, (list, tuple)) else [model]
    for m in models:
        m.eval()
    images = [cv2.imread(c.path)[..., ::-1] for c in crops]
    feats = embed_images(
        models, images, cfg.extract, buckets=cfg.data.aspect_buckets, scales=scales
    ).astype(np.float32)
    shop = np.array([c.is_shop for c in crops])
    ids = np.array([c.instance_id for c in crops])
    return retrieval_metrics(feats[shop], ids[shop], feats[~shop], ids[~shop])
