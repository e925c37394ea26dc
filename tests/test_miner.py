"""HardNegativeMiner: oracle checks of search + filtering, batches it builds, trainer wiring."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.base import Adapter
from multicl.modalities.vector import VectorAdapter
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset
from multicl.objectives import build_objective
from multicl.train.config import TrainerConfig
from multicl.train.learner import ContrastiveLearner
from multicl.train.trainer import Trainer
from multicl.types import TensorInputs


class RowsAdapter(Adapter):
    """Raw inputs are feature rows; the 'encoder' below is the identity."""

    def prepare_inputs(self, raw):
        return TensorInputs({"x": torch.as_tensor(np.asarray(raw, dtype=np.float32))})


def identity(inputs):
    return inputs["x"]


def clustered(n_per=40, classes=5, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 3
    labels = np.repeat(np.arange(classes), n_per)
    x = centres[labels] + rng.normal(size=(len(labels), dim))
    return x.astype(np.float32), labels


def naive_top(x, i, exclude, n):
    z = x / np.linalg.norm(x, axis=1, keepdims=True)
    sims = z @ z[i]
    order = [j for j in np.argsort(-sims, kind="stable") if j not in exclude]
    return order[:n]


def test_mined_negatives_match_a_naive_search():
    x, _ = clustered()
    miner = HardNegativeMiner(x, RowsAdapter(), config=MinerConfig(num_negatives=3, top_k=10, rank_window=(0, 5), sampling="top", index="exact"))
    miner.refresh(identity)
    mined = miner.sample(torch.arange(len(x)))
    for i in range(0, len(x), 17):
        assert mined[i].tolist() == naive_top(x, i, {i}, 3)


def test_rank_window_skips_the_closest_survivors():
    x, _ = clustered()
    miner = HardNegativeMiner(x, RowsAdapter(), config=MinerConfig(num_negatives=2, top_k=10, rank_window=(3, 5), sampling="top", index="exact"))
    miner.refresh(identity)
    mined = miner.sample(torch.tensor([7]))
    assert mined[0].tolist() == naive_top(x, 7, {7}, 5)[3:5]


def test_label_filter_removes_false_negatives_and_reports_the_rate():
    x, labels = clustered()
    meta = {"instance_id": np.arange(len(x)), "label": labels}
    cfg = MinerConfig(num_negatives=2, top_k=60, rank_window=(0, 10), index="exact")
    unfiltered = HardNegativeMiner(x, RowsAdapter(), corpus_meta=meta, config=cfg)
    stats = unfiltered.refresh(identity)
    assert stats["false_negative_rate"] > 0.9  # neighbours in a tight cluster share its label
    filtered = HardNegativeMiner(x, RowsAdapter(), corpus_meta=meta, config=cfg, policy=FalseNegativePolicy(same_label=True))
    stats = filtered.refresh(identity)
    assert stats["false_negative_rate"] == 0.0
    assert stats["dropped_same_label"] == len(x) * 39  # the other 39 members of each cluster (self is the positive)
    mined = filtered.sample(torch.arange(len(x)))
    assert (mined >= 0).all() and (labels[mined] != labels[:, None]).all()
    assert sum(stats["similarity_histogram"]["counts"]) == len(x) * 10


def test_positive_aware_thresholds_against_an_oracle():
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(30, 8)).astype(np.float32)
    corpus = rng.normal(size=(50, 8)).astype(np.float32)
    positive_ids = rng.integers(0, 50, size=30)
    policy = FalseNegativePolicy(same_instance=False, max_positive_ratio=0.9, positive_margin=0.05)
    miner = HardNegativeMiner(corpus, RowsAdapter(), queries=queries, positive_ids=positive_ids, policy=policy,
                              config=MinerConfig(num_negatives=50, top_k=50, rank_window=(0, 50), sampling="top", index="exact"))
    miner.refresh(identity)
    mined = miner.sample(torch.arange(30))
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    c = corpus / np.linalg.norm(corpus, axis=1, keepdims=True)
    for i in range(30):
        pos = q[i] @ c[positive_ids[i]]
        expected = [j for j in np.argsort(-(c @ q[i]), kind="stable")
                    if j != positive_ids[i] and c[j] @ q[i] <= 0.9 * pos and c[j] @ q[i] <= pos - 0.05]
        assert [j for j in mined[i] if j >= 0] == expected


def test_hnsw_and_exact_agree_and_in_place_update_follows_the_encoder():
    x, _ = clustered(n_per=200, dim=32)
    cfg = MinerConfig(num_negatives=5, top_k=10, rank_window=(0, 5), sampling="top")
    exact = HardNegativeMiner(x, RowsAdapter(), config=MinerConfig(**{**cfg.__dict__, "index": "exact"}))
    hnsw = HardNegativeMiner(x, RowsAdapter(), config=MinerConfig(**{**cfg.__dict__, "index": "hnsw", "update_in_place": True, "deduplicate": False}))
    for miner in (exact, hnsw):
        miner.refresh(identity)
    ids = torch.arange(len(x))
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact.sample(ids), hnsw.sample(ids))])
    assert overlap >= 0.95
    moved = lambda inputs: inputs["x"].flip(1) * torch.linspace(0.5, 2, 32)  # the "encoder" changed
    for miner in (exact, hnsw):
        miner.stale = True
        miner.refresh(moved)
    assert hnsw.last_refresh["index"] == "hnsw" and len(hnsw.search._hnsw) == len(x)  # updated, not grown
    assert hnsw.last_refresh["index_seconds"] > 0
    overlap = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(exact.sample(ids), hnsw.sample(ids))])
    assert overlap >= 0.9


def test_mined_rows_carry_clean_inputs_and_their_metadata():
    x, labels = clustered()
    adapter = VectorAdapter(x, corruption=0.2, labels=labels)
    corpus, meta = corpus_from_dataset(list(range(len(x))), adapter)
    assert isinstance(corpus, np.ndarray) and corpus.shape == x.shape
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, config=MinerConfig(num_negatives=2, index="exact"))
    miner.refresh(identity)
    dataset = ViewsDataset(list(range(len(x))), adapter)
    batch = adapter.collate([dataset[i] for i in range(8)])
    mined = miner.mined_rows(batch.anchors.meta)
    assert 8 <= len(mined) <= 16 and mined.inputs["x"].shape == (len(mined), x.shape[1])
    ids = mined.meta["instance_id"].numpy()
    np.testing.assert_array_equal(mined.inputs["x"].numpy(), x[ids])  # clean rows, metadata aligned with them
    np.testing.assert_array_equal(mined.meta["label"].numpy(), labels[ids])
    assert 0.0 <= miner.last_stats["mined_false_negative_rate"] <= 1.0


def test_a_copy_of_the_positive_is_never_mined_with_separate_queries():
    """Queries and documents apart (anchor -> its document), dedup on: a corpus row that is an
    exact copy of a query's positive is that positive, not its hardest negative."""
    x, _ = clustered(n_per=10)
    documents = np.concatenate([x, x[:5]])  # rows 50..54 copy documents 0..4
    queries = x[:5] + 0.01  # query i's positive is document 50 + i (the copy; dedup keeps row i)
    miner = HardNegativeMiner(documents, RowsAdapter(), queries=queries, positive_ids=50 + np.arange(5),
                              corpus_meta={"instance_id": 1000 + np.arange(len(documents))},  # ids apart from the queries'

                              config=MinerConfig(num_negatives=3, top_k=10, rank_window=(0, 3), sampling="top", index="exact"))
    stats = miner.refresh(identity)
    mined = miner.sample(torch.arange(5))
    for q in range(5):
        assert q not in mined[q] and 50 + q not in mined[q]  # neither the positive nor its copy
    assert stats["dropped_copy_of_positive"] == 5


def test_mined_text_negatives_reach_the_loss_with_gradient(tiny_text_model):
    from multicl.modalities.text import TextAdapter, TextSample
    from multicl.encoders.text import TextEncoder, load_backbone

    adapter = TextAdapter.from_pretrained(tiny_text_model, max_length=16)
    sentences = [f"sentence number {i} " + "word " * (i % 9) for i in range(40)]
    samples = [TextSample(s) for s in sentences]
    corpus, meta = corpus_from_dataset(samples, adapter)
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, config=MinerConfig(num_negatives=2, index="exact"))
    torch.manual_seed(0)
    learner = ContrastiveLearner(TextEncoder(load_backbone(tiny_text_model)), build_objective("info_nce", temperature=0.05), miner=miner)
    dataset = ViewsDataset(samples, adapter)
    batch = adapter.collate([dataset[i] for i in range(6)])
    loss = learner(batch)
    assert torch.isfinite(loss) and learner.last_stats["mined_per_anchor"] > 0
    assert learner.last_stats["negatives_per_anchor"] > 5  # 5 other positives + mined rows
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.encoder.parameters())
    assert miner.refreshes == 1 and not miner.stale


def test_trainer_refreshes_on_schedule_and_logs(tmp_path):
    x, labels = clustered(n_per=60)
    adapter = VectorAdapter(x, corruption=0.2, labels=labels, embed_dim=16, hidden_dims=(32,), positive="same_label")
    corpus, meta = corpus_from_dataset(list(range(len(x))), adapter)
    policy = FalseNegativePolicy(same_label=True)
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, policy=policy, log_dir=tmp_path,
                              config=MinerConfig(num_negatives=2, refresh_every=2, index="exact"))
    learner = ContrastiveLearner(adapter.build_encoder(), build_objective("info_nce", temperature=0.1), policy=policy, miner=miner)
    cfg = TrainerConfig(out_dir=str(tmp_path), max_steps=6, batch_size=32, device="cpu", progress_bar=False, log_every=1, resume=False)
    Trainer(learner, ViewsDataset(list(range(len(x))), adapter), adapter.collate, cfg).train()
    refreshes = [json.loads(line) for line in (tmp_path / "miner_refreshes.jsonl").read_text().splitlines()]
    assert [r["step"] for r in refreshes] == [0, 2, 4]
    assert all(r["false_negative_rate"] == 0.0 and r["refresh_seconds"] > 0 for r in refreshes)
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    refresh_steps = [r["step"] for r in logged if "train/miner_refresh_seconds" in r]
    assert refresh_steps == [1, 3, 5]
    assert all(r["train/mined_false_negative_rate"] == 0.0 for r in logged if "train/mined_false_negative_rate" in r)


def test_bad_input_is_named():
    x, _ = clustered()
    with pytest.raises(ValueError, match="empty"):
        HardNegativeMiner([], RowsAdapter())
    with pytest.raises(ValueError, match="positive_ids"):
        HardNegativeMiner(x, RowsAdapter(), queries=x[:5], policy=FalseNegativePolicy(positive_margin=0.1))
    with pytest.raises(ValueError, match="rank_window"):
        MinerConfig(rank_window=(5, 5))
    with pytest.raises(ValueError, match="one value per row"):
        HardNegativeMiner(x, RowsAdapter(), corpus_meta={"instance_id": np.arange(3)})
    miner = HardNegativeMiner(x, RowsAdapter(), config=MinerConfig(index="exact"))
    with pytest.raises(RuntimeError, match="refresh"):
        miner.sample(torch.tensor([0]))
    miner.refresh(identity)
    with pytest.raises(IndexError, match="instance_id 999"):
        miner.sample(torch.tensor([0, 999]))
    with pytest.raises(FloatingPointError, match="NaN"):
        miner.refresh(lambda inputs: inputs["x"] * float("nan"))


def test_exact_copies_are_searched_once_and_never_mined_for_their_twin():
    x, _ = clustered(n_per=20)
    corpus = np.concatenate([x, x[:50], x[:50]])  # rows 0..49 appear three times
    for index in ("exact", "hnsw"):
        miner = HardNegativeMiner(corpus, RowsAdapter(), config=MinerConfig(num_negatives=5, top_k=12, rank_window=(0, 5), sampling="top", index=index))
        stats = miner.refresh(identity)
        # rows 100..199 copy rows 0..49: candidates are the first copies; a copied anchor's own
        # content comes back as its first copy and is dropped (for rows 0..49 it is the anchor itself)
        assert stats["unique_corpus"] == len(x) and stats["dropped_duplicate"] == 100
        mined = miner.sample(torch.arange(len(corpus)))
        content = lambda rows: {tuple(corpus[r]) for r in rows}
        for q in (0, 7, 100, 157):
            assert tuple(corpus[q]) not in content(mined[q])
        assert mined[0].tolist() == mined[150].tolist()  # copies share their mined list
        assert content(mined[7]) == content(naive_top(x, 7, {7}, 5))  # five distinct neighbours
        assert (mined < len(x)).all()
