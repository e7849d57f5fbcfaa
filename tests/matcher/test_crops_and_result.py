import json
import logging

import numpy as np
import pytest

from matcher.crops import CropTable, FeatureError, clean_features
from matcher.result import to_details, to_result, write_outputs
from matcher.voting import match_catalogue
from tests.matcher.test_voting import scenario


def small_table(n=4, dim=8):
    feats = np.eye(n, dim, dtype=np.float32)
    return CropTable(
        [f"{i:06d}" for i in range(n)],
        [str(i) for i in range(n)],
        [-1] * n,
        np.tile([0, 0, 10, 10], (n, 1)),
        np.linspace(0.9, 1, n),
        feats,
    )


def test_selection_and_concat():
    t = small_table()
    sub = t[t.scores > 0.95]
    assert len(sub) == 2 and list(sub.owner) == ["000002", "000003"]
    both = CropTable.concat([t, sub])
    assert len(both) == 6 and both.dim == 8
    with pytest.raises(FeatureError, match="dimensions"):
        CropTable.concat([t, small_table(2, 16)])


def test_save_load_round_trip(tmp_path):
    t = small_table()
    t.save(tmp_path / "shop.npz")
    back = CropTable.load(tmp_path / "shop.npz")
    for field in ("owner", "name", "frame", "boxes", "scores", "features"):
        np.testing.assert_array_equal(getattr(back, field), getattr(t, field))
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(FeatureError, match="bad.npz"):
        CropTable.load(tmp_path / "bad.npz")


def test_bad_features_are_dropped_with_a_named_warning(caplog):
    t = small_table()
    t.features[1, 0] = np.nan
    t.features[2] = 0.0
    t.features[3, 0] = 4.0
    with caplog.at_level(logging.WARNING):
        kept, dropped = clean_features(t)
    assert dropped == 2 and list(kept.owner) == ["000000", "000003"]
    np.testing.assert_allclose(np.linalg.norm(kept.features, axis=1), 1.0, atol=1e-6)
    assert "000001 photo 1" in caplog.text and "NaN" in caplog.text and "zero norm" in caplog.text


def test_result_json_shape_and_details(tmp_path):
    cands = {"000001": [("A", 80, 0.3)], "000002": [("A", 80, 0.5)], "000003": [("B", 80, 1.5)]}
    result = match_catalogue(*scenario(cands))
    out = to_result(result)
    assert out == {
        "A": {
            "item_id": "000001",
            "frame_index": 80,
            "result": [
                {"img_name": "0", "item_box": [0, 0, 10, 10], "frame_box": [80, 0, 100, 20]}
            ],
        }
    }
    details = to_details(result)
    assert details["videos"]["A"]["runner_up_item"] == "000002"
    assert (
        details["videos"]["B"]["status"] == "no match"
        and "too far" in details["videos"]["B"]["reason"]
    )
    assert details["folders"]["000002"] == {
        **details["folders"]["000002"],
        "won": False,
        "lost_to": "000001",
    }
    paths = write_outputs(tmp_path / "run", result)
    assert json.loads(paths[0].read_text()) == out
    assert not list((tmp_path / "run").glob(".*tmp"))  # nothing half-written left behind
