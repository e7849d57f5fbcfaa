"""Detector configs; defaults follow the reference recipe (docs/METHOD.md section 1) with the
torchvision backend (the reference's VoVNet-99-FPN is
``configs/detector/reference_vovnet99.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass, field

# ``model.split_by``: two classes instead of one "garment", in model label order 1, 2.
# instance: garments linked to a catalogue item (instance_id > 0) / every other garment;
# display: garments worn by a presenter (display 0) / garments shown alone (display 1).
SPLITS = {"instance": ("product", "other"), "display": ("worn", "alone")}
WORN = SPLITS["display"][0]  # the class of worn garments (detector.infer.frame_trust_worn)


@dataclass
class DetModelConfig:
    """Faster R-CNN: which backbone, which anchors, which heads."""

    backend: str = "torchvision"  # torchvision | detectron2
    #: resnet50_fpn_v2 | timm:<name> (features_only through an FPN)
    backbone: str = "resnet50_fpn_v2"
    # Where the backbone starts (ground.pretrained): "" random | imagenet (a packaged file) | timm /
    # hf:<repo> (the Hugging Face cache on disk) | a local .safetensors / .pth file (torchvision's
    # names for resnet50_fpn_v2). Nothing is downloaded: contest machines have no network.
    weights: str = ""
    #: timm stages (strides 4-32)
    out_indices: list[int] = field(default_factory=lambda: [1, 2, 3, 4])
    fpn_channels: int = 256
    #: one per FPN level
    anchor_sizes: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    class_agnostic: bool = True  # one "garment" class; false: one class per label in `labels`
    labels: list[str] = field(default_factory=list)  # per-label heads (default: the 23 categories)
    split_by: str = ""  # with class_agnostic: "" (one class) | instance | display (see SPLITS)
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    rpn_pre_nms_top_n_train: int = 2000
    rpn_post_nms_top_n_train: int = 2000
    box_batch_size_per_image: int = 512  # sampled ROIs per image in training
    box_detections_per_img: int = 100
    representation_size: int = 1024  # box-head width (TwoMLPHead)
    min_size: int = 800  # training / default inference short side (the transform's)
    max_size: int = 1333
    detectron2_config: str = ""  # detectron2 backend: its YAML config file
    detectron2_weights: str = ""  # detectron2 backend: its weights file


@dataclass
class DetTrainConfig:
    short_sides: list[int] = field(
        default_factory=lambda: [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800]
    )
    hflip: float = 0.5
    epochs: int = 12
    steps: int = 0  # > 0: this many optimiser steps instead of whole epochs (detectron2's MAX_ITER)
    batch_size: int = 4
    lr: float = 0.02
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 500  # linear warm-up (at most a third of all steps), then cosine to 0
    #: > 0: the warm-up is this share of all steps (replaces warmup_steps)
    warmup_fraction: float = 0.0
    warmup_factor: float = 0.001  # the first step's learning rate, as a fraction of lr
    #: after the warm-up: cosine | none (constant, detectron2's one-step schedule)
    decay: str = "cosine"
    clip_grad: float = 10.0  # max gradient norm; <= 0: off
    amp: bool = True  # CUDA only
    sync_bn: bool = False  # torchrun on GPUs: BatchNorm over all ranks' batches (SyncBatchNorm)
    tensorboard: bool = True  # scalars under OUT/tensorboard beside OUT/log.csv
    workers: int = 4
    val_fraction: float = 0.1  # of the images, held out for COCO AP after each epoch
    max_val_images: int = 500
    seed: int = 0
    cache_dir: str = "runs/det_frames"
    #: torchrun: how long ranks wait in a collective (rank 0 validates alone)
    dist_timeout_min: float = 120.0


@dataclass
class DetInferConfig:
    photo_threshold: float = 0.9
    # each item folder keeps at least this many boxes of its photos, its most confident ones, when
    # fewer clear photo_threshold (a folder without a box cannot match; livematch fit writes 1);
    # 0: the threshold alone, as the reference
    photo_min_boxes: int = 0
    frame_threshold: float = 0.95
    photo_short_side: int = 800
    frame_short_side: int = 608  # video frames are resized so their short side is this
    photo_classes: list[str] = field(default_factory=list)  # classes kept on photos (empty: all)
    frame_classes: list[str] = field(default_factory=list)  # classes kept on frames, e.g. [worn]
    # Frame boxes are kept only when their centre lies in this region, [x1, y1, x2, y2] as
    # fractions of the frame's width and height (the studio's stage; `livematch detect region`
    # learns it from annotated frames). Default: the whole frame.
    frame_region: list[float] = field(default_factory=lambda: [0.0, 0.0, 1.0, 1.0])
    # frame crops whose worn probability (the worn scorer, weights.worn) is below this are dropped
    # before embedding; 0: off. ``livematch fit`` chooses it on validation data.
    frame_min_worn: float = 0.0
    # frame crops the detector labels `worn` with at least this score are kept whatever the worn
    # scorer says (two opinions on one box: the class head sees the garment, the scorer its
    # surroundings; either may miss a worn one); 0: the scorer decides alone. Chosen by fit.
    frame_trust_worn: float = 0.0
    batch_size: int = 4
    channels_last: bool = True  # CUDA only


@dataclass
class WornConfig:
    """The worn scorer's input, width and training (``detector.worn``)."""

    #: "": the small CNN of `widths` | a timm name (4 input channels: RGB and the box mask)
    backbone: str = ""
    #: a timm backbone's start (ground.pretrained): "" | imagenet | timm | hf:<repo> | a file
    weights: str = ""
    size: int = 64  # input side in pixels
    context: float = 0.6  # the box widened by this fraction of its width / height on each side
    #: conv stages (each halves but the last)
    widths: list[int] = field(default_factory=lambda: [24, 48, 64, 96])
    epochs: int = 7
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.3
    warmup_factor: float = 0.04
    clip_grad: float = 0.0
    copies: int = 3  # crops cut per annotated box: the box as annotated + jittered ones
    jitter: float = 0.12  # corner shift of a jittered copy, as a fraction of the box side
    brightness: float = 0.25  # per-channel gain drawn from 1 +- this
    seed: int = 0
    tensorboard: bool = False


@dataclass
class DetectorConfig:
    model: DetModelConfig = field(default_factory=DetModelConfig)
    train: DetTrainConfig = field(default_factory=DetTrainConfig)
    infer: DetInferConfig = field(default_factory=DetInferConfig)
    worn: WornConfig = field(default_factory=WornConfig)  # the worn scorer (detector/worn.py)
    out_dir: str = "runs/detector"


# Settings that take one of a few words: checked when a config loads (livematch.config).
# model.split_by: the SPLITS table above ("" for none). model.backend names the keys of
# detector.model.BACKENDS and train.decay those of ground.engine.DECAYS: those modules import
# torch, which a config check does without, so the names are listed here, in the tables' order,
# and tests/detector keeps the two equal.
CHOICES = {
    "model.backend": ("torchvision", "detectron2"),
    "model.split_by": ("", *SPLITS),
    "train.decay": ("cosine", "none"),
}
