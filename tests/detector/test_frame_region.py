"""``detector.infer.frame_region``: boxes on frames are kept only when centred in the region."""

import numpy as np
import pytest
import torch

from detector.config import DetInferConfig, DetModelConfig
from detector.infer import centre_inside, frame_region, predict
from detector.model import build_detector
from ground.errors import ConfigError
from tests.detector.test_model_infer import SMALL


def test_centre_inside_uses_box_centres_as_fractions_of_the_image():
    boxes = torch.tensor(
        [
            [0.0, 0.0, 20.0, 10.0],  # centre (0.05, 0.05)
            [180.0, 40.0, 220.0, 60.0],  # centre (0.5, 0.5)
            [100.0, 0.0, 260.0, 100.0],  # centre (0.45, 0.5): wide box, centred in
            [390.0, 90.0, 400.0, 100.0],
        ]
    )  # centre (0.9875, 0.95)
    assert centre_inside(boxes, (100, 400, 3), (0.25, 0.0, 0.75, 1.0)).tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert centre_inside(boxes, (100, 400), (0.5, 0.5, 1.0, 1.0)).tolist() == [
        False,
        True,
        False,
        True,
    ]


def test_frame_region_is_checked_and_the_whole_frame_filters_nothing():
    assert frame_region(DetInferConfig()) is None
    assert frame_region(DetInferConfig(frame_region=[0.28, 0.22, 0.73, 0.81])) == (
        0.28,
        0.22,
        0.73,
        0.81,
    )
    bad_regions = (
        [0.5, 0.0, 0.4, 1.0],
        [0.0, 0.0, 1.2, 1.0],
        [-0.1, 0.0, 1.0, 1.0],
        [0.2, 0.2, 0.8],
        [0.3, 0.5, 0.6, 0.5],
    )
    for bad in bad_regions:
        with pytest.raises(ConfigError, match="frame_region"):
            frame_region(DetInferConfig(frame_region=bad))


def test_predict_keeps_only_boxes_centred_in_the_region():
    torch.manual_seed(0)
    model = build_detector(DetModelConfig(backbone="timm:mobilenetv3_small_050", **SMALL))
    frame = (np.random.default_rng(1).random((160, 320, 3)) * 255).astype(np.uint8)
    every = predict(model, [frame], 128, 0.0)[0]
    region = (0.3, 0.2, 0.7, 0.8)
    inside = centre_inside(torch.from_numpy(every.boxes), frame.shape, region).numpy()
    assert 0 < inside.sum() < len(every)  # the random model's boxes fall on both sides
    kept = predict(model, [frame], 128, 0.0, region=region)[0]
    np.testing.assert_allclose(kept.boxes, every.boxes[inside])
    np.testing.assert_allclose(kept.scores, every.scores[inside])
