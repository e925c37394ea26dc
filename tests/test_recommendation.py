"""Recommendation: loader policy, RecBole split counts, metrics, baselines, logQ sign, seen-item masking."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multicl.data.interactions import histories, ratio_counts, read_interactions, split_per_user, user_item_matrix
from multicl.errors import UserInputError
from multicl.eval.recommendation import topk_metrics
from multicl.eval.recommendation_baselines import fit_itemknn, fit_popularity
from multicl.modalities.recommendation import InteractionAdapter
from multicl.negatives.logit_offsets import log_sampling_probability, pool_logit_offsets
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.sources.base import CandidateBlock
from multicl.objectives import build_objective
from multicl.objectives.clip import CLIPLoss
from multicl.objectives.logq import LogQCLIPLoss


def _write(path, text):
    path.write_text(text)
    return path


# -- loader ------------------------------------------------------------------------------------------
def test_reads_recbole_atomic_files_and_applies_the_policy(tmp_path):
    inter = _write(tmp_path / "x.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                   "u1\ta\t5\t3\nu1\ta\t4\t1\nu1\tb\t3\t2\nu1\tc\t3\t4\nu2\ta\t1\t1\n")
    items = _write(tmp_path / "x.item", "item_id:token\tmovie_title:token_seq\tclass:token_seq\na\tAlpha\tDrama\nb\t\t\nc\tGamma\tComedy War\nd\tDelta\tHorror\n")
    log = read_interactions(inter, items, min_user_interactions=3)
    assert log.dropped == {"duplicate_interactions": 1, "users_below_min_interactions": 1}  # u1/a twice, u2 has 1
    assert log.user_ids == ["u1"] and log.item_ids == ["a", "b", "c", "d"]  # d: a cold item, kept
    assert log.item_text[0] == "Alpha. Genres: Drama" and log.item_text[1] == "item b"  # empty text falls back
    assert sorted(log.timestamps.tolist()) == [1.0, 2.0, 4.0]  # the duplicate kept at its earliest time
    assert [log.item_ids[i] for i in histories(log, np.arange(len(log)))[0]] == ["a", "b", "c"]


def test_unknown_items_and_bad_timestamps_are_clear_errors(tmp_path):
    items = _write(tmp_path / "i.csv", "item,title\na,Alpha\n")
    with pytest.raises(UserInputError, match="not in"):
        read_interactions(_write(tmp_path / "l.csv", "user,item,timestamp\n1,a,1\n1,z,2\n1,a,3\n"), items, min_user_interactions=1)
    with pytest.raises(UserInputError, match="line 3"):
        read_interactions(_write(tmp_path / "m.csv", "user,item,timestamp\n1,a,1\n1,a,\n"), items, min_user_interactions=1)
    log = read_interactions(_write(tmp_path / "n.csv", "user,item\n1,a\n2,a\n"), items, min_user_interactions=1)  # no time: file order
    assert log.timestamps.tolist() == [2.0, 3.0]


def test_ratio_counts_match_recbole_and_every_user_is_in_every_part():
    assert ratio_counts(10, (0.8, 0.1, 0.1)) == [8, 1, 1]
    assert ratio_counts(5, (0.8, 0.1, 0.1)) == [3, 1, 1]  # parts below one row get one (RecBole _calcu_split_ids)
    assert ratio_counts(3, (0.8, 0.1, 0.1)) == [1, 1, 1]
    assert ratio_counts(25, (0.8, 0.1, 0.1)) == [21, 2, 2]
    rng = np.random.default_rng(0)
    from multicl.data.interactions import InteractionLog

    users = np.repeat(np.arange(20), rng.integers(3, 30, 20))
    log = InteractionLog(users, rng.integers(0, 50, len(users)), np.arange(len(users), dtype=float), [str(i) for i in range(20)],
                         [str(i) for i in range(50)], [""] * 50)
    s = split_per_user(log, seed=1)
    assert len(s.train) + len(s.valid) + len(s.test) == len(log)
    for part in (s.train, s.valid, s.test):
        assert set(log.users[part]) == set(range(20))
    assert not (set(s.train) & set(s.valid)) and not (set(s.valid) & set(s.test))


# -- metrics and baselines ----------------------------------------------------------------------------
def test_topk_metrics_by_hand():
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])  # ranking 0,1,2,3,4
    gt = np.array([[0, 0, 1, 0, 1]])
    exclude = np.array([[1, 0, 0, 0, 0]])  # item 0 masked: ranking 1,2,3,4
    m = topk_metrics(lambda rows: scores[rows], gt, exclude, k=2)
    assert m["recall@2"] == pytest.approx(0.5) and m["hit@2"] == 1.0 and m["mrr@2"] == pytest.approx(0.5)
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert m["precision@2"] == pytest.approx(0.5)
    cold = topk_metrics(lambda rows: scores[rows], gt, k=1, candidates=np.array([3, 4]))  # rank only items 3, 4
    assert cold["recall@1"] == pytest.approx(0.0) and cold["users"] == 1


def test_popularity_and_itemknn_on_a_toy_matrix():
    from scipy.sparse import csr_matrix

    train = csr_matrix(np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0]], dtype=np.float32))
    assert fit_popularity(train)(np.array([0]))[0].tolist() == [3, 2, 1, 1]
    knn = fit_itemknn(train, k=1)(np.array([3]))  # user 3 saw item 0; item 1 is item 0's nearest
    assert knn[0].argsort()[-2:].tolist()[-1] in (0, 1) and knn[0][1] > knn[0][2] and knn[0][1] > knn[0][3]


# -- logQ --------------------------------------------------------------------------------------------
def test_logq_lowers_the_popular_items_logit():
    """Row 0's positive is rare (item 0), its negative popular (item 1): subtracting log q lowers
    the popular negative's logit, so row 0's loss falls; adding it (TFRS's old bug) raises it."""
    torch.manual_seed(0)
    a, c = torch.randn(2, 8), torch.randn(2, 8)
    log_q = torch.tensor([math.log(0.01), math.log(0.99)])
    loss = LogQCLIPLoss(temperature=0.5, learnable_temperature=False, symmetric=False)
    pos = torch.eye(2, dtype=torch.bool)
    neg = torch.tensor([[False, True], [False, False]])  # score row 0 only (row 1 has no negatives)
    plain = loss(a, c, pos, neg)
    corrected = loss(a, c, pos, neg, logit_offset=log_q)
    wrong_sign = loss(a, c, pos, neg, logit_offset=-log_q)
    assert corrected < plain < wrong_sign
    logits = torch.nn.functional.normalize(a, dim=-1) @ torch.nn.functional.normalize(c, dim=-1).T / 0.5
    expected = torch.nn.functional.softplus((logits[0, 1] - log_q[1]) - (logits[0, 0] - log_q[0]))  # naive 2-way InfoNCE
    assert corrected.item() == pytest.approx(expected.item(), rel=1e-5)


def test_zero_or_constant_offsets_give_clip():
    torch.manual_seed(1)
    a, c = torch.randn(6, 4), torch.randn(6, 4)
    clip = CLIPLoss(temperature=0.1, learnable_temperature=False)(a, c)
    logq = LogQCLIPLoss(temperature=0.1, learnable_temperature=False)
    assert logq(a, c).item() == pytest.approx(clip.item(), rel=1e-6)
    assert logq(a, c, logit_offset=torch.full((6,), 3.0), anchor_logit_offset=torch.full((6,), -2.0)).item() == pytest.approx(clip.item(), rel=1e-5)
    assert isinstance(build_objective("clip_logq"), LogQCLIPLoss)


def test_pool_offsets_follow_the_blocks():
    blocks = [("in_batch", CandidateBlock(torch.zeros(2, 3), {"logit_offset": torch.tensor([1.0, 2.0])})),
              ("mined", CandidateBlock(torch.zeros(3, 3), {}))]
    assert pool_logit_offsets(blocks, torch.device("cpu")).tolist() == [1.0, 2.0, 0.0, 0.0, 0.0]
    assert pool_logit_offsets(blocks[1:], torch.device("cpu")) is None
    q = np.exp(log_sampling_probability(np.array([9, 0]), smoothing=1.0))
    assert q.tolist() == pytest.approx([10 / 11, 1 / 11])


# -- own items and accidental hits ------------------------------------------------------------------
def test_exclude_seen_masks_the_users_own_items():
    anchor_meta = {"instance_id": torch.tensor([0, 1]), "seen_items": torch.tensor([[5, 2, -1], [7, -1, -1]])}
    cand = {"instance_id": torch.tensor([0, 1, 2, 3]), "item_id": torch.tensor([2, 7, 5, 9])}
    masks = FalseNegativePolicy(same_group=False, exclude_seen=True).false_negative_masks(anchor_meta, cand)
    assert masks["seen_item"].tolist() == [[True, False, True, False], [False, True, False, False]]
    per_anchor = {"item_id": torch.tensor([[9, 5], [7, 7]])}
    assert FalseNegativePolicy(same_group=False, same_instance=False, exclude_seen=True).false_negative_masks(
        anchor_meta, per_anchor)["seen_item"].tolist() == [[False, True], [True, True]]
    with pytest.raises(ValueError, match="seen_items"):
        FalseNegativePolicy(exclude_seen=True).false_negative_masks({"instance_id": torch.tensor([0])}, cand)


def test_learner_applies_offsets_accidental_hits_and_own_items():
    from multicl.encoders.recommendation import ItemEncoder, UserEncoder
    from multicl.train.learner import ContrastiveLearner

    torch.manual_seed(0)
    users = np.array([0, 0, 1, 1, 2, 2])
    items = np.array([0, 1, 1, 2, 0, 3])  # item 1: users 0 and 1; item 0: users 0 and 2
    hist = [np.array([0, 1]), np.array([1, 2]), np.array([0, 3])]
    adapter = InteractionAdapter(users, items, hist, num_items=4, max_history=5)
    batch = adapter.collate([{"view_a": adapter.views(k, np.random.default_rng(k))[0], "meta": adapter.meta(k, k)} for k in range(6)])
    assert batch.anchors.inputs["history"][0].tolist()[:1] == [1]  # user 0's view of item 0 holds item 1, never item 0
    item_tower = ItemEncoder(4, 8)
    learner = ContrastiveLearner(UserEncoder(item_tower), LogQCLIPLoss(learnable_temperature=False),
                                 policy=FalseNegativePolicy(same_group=True, exclude_seen=True), candidate_encoder=item_tower)
    loss = learner(batch)
    assert torch.isfinite(loss)
    stats = learner.last_stats
    assert stats["masked/in_batch/same_group"] > 0 and stats["masked/in_batch/seen_item"] > 0
    adapter.item_log_q.zero_()
    adapter.user_log_q.zero_()
    plain = learner(adapter.collate([{"view_a": adapter.views(k, np.random.default_rng(k))[0], "meta": adapter.meta(k, k)} for k in range(6)]))
    assert plain.item() != pytest.approx(loss.item())


def test_exclude_seen_dense_and_sorted_paths_agree(monkeypatch):
    g = torch.Generator().manual_seed(0)
    seen = torch.randint(-1, 40, (7, 9), generator=g)
    items = torch.randint(0, 45, (11,), generator=g)
    naive = torch.tensor([[int(c) in set(r.tolist()) - {-1} for c in items] for r in seen])
    policy = FalseNegativePolicy(same_instance=False, same_group=False, exclude_seen=True)
    meta = {"seen_items": seen}
    assert policy.false_negative_masks(meta, {"item_id": items})["seen_item"].equal(naive)
    big = {"item_id": items + 10**8}  # sparse ids: the sorted path
    naive_big = torch.tensor([[int(c) in set((r + 10**8).tolist()) for c in big["item_id"]] for r in seen.clamp(min=-10**8)])
    shifted = {"seen_items": torch.where(seen >= 0, seen + 10**8, seen)}
    assert policy.false_negative_masks(shifted, big)["seen_item"].equal(naive_big)


def test_mined_items_are_never_the_users_own():
    from multicl.encoders.recommendation import ItemEncoder, UserEncoder
    from multicl.modalities.recommendation import HistoryAdapter, item_mining_setup
    from multicl.negatives.miner import HardNegativeMiner, MinerConfig
    from multicl.train.learner import ContrastiveLearner

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    hist = [np.sort(rng.choice(12, 6, replace=False)) for _ in range(5)]
    users = np.concatenate([[u] * len(h) for u, h in enumerate(hist)])
    items = np.concatenate(hist)
    adapter = InteractionAdapter(users, items, hist, num_items=12, max_history=6)
    policy = FalseNegativePolicy(same_group=True, exclude_seen=True)
    setup = item_mining_setup(hist, 12)
    miner = HardNegativeMiner(setup["corpus"], adapter, setup["corpus_meta"], queries=setup["queries"], query_adapter=HistoryAdapter(6),
                              query_meta=setup["query_meta"], policy=policy,
                              config=MinerConfig(num_negatives=3, top_k=12, rank_window=(0, 6), index="exact", deduplicate=False))
    tower = ItemEncoder(12, 8)
    learner = ContrastiveLearner(UserEncoder(tower), LogQCLIPLoss(learnable_temperature=False), policy=policy, candidate_encoder=tower, miner=miner)
    batch = adapter.collate([{"view_a": adapter.views(k, np.random.default_rng(k))[0], "meta": adapter.meta(k, k)} for k in range(len(users))])
    assert torch.isfinite(learner(batch))
    mined = miner.sample(torch.arange(5))
    for u in range(5):
        chosen = mined[u][mined[u] >= 0]
        assert len(chosen) == 3 and not set(chosen.tolist()) & set(hist[u].tolist())


def test_leave_one_out_by_time_takes_each_users_last_two():
    from multicl.data.interactions import InteractionLog, split_leave_one_out

    users = np.array([0, 0, 0, 0, 1, 1, 1])
    times = np.array([5.0, 1.0, 9.0, 3.0, 2.0, 2.0, 1.0])  # user 1 ties at t=2: file order decides
    log = InteractionLog(users, np.arange(7), times, ["a", "b"], [str(i) for i in range(7)], [""] * 7)
    s = split_leave_one_out(log)
    assert s.test.tolist() == [2, 5] and s.valid.tolist() == [0, 4] and s.train.tolist() == [1, 3, 6]
    short = InteractionLog(np.array([0, 0]), np.arange(2), np.arange(2.0), ["a"], ["0", "1"], [""] * 2)
    with pytest.raises(UserInputError, match="3\\+ interactions"):
        split_leave_one_out(short)


def test_lightgcn_propagation_is_the_normalised_mean_over_layers():
    from scipy.sparse import csr_matrix

    from multicl.eval.recommendation_lightgcn import fit_lightgcn, normalised_adjacency

    users, items = torch.tensor([0, 0, 1, 2]), torch.tensor([3, 4, 4, 5])  # item nodes after 3 users
    a = normalised_adjacency(users, items, 6).to_dense()
    dense = torch.zeros(6, 6)
    dense[users, items] = dense[items, users] = 1.0
    d = dense.sum(1)
    torch.testing.assert_close(a, dense / torch.sqrt(d[:, None] * d[None, :]))
    train = csr_matrix((np.ones(4), ([0, 0, 1, 2], [0, 1, 1, 2])), shape=(3, 3))
    score = fit_lightgcn(train, valid_fn=None, embed_dim=4, max_epochs=2, seed=0)
    assert score(np.array([0, 2])).shape == (2, 3)
