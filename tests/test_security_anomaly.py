"""The anomaly recipe on real data (small slices), the KDD99 protocols' splits, the F1-at-ratio
figure and the rank mean."""
import json

import numpy as np
import pytest

from multicl import EmbeddingModel
from multicl.data.kddcup99 import KDDREV_ATTACKS, protocol_split
from multicl.data.nsl_kdd_splits import read_difficulty, stratified_dev_split
from multicl.eval.anomaly import f1_at_known_ratio, rank_mean
from multicl.models.folder import NotAModelError
from multicl.recipes import security_anomaly


def test_protocol_splits_follow_goad():
    is_normal = np.r_[np.ones(1000, bool), np.zeros(4000, bool)]  # KDD99's shape: attacks are the majority
    kdd = protocol_split(is_normal, "kdd", seed=0)
    assert len(kdd.train) == 2000 and not is_normal[kdd.train].any()  # half the attacks
    assert kdd.test_is_anomaly.sum() == 1000 and (is_normal[kdd.test] == kdd.test_is_anomaly).all()  # every normal row, flagged
    assert not set(kdd.train) & set(kdd.test)
    big = np.r_[np.ones(97278, bool), np.zeros(396743, bool)]
    rev = protocol_split(big, "kddrev", seed=1)
    assert len(rev.train) == 48639 and big[rev.train].all()  # half the normal rows
    assert rev.test_is_anomaly.sum() == KDDREV_ATTACKS and (~big[rev.test] == rev.test_is_anomaly).all()
    assert not np.array_equal(protocol_split(big, "kddrev", seed=2).train, rev.train)
    with pytest.raises(ValueError, match="protocol"):
        protocol_split(big, "kdd2", seed=0)


def test_f1_at_known_ratio_and_rank_mean():
    is_anomaly = np.r_[np.zeros(80, bool), np.ones(20, bool)]
    perfect = is_anomaly.astype(float) + np.linspace(0, 0.1, 100)
    assert f1_at_known_ratio(perfect, is_anomaly) == pytest.approx(100.0)
    assert f1_at_known_ratio(-perfect, is_anomaly) == pytest.approx(0.0)
    np.testing.assert_allclose(rank_mean(np.array([1.0, 2, 3]), np.array([30.0, 20, 10])), [2 / 3, 2 / 3, 2 / 3])


def test_stratified_dev_split_keeps_every_label():
    labels = np.array(["a"] * 40 + ["b"] * 8 + ["c"] * 2)
    fit, dev = stratified_dev_split(labels, 0.25, seed=0)
    assert sorted(np.r_[fit, dev]) == list(range(50)) and set(labels[dev]) == {"a", "b", "c"} and len(dev) == 10 + 2 + 1


def assert_reloaded_auroc(score, folder, metrics) -> None:
    """The saved detector ranks the whole KDDTest+ file as the run did."""
    from multicl.eval.anomaly import detection_scores

    frame, labels = security_anomaly.load_split(str(folder / "KDDTest+.txt"), security_anomaly.Config())
    assert detection_scores(score(frame), labels != "normal", prefix="d")["d_auroc"] == pytest.approx(metrics["test_auroc"], abs=1e-6)


@pytest.mark.realdata
@pytest.mark.slow
def test_anomaly_recipe_on_nsl_kdd_slice(shared_data, tmp_path):
    folder = shared_data / "security" / "nsl_kdd"
    assert (read_difficulty(folder / "KDDTest+.txt") < 21).sum() == 11850  # KDDTest-21
    metrics = security_anomaly.cli([
        "--train-file", str(folder / "KDDTrain+_20Percent.txt"), "--test-file", str(folder / "KDDTest+.txt"),
        "--out-dir", str(tmp_path), "--device", "cpu", "--steps", "60", "--max-train-rows", "2000", "--batch-size", "256",
        "--baselines", "raw_knn", "neutral_ad", "--method", "neutral_ad+neutral_ad_knn",
    ])
    for key in ("test_neutral_ad_auroc", "test_raw_knn_auroc", "test_hard_neutral_ad_auroc", "test_auroc", "test_f1_at_ratio"):
        assert 50.0 < metrics[key] <= 100.0, key  # attacks sit away from normal traffic even after 60 steps
    assert metrics["test_rows"] == 22544 and metrics["test_hard_rows"] == 11850
    assert json.loads((tmp_path / "metrics.json").read_text())["test_auroc"] == metrics["test_auroc"]
    assert "test_neutral_ad_knn_auroc" not in metrics  # a combination's parts are computed, not reported
    score = security_anomaly.load_detector(tmp_path / "model")
    frame, _ = security_anomaly.load_split(str(folder / "KDDTest+.txt"), security_anomaly.Config())
    s = score(frame.iloc[:3000])
    assert s.shape == (3000,) and np.isfinite(s).all()
    assert_reloaded_auroc(score, folder, metrics)
    with pytest.raises(NotAModelError, match=r"anomaly detector saved by security_anomaly.*load_detector"):
        EmbeddingModel.load(tmp_path / "model")  # the detector folder is not an embedding model: say what loads it


@pytest.mark.realdata
@pytest.mark.slow
def test_icl_detector_runs_saves_and_reloads_without_neutral_ad(shared_data, tmp_path):
    folder = shared_data / "security" / "nsl_kdd"
    metrics = security_anomaly.cli([
        "--train-file", str(folder / "KDDTrain+_20Percent.txt"), "--test-file", str(folder / "KDDTest+.txt"),
        "--out-dir", str(tmp_path), "--device", "cpu", "--icl-steps", "20", "--icl-batch-size", "128", "--max-train-rows", "1000",
        "--method", "icl+raw_knn", "--baselines", "icl",
    ])
    assert 50.0 < metrics["test_icl_auroc"] <= 100.0 and "test_neutral_ad_auroc" not in metrics
    assert not (tmp_path / "model" / "neutral_ad.json").exists()  # nothing asked for NeuTraL-AD, so none was trained
    assert_reloaded_auroc(security_anomaly.load_detector(tmp_path / "model"), folder, metrics)


@pytest.mark.realdata
@pytest.mark.slow
def test_dev_split_never_reads_the_test_file(shared_data, tmp_path):
    folder = shared_data / "security" / "nsl_kdd"
    garbage = tmp_path / "not_a_kdd_file.txt"
    garbage.write_text("this,is,not,a,connection,record\n")  # dev mode must never read the test file
    cfg = security_anomaly.Config(train_file=str(folder / "KDDTrain+_20Percent.txt"), test_file=str(garbage), out_dir=str(tmp_path / "o"),
                                  device="cpu", eval_split="dev", method="raw_knn", baselines=())
    metrics = security_anomaly.main(cfg)
    assert metrics["dev_rows"] == pytest.approx(0.25 * 25192, abs=5) and "dev_hard_raw_knn_auroc" in metrics
    assert metrics["dev_raw_knn_auroc"] > 90


def test_help_works_offline_and_names_the_dev_choices(capsys):
    with pytest.raises(SystemExit) as done:
        security_anomaly.cli(["--help"])
    assert done.value.code == 0 and "chosen on dev" in capsys.readouterr().out


def test_view_embeddings_cosine_is_the_mean_view_cosine_and_detector_names_are_checked():
    import torch

    from multicl.train.neutral_ad import NeuTraLADModel, view_embeddings

    torch.manual_seed(0)
    model = NeuTraLADModel(6, num_transforms=3, embed_dim=4).eval()
    x = np.random.default_rng(0).standard_normal((5, 6)).astype(np.float32)
    z = view_embeddings(model, x)
    with torch.no_grad():
        views = torch.nn.functional.normalize(model.views(torch.from_numpy(x)), dim=-1)  # (5, 4, 4)
    expected = torch.einsum("avd,bvd->abv", views, views).mean(-1).numpy()
    assert z.shape == (5, 4 * 4)
    np.testing.assert_allclose(z @ z.T, expected, atol=1e-6)
    assert security_anomaly.components("neutral_ad+neutral_ad_knn") == ["neutral_ad", "neutral_ad_knn"]
    for bad in ("neutral", "raw_knn+raw_knn", "raw_knn+"):
        with pytest.raises(security_anomaly.UserInputError, match="unknown detector"):
            security_anomaly.components(bad)


def test_later_recording_split_cuts_in_file_order_and_drops_duplicates():
    from multicl.data.kddcup99 import later_recording_split

    #            0  1  2  3  4  5  6  7  8  9
    is_normal = np.array([1, 1, 0, 1, 1, 0, 1, 1, 0, 1], bool)
    keys = np.array([10, 10, 20, 11, 12, 20, 13, 10, 21, 14])  # rows 1 and 7 repeat row 0, row 5 repeats row 2
    split = later_recording_split(is_normal, keys, fit_share=0.5)  # 7 normal rows: the first 3 (rows 0, 1, 3) are the earlier part
    assert split.train.tolist() == [0, 3]  # row 1 is a duplicate of row 0
    assert split.test.tolist() == [4, 6, 8, 9]  # after row 3; rows 5 and 7 repeat earlier records
    assert split.test_is_anomaly.tolist() == [False, False, True, False]
    with pytest.raises(ValueError, match="fit_share"):
        later_recording_split(is_normal, keys, fit_share=1.0)
