import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from embedder.config import ModelConfig
from embedder.model import GeM, build_embedder, ensemble_features, gem
from ground.errors import ConfigError

TINY = ModelConfig(backbone="mobilenetv3_small_050", embedding_dim=32)


def test_gem_is_average_pooling_at_p_one_and_tends_to_max():
    x = torch.rand(2, 64, 7, 7) + 0.1
    torch.testing.assert_close(gem(x, 1.0), x.mean(dim=(2, 3)))
    torch.testing.assert_close(gem(x, 3.0), x.pow(3).mean(dim=(2, 3)).pow(1 / 3))
    assert torch.allclose(gem(x, 200.0), x.amax(dim=(2, 3)), rtol=0.05)
    pool = GeM(p=3.0)
    assert pool.p.requires_grad and pool(x).shape == (2, 64)
    assert not GeM(trainable=False).p.requires_grad


def test_embedder_outputs_unit_features_of_the_configured_size():
    model = build_embedder(TINY).eval()
    images = torch.randint(0, 256, (3, 3, 96, 64), dtype=torch.uint8)
    raw = model(model.normalize_input(images))
    feats = model.embed(images)
    assert raw.shape == feats.shape == (3, 32)
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(feats, F.normalize(raw, dim=1))


@pytest.mark.parametrize("backbone", ["resnet18", "efficientnet_b0", "mobilenetv3_small_050"])
def test_any_timm_backbone_builds(backbone):
    model = build_embedder(ModelConfig(backbone=backbone, embedding_dim=16)).eval()
    assert model.embed(torch.zeros(1, 3, 64, 64, dtype=torch.uint8)).shape == (1, 16)


def test_unknown_pool_is_rejected():
    with pytest.raises(ConfigError, match="model.pool"):
        build_embedder(ModelConfig(backbone="resnet18", pool="median"))


def test_ensemble_of_identical_models_equals_one():
    f = F.normalize(torch.randn(5, 32), dim=1)
    torch.testing.assert_close(ensemble_features([f, f]) @ ensemble_features([f, f]).T, f @ f.T)
    e = ensemble_features([f, torch.randn(5, 16)])
    assert e.shape == (5, 48)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(5))


def test_local_backbone_weights_are_loaded(tmp_path):
    source = build_embedder(TINY)
    path = tmp_path / "backbone.safetensors"
    save_file({k: v.contiguous() for k, v in source.backbone.state_dict().items()}, str(path))
    loaded = build_embedder(
        ModelConfig(backbone=TINY.backbone, embedding_dim=32, weights=str(path))
    )
    for k, v in source.backbone.state_dict().items():
        torch.testing.assert_close(loaded.backbone.state_dict()[k], v)


def test_pools_and_necks_are_their_tables_entries():
    """embedder.model.POOLS / NECKS: the config's allowed pools and neck activations are their
    names, in their order; the model's layers are what the entries build."""
    from torch import nn

    from embedder.config import CHOICES
    from embedder.model import NECKS, POOLS

    assert CHOICES["model.pool"] == tuple(POOLS) and CHOICES["model.neck_activation"] == tuple(
        NECKS
    )
    for pool, neck in zip(POOLS, ("prelu", "none", "prelu")):
        model = build_embedder(ModelConfig(**{**vars(TINY), "pool": pool, "neck_activation": neck}))
        assert type(model.pool) is type(POOLS[pool](TINY)) and type(model.act) is NECKS[neck]
    assert NECKS["prelu"] is nn.PReLU and NECKS["none"] is nn.Identity
    with pytest.raises(ConfigError, match="model.neck_activation"):
        build_embedder(ModelConfig(**{**vars(TINY), "neck_activation": "prlu"}))
