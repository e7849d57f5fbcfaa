"""``livematch run``: dataset -> detector -> crops -> embedder -> features -> matcher -> result.json,
``report.html`` and ``summary.json``. Per-item and per-clip results are cached under
``OUT/cache`` (:mod:`livematch.cache`): a killed run resumes, new clips or items are the only
work of a second run, a changed model recomputes.

One pass per catalogue item (its photos) and per clip (its sampled frames): read, detect, crop,
embed, keep the crop table rows. A photo or clip that cannot be read is skipped with a warning,
named in ``summary.json``; the rest of the run goes on. Outputs are written atomically.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from livematch.config import LiveMatchConfig, to_yaml
from livematch.cache import ResultCache, file_digest, model_key
from livematch.dataset import load_dataset, read_clip_frames, read_item_photos
from livematch.errors import LiveMatchError
from livematch.io import atomic_write_text, write_json
from livematch.matching import FeatureStore, save_store, search_store
from livematch.summary import RunSummary
from matcher.crops import CropTable
from livematch.report import write_report
from matcher.result import to_details, to_result, write_outputs
from matcher.voting import MatchResult, match_catalogue

log = logging.getLogger(__name__)


@dataclass
class RunReport:
    result: MatchResult
    summary: RunSummary
    seconds: dict[str, float] = field(default_factory=dict)
    score: dict | None = None


class _Stopwatch:
    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        yield
        self.seconds[stage] += time.perf_counter() - start


class _Models:
    """The detector and the embedder(s), and the one step that turns images into crop rows."""

    def __init__(self, detector_ckpt, embedder_ckpts, cfg: LiveMatchConfig, clock: _Stopwatch):
        from detector.train import load_detector
        from embedder.checkpoint import load_embedder
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.detector, _ = load_detector(detector_ckpt, device)
        self.embedders = [load_embedder(c, device)[0] for c in embedder_ckpts]
        self.cfg, self.clock = cfg, clock
        self.weights = [detector_ckpt, *embedder_ckpts]

    def key(self) -> str:
        """What the cached rows depend on besides the media: weights and crop / feature settings."""
        c = self.cfg
        return model_key(self.weights, {"infer": c.detector.infer, "margin": c.embedder.data.crop_margin,
                                        "extract": c.embedder.extract, "frames": c.media.infer_frames,
                                        "backend": c.media.backend.value})

    def rows(self, images, short_side: int, threshold: float):
        """Detections of each image and the features of their crops: ``[(image k, box, score)]``
        and ``(N, D)`` features."""
        from detector.infer import predict
        from embedder.data import MIN_SIDE, widen
        from embedder.extract import embed_images
        with self.clock("detect"):
            dets = predict(self.detector, images, short_side, threshold, self.cfg.detector.infer.batch_size)
        crops, rows = [], []
        for k, (image, d) in enumerate(zip(images, dets)):
            for box, score in zip(d.boxes, d.scores):
                x1, y1, x2, y2 = widen(box, self.cfg.embedder.data.crop_margin, image.shape[1], image.shape[0])
                if x2 - x1 >= MIN_SIDE and y2 - y1 >= MIN_SIDE:
                    crops.append(image[y1:y2, x1:x2])
                    rows.append((k, box, float(score)))
        with self.clock("embed"):
            feats = embed_images(self.embedders, crops, self.cfg.embedder.extract)
        return rows, feats


def _table(entries, dim: int) -> CropTable:
    if not entries:
        return CropTable.empty(dim)
    owner, name, frame, box, score, feat = zip(*entries)
    return CropTable(owner, name, frame, box, score, np.stack(feat))


def check_output_dir(out) -> Path:
    """Create ``out`` and make sure it is writable, before any work is done."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise LiveMatchError(f"{out}: output folder is not writable ({e.strerror})") from None
    return out


def run(cfg: LiveMatchConfig, roots, out, detector_ckpt, embedder_ckpts, gt=None,
        progress: bool = True) -> RunReport:
    """The whole job; writes ``result.json``, ``match_details.json``, ``summary.json``,
    ``report.html``, ``features/`` and ``config.yaml`` under ``out`` (and ``score.json`` with ``gt``)."""
    out = check_output_dir(out)
    clock = _Stopwatch()
    with clock("load"):
        ds = load_dataset(roots, probe_media=cfg.data.probe_media, video_backend="pyav")
        models = _Models(detector_ckpt, embedder_ckpts, cfg, clock)
    summary, inf = ds.summary, cfg.detector.infer
    dim = sum(m.cfg.embedding_dim for m in models.embedders)
    shop, video = [], []
    cache = ResultCache(out / "cache")
    key = models.key()
    shop, video = [], []
    for item in tqdm(ds.items.values(), desc="items", unit="item", disable=not progress):
        source = key + file_digest(p.path for p in item.photos)
        table = cache.get("items", item.item_id, source)
        if table is None:
            with clock("decode"):
                images, names = read_item_photos(item, summary)
            rows, feats = models.rows(images, inf.photo_short_side, inf.photo_threshold)
            table = _table([(item.item_id, names[k], -1, box, s, f) for (k, box, s), f in zip(rows, feats)], dim)
            if len(names) == len(item.photos):  # a partly unreadable item is retried next run
                cache.put("items", item.item_id, source, table)
            summary.counts["items processed"] += 1
        shop.append(table)
    for clip in tqdm(ds.videos.values(), desc="clips", unit="clip", disable=not progress):
        source = key + file_digest([clip.path])
        table = cache.get("clips", clip.video_id, source)
        if table is None:
            with clock("decode"):
                frames = read_clip_frames(clip, cfg.media, summary)
            if frames is None:
                continue
            rows, feats = models.rows(list(frames.images), inf.frame_short_side, inf.frame_threshold)
            table = _table([(clip.video_id, "", frames.indices[k], box, s, f)
                            for (k, box, s), f in zip(rows, feats)], dim)
            cache.put("clips", clip.video_id, source, table)
            summary.counts["clips processed"] += 1
        video.append(table)
    store = FeatureStore(*(t if len(t) else CropTable.empty(dim) for t in map(CropTable.concat, (shop, video))))
    summary.counts.update({"shop crops": len(store.shop), "video crops": len(store.video)})
    with clock("match"):
        dist, rows = search_store(store, cfg.matcher)
        result = match_catalogue(store.shop, store.video, dist, rows, cfg.matcher.voting)
    save_store(out / "features", store)
    write_outputs(out, result)
    atomic_write_text(out / "config.yaml", to_yaml(cfg))
    report = RunReport(result, summary, dict(clock.seconds))
    truth = None
    if gt:
        from livematch.metric import evaluate
        gt_ds = load_dataset(gt, probe_media=False)
        report.score = evaluate(to_result(result), gt_ds).to_dict()
        truth = {v.video_id: v.sold_item for v in gt_ds.videos.values() if v.sold_item in gt_ds.items}
        write_json(out / "score.json", report.score)
    summary_dict = {**summary.to_dict(), "seconds": report.seconds, "matched videos": len(result.matches),
                    **({"score": report.score["score"]} if report.score else {})}
    write_json(out / "summary.json", summary_dict)
    with clock("report"):
        write_report(out / "report.html", to_result(result), to_details(result), ds, summary_dict,
                     report.score, truth)
    report.seconds = dict(clock.seconds)
    return report
