"""Matcher: crop features in, decisions out. faiss nearest-neighbour search from shop crops to
video crops, the reference voting, re-ranking options, threshold calibration, result.json.

Pure arrays in, arrays out (faiss contrib style): numpy and faiss only, never torch.
"""

from matcher.config import IndexConfig, MatcherConfig, RerankConfig, VotingConfig
from matcher.crops import CropTable
from matcher.index import KnnIndex, build_index
from matcher.voting import Match, match_catalogue

__all__ = [
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
