"""``livematch detect region``: the part of the frame where sold garments stand, learned from
annotated clips (the sample studio puts its racks of other items at the sides)."""

import json
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from ground.dataset import load_dataset
from ground.errors import ConfigError, DatasetError
from ground.regions import learn_frame_region
from livematch.cli import main
from livematch.config import load_config


def _inside(points, region) -> np.ndarray:
    p = np.asarray(points).reshape(-1, 2)
    return (
        (p[:, 0] >= region[0])
        & (p[:, 0] <= region[2])
        & (p[:, 1] >= region[1])
        & (p[:, 1] <= region[3])
    )


def test_region_keeps_the_sold_garments_and_drops_the_racks(classic_root):
    learned = learn_frame_region(
        [classic_root], coverage=0.9
    )  # 49 sold centres: 98% reaches a presenter walking in
    region, centres = learned["region"], learned["centres"]
    ds = load_dataset(classic_root)
    annotated = [a for v in ds.videos.values() for anns in v.frames.values() for a in anns]
    assert learned["sold"] == sum(a.instance_id > 0 for a in annotated) > 0
    assert learned["other"] == len(annotated) - learned["sold"]
    assert 0.0 <= region[0] < region[2] <= 1.0 and 0.0 <= region[1] < region[3] <= 1.0
    assert all(round(v, 2) == v for v in region)  # widened to 2 decimals
    assert learned["sold_inside"] == pytest.approx(_inside(centres["sold"], region).mean())
    assert learned["sold_inside"] >= 0.75
    assert learned["alone"] > 0 and learned["alone_inside"] < 0.2  # racks stand at the sides
    assert region[2] - region[0] < 0.7  # narrower than the frame


def test_coverage_nests_regions_and_is_checked(sample_root, tmp_path):
    whole = learn_frame_region([sample_root], coverage=1.0)
    assert whole["sold_inside"] == 1.0
    half = learn_frame_region([sample_root], coverage=0.5)["region"]
    outer = whole["region"]
    assert outer[0] <= half[0] < half[2] <= outer[2] and outer[1] <= half[1] < half[3] <= outer[3]
    for bad in (0.0, 1.5):
        with pytest.raises(ConfigError, match="coverage"):
            learn_frame_region([sample_root], coverage=bad)
    bare = tmp_path / "bare"
    shutil.copytree(sample_root, bare, ignore=shutil.ignore_patterns("video_annotation"))
    with pytest.raises(DatasetError, match="no annotated frame"):
        learn_frame_region([bare])


def test_detect_region_command_prints_an_override_and_draws_the_centres(
    sample_root, tmp_path, capsys
):
    svg, out = tmp_path / "region.svg", tmp_path / "region.json"
    assert (
        main(["detect", "region", "--gt", str(sample_root), "--plot", str(svg), "--json", str(out)])
        == 0
    )
    line = next(
        s
        for s in capsys.readouterr().out.splitlines()
        if s.startswith("detector.infer.frame_region=")
    )
    saved = json.loads(out.read_text())
    assert load_config(None, [line]).detector.infer.frame_region == saved["region"]
    dots = [e for e in ET.parse(svg).iter() if e.tag.endswith("circle")]
    assert len(dots) == saved["sold"] + saved["other"]
