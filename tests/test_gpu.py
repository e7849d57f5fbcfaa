"""GPU checks (marked ``gpu``, skipped without CUDA): an AMP step of each model is finite and
moves the weights; detection and embedding on CUDA match the CPU. Run them where a GPU is lent:
``pytest -m gpu tests``."""

import copy

import numpy as np
import pytest
import torch

from tests.detector.test_train import samples  # noqa: F401  (fixture)
from tests.embedder.test_train import setup  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


def _moved(before: dict, model) -> float:
    after = model.state_dict()
    return max(
        (after[k].float().cpu() - v.float()).abs().max().item()
        for k, v in before.items()
        if v.is_floating_point()
    )


def _embedder_run(fixture, out):
    from embedder.model import build_embedder
    from embedder.train import train

    cfg = copy.deepcopy(fixture[0])
    cfg.optim.amp, cfg.optim.epochs = True, 1
    torch.manual_seed(cfg.optim.seed)
    return build_embedder(cfg.model), lambda: train(
        cfg, fixture[1], out, progress=False, max_steps=3
    )


def _detector_run(fixture, out):
    from detector.model import build_detector
    from detector.train import train_detector

    cfg = copy.deepcopy(fixture[0])
    cfg.train.amp, cfg.train.epochs = True, 1
    torch.manual_seed(cfg.train.seed)
    return build_detector(cfg.model), lambda: train_detector(
        cfg, fixture[1][:16], [], out, progress=False, max_steps=3
    )


@pytest.mark.parametrize("fixture,make", [("setup", _embedder_run), ("samples", _detector_run)])
def test_an_amp_step_is_finite_and_moves_the_weights(fixture, make, request, tmp_path):
    start, train = make(
        request.getfixturevalue(fixture), tmp_path / "run"
    )  # the model train() builds
    before = {k: v.clone() for k, v in start.state_dict().items()}
    result = train()
    assert all(np.isfinite(r["loss"]) for r in result.history)
    assert _moved(before, result.model) > 1e-5


def test_detection_and_embedding_on_cuda_match_the_cpu(samples):  # noqa: F811
    from detector.infer import predict
    from detector.model import build_detector
    from embedder.config import ExtractConfig, ModelConfig
    from embedder.extract import embed_images
    from embedder.model import build_embedder
    from ground.media import read_photo

    cfg, data, _ = samples
    torch.manual_seed(0)
    detector = build_detector(cfg.model).eval()
    image = read_photo(data[0].path)
    cpu = predict(detector, [image], 160, 0.0)[0]
    gpu = predict(copy.deepcopy(detector).cuda(), [image], 160, 0.0, amp=False)[0]
    n = min(5, len(cpu.boxes))
    np.testing.assert_allclose(gpu.boxes[:n], cpu.boxes[:n], atol=1.0)
    np.testing.assert_allclose(gpu.scores[:n], cpu.scores[:n], atol=1e-3)
    embedder = build_embedder(
        ModelConfig(backbone="mobilenetv3_small_050", embedding_dim=16)
    ).eval()
    crops = [image[:100, :80], image[50:150, 20:200]]
    on_cpu = embed_images(embedder, crops, ExtractConfig(scale=64, fp16=False))
    on_gpu = embed_images(
        copy.deepcopy(embedder).cuda(), crops, ExtractConfig(scale=64, fp16=False)
    )
    assert (on_cpu * on_gpu).sum(
        1
    ).min() > 0.99  # cosine: AMP's float16 on CUDA, float32 on the CPU
