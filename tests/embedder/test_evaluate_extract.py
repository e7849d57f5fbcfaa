import numpy as np
import pytest
import torch

from embedder.config import ExtractConfig, ModelConfig
from embedder.evaluate import retrieval_metrics
from embedder.extract import embed_images
from embedder.model import build_embedder


def test_retrieval_metrics_by_hand():
    e = np.eye(4, dtype=np.float32)
    gallery = np.stack([e[0], e[1], 0.8 * e[0] + 0.6 * e[2], e[3]])
    gallery_ids = [1, 2, 1, 3]
    query = np.stack([e[0], e[2], e[3]])  # id 1: ranks 1 and 2 relevant; id 2 query looks like id 1
    out = retrieval_metrics(query, [1, 2, 9], gallery, gallery_ids)
    assert out["queries"] == 2  # id 9 has no counterpart in the gallery
    assert out["top1"] == pytest.approx(0.5)  # the id-2 query's nearest is an id-1 crop
    assert out["recall5"] == pytest.approx(1.0)
    # AP@10: query 1 -> (1 + 1) / 2 = 1; query 2 -> its relevant item (gallery 1) sits at
    # rank 2 or 4
    sims = query[1] @ gallery.T
    rank = int(np.argsort(-sims, kind="stable").tolist().index(1)) + 1
    assert out["map10"] == pytest.approx((1.0 + 1.0 / rank) / 2)


def test_extraction_buckets_tta_and_fp16():
    torch.manual_seed(0)
    model = build_embedder(ModelConfig(backbone="mobilenetv3_small_050", embedding_dim=16)).eval()
    rng = np.random.default_rng(0)
    images = [
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        for h, w in [(40, 90), (90, 40), (60, 60), (50, 100)]
    ]
    plain = embed_images(model, images, ExtractConfig(scale=64, batch_size=2))
    assert plain.dtype == np.float16 and plain.shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(plain.astype(np.float32), axis=1), 1.0, atol=2e-3)
    alone = embed_images(model, images[3:], ExtractConfig(scale=64))
    np.testing.assert_allclose(alone[0], plain[3], atol=2e-3)  # batching does not change a feature
    tta = embed_images(
        model, images, ExtractConfig(scale=64, hflip_tta=True, scales_tta=[96], fp16=False)
    )
    assert tta.dtype == np.float32 and not np.allclose(tta, plain, atol=1e-3)
    ens = embed_images([model, model], images, ExtractConfig(scale=64, fp16=False))
    np.testing.assert_allclose(
        ens @ ens.T, plain.astype(np.float32) @ plain.astype(np.float32).T, atol=3e-3
    )
    assert embed_images(model, [], ExtractConfig()).shape == (0, 16)


def test_extraction_follows_the_configured_buckets():
    """With one square bucket a 2:1 crop is embedded as a square: the same feature as the crop
    squashed to a square by hand; with the default buckets it keeps its 2:1 shape."""
    from embedder.augment import resize
    from embedder.samplers import bucket_shape

    torch.manual_seed(0)
    model = build_embedder(ModelConfig(backbone="mobilenetv3_small_050", embedding_dim=16)).eval()
    wide = np.random.default_rng(1).integers(0, 255, (40, 80, 3), dtype=np.uint8)
    cfg = ExtractConfig(scale=64, fp16=False)
    square = resize(wide, bucket_shape(1.0, 64))
    one = embed_images(model, [wide], cfg, buckets=[1.0])
    assert np.allclose(one, embed_images(model, [square], cfg, buckets=[1.0]), atol=1e-3)
    assert not np.allclose(one, embed_images(model, [wide], cfg), atol=1e-3)


def test_each_ensemble_member_runs_at_its_own_scale():
    torch.manual_seed(0)
    a = build_embedder(ModelConfig(backbone="mobilenetv3_small_050", embedding_dim=16)).eval()
    b = build_embedder(ModelConfig(backbone="mobilenetv3_small_050", embedding_dim=8)).eval()
    rng = np.random.default_rng(1)
    images = [
        rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for h, w in [(40, 90), (60, 60), (90, 40)]
    ]
    cfg = ExtractConfig(scale=64, fp16=False)
    mixed = embed_images([a, b], images, cfg, scales=[64, 96])
    parts = [
        embed_images(a, images, cfg),
        embed_images(b, images, ExtractConfig(scale=96, fp16=False)),
    ]
    by_hand = np.concatenate(parts, 1)
    by_hand /= np.linalg.norm(by_hand, axis=1, keepdims=True)
    np.testing.assert_allclose(mixed, by_hand, atol=1e-5)
    assert not np.allclose(
        mixed, embed_images([a, b], images, cfg), atol=1e-3
    )  # one scale for both differs


def test_cut_crop_widens_clips_and_drops_slivers():
    from embedder.data import MIN_SIDE, cut_crop

    image = np.arange(100 * 200 * 3, dtype=np.uint32).reshape(100, 200, 3).astype(np.uint8)
    crop = cut_crop(image, [50, 20, 150, 60], 0.1)  # 100 x 40 grown by 10 / 4 px a side
    np.testing.assert_array_equal(crop, image[16:64, 40:160])
    np.testing.assert_array_equal(
        cut_crop(image, [0, 0, 200, 100], 0.5), image
    )  # clipped to the image
    assert cut_crop(image, [10, 10, 10 + MIN_SIDE - 1, 50], 0.0) is None
