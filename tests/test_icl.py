"""ICL (internal contrastive learning for anomaly detection): the loss against a loop written from
the paper, the window rule, training through the Trainer (resume), and the saved detector."""
import math

import numpy as np
import pytest
import torch

from multicl.objectives.internal_contrastive import InternalContrastiveLoss
from multicl.train.icl import ICLModel, icl_scores, load_model, save_model, train_icl, window_length


def loop_reference(a: np.ndarray, b: np.ndarray, temperature: float) -> np.ndarray:
    """Per row: the mean over windows j of -log exp(h(a_j, b_j)/t) / sum_l exp(h(a_j, b_l)/t)."""
    def h(u, v):
        return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))

    rows = []
    for wa, wb in zip(a, b):
        terms = [-math.log(math.exp(h(wa[j], wb[j]) / temperature) / sum(math.exp(h(wa[j], wb[l]) / temperature) for l in range(len(wb))))
                 for j in range(len(wa))]
        rows.append(np.mean(terms))
    return np.array(rows)


@pytest.mark.parametrize("temperature", [0.01, 0.1, 1.0])
def test_loss_matches_the_loop_reference(temperature):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5, 3)), rng.normal(size=(4, 5, 3))
    loss = InternalContrastiveLoss(temperature)
    got = loss.row_scores(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(got, loop_reference(a, b, temperature), rtol=1e-4)
    assert float(loss(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(got.mean(), rel=1e-5)


def test_loss_is_log_w_when_everything_is_alike_and_small_when_pairs_match():
    ones = torch.ones(2, 6, 4)
    np.testing.assert_allclose(InternalContrastiveLoss(0.1).row_scores(ones, ones).numpy(), math.log(6), rtol=1e-5)
    eye = torch.eye(6).expand(2, 6, 6)  # window j's embedding = complement j's, orthogonal to the others
    assert (InternalContrastiveLoss(0.01).row_scores(eye, eye) < 1e-6).all()
    with pytest.raises(ValueError, match=r"\(N, W, D\)"):
        InternalContrastiveLoss().row_scores(torch.randn(2, 6, 4), torch.randn(2, 5, 4))


def test_windows_are_consecutive_features_and_complements_the_rest():
    assert [window_length(f) for f in (3, 40, 41, 160, 161, 240, 300, 500)] == [2, 2, 10, 10, 11, 90, 100, 100]
    with pytest.raises(ValueError, match="at least 3 features"):
        window_length(2)
    model = ICLModel(7, window=3)
    assert model.inside.tolist()[1] == [1, 2, 3] and model.outside.tolist()[1] == [0, 4, 5, 6]
    assert model.inside.shape == (5, 3) and model.outside.shape == (5, 4)
    a, b = model.pairs(torch.randn(2, 7))
    assert a.shape == b.shape == (2, 5, 128)
    with pytest.raises(ValueError, match="window"):
        ICLModel(7, window=6)


def test_training_lowers_the_normal_loss_resumes_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.normal(size=(512, 2)).astype(np.float32)
    normal = np.concatenate([base, base @ rng.normal(size=(2, 6)).astype(np.float32)], axis=1)  # features tied to each other
    torch.manual_seed(0)
    model = ICLModel(8, window=2, hidden=(16,), embed_dim=8)
    before = icl_scores(model, normal, temperature=0.1).mean()
    model, summary = train_icl(model, normal, tmp_path / "run", steps=60, batch_size=64, temperature=0.1)
    assert summary["steps"] == 60 and icl_scores(model, normal, temperature=0.1).mean() < before
    again, summary = train_icl(ICLModel(8, window=2, hidden=(16,), embed_dim=8), normal, tmp_path / "run", steps=60, batch_size=64,
                               temperature=0.1)
    assert summary["steps"] == 60  # the finished run was resumed, not retrained
    for p, q in zip(model.parameters(), again.parameters()):
        assert torch.equal(p, q)
    loaded = load_model(save_model(model, tmp_path / "saved"))
    np.testing.assert_allclose(icl_scores(loaded, normal[:10]), icl_scores(model, normal[:10]), rtol=1e-6)
    repeated = np.concatenate([normal[5:8], normal[:10], normal[5:8]])  # repeated rows are scored once, in place
    np.testing.assert_allclose(icl_scores(model, repeated), np.r_[icl_scores(model, normal[5:8]), icl_scores(model, normal[:10]),
                                                                  icl_scores(model, normal[5:8])], rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        icl_scores(model, normal[:, :5])
