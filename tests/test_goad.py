"""GOAD (classification-based anomaly detection): the loss and the score against loops written from
the paper, the model's fixed maps, training through the Trainer (resume), the saved detector, and the
recipe's ``--method goad``."""
import math

import numpy as np
import pytest
import torch

from multicl.objectives.goad import GOADLoss, squared_distances
from multicl.train.goad import GOADModel, epochs_to_steps, fit_centres, goad_scores, load_model, save_model, train_goad


def loop_loss(f: np.ndarray, logits: np.ndarray, margin: float, weight: float) -> float:
    """Mean over rows b and maps m of CE(logits[b, m], m), plus weight x the mean of
    max(0, |f_bm - c_m|^2 + margin - min_{l != m} |f_bm - c_l|^2), c = the batch mean of f."""
    b, m = f.shape[:2]
    centres = f.mean(0)
    ce, tc = [], []
    for i in range(b):
        for j in range(m):
            ce.append(-(logits[i, j, j] - math.log(sum(math.exp(v) for v in logits[i, j]))))
            d = [float(((f[i, j] - centres[l]) ** 2).sum()) for l in range(m)]
            tc.append(max(0.0, d[j] + margin - min(d[l] for l in range(m) if l != j)))
    return float(np.mean(ce) + weight * np.mean(tc))


def loop_scores(f: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Per row: -sum_m log( exp(-|f_m - c_m|^2) / sum_l exp(-|f_m - c_l|^2) )."""
    out = []
    for row in f:
        total = 0.0
        for j in range(len(row)):
            d = [float(((row[j] - c) ** 2).sum()) for c in centres]
            total -= -d[j] - math.log(sum(math.exp(-v) for v in d))
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("margin,weight", [(1.0, 0.1), (0.1, 1.0), (1.0, 0.0)])
def test_loss_matches_the_loop_reference(margin, weight):
    rng = np.random.default_rng(0)
    f, logits = rng.normal(size=(5, 4, 3)), rng.normal(size=(5, 4, 4))
    got = GOADLoss(margin, weight)(torch.from_numpy(f), torch.from_numpy(logits))
    assert float(got) == pytest.approx(loop_loss(f, logits, margin, weight), rel=1e-5)


def test_scores_match_the_loop_reference_and_distances_the_direct_form():
    rng = np.random.default_rng(1)
    f, centres = rng.normal(size=(6, 4, 3)), rng.normal(size=(4, 3))
    got = GOADLoss().row_scores(torch.from_numpy(f), torch.from_numpy(centres)).numpy()
    np.testing.assert_allclose(got, loop_scores(f, centres), rtol=1e-5)
    direct = ((f[:, :, None, :] - centres[None, None]) ** 2).sum(-1)
    np.testing.assert_allclose(squared_distances(torch.from_numpy(f), torch.from_numpy(centres)).numpy(), direct, rtol=1e-6, atol=1e-9)
    # features sitting on their own centres, far from the others, score ~0; swapped ones score high
    centres = 10 * torch.eye(4)
    on_centre = centres.expand(2, 4, 4)
    assert (GOADLoss().row_scores(on_centre, centres) < 1e-6).all()
    assert (GOADLoss().row_scores(on_centre.flip(1), centres) > 100).all()


def test_bad_shapes_are_errors_naming_the_expected_shape():
    with pytest.raises(ValueError, match=r"\(B, M, D\)"):
        GOADLoss()(torch.randn(4, 1, 3), torch.randn(4, 1, 1))
    with pytest.raises(ValueError, match=r"logits must be \(B, M, M\)"):
        GOADLoss()(torch.randn(4, 3, 2), torch.randn(4, 3, 2))
    with pytest.raises(ValueError, match="centres must be"):
        GOADLoss().row_scores(torch.randn(4, 3, 2), torch.randn(3, 5))
    with pytest.raises(ValueError, match="margin and weight"):
        GOADLoss(margin=-1)


def test_model_maps_are_fixed_by_their_seed_and_shapes_follow_the_config():
    a, b, c = GOADModel(10, 8, 6, 5, projection_seed=3), GOADModel(10, 8, 6, 5, projection_seed=3), GOADModel(10, 8, 6, 5, projection_seed=4)
    assert torch.equal(a.projections, b.projections) and not torch.equal(a.projections, c.projections)
    assert sum(isinstance(m, torch.nn.Linear) for m in a.trunk) == 5  # the authors' 5-layer trunk
    features, logits = a(torch.randn(7, 10))
    assert features.shape == (7, 8, 5) and logits.shape == (7, 8, 8)
    x = torch.randn(3, 10)
    np.testing.assert_allclose(a(x)[0][:, 2].detach().numpy(), a.trunk(x @ a.projections[2]).detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"rows must be \(B, 10\)"):
        a(torch.randn(3, 9))
    with pytest.raises(ValueError, match="at least 2 transformations"):
        GOADModel(10, 1)
    assert epochs_to_steps(25, 13449, 64) == 25 * 211 and epochs_to_steps(0.01, 100, 64) == 1


def test_training_separates_normal_rows_resumes_and_saves(tmp_path):
    rng = np.random.default_rng(0)
    normal = (rng.normal(size=(512, 2)) @ rng.normal(size=(2, 8))).astype(np.float32)  # normal rows lie on a plane
    odd = rng.normal(scale=3.0, size=(64, 8)).astype(np.float32)  # anomalies do not
    torch.manual_seed(0)
    model = GOADModel(8, num_transforms=8, projection_dim=8, hidden_dim=16)
    with pytest.raises(ValueError, match="no centres yet"):
        goad_scores(model, normal)
    model, summary = train_goad(model, normal, tmp_path / "run", steps=150, batch_size=64)
    assert summary["steps"] == 150
    centres = fit_centres(GOADModel(8, 8, 8, 16), normal).centres  # untrained maps: the mean feature, by definition
    assert centres.shape == (8, 16)
    normal_scores, odd_scores = goad_scores(model, normal), goad_scores(model, odd)
    assert normal_scores.shape == (512,) and np.isfinite(normal_scores).all()
    auroc = (odd_scores[:, None] > normal_scores[None, :]).mean()
    assert auroc > 0.9, auroc
    torch.manual_seed(0)
    again, summary = train_goad(GOADModel(8, num_transforms=8, projection_dim=8, hidden_dim=16), normal, tmp_path / "run", steps=150, batch_size=64)
    assert summary["steps"] == 150  # the finished run was resumed, not retrained
    for p, q in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(p, q)
    loaded = load_model(save_model(model, tmp_path / "saved"))
    np.testing.assert_allclose(goad_scores(loaded, odd), odd_scores, rtol=1e-6)  # maps and centres travel with the weights
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        goad_scores(model, normal[:, :5])


def test_recipe_method_goad_on_a_table_saves_and_reloads(tmp_path):
    import pandas as pd

    from multicl.eval.anomaly import detection_scores
    from multicl.recipes import security_anomaly

    rng = np.random.default_rng(0)

    mixing = rng.normal(size=(2, 6))

    def table(n, anomalous):  # normal rows: 6 numbers on a plane; anomalies: 6 free numbers
        x = rng.normal(scale=2, size=(n, 6)) if anomalous else rng.normal(size=(n, 2)) @ mixing
        frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
        return frame.assign(proto=rng.choice(["tcp", "udp"], size=n), label="bad" if anomalous else "ok")

    train, test = table(400, False), pd.concat([table(200, False), table(50, True)], ignore_index=True)
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    metrics = security_anomaly.cli(["--data", "table", "--train-file", str(tmp_path / "train.csv"), "--test-file", str(tmp_path / "test.csv"),
                                    "--normal-label", "ok", "--out-dir", str(tmp_path / "out"), "--device", "cpu", "--method", "goad+raw_knn",
                                    "--baselines", "goad", "--goad-epochs", "20", "--goad-transforms", "8", "--goad-projection-dim", "8",
                                    "--goad-hidden", "16", "--scaling", "standard"])
    assert metrics["test_goad_auroc"] > 80 and metrics["test_auroc"] > 80
    assert not (tmp_path / "out" / "model" / "neutral_ad.json").exists()  # nothing asked for NeuTraL-AD
    score = security_anomaly.load_detector(tmp_path / "out" / "model")
    reloaded = detection_scores(score(test.drop(columns=["label"])), test["label"].to_numpy() != "ok", prefix="d")["d_auroc"]
    assert reloaded == pytest.approx(metrics["test_auroc"], abs=1e-6)
