"""Matcher: crop features in, decisions out. faiss nearest-neighbour search from shop crops to
video crops, the reference voting, re-ranking options, threshold calibration, result.json.

Pure arrays in, arrays out (faiss contrib style): numpy and faiss only, never torch.
"""

from matcher import index, rerank, voting
from matcher.config import IndexConfig, MatcherConfig, RerankConfig, VotingConfig
from matcher.crops import CropTable
from matcher.index import KnnIndex, build_index
from matcher.voting import Match, match_catalogue

# The matcher settings that take one of a few words (``index.kind``, ``voting.rule``, ...): each
# the table of its choices, by name (livematch.config checks them when a config loads).
CHOICES = {**index.CHOICES, **rerank.CHOICES, **voting.CHOICES}

__all__ = [
    "CHOICES",
    "CropTable",
    "IndexConfig",
    "KnnIndex",
    "Match",
    "MatcherConfig",
    "RerankConfig",
    "VotingConfig",
    "build_index",
    "match_catalogue",
]
