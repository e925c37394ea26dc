import torch

from multicl.negatives.masks import FalseNegativePolicy


def meta(**kw):
    return {k: torch.tensor(v) for k, v in kw.items()}


def test_same_instance_and_group_are_masked():
    anchors = meta(instance_id=[0, 1, 2], group_id=[10, 11, 10])
    policy = FalseNegativePolicy()
    pos = torch.eye(3, dtype=torch.bool)
    neg, dropped = policy.negative_mask(anchors, anchors, pos)
    expected = torch.tensor([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=torch.bool)
    assert torch.equal(neg, expected)
    assert dropped["same_group"] == 2


def test_label_masking_only_when_asked():
    anchors = meta(instance_id=[0, 1, 2], group_id=[0, 1, 2], label=[5, 5, 6])
    pos = torch.eye(3, dtype=torch.bool)
    neg_unsup, _ = FalseNegativePolicy().negative_mask(anchors, anchors, pos)
    neg_sup, dropped = FalseNegativePolicy(same_label=True).negative_mask(anchors, anchors, pos)
    assert neg_unsup[0, 1] and not neg_sup[0, 1] and neg_sup[0, 2]
    assert dropped["same_label"] == 2


def test_temporal_window_keeps_far_clips_of_the_same_stream():
    anchors = meta(instance_id=[0, 1, 2, 3], group_id=[7, 7, 7, 8], timestamp=[0, 5, 50, 0])
    policy = FalseNegativePolicy(temporal_window=10)
    neg, dropped = policy.negative_mask(anchors, anchors, torch.eye(4, dtype=torch.bool))
    assert not neg[0, 1]  # same stream, 5 apart: false negative
    assert neg[0, 2]  # same stream, 50 apart: kept as a (hard) negative
    assert neg[0, 3]  # another stream
    assert dropped["same_group"] == 2


def test_positive_aware_thresholds():
    anchors = meta(instance_id=[0], group_id=[0])
    candidates = meta(instance_id=[1, 2, 3], group_id=[1, 2, 3])
    sims = torch.tensor([[0.2, 0.78, 0.9]])
    pos = torch.zeros(1, 3, dtype=torch.bool)
    policy = FalseNegativePolicy(max_positive_ratio=0.95)
    neg, dropped = policy.negative_mask(anchors, candidates, pos, sims, torch.tensor([0.8]))
    assert neg.tolist() == [[True, False, False]]
    assert dropped["above_positive_ratio"] == 2
    policy = FalseNegativePolicy(positive_margin=0.05)
    sims = torch.tensor([[0.2, 0.7, 0.9]])
    neg, _ = policy.negative_mask(anchors, candidates, pos, sims, torch.tensor([0.8]))
    assert neg.tolist() == [[True, True, False]]


def test_per_anchor_candidate_metadata_gives_the_same_masks_as_shared():
    """A miner's (N, K) candidate lists: the same rules, row by row."""
    policy = FalseNegativePolicy(same_group=True, temporal_window=2.0, same_label=True)
    anchors = {"instance_id": torch.tensor([0, 1]), "group_id": torch.tensor([7, 8]),
               "timestamp": torch.tensor([10.0, 3.0]), "label": torch.tensor([1, 2])}
    shared = {"instance_id": torch.tensor([0, 5, 6, 9]), "group_id": torch.tensor([7, 7, 8, 8]),
              "timestamp": torch.tensor([11.0, 30.0, 4.0, 1.0]), "label": torch.tensor([3, 1, 3, 3])}
    pick = torch.tensor([[1, 0, 3], [2, 3, 0]])  # each anchor's own candidates
    per_anchor = {k: v[pick] for k, v in shared.items()}
    full = policy.false_negative_masks(anchors, shared)
    rowwise = policy.false_negative_masks(anchors, per_anchor)
    for rule in full:
        assert torch.equal(rowwise[rule], torch.gather(full[rule], 1, pick)), rule
    assert rowwise["same_group"].tolist() == [[False, True, False], [True, True, False]]
