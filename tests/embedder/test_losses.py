import math

import pytest
import torch
import torch.nn.functional as F
from pytorch_metric_learning import losses

from embedder.config import LossConfig
from embedder.losses import EmbeddingLoss, HeadMemory, build_head, class_margins
from ground.errors import ConfigError


def test_class_margins_rarest_gets_the_largest():
    m = class_margins([100, 10, 1, 100], low=10.0, high=30.0)
    assert (
        m[2] == pytest.approx(30.0) and m[0] == pytest.approx(10.0) and m[3] == pytest.approx(10.0)
    )
    assert 10.0 < m[1] < 30.0
    assert torch.allclose(class_margins([5, 5], 10.0, 30.0), torch.tensor([30.0, 30.0]))


def test_arcface_matches_the_formula():
    torch.manual_seed(0)
    head = build_head(LossConfig(head="arcface", margin=28.6, scale=30.0), 4, 8)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    cos = F.normalize(emb) @ F.normalize(head.W, dim=0)
    theta = torch.acos(cos.gather(1, labels[:, None]).clamp(-1, 1))
    m = math.radians(28.6)
    target = torch.where(
        theta <= math.pi - m, torch.cos(theta + m), torch.cos(theta) - m * math.sin(m)
    )
    logits = cos.scatter(1, labels[:, None], target) * 30.0
    torch.testing.assert_close(
        head(emb, labels), F.cross_entropy(logits, labels), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("head", ["arcface", "subcenter"])
def test_dynamic_margin_with_equal_counts_equals_the_fixed_margin(head):
    cfg = LossConfig(head=head, margin=28.6, scale=30.0)
    torch.manual_seed(1)
    fixed = build_head(cfg, 5, 8)
    dynamic = build_head(
        LossConfig(head=head, margin=28.6, scale=30.0, dynamic_margin=True), 5, 8, [3] * 5
    )
    dynamic.W.data.copy_(fixed.W.data)
    emb, labels = torch.randn(7, 8), torch.randint(0, 5, (7,))
    torch.testing.assert_close(dynamic(emb, labels), fixed(emb, labels))


def test_heads_build_and_reject_bad_options():
    assert isinstance(build_head(LossConfig(head="cosface"), 3, 8), losses.CosFaceLoss)
    assert isinstance(build_head(LossConfig(head="subcenter"), 3, 8), losses.SubCenterArcFaceLoss)
    with pytest.raises(ConfigError, match="loss.head"):
        build_head(LossConfig(head="triplet"), 3, 8)
    with pytest.raises(ConfigError, match="crop count"):
        build_head(LossConfig(dynamic_margin=True), 3, 8)


def test_cross_batch_memory_switches_on_at_its_start():
    loss = EmbeddingLoss(LossConfig(xbm=True, xbm_memory=64, xbm_start=3), 4, 8)
    emb, labels = torch.randn(8, 8), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    before, parts = loss(emb, labels, step=2)
    assert parts["xbm"] == 0.0 and loss.xbm.queue_idx == 0 and not loss.xbm.has_been_filled
    torch.testing.assert_close(before, loss.head(emb, labels))
    after, parts = loss(emb, labels, step=3)
    assert parts["xbm"] > 0.0 and loss.xbm.queue_idx == 8
    assert after.item() == pytest.approx(parts["margin"] + parts["xbm"], rel=1e-5)


def test_the_margin_head_and_memory_run_in_fp32_under_autocast():
    """Under AMP the cosine must not be computed in half precision: there a cos near 1 rounds to
    1, where acos has an infinite gradient. bf16 autocast on the CPU shows it as fp16 would on
    CUDA."""
    torch.manual_seed(0)
    loss = EmbeddingLoss(
        LossConfig(head="arcface", margin=28.6, scale=30.0, xbm=True, xbm_memory=16, xbm_start=0),
        3,
        64,
    )
    seen, cosine = [], loss.head.get_cosine
    loss.head.get_cosine = lambda e: seen.append(cosine(e)) or seen[-1]  # the head's cosine matmul
    target = F.normalize(loss.head.W.detach()[:, 0], dim=0)
    emb = (
        target + 1e-3 * torch.randn(4, 64)
    ).requires_grad_()  # cos ~ 0.9999 with class 0's weight
    labels = torch.zeros(4, dtype=torch.long)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, _ = loss(emb * 1.0, labels)
    total.backward()
    assert [c.dtype for c in seen] == [torch.float32]
    assert torch.isfinite(emb.grad).all() and torch.isfinite(loss.head.W.grad).all()
    assert total.dtype == torch.float32


def test_head_memory_sends_remembered_embeddings_through_the_margin_head():
    """xbm_loss: head (the 7th-place code): the batch is written first, then batch + memory go
    through the head in one cross-entropy; the memory wraps around."""
    torch.manual_seed(0)
    loss = EmbeddingLoss(LossConfig(xbm=True, xbm_loss="head", xbm_memory=4, xbm_start=0), 5, 8)
    e1, y1 = torch.randn(3, 8, requires_grad=True), torch.tensor([0, 1, 2])
    total, _ = loss(e1, y1, step=0)
    expected = loss.head(torch.cat([e1, e1.detach()]), torch.cat([y1, y1]))
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    assert loss.xbm.queue_idx == 3 and not loss.xbm.has_been_filled
    e2, y2 = torch.randn(3, 8), torch.tensor([3, 4, 0])
    total, _ = loss(e2, y2, step=1)
    assert loss.xbm.has_been_filled and loss.xbm.queue_idx == 2
    assert loss.xbm.label_memory.tolist() == [4, 0, 2, 3]  # slots 3, 0, 1 took the new batch
    memory = torch.stack([e2[1], e2[2], e1[2].detach(), e2[0]])
    expected = loss.head(torch.cat([e2, memory]), torch.cat([y2, loss.xbm.label_memory]))
    assert total.item() == pytest.approx(expected.item(), rel=1e-6)
    plain = EmbeddingLoss(LossConfig(xbm=False), 5, 8)
    assert isinstance(loss.xbm, HeadMemory) and plain.xbm is None


@pytest.mark.parametrize("name", ["arcface", "subcenter", "cosface"])
def test_each_head_entry_says_whether_it_takes_class_frequency_margins(name):
    """embedder.losses.HEADS: the config's allowed heads are its names, in its order; a head
    whose entry says ``per_class_margin`` builds with loss.dynamic_margin (a margin per class),
    any other one refuses it."""
    from embedder.config import CHOICES
    from embedder.losses import HEADS

    assert CHOICES["loss.head"] == tuple(HEADS)
    cfg = LossConfig(head=name, dynamic_margin=True)
    if HEADS[name].per_class_margin:
        assert build_head(cfg, 3, 8, [1, 2, 3]).class_margin.shape == (3,)
    else:
        with pytest.raises(ConfigError, match="dynamic_margin supports the arcface and subcenter"):
            build_head(cfg, 3, 8, [1, 2, 3])
    assert HEADS[name].per_class_margin is (name != "cosface")


@pytest.mark.parametrize("name", ["multisimilarity", "contrastive", "head"])
def test_each_cross_batch_memory_is_its_table_entry(name):
    """embedder.losses.XBM_LOSSES: the config's allowed memories are its names, in its order;
    the memory a loss keeps is the one its entry builds (``head``: through the margin head)."""
    from embedder.config import CHOICES
    from embedder.losses import XBM_LOSSES

    assert CHOICES["loss.xbm_loss"] == tuple(XBM_LOSSES)
    loss = EmbeddingLoss(LossConfig(xbm_loss=name, xbm_memory=8), 4, 8)
    assert type(loss.xbm) is type(XBM_LOSSES[name](8, 8))
    assert isinstance(loss.xbm, HeadMemory) is (name == "head")
    with pytest.raises(ConfigError, match="choose multisimilarity, contrastive or head"):
        EmbeddingLoss(LossConfig(xbm_loss="triplet"), 4, 8)
