"""The Python API: what ``livematch run`` does, as objects for notebooks and services.

    import livematch
    pipe = livematch.Pipeline.load("configs/pipeline/demo.yaml")
    catalogue = pipe.catalogue("data/demo")    # every item folder's shop crops
    clips = pipe.clips("data/demo")            # every clip's frame crops
    result = pipe.match(catalogue, clips)      # Matched: .matches[video_id] -> Match
    result.save("runs/api")                    # result.json, match_details.json, report.html
    result.score("data/demo")                  # the contest score against annotated roots
    one = pipe.match_clip("data/demo/video/123456.mp4", catalogue)   # Match or None

Crops, thresholds, classes, frame region, crop margin, extraction scale and the vote are those of
the config, through the same code as ``livematch run`` (:class:`livematch.pipeline.Models`), so
the numbers are the run's: ``match(catalogue(root), clips(root))`` gives the run's
``result.json`` on that root. A crop table (:class:`matcher.crops.CropTable`) holds per crop its
owner (item or clip id), photo name or frame index, box, detector score and label, and feature.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ground.dataset import Dataset, load_dataset, read_clip_frames, read_item_photos
from ground.errors import ConfigError, MediaError
from ground.progress import progress_bar
from ground.structures import Video
from ground.summary import RunSummary
from livematch.config import LiveMatchConfig, run_config
from matcher.crops import CropTable
from matcher.voting import Match, MatchResult, match_catalogue


@dataclass
class Matched(MatchResult):
    """What :meth:`Pipeline.match` returns: the matches (a :class:`~matcher.voting.MatchResult`),
    able to save and score themselves. ``dataset`` holds the photos and clips they came from
    (for the report's pictures), ``summary`` the bad inputs met, ``cutoff`` the vote's distance."""

    dataset: Dataset | None = None
    summary: RunSummary = field(default_factory=RunSummary)
    cutoff: float | None = None
    region: list | None = None

    def score(self, gt) -> dict:
        """The contest score (item / frame / box precision, recall, F1 and the score) against
        annotated root(s) ``gt``."""
        return self._score(load_dataset(gt, probe_media=False))

    def _score(self, gt_ds: Dataset) -> dict:
        from ground.metric import evaluate
        from matcher.result import to_result

        return evaluate(to_result(self), gt_ds).to_dict()

    def save(self, out, gt=None) -> Path:
        """Write ``result.json``, ``match_details.json``, ``summary.json`` and ``report.html`` under
        ``out`` (and ``score.json``, with every clip graded in the report, when ``gt`` names
        annotated roots); returns ``out``."""
        from ground.io import write_json
        from livematch.pipeline import check_output_dir
        from livematch.report import write_report
        from matcher.result import to_details, to_result, write_outputs

        gt_ds = load_dataset(gt, probe_media=False) if gt else None
        out = check_output_dir(out)
        write_outputs(out, self)
        score = self._score(gt_ds) if gt_ds is not None else None
        if score:
            write_json(out / "score.json", score)
        summary = {
            **self.summary.to_dict(),
            "matched videos": len(self.matches),
            **({"score": score["score"]} if score else {}),
        }
        write_json(out / "summary.json", summary)
        if self.dataset is not None:
            write_report(
                out / "report.html",
                to_result(self),
                to_details(self),
                self.dataset,
                summary,
                score,
                gt_ds,
                self.region,
                self.cutoff,
            )
        return out


class Pipeline:
    """A loaded detector + embedder(s) with a config. ``summary`` counts the bad inputs met;
    ``progress`` shows progress on :meth:`catalogue` and :meth:`clips` (a bar on a terminal, a
    plain line every 30 s in logs)."""

    def __init__(self, cfg: LiveMatchConfig, device=None, progress: bool = True):
        import torch

        from livematch.pipeline import Models, Stopwatch

        if not cfg.weights.detector or not cfg.weights.embedders:
            raise ConfigError(
                "the config names no weights: set weights.detector and weights.embedders"
            )
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.cfg, self.summary, self._datasets, self.progress = cfg, RunSummary(), {}, progress
        self.models = Models(cfg.weights.detector, cfg.weights.embedders, cfg, Stopwatch(), device)
        self.dim = sum(m.cfg.embedding_dim for m in self.models.embedders)

    @classmethod
    def load(cls, config=None, overrides=(), device=None, progress: bool = True) -> Pipeline:
        """From a pipeline YAML (e.g. ``fit``'s ``pipeline.yaml``) and dotted overrides; input
        sizes the config does not set come from the checkpoints, as in ``livematch run``."""
        return cls(run_config(config, list(overrides)), device, progress)

    def _table(self, images, kind: str, owner: str, names) -> CropTable:
        from livematch.pipeline import crop_table

        rows, feats = self.models.crops(images, kind)
        entries = [
            (
                owner,
                str(names[k]) if kind == "items" else "",
                -1 if kind == "items" else int(names[k]),
                box,
                score,
                label,
                f,
                worn,
            )
            for (k, box, score, label, worn), f in zip(rows, feats)
        ]
        return crop_table(entries, self.dim)

    def photo_crops(self, images, item_id: str, names) -> CropTable:
        """Detect and embed the shop photos ``images`` (RGB arrays) of item ``item_id``; ``names``
        are their photo names (``img_name`` in result.json)."""
        return self._table(list(images), "items", item_id, list(names))

    def frame_crops(self, frames, video_id: str, indices) -> CropTable:
        """Detect and embed the video ``frames`` (RGB arrays) at frame ``indices`` of one clip."""
        return self._table(list(frames), "clips", video_id, list(indices))

    def _dataset(self, roots):
        """``roots`` loaded once (its bad inputs warned and counted in ``summary`` once), however
        many of :meth:`catalogue` and :meth:`clips` read it."""
        key = tuple(
            str(Path(r).resolve()) for r in ([roots] if isinstance(roots, (str, Path)) else roots)
        )
        if key not in self._datasets:
            self._datasets[key] = load_dataset(list(key), probe_media=self.cfg.data.probe_media)
            self.summary.merge(self._datasets[key].summary)
        return self._datasets[key]

    def catalogue(self, roots) -> CropTable:
        """The shop crops of every item folder under ``roots`` (bad photos warned and skipped)."""
        ds = self._dataset(roots)
        tables = []
        for item in progress_bar(
            list(ds.items.values()), desc="catalogue", unit="item", show=self.progress
        ):
            images, names = read_item_photos(item, self.summary)
            tables.append(self.photo_crops(images, item.item_id, names))
        return self._clean(tables)

    def clip(self, path, video_id: str | None = None) -> CropTable:
        """The frame crops of one clip file (its ``media.infer_frames``); ``video_id`` defaults
        to the file stem. An unreadable clip raises :class:`~ground.errors.MediaError`."""
        path = Path(path)
        record = Video(video_id or path.stem, path)
        frames = read_clip_frames(record, self.cfg.media, self.summary)
        if frames is None:
            raise MediaError(path, "cannot be read (see the warning above)")
        return self.frame_crops(list(frames.images), record.video_id, list(frames.indices))

    def clips(self, roots) -> CropTable:
        """The frame crops of every clip under ``roots`` (unreadable clips warned and skipped)."""
        ds = self._dataset(roots)
        tables = []
        for video in progress_bar(
            list(ds.videos.values()), desc="clips", unit="clip", show=self.progress
        ):
            frames = read_clip_frames(video, self.cfg.media, self.summary)
            if frames is not None:
                tables.append(
                    self.frame_crops(list(frames.images), video.video_id, list(frames.indices))
                )
        return self._clean(tables)

    def _clean(self, tables) -> CropTable:
        from livematch.pipeline import joined

        table, dropped = joined(tables, self.dim)
        if dropped:
            self.summary.counts["crops dropped (feature NaN, inf or zero)"] += dropped
        return table

    def match(
        self,
        catalogue: CropTable,
        clips: CropTable,
        titles: dict[str, str] | None = None,
        transcripts: dict[str, str] | None = None,
    ) -> Matched:
        """The configured search and vote of ``catalogue``'s folders against ``clips``; the result
        knows the roots this pipeline read (for its report) and can save and score itself.
        ``titles`` / ``transcripts`` (item id / video id -> text) are the words the vote adds with
        ``matcher.voting.text_weight``: by default those of the roots this pipeline read."""
        from livematch.pipeline import vote_cutoff
        from matcher.rerank import search_store
        from matcher.store import FeatureStore, store_text

        seen = self._seen()
        if titles is None:
            titles = seen.titles() if seen else {}
        if transcripts is None:
            transcripts = seen.transcripts() if seen else {}
        result = MatchResult()
        if len(catalogue) and len(clips):
            store = FeatureStore(catalogue, clips, titles=titles, transcripts=transcripts)
            dist, rows = search_store(store, self.cfg.matcher)
            voting, text = self.cfg.matcher.voting, store_text(store, self.cfg.matcher)
            result = match_catalogue(catalogue, clips, dist, rows, voting, text)
        return Matched(
            **vars(result),
            dataset=seen,
            summary=self.summary,
            cutoff=vote_cutoff(self.cfg.matcher.voting),
            region=self.models.regions["clips"],
        )

    def _seen(self) -> Dataset | None:
        """Every root this pipeline has read, as one dataset (``None`` before any)."""
        if not self._datasets:
            return None
        seen = Dataset(roots=[r for ds in self._datasets.values() for r in ds.roots])
        for ds in self._datasets.values():
            seen.items.update(ds.items)
            seen.videos.update(ds.videos)
        return seen

    def match_clip(self, clip, catalogue: CropTable) -> Match | None:
        """The item sold in one clip (a path, or a crop table from :meth:`clip`), or None. The
        folder vote then sees this clip alone: in a batch of clips a folder's crops may find
        nearer crops in another clip, so :meth:`match` over all clips is what ``run`` reports."""
        table = clip if isinstance(clip, CropTable) else self.clip(clip)
        result = self.match(catalogue, table)
        return next(iter(result.matches.values()), None)
