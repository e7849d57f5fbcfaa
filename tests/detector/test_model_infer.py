import numpy as np
import pytest
import torch

from detector import detectron2_backend
from detector.config import DetModelConfig
from detector.evaluate import coco_ap
from detector.infer import Detections, predict
from detector.model import build_detector, class_names
from ground.errors import ConfigError

SMALL = dict(
    fpn_channels=32,
    representation_size=64,
    rpn_pre_nms_top_n_test=100,
    rpn_post_nms_top_n_test=50,
    min_size=128,
    max_size=256,
)


@pytest.mark.parametrize(
    "backbone",
    ["timm:mobilenetv3_small_050", "timm:resnet18", "timm:ese_vovnet19b_dw", "resnet50_fpn_v2"],
)
def test_every_backbone_family_detects_inside_the_image(backbone):
    torch.manual_seed(0)
    model = build_detector(DetModelConfig(backbone=backbone, **SMALL)).eval()
    with torch.no_grad():
        out = model([torch.rand(3, 120, 200), torch.rand(3, 90, 90)])
    assert len(out) == 2
    for o, (h, w) in zip(out, [(120, 200), (90, 90)]):
        assert set(o) == {"boxes", "scores", "labels"}
        b = o["boxes"]
        assert b.ndim == 2 and b.shape[1] == 4
        assert (
            (b[:, 0] >= 0).all()
            and (b[:, 2] <= w).all()
            and (b[:, 1] >= 0).all()
            and (b[:, 3] <= h).all()
        )
        assert set(o["labels"].tolist()) <= {1}


def test_reference_vovnet99_builds():
    model = build_detector(DetModelConfig(backbone="timm:ese_vovnet99b", **SMALL))
    assert model.backbone.body.feature_info.channels() == [256, 512, 768, 1024]


def test_per_label_heads_and_bad_options():
    model = build_detector(
        DetModelConfig(backbone="timm:mobilenetv3_small_050", class_agnostic=False, **SMALL)
    )
    assert model.roi_heads.box_predictor.cls_score.out_features == 24  # 23 categories + background
    assert class_names(DetModelConfig(class_agnostic=False, labels=["a", "b"])) == ["a", "b"]
    with pytest.raises(ConfigError, match="anchor_sizes"):
        build_detector(DetModelConfig(backbone="timm:resnet18", anchor_sizes=[32, 64]))
    for wrong in ("vgg16", "timm:", "resnet50_fpn_v2:x"):
        with pytest.raises(ConfigError, match="model.backbone .*resnet50_fpn_v2 or timm:<name>"):
            build_detector(DetModelConfig(backbone=wrong))


def test_a_backbone_family_is_one_table_entry(monkeypatch):
    """detector.model.BACKBONES: a new family is one entry (a builder, and whether it takes a
    model name after a colon); the backends' table has the names the config checks at load."""
    from detector import model as det
    from detector.config import CHOICES

    assert CHOICES["model.backend"] == tuple(det.BACKENDS)  # the same names, in the same order
    for family, entry in det.BACKBONES.items():  # a named family needs its name, others none
        wrong = family if entry.named else f"{family}:x"
        with pytest.raises(ConfigError, match="model.backbone"):
            build_detector(DetModelConfig(backbone=wrong, **SMALL))
    assert [k for k, b in det.BACKBONES.items() if b.named] == ["timm"]
    built = []

    def tiny(cfg, n_anchors, name):
        built.append(name)
        return det._timm_fpn(cfg, n_anchors, "mobilenetv3_small_050")

    monkeypatch.setitem(det.BACKBONES, "mine", det.Backbone(tiny))
    model = build_detector(DetModelConfig(backbone="mine", **SMALL))
    assert built == [""] and model.backbone.out_channels == SMALL["fpn_channels"]


def test_predict_resizes_the_short_side_and_maps_boxes_back():
    torch.manual_seed(0)
    model = build_detector(
        DetModelConfig(backbone="timm:mobilenetv3_small_050", **{**SMALL, "min_size": 64})
    )
    seen = []
    model.backbone.register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    frame = (np.random.default_rng(0).random((540, 960, 3)) * 255).astype(np.uint8)
    dets = predict(model, [frame], short_side=608, threshold=0.0)
    assert seen[0][0] == 608 and 1080 <= seen[0][1] <= 1088  # 540 -> 608, 960 -> 1080, padded to 32
    d = dets[0]
    assert len(d) > 0 and (d.boxes[:, 2] <= 960).all() and (d.boxes[:, 3] <= 540).all()
    assert (d.boxes[:, 2] > 608).any() or (
        d.boxes[:, 3] > 300
    ).any()  # original, not resized, pixels
    assert model.transform.min_size == (64,)  # restored after the call
    strict = predict(model, [frame], short_side=608, threshold=float(d.scores.max()) + 1e-6)
    assert len(strict[0]) == 0 and isinstance(strict[0], Detections)
    half = float(np.median(d.scores))
    assert (predict(model, [frame], 608, half)[0].scores >= half).all()


def test_detections_select_like_instances():
    d = Detections(
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([0.5, 0.97, 0.99], np.float32),
        np.array([1, 1, 2]),
    )
    kept = d[d.scores > 0.9]
    assert len(kept) == 2 and kept.labels.tolist() == [1, 2] and kept.boxes[0, 0] == 4
    assert len(Detections.empty()) == 0


def test_coco_ap_on_hand_built_predictions():
    gt = [
        (np.array([[10, 10, 50, 50], [60, 60, 100, 120]]), np.array([1, 1])),
        (np.zeros((0, 4)), np.zeros(0)),
    ]
    perfect = [
        (gt[0][0], np.array([0.9, 0.8]), np.array([1, 1])),
        (np.zeros((0, 4)), np.zeros(0), np.zeros(0)),
    ]
    assert coco_ap(perfect, gt)["AP"] == pytest.approx(1.0) and coco_ap(perfect, gt)[
        "AP50"
    ] == pytest.approx(1.0)
    shifted = [
        (gt[0][0] + np.array([8, 0, 8, 0]), np.array([0.9, 0.8]), np.array([1, 1])),
        perfect[1],
    ]
    m = coco_ap(shifted, gt)  # IoU 0.67 and 0.78: hits at 0.5, misses at high IoU
    assert m["AP50"] == pytest.approx(1.0) and m["AP"] < 0.8
    false_first = [
        (
            np.array([[200, 200, 240, 240], *gt[0][0]]),
            np.array([0.99, 0.9, 0.8]),
            np.array([1, 1, 1]),
        ),
        perfect[1],
    ]
    assert 0.5 < coco_ap(false_first, gt)["AP50"] < 1.0
    nothing = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0))] * 2
    assert coco_ap(nothing, gt) == {"AP": 0.0, "AP50": 0.0}
    two = [(gt[0][0], np.array([1, 2])), gt[1]]  # the second box is of class 2
    swapped = [
        (gt[0][0], np.array([0.9, 0.8]), np.array([1, 1])),
        perfect[1],
    ]  # right box, wrong class
    m = coco_ap(swapped, two, num_classes=2)
    assert m["AP50_by_class"] == [pytest.approx(1.0), pytest.approx(0.0)] and m[
        "AP50"
    ] == pytest.approx(0.5)
    assert coco_ap(perfect, gt, num_classes=3)["AP50_by_class"] == [pytest.approx(1.0), -1.0, -1.0]


def test_detectron2_backend_without_detectron2_says_how_to_install():
    if detectron2_backend.available():
        pytest.skip("detectron2 is installed")
    with pytest.raises(
        detectron2_backend.DetectorBackendError, match="facebookresearch/detectron2"
    ):
        build_detector(DetModelConfig(backend="detectron2"))


@pytest.mark.skipif(not detectron2_backend.available(), reason="detectron2 is not installed")
def test_detectron2_backend_predicts_in_image_pixels(tmp_path):
    from detectron2 import model_zoo

    cfg = DetModelConfig(
        backend="detectron2",
        min_size=256,
        max_size=512,
        detectron2_config=model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"),
    )
    model = build_detector(cfg)
    frame = (np.random.default_rng(0).random((200, 300, 3)) * 255).astype(np.uint8)
    d = predict(model, [frame], short_side=256, threshold=0.0)[0]
    assert len(d.boxes) and (d.boxes[:, 2] <= 300).all() and (d.boxes[:, 3] <= 200).all()


@pytest.mark.skipif(not detectron2_backend.available(), reason="detectron2 is not installed")
def test_detectron2_backend_loads_its_trainers_weights(tmp_path):
    from detectron2 import model_zoo

    cfg = DetModelConfig(
        backend="detectron2",
        min_size=256,
        max_size=512,
        detectron2_config=model_zoo.get_config_file("COCO-Detection/faster_rcnn_R_50_FPN_1x.yaml"),
    )
    torch.manual_seed(0)
    first = build_detector(cfg)
    torch.save({"model": first.model.state_dict(), "iteration": 1}, tmp_path / "model_final.pth")
    torch.manual_seed(1)
    second = build_detector(
        DetModelConfig(**{**vars(cfg), "detectron2_weights": str(tmp_path / "model_final.pth")})
    )
    mine, loaded = first.model.state_dict(), second.model.state_dict()
    assert not torch.equal(
        mine["roi_heads.box_predictor.cls_score.weight"],
        build_detector(cfg).model.state_dict()["roi_heads.box_predictor.cls_score.weight"],
    )
    assert mine.keys() == loaded.keys() and all(torch.equal(mine[k], loaded[k]) for k in mine)


def test_detectron2_weights_load_without_unpickling(tmp_path):
    from safetensors.torch import save_file

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    trained = {k: torch.randn_like(v.float()).to(v.dtype) for k, v in net.state_dict().items()}
    torch.save(
        {"model": trained, "iteration": 10}, tmp_path / "model_final.pth"
    )  # detectron2's trainer layout
    save_file(trained, str(tmp_path / "model.safetensors"))
    for name in ("model_final.pth", "model.safetensors"):
        fresh = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        detectron2_backend.load_detectron2_weights(fresh, tmp_path / name)
        assert all(torch.equal(fresh.state_dict()[k], v) for k, v in trained.items())
    (tmp_path / "zoo.pkl").write_bytes(b"not read")
    with pytest.raises(detectron2_backend.DetectorBackendError, match="zoo.pkl.*convert"):
        detectron2_backend.load_detectron2_weights(net, tmp_path / "zoo.pkl")
    with pytest.raises(Exception, match="model_final.pth.*does not fit"):
        detectron2_backend.load_detectron2_weights(
            torch.nn.Linear(2, 2), tmp_path / "model_final.pth"
        )


def test_shape_batches_never_mix_shapes_and_keep_every_image_once():
    from detector.infer import shape_batches

    shapes = [(360, 640), (640, 360), (360, 640), (360, 640), (640, 360), (100, 100)]
    images = [np.zeros((*s, 3), np.uint8) for s in shapes]
    batches = shape_batches(images, batch_size=2)
    assert sorted(i for b in batches for i in b) == list(range(len(images)))
    assert all(len(b) <= 2 and len({shapes[i] for i in b}) == 1 for b in batches)
    assert batches[0] == [0, 2]  # order of first appearance


@pytest.mark.parametrize("backbone", ["timm:mobilenetv3_small_050", "resnet50_fpn_v2"])
def test_local_backbone_weights_load_offline(backbone, tmp_path):
    """model.weights: an ImageNet classifier's weights file (safetensors, or a torch file
    read with weights_only) becomes the detector's backbone, with no network."""
    import timm
    from safetensors.torch import save_file
    from torchvision.models import resnet50

    torch.manual_seed(1)
    source = timm.create_model(backbone[5:]) if backbone.startswith("timm:") else resnet50()
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    files = {"safetensors": tmp_path / "w.safetensors", "pth": tmp_path / "w.pth"}
    save_file(state, str(files["safetensors"]))
    torch.save({"state_dict": state}, files["pth"])
    fresh = build_detector(DetModelConfig(backbone=backbone, **SMALL)).backbone.body.state_dict()
    for path in files.values():
        body = build_detector(
            DetModelConfig(backbone=backbone, weights=str(path), **SMALL)
        ).backbone.body
        first = "conv_stem.weight" if backbone.startswith("timm:") else "conv1.weight"
        torch.testing.assert_close(body.state_dict()[first], state[first])
        assert not torch.equal(fresh[first], state[first])


def test_a_weights_file_that_is_not_a_state_dict_is_a_checkpoint_error(tmp_path):
    from ground.checkpoint import CheckpointError, read_state

    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="list.pt: holds a list"):
        read_state(tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="missing"):
        read_state(tmp_path / "none.pth")
