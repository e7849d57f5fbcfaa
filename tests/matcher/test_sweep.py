import numpy as np

from matcher.sweep import distance_grid, sweep_votes
from matcher.voting import match_catalogue
from tests.matcher.test_voting import scenario


def test_calibration_finds_the_known_best_cut():
    # true pairs at 0.3-0.5; two folders whose item has no video wrongly claim videos at 0.8-0.9
    cands = {
        "000001": [("A", 80, 0.3)],
        "000002": [("B", 80, 0.4)],
        "000003": [("C", 80, 0.5)],
        "000004": [("X", 80, 0.8)],
        "000005": [("Y", 80, 0.9)],
    }
    truth = {"A": "000001", "B": "000002", "C": "000003"}

    def f1(pred):
        correct = sum(truth.get(v) == e["item_id"] for v, e in pred.items())
        p, r = correct / max(1, len(pred)), correct / len(truth)
        return 2 * p * r / (p + r) if p + r else 0.0

    table = sweep_votes(*scenario(cands), f1, grid={"max_distance": [0.2, 0.45, 0.6, 0.85, 1.12]})
    best = table[0]
    assert best["max_distance"] == 0.6 and best["score"] == 1.0 and best["matches"] == 3
    assert [r["score"] for r in table] == sorted((r["score"] for r in table), reverse=True)
    assert len(table) == 7 * 4 * 5


def test_distance_grid_covers_the_matches():
    result = match_catalogue(*scenario({"000001": [("A", 80, 0.3)], "000002": [("B", 80, 0.7)]}))
    grid = distance_grid(result)
    assert grid[-1] == float("inf") and min(grid) >= 0.3 - 1e-6 and 0.7 in np.round(grid, 4)
