"""bench.knn at toy size: every exact search finds our top-1 rows, every approximate kind is
measured against exact search, FP16 storage halves the index."""

import json
import math

import pytest

from bench import knn


@pytest.mark.slow
def test_the_knn_bench_runs_at_toy_size_and_exact_searches_agree(tmp_path, capsys):
    out = knn.main(["--toy", "--out", str(tmp_path / "knn.json")])
    assert len(out["exact"]) == 2
    for e in out["exact"]:
        assert set(e["ours_vs"]) == {"faiss_default_block", "numpy", "torch"}
        assert all(math.isfinite(r) and r > 0 for r in e["ours_vs"].values())
        assert all(v == 1.0 for v in e["top1_identical_to_ours"].values())  # the same top-1 rows
    kinds = out["approximate"]["kinds"]
    assert set(kinds) == {"ivf_flat", "ivf_pq", "ivf_fastscan", "hnsw"}
    for r in kinds.values():
        assert math.isfinite(r["speedup_vs_exact"]) and r["speedup_vs_exact"] > 0
        assert 0 <= r["recall_at_1"] <= 1
    assert kinds["ivf_flat"]["recall_at_1"] >= 0.9 and kinds["hnsw"]["recall_at_1"] >= 0.9
    memory = out["memory"]
    assert 1.5 < memory["index_ratio_fp32_vs_fp16"] <= 2.0
    assert memory["top1_identical_fp16_vs_fp32"] >= 0.95
    assert json.loads((tmp_path / "knn.json").read_text()) == out
    printed = capsys.readouterr().out
    assert "top-1 identical 1.0000, 1.0000, 1.0000" in printed and "ivf_fastscan" in printed
