import math

import pytest
import torch
import torch.nn.functional as F

from multicl.objectives import OBJECTIVES, InfoNCE, build_objective


def naive_info_nce(anchors, candidates, pos_mask, neg_mask, temperature):
    """Oracle: a plain Python loop over rows and positives."""
    a = F.normalize(anchors.double(), dim=-1)
    c = F.normalize(candidates.double(), dim=-1)
    rows = []
    for i in range(a.shape[0]):
        negs = [float(a[i] @ c[j]) / temperature for j in range(c.shape[0]) if neg_mask[i, j]]
        terms = []
        for j in range(c.shape[0]):
            if pos_mask[i, j]:
                s = float(a[i] @ c[j]) / temperature
                denom = math.exp(s) + sum(math.exp(n) for n in negs)
                terms.append(-math.log(math.exp(s) / denom))
        rows.append(sum(terms) / len(terms))
    return sum(rows) / len(rows)


def test_info_nce_matches_naive_loop_default_masks():
    torch.manual_seed(0)
    a, c = torch.randn(5, 8), torch.randn(7, 8)  # 5 in-batch positives + 2 hard negatives
    pos = torch.zeros(5, 7, dtype=torch.bool)
    pos[:, :5] = torch.eye(5, dtype=torch.bool)
    loss = InfoNCE(temperature=0.1)(a, c)
    assert loss.item() == pytest.approx(naive_info_nce(a, c, pos, ~pos, 0.1), rel=1e-5)


def test_info_nce_matches_naive_loop_with_masks_and_multiple_positives():
    torch.manual_seed(1)
    a, c = torch.randn(4, 6), torch.randn(6, 6)
    pos = torch.zeros(4, 6, dtype=torch.bool)
    pos[torch.arange(4), torch.arange(4)] = True
    pos[0, 5] = True  # a second positive for row 0
    neg = ~pos
    neg[1, 2] = False  # a masked false negative
    neg[3, :] = False
    neg[3, 0] = True  # row 3 keeps a single negative
    loss = InfoNCE(temperature=0.2)(a, c, pos_mask=pos, neg_mask=neg)
    assert loss.item() == pytest.approx(naive_info_nce(a, c, pos, neg, 0.2), rel=1e-5)


def test_identical_embeddings_give_log_m():
    x = torch.ones(4, 3)
    for m in (4, 9):
        assert InfoNCE(temperature=0.05)(x, torch.ones(m, 3)).item() == pytest.approx(math.log(m), rel=1e-5)


def test_permutation_invariance_of_rows_and_negative_columns():
    torch.manual_seed(2)
    a, c = torch.randn(6, 5), torch.randn(6, 5)
    loss = InfoNCE()(a, c)
    perm = torch.randperm(6)
    assert InfoNCE()(a[perm], c[perm]).item() == pytest.approx(loss.item(), rel=1e-5)


def test_no_negatives_means_zero_loss_for_that_row():
    a = torch.randn(2, 4)
    pos = torch.eye(2, dtype=torch.bool)
    neg = torch.zeros(2, 2, dtype=torch.bool)
    assert InfoNCE()(a, a.clone(), pos, neg).item() == pytest.approx(0.0, abs=1e-6)


def test_gradients_finite_and_learnable_temperature_moves():
    torch.manual_seed(3)
    a = torch.randn(8, 16, requires_grad=True)
    c = torch.randn(8, 16, requires_grad=True)
    objective = InfoNCE(temperature=0.07, learnable_temperature=True)
    objective(a, c).backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(c.grad).all()
    assert objective.temperature.log_temperature.grad is not None
    assert torch.isfinite(objective.temperature.log_temperature.grad)


def test_bf16_autocast_no_nan():
    torch.manual_seed(4)
    layer = torch.nn.Linear(16, 16)
    x = torch.randn(32, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = layer(x)
        loss = InfoNCE(temperature=0.01)(z[:16], z[16:])
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(layer.weight.grad).all()


def test_bad_inputs_fail_with_clear_errors():
    objective = InfoNCE()
    with pytest.raises(ValueError, match="M >= N"):
        objective(torch.randn(4, 3), torch.randn(2, 3))
    with pytest.raises(ValueError, match="embedding sizes differ"):
        objective(torch.randn(4, 3), torch.randn(4, 5))
    pos = torch.zeros(2, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match="at least one positive"):
        objective(torch.randn(2, 3), torch.randn(2, 3), pos_mask=pos)
    with pytest.raises(ValueError, match="both a positive and a negative"):
        eye = torch.eye(2, dtype=torch.bool)
        objective(torch.randn(2, 3), torch.randn(2, 3), pos_mask=eye, neg_mask=eye)


def test_registry_names_what_exists():
    with pytest.raises(KeyError, match="info_nce"):
        build_objective("infonce")
    with pytest.raises(TypeError, match="tau"):
        build_objective("info_nce", tau=0.1)


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_contract_every_objective_builds_runs_and_is_deterministic(name):
    def run():
        torch.manual_seed(0)
        layer = torch.nn.Linear(8, 8)
        objective = build_objective(name)
        x = torch.randn(6, 8)
        labels = {"labels": torch.tensor([0, 0, 1, 1, 2, 3])} if name == "supcon" else {}  # SupCon needs labels
        loss = objective(layer(x), layer(x + 0.1 * torch.randn(6, 8)), **labels)
        loss.backward()
        return loss.item(), layer.weight.grad.clone()

    (l1, g1), (l2, g2) = run(), run()
    assert math.isfinite(l1) and l1 == l2 and torch.equal(g1, g2)
