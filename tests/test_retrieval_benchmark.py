"""The retrieval benchmark recipe on a tiny BEIR folder and in label mode (tiny random models)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from multicl.recipes.retrieval_benchmark import Config, label_metrics, main, map_at_k


def write_beir(folder):
    docs = [f"document {i} about topic {i % 4} with colour {i % 3}" for i in range(30)]
    queries = {f"q{i}": f"what about topic {i % 4} colour {i % 3}" for i in range(6)}
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n" for i, t in enumerate(docs)))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\nq{i}\td{i + 6}\t1\n" for i in range(6)))


def test_beir_mode_agrees_with_sentence_transformers_evaluator(tiny_text_model, tmp_path):
    write_beir(tmp_path / "beir")
    m = main(Config(model=tiny_text_model, data_dir=str(tmp_path / "beir"), out_dir=str(tmp_path / "out"), device="cpu", batch_size=8))
    stored = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"ndcg@10", "recall@10", "mrr@10", "index_recall@10"} <= set(stored)
    for key in ("ndcg@10", "recall@1", "recall@10", "recall@100", "mrr@10", "map@100"):
        assert m[key] == pytest.approx(m[f"peer_{key}"], abs=1e-4), key
    assert m["index_recall@10"] >= 0.95


def test_missing_beir_file_is_named(tmp_path, tiny_text_model):
    (tmp_path / "beir").mkdir()
    with pytest.raises(FileNotFoundError, match="corpus.jsonl is missing"):
        main(Config(model=tiny_text_model, data_dir=str(tmp_path / "beir"), out_dir=str(tmp_path / "out"), device="cpu", peer=False))


def test_label_metrics_and_map_by_hand():
    ranked = np.array([["a", "b", "a"], ["b", "b", "a"]])
    m = label_metrics(ranked, np.array(["a", "a"]), {"a": 2, "b": 2}, (1, 3))
    assert m["precision@1"] == 0.5 and m["recall@3"] == 1.0 and m["precision@3"] == pytest.approx(0.5)
    assert m["map@r"] == pytest.approx((1.0 / 2 + 0.0) / 2)  # R = 2: query 0 hits at rank 1 only, query 1 none
    assert map_at_k(np.array([[3, 1, 2]]), [{1, 2}], 3) == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_label_mode_on_a_table_model(tmp_path):
    import torch

    from multicl import EmbeddingModel
    from multicl.data.table_preprocessing import TablePreprocessor
    from multicl.modalities.tabular import TabularAdapter

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=60) + np.repeat([0, 5, 10], 20), "label": np.repeat(["a", "b", "c"], 20)})
    pre = TablePreprocessor(exclude=["label"]).fit(frame)
    torch.manual_seed(0)
    adapter = TabularAdapter(pre.transform(frame), pre, embed_dim=8, hidden_dims=(16,))
    EmbeddingModel.from_adapter(adapter, adapter.build_encoder()).save(tmp_path / "model")
    frame.iloc[::2].to_csv(tmp_path / "corpus.csv", index=False)
    frame.iloc[1::2].to_csv(tmp_path / "queries.csv", index=False)
    m = main(Config(model=str(tmp_path / "model"), mode="labels", corpus_file=str(tmp_path / "corpus.csv"),
                    query_file=str(tmp_path / "queries.csv"), out_dir=str(tmp_path / "out"), device="cpu"))
    assert 0 <= m["map@r"] <= 1 and m["precision@1"] > 0.5 and m["index_recall@10"] >= 0.9
