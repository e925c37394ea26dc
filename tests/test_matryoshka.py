"""Matryoshka wrapper (nested prefixes over any objective) and encode(..., truncate_dim=)."""
import numpy as np
import pytest
import torch

from multicl import EmbeddingModel
from multicl.objectives import Matryoshka, build_objective


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("inner", ["info_nce", "cosent", "triplet"])
def test_matryoshka_is_the_weighted_sum_over_prefixes(inner):
    a, b = rand(6, 16, seed=1), rand(6, 16, seed=2)
    base = build_objective(inner)
    kw = {"scores": torch.tensor([0.1, 0.9, 0.4, 0.5, 0.0, 1.0])} if inner == "cosent" else {}
    wrapped = Matryoshka(base, dims=(16, 8, 4), weights=(1.0, 0.5, 2.0))
    expected = base(a, b, **kw) + 0.5 * base(a[:, :8], b[:, :8], **kw) + 2.0 * base(a[:, :4], b[:, :4], **kw)
    assert wrapped(a, b, **kw).item() == pytest.approx(expected.item(), rel=1e-6)


def test_matryoshka_passes_masks_and_labels_through_and_builds_by_name():
    a, b = rand(4, 8, seed=3), rand(4, 8, seed=4)
    pos = torch.eye(4, dtype=torch.bool)
    neg = ~pos
    neg[0, 1] = False
    wrapped = build_objective("matryoshka", objective="info_nce", dims=(8, 2), objective_kwargs={"temperature": 0.1})
    inner = build_objective("info_nce", temperature=0.1)
    assert wrapped(a, b, pos, neg).item() == pytest.approx((inner(a, b, pos, neg) + inner(a[:, :2], b[:, :2], pos, neg)).item(), rel=1e-6)
    sup = Matryoshka("supcon", dims=(8, 4))
    assert sup.two_view and sup.uses_labels
    assert torch.isfinite(sup(a, b, labels=torch.tensor([0, 0, 1, 1])))
    assert Matryoshka("cosent").uses_scores and not Matryoshka("info_nce").uses_scores


def test_matryoshka_dims_rules():
    a, b = rand(4, 8), rand(4, 8)
    # default dims (384, 256, 128, 64) on a small embedding: the full size once
    assert Matryoshka("info_nce").prefixes(8) == [(8, 1.0)]
    assert Matryoshka("info_nce").prefixes(384) == [(384, 1.0), (256, 1.0), (128, 1.0), (64, 1.0)]
    with pytest.raises(ValueError, match="exceed the embedding size 8"):
        Matryoshka("info_nce", dims=(16, 4))(a, b)
    with pytest.raises(ValueError, match="one non-negative value per dim"):
        Matryoshka("info_nce", dims=(8, 4), weights=(1.0,))
    with pytest.raises(ValueError, match="distinct positive"):
        Matryoshka("info_nce", dims=(8, 8))
    with pytest.raises(ValueError, match="Matryoshka of a Matryoshka"):
        Matryoshka(Matryoshka("info_nce"))


def test_matryoshka_gradients_reach_only_through_prefixes_and_bf16_is_finite():
    layer = torch.nn.Linear(8, 8)
    x = rand(6, 8, seed=5)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = Matryoshka("cosent", dims=(8, 4))(layer(x), layer(x + 0.1 * rand(6, 8, seed=6)), scores=torch.rand(6))
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_encode_truncate_dim(tiny_text_model):
    model = EmbeddingModel.load(tiny_text_model)
    full = model.encode(["a red dog", "a blue cat"], normalize=False)
    cut = model.encode(["a red dog", "a blue cat"], normalize=False, truncate_dim=8)
    assert cut.shape == (2, 8) and np.allclose(cut, full[:, :8], atol=1e-5)
    unit = model.encode(["a red dog"], truncate_dim=8)
    assert np.linalg.norm(unit, axis=1) == pytest.approx(1.0, abs=1e-5)  # normalised after truncation
    assert model.encode(["x"], truncate_dim=32).shape == (1, 32)
    for bad in (0, 33):
        with pytest.raises(ValueError, match="truncate_dim must be in 1..32"):
            model.encode(["x"], truncate_dim=bad)
