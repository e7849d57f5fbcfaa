"""Words beside the pictures: how close a clip's transcript is to each item folder's title.

Character n-gram TF-IDF, fitted on the catalogue's titles: a title and a transcript become
l2-normalised vectors of their n-grams (``n`` in ``[ngram_min, ngram_max]``, letters only, never
across a space, digit or punctuation mark), each weighted ``(1 + log tf) * idf`` with
``idf = log((1 + N) / (1 + df)) + 1`` over the ``N`` titles; their similarity is the cosine, in
``[0, 1]``. Character n-grams need no word segmenter for Chinese, and a synonym sharing a
character with the title's word (裙子 / 连衣裙) still counts. N-grams no title has weigh nothing,
and numbers are no words: a greeting or a price cannot point at any folder.

The vote's text score of a (folder, clip) pair is that similarity minus the clip's mean
similarity over the titled folders: what the clip's words say of this folder beyond what they say
of any (words every title shares, 款 or 色, lift no folder over an untitled one). The vote uses
``distance - voting.text_weight * score`` where both texts exist; a pair without one of them
keeps its visual distance.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from matcher.config import TextConfig

Vector = dict[str, float]  # an l2-normalised TF-IDF vector: n-gram -> weight


def normalised(text: str) -> str:
    """``text`` as the n-grams read it: NFKC, lower case."""
    return unicodedata.normalize("NFKC", text).lower()


def grams(text: str, cfg: TextConfig) -> Counter:
    """The character n-grams of ``text`` (:func:`normalised`; runs of letters only: digits,
    punctuation and spaces split them), counted."""
    kept = "".join(c if c.isalpha() else " " for c in normalised(text))
    out: Counter = Counter()
    for word in kept.split():
        for n in range(cfg.ngram_min, cfg.ngram_max + 1):
            out.update(word[i : i + n] for i in range(len(word) - n + 1))
    return out


def _dot(a: Vector, b: Vector) -> float:
    if len(b) < len(a):
        a, b = b, a
    return float(sum(w * b.get(g, 0.0) for g, w in a.items()))


@dataclass
class TextScores:
    """Each folder's title and each clip's transcript as TF-IDF vectors (``items`` / ``videos``:
    id -> vector; a folder or clip without text is in neither); a pair's score is computed when
    asked, so a catalogue of any size costs one vector per text."""

    items: dict[str, Vector]
    videos: dict[str, Vector]
    _mean: Vector = field(init=False, repr=False)  # the titles' mean vector
    _centre: dict[str, float] = field(init=False, repr=False)  # clip -> its mean similarity

    def __post_init__(self):
        mean: Counter = Counter()
        for v in self.items.values():
            mean.update(v)
        self._mean = {g: w / len(self.items) for g, w in mean.items()} if self.items else {}
        self._centre = {}

    def similarity(self, item_id: str, video_id: str) -> float | None:
        """The cosine of the folder's title and the clip's transcript, in ``[0, 1]``; ``None``
        when either has no text."""
        a, b = self.items.get(item_id), self.videos.get(video_id)
        return None if a is None or b is None else _dot(a, b)

    def __call__(self, item_id: str, video_id: str) -> float | None:
        """The pair's text score: :meth:`similarity` minus the clip's mean similarity over the
        titled folders (in ``[-1, 1]``); ``None`` when either has no text."""
        s = self.similarity(item_id, video_id)
        if s is None:
            return None
        if video_id not in self._centre:
            self._centre[video_id] = _dot(self._mean, self.videos[video_id])
        return s - self._centre[video_id]


def _vector(counts: Counter, idf: dict[str, float]) -> Vector:
    """``(1 + log tf) * idf`` of each n-gram in ``idf``, l2-normalised (empty: no such n-gram)."""
    v = {g: (1.0 + math.log(tf)) * idf[g] for g, tf in counts.items() if g in idf}
    norm = math.sqrt(sum(w * w for w in v.values()))
    return {g: w / norm for g, w in v.items()} if norm > 0 else {}


def text_scores(
    titles: dict[str, str], transcripts: dict[str, str], cfg: TextConfig | None = None
) -> TextScores | None:
    """The TF-IDF vectors of every title and transcript, the IDF over the titles (``titles``: item
    id -> title, ``transcripts``: video id -> transcript; empty or ``None`` texts are absent);
    ``None`` when no folder or no clip has text (the vote is then the visual one)."""
    cfg = cfg or TextConfig()
    docs = {str(k): grams(t, cfg) for k, t in titles.items() if t}
    said = {str(k): grams(t, cfg) for k, t in transcripts.items() if t}
    if not docs or not said:
        return None
    df = Counter(g for d in docs.values() for g in d)
    idf = {g: math.log((1 + len(docs)) / (1 + n)) + 1.0 for g, n in df.items()}
    return TextScores(
        {k: _vector(d, idf) for k, d in docs.items()},
        {k: _vector(d, idf) for k, d in said.items()},
    )


def shared_words(title: str, transcript: str, cfg: TextConfig | None = None) -> set[str]:
    """The n-grams of length at least 2 (or ``ngram_max`` when smaller) that ``title`` and
    ``transcript`` share (:func:`normalised`): what the report highlights."""
    cfg = cfg or TextConfig()
    shortest = min(2, cfg.ngram_max)
    both = set(grams(title, cfg)) & set(grams(transcript, cfg))
    return {g for g in both if len(g) >= shortest}
