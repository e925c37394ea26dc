"""Recipe smoke run on a synthetic log (no text model), then serving through the saved model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from multicl.errors import UserInputError


def _synthetic(tmp_path, users=40, items=30, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["user,item,timestamp"]
    for u in range(users):
        liked = rng.choice(items // 2, 8, replace=False) + (u % 2) * (items // 2)  # two tastes
        lines += [f"u{u},i{j},{t}" for t, j in enumerate(liked)]
    (tmp_path / "log.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "items.csv").write_text("item,title\n" + "".join(f"i{j},Item {j}\n" for j in range(items)))
    return tmp_path / "log.csv", tmp_path / "items.csv"


@pytest.mark.slow
def test_recipe_writes_metrics_and_serves(tmp_path):
    from multicl.models.recommender import Recommender
    from multicl.recipes.recommendation import cli

    inter, items = _synthetic(tmp_path)
    out = tmp_path / "run"
    m = cli(["--inter-file", str(inter), "--item-file", str(items), "--out-dir", str(out), "--max-steps", "30", "--batch-size", "32",
             "--no-use-text", "--baselines", "popularity", "itemknn", "--cold-start-fraction", "0"])
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("test_recall@10", "test_ndcg@10", "test_mrr@10", "baseline_popularity_recall@10", "baseline_itemknn_recall@10"):
        assert key in saved and 0.0 <= saved[key] <= 1.0
    assert m["test_recall@10"] > 0.3  # two clean tastes: far above chance (10 of 30 items, 1-2 relevant)
    rec = Recommender.load(out / "model")
    top = rec.recommend(["i0", "i1", "i2"], k=5)
    assert len(top) == 5 and not {"i0", "i1", "i2"} & {t for t, _ in top}
    assert sum(int(t[1:]) < 15 for t, _ in top) >= 4  # the first taste's items
    with pytest.raises(UserInputError, match="not in the catalogue"):
        rec.recommend(["nope"], k=3)


def test_user_features_read_embedded_and_served(tmp_path):
    import torch

    from multicl.data.interactions import read_user_features
    from multicl.encoders.recommendation import ItemEncoder, UserEncoder
    from multicl.modalities.recommendation import history_inputs

    (tmp_path / "users.csv").write_text("user,age,gender,zip\nu0,24,M,85711\nu1,53,F,94043\nu2,33,F,10001\n")
    features = read_user_features(tmp_path / "users.csv", ["u0", "u1", "u2", "u9"], buckets=2)
    assert features.names == ["age", "gender", "zip"]
    assert features.codes[3].tolist() == [0, 0, 0]  # not in the table: missing everywhere
    assert features.codes[:3, 1].tolist() == [2, 1, 1] and features.cardinalities[1] == 2  # F=1, M=2
    assert len(set(features.codes[:3, 2])) == 3  # zip region = first digit: 8, 9, 1
    torch.manual_seed(0)
    tower = UserEncoder(ItemEncoder(5, 8), feature_cardinalities=features.cardinalities)
    same_history = [np.array([0, 1])] * 4
    with torch.no_grad():
        z = tower(history_inputs(same_history, 10, features.codes))
        plain = tower(history_inputs(same_history, 10))
    assert not torch.allclose(z[0], z[1])  # same history, different users
    torch.testing.assert_close(z[3], plain[3])  # missing features: the history alone
    with pytest.raises(UserInputError, match="no user-feature column"):
        read_user_features(tmp_path / "users.csv", ["u0"], columns=["income"])


@pytest.mark.slow
def test_recipe_with_user_features_serves_known_users(tmp_path):
    from multicl.models.recommender import Recommender
    from multicl.recipes.recommendation import cli

    inter, items = _synthetic(tmp_path)
    (tmp_path / "users.csv").write_text("user,taste\n" + "".join(f"u{u},{'ab'[u % 2]}\n" for u in range(40)))
    out = tmp_path / "run"
    cli(["--inter-file", str(inter), "--item-file", str(items), "--user-file", str(tmp_path / "users.csv"), "--out-dir", str(out),
         "--max-steps", "30", "--batch-size", "32", "--no-use-text", "--baselines", "popularity", "--cold-start-fraction", "0"])
    rec = Recommender.load(out / "model")
    assert len(rec.user_codes) == 40 and rec.user_codes["u1"].tolist() == [2]
    assert len(rec.recommend(["i0", "i1"], k=3, user="u0")) == 3 and len(rec.recommend(["i0", "i1"], k=3, user="stranger")) == 3
