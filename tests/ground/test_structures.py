import pytest

from ground.structures import (
    BoxAnnotation,
    Video,
    follows_instance_convention,
    instance_item,
    make_instance_id,
    normalize_label,
)


def test_instance_convention_round_trip():
    assert make_instance_id("000041", 1) == 20004101
    assert make_instance_id("000041", 2) == 20004102
    assert instance_item(20004101) == "000041"
    assert instance_item(0) is None
    for item in ("000001", "099999", "012345"):
        assert instance_item(make_instance_id(item, 7)) == item
    with pytest.raises(ValueError):
        make_instance_id("41", 1)
    assert follows_instance_convention(20004101) and follows_instance_convention(0)
    assert not follows_instance_convention(12345)


def test_label_variants_normalise():
    assert normalize_label("古装") == "古风"
    assert normalize_label("长款外套") == "长外套"
    assert normalize_label("短袖上衣（宽松）") == "短袖上衣"
    assert normalize_label("新品类") == "新品类"


def test_sold_item_is_the_item_of_positive_instances():
    box = (0, 0, 1, 1)
    video = Video(
        "123456",
        path=None,
        frames={
            0: [BoxAnnotation(box, instance_id=0)],
            40: [
                BoxAnnotation(box, instance_id=20004101),
                BoxAnnotation(box, instance_id=20004102),
            ],
        },
    )
    assert video.sold_item == "000041"
    assert Video("1", path=None, frames={0: [BoxAnnotation(box)]}).sold_item is None
    assert Video("1", path=None).sold_item is None
