"""NeuTraL-AD: the DCL loss against a loop written from the paper, its properties, and the learner
training through the Trainer (checkpoint + resume) on a toy table."""
import math

import numpy as np
import pytest
import torch

from multicl.objectives.neutral_ad import NeuTraLADLoss
from multicl.types.hooks import Learner


def loop_reference(z: np.ndarray, temperature: float) -> np.ndarray:
    """Eq. 2 of Qiu et al. 2021, one row, one transformation, one term at a time."""
    def h(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    scores = []
    for row in z:
        total = 0.0
        for k in range(1, len(row)):
            positive = math.exp(h(row[k], row[0]) / temperature)
            negatives = sum(math.exp(h(row[k], row[l]) / temperature) for l in range(1, len(row)) if l != k)
            total += -math.log(positive / (positive + negatives))
        scores.append(total)
    return np.array(scores)


@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_loss_matches_the_loop_reference(temperature):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4, 3))
    loss = NeuTraLADLoss(temperature)
    got = loss.row_scores(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(got, loop_reference(z, temperature), rtol=1e-5)
    assert float(loss(torch.from_numpy(z))) == pytest.approx(loop_reference(z, temperature).mean(), rel=1e-5)


def test_identical_views_give_k_log_k():
    # every similarity 1: each term is -log(1 / K) over K candidates (the row + K-1 others)
    z = torch.ones(2, 6, 4)
    np.testing.assert_allclose(NeuTraLADLoss(0.1).row_scores(z).numpy(), 5 * math.log(5), rtol=1e-5)


def test_permuting_transformations_changes_nothing_and_gradients_are_finite():
    z = torch.randn(3, 5, 8, requires_grad=True)
    loss = NeuTraLADLoss(0.1)
    perm = torch.tensor([0, 3, 1, 4, 2])
    assert torch.allclose(loss.row_scores(z), loss.row_scores(z[:, perm]), atol=1e-5)
    loss(z).backward()
    assert torch.isfinite(z.grad).all()
    assert torch.isfinite(loss(torch.randn(3, 5, 8).bfloat16()))


def test_bad_shapes_say_what_is_expected():
    with pytest.raises(ValueError, match=r"\(N, K \+ 1, D\)"):
        NeuTraLADLoss().row_scores(torch.randn(4, 8))


def test_learner_trains_through_the_trainer_and_resumes(tmp_path):
    from multicl.train.neutral_ad import NeuTraLADLearner, NeuTraLADModel, anomaly_scores, load_model, save_model, train_neutral_ad

    rng = np.random.default_rng(0)
    normal = rng.normal(size=(512, 6)).astype(np.float32)
    normal[:, 3] = normal[:, 0] + 0.05 * normal[:, 3]  # structure the transformations can learn
    model = NeuTraLADModel(6, num_transforms=4, embed_dim=8, hidden_dim=16, encoder_layers=3, transform_hidden=16)
    assert isinstance(NeuTraLADLearner(model, NeuTraLADLoss()), Learner)
    model, summary = train_neutral_ad(model, normal, tmp_path / "run", steps=40, batch_size=64, seed=0, temperature=0.1)
    assert summary["steps"] == 40 and (tmp_path / "run" / "checkpoints").is_dir()
    first = anomaly_scores(model, normal[:50])
    # a second call with more steps resumes from step 40
    again, summary = train_neutral_ad(NeuTraLADModel(6, num_transforms=4, embed_dim=8, hidden_dim=16, encoder_layers=3, transform_hidden=16),
                                      normal, tmp_path / "run", steps=50, batch_size=64, seed=0, temperature=0.1)
    assert summary["resumed_from_step"] == 40 and summary["steps"] == 50
    save_model(again, tmp_path / "saved")
    loaded = load_model(tmp_path / "saved")
    np.testing.assert_allclose(anomaly_scores(loaded, normal[:50]), anomaly_scores(again, normal[:50]), rtol=1e-5)
    assert first.shape == (50,) and np.isfinite(first).all()
