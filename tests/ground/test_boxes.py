import numpy as np

from ground.boxes import box_area, box_iou, clip_box, is_valid_box


def test_iou_matches_hand_computation():
    a = [[0, 0, 10, 10]]
    b = [[5, 5, 15, 15], [0, 0, 10, 10], [20, 20, 30, 30]]
    iou = box_iou(a, b)
    assert iou.shape == (1, 3)
    np.testing.assert_allclose(iou[0], [25 / 175, 1.0, 0.0])


def test_degenerate_boxes_have_zero_area_and_iou():
    assert box_area([[5, 5, 5, 10]])[0] == 0
    assert box_iou([[5, 5, 5, 10]], [[5, 5, 5, 10]])[0, 0] == 0
    assert box_area([[10, 10, 0, 0]])[0] == 0  # inverted: not a positive area
    assert box_iou([[10, 10, 0, 0]], [[0, 0, 10, 10]])[0, 0] == 0
    assert box_iou(np.zeros((0, 4)), [[0, 0, 1, 1]]).shape == (0, 1)


def test_clip_and_validity():
    assert clip_box([-5, 10, 700, 20], 640, 360) == (0.0, 10.0, 640.0, 20.0)
    assert clip_box([-5, -1, 20, 20], None, None) == (0.0, 0.0, 20.0, 20.0)
    assert is_valid_box([0, 0, 1, 1])
    assert not is_valid_box([0, 0, 0, 1])
    assert not is_valid_box([0, 0, 1])
    assert not is_valid_box(["a", 0, 1, 1])
    assert not is_valid_box([0, 0, float("nan"), 1])


def test_each_owner_keeps_its_best_boxes_when_too_few_clear_the_threshold():
    from ground.boxes import kept_with_floor

    scores = [0.95, 0.3, 0.6, 0.4, 0.2, 0.5]
    owners = ["a", "a", "b", "b", "c", "b"]
    assert kept_with_floor(scores, owners, 0.9, 0).tolist() == [
        True,
        False,
        False,
        False,
        False,
        False,
    ]
    assert kept_with_floor(scores, owners, 0.9, 1).tolist() == [
        True,
        False,
        True,
        False,
        True,
        False,
    ]
    assert kept_with_floor(scores, owners, 0.9, 2).tolist() == [True, True, True, False, True, True]
    assert (
        kept_with_floor(scores, owners, 0.1, 1).tolist() == [True] * 6
    )  # the threshold keeps more
    assert kept_with_floor([], [], 0.5, 1).tolist() == []
