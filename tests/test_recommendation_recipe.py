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
