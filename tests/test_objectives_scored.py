"""Scored-pair objectives (CoSENT, AnglE, cosine regression) against naive loops and the published formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from multicl.objectives import OBJECTIVES, SCORED, AnglE, CoSENT, CosineRegression, build_objective
from multicl.objectives.angle import pairwise_angle_similarity, rowwise_angle_similarity


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def cos(x, y):
    return float(F.cosine_similarity(x.double(), y.double(), dim=0))


def naive_cosent(sims, scores, lam):
    """log(1 + sum over pairs with score_i > score_j of exp(lam (s_j - s_i)))."""
    total = 1.0
    for i in range(len(sims)):
        for j in range(len(sims)):
            if scores[i] > scores[j]:
                total += math.exp(lam * (sims[j] - sims[i]))
    return math.log(total)


def naive_angle_sim(x, y):
    """AnglE's complex division written out per coordinate (the reference code's steps)."""
    x, y = x.double().tolist(), y.double().tolist()
    h = len(x) // 2
    a, b, c, d = x[:h], x[h:], y[:h], y[h:]
    z = sum(ci ** 2 + di ** 2 for ci, di in zip(c, d))
    re = [(ai * ci + bi * di) / z for ai, bi, ci, di in zip(a, b, c, d)]
    im = [(bi * ci - ai * di) / z for ai, bi, ci, di in zip(a, b, c, d)]
    dz = math.sqrt(sum(ai ** 2 + bi ** 2 for ai, bi in zip(a, b)))
    dw = math.sqrt(z)
    return abs(sum(r / (dz / dw) for r in re) + sum(i / (dz / dw) for i in im))


def naive_info_nce_rows(a, b, rows, scale):
    """In-batch InfoNCE over the given rows: positive b_i, negatives every other b_j."""
    terms = []
    for i in rows:
        logits = [scale * cos(a[i], b[j]) for j in range(b.shape[0])]
        terms.append(-logits[i] + math.log(sum(math.exp(v) for v in logits)))
    return sum(terms) / len(terms) if terms else 0.0


SCORES = torch.tensor([4.8, 0.5, 3.0, 3.0, 1.2, 5.0, 2.2, 0.0])


def test_cosent_matches_naive_loop_and_published_formula():
    a, b = rand(8, 6, seed=1), rand(8, 6, seed=2)
    sims = [cos(a[i], b[i]) for i in range(8)]
    for lam in (20.0, 5.0):
        got = CoSENT(scale=lam)(a, b, scores=SCORES).item()
        assert got == pytest.approx(naive_cosent(sims, SCORES.tolist(), lam), rel=1e-5)


def test_cosent_uses_only_the_order_of_scores_and_ties_add_nothing():
    a, b = rand(8, 6, seed=3), rand(8, 6, seed=4)
    loss = CoSENT()(a, b, scores=SCORES)
    assert CoSENT()(a, b, scores=SCORES / 5).item() == pytest.approx(loss.item(), rel=1e-6)  # [0, 1] scale
    assert CoSENT()(a, b, scores=SCORES * 2 + 7).item() == pytest.approx(loss.item(), rel=1e-6)
    tied = torch.full((8,), 3.0, requires_grad=False)
    x = a.clone().requires_grad_(True)
    zero = CoSENT()(x, b, scores=tied)
    zero.backward()
    assert zero.item() == 0.0 and float(x.grad.abs().sum()) == 0.0


def test_cosent_perfect_ranking_has_small_loss_reverse_has_large():
    scores = torch.arange(6.0)
    # pair i: cosine grows with i
    angles = torch.linspace(1.5, 0.05, 6)
    a = torch.stack([torch.tensor([1.0, 0.0]) for _ in range(6)])
    b = torch.stack([torch.tensor([math.cos(t), math.sin(t)]) for t in angles])
    good = CoSENT()(a, b, scores=scores).item()
    bad = CoSENT()(a, b, scores=scores.flip(0)).item()
    assert good < 0.5 and bad > 10 * good and bad > 5


def test_cosent_equals_sentence_transformers_formula_vectorised():
    """The sentence-transformers CoSENTLoss computation, written out (scores * 20, mask, logsumexp)."""
    a, b = rand(8, 6, seed=6), rand(8, 6, seed=7)
    s = F.cosine_similarity(a, b) * 20
    s = s[:, None] - s[None, :]
    labels = (SCORES[:, None] < SCORES[None, :]).float()
    s = s - (1 - labels) * 1e12
    ref = torch.logsumexp(torch.cat((torch.zeros(1), s.view(-1))), dim=0)
    assert CoSENT()(a, b, scores=SCORES).item() == pytest.approx(ref.item(), rel=1e-5)


def test_angle_similarity_matches_the_reference_steps():
    x, y = rand(5, 8, seed=8), rand(5, 8, seed=9)
    row = rowwise_angle_similarity(x, y)
    for i in range(5):
        assert row[i].item() == pytest.approx(naive_angle_sim(x[i], y[i]), rel=1e-5)
    full = pairwise_angle_similarity(x, y)
    for i in range(5):
        for j in range(5):
            assert full[i, j].item() == pytest.approx(naive_angle_sim(x[i], y[j]), rel=1e-5)
    assert torch.allclose(pairwise_angle_similarity(x, y).diagonal(), row, atol=1e-6)
    # odd sizes: a zero imaginary part is appended
    x5, y5 = rand(3, 5, seed=10), rand(3, 5, seed=11)
    padded = rowwise_angle_similarity(F.pad(x5, (0, 1)), F.pad(y5, (0, 1)))
    assert torch.allclose(rowwise_angle_similarity(x5, y5), padded)


def test_angle_loss_is_the_weighted_sum_of_its_three_published_terms():
    a, b = rand(8, 6, seed=12), rand(8, 6, seed=13)
    scores01 = SCORES / 5
    sims = [cos(a[i], b[i]) for i in range(8)]
    angle = [naive_angle_sim(a[i], b[i]) for i in range(8)]
    rows = [i for i in range(8) if scores01[i] >= 0.8]
    assert rows == [0, 5]
    cos_t = naive_cosent(sims, scores01.tolist(), 20.0)
    ang_t = naive_cosent(angle, scores01.tolist(), 1.0)
    ibn_t = naive_info_nce_rows(a, b, rows, 20.0)
    assert AnglE()(a, b, scores=scores01).item() == pytest.approx(cos_t + ibn_t + ang_t, rel=1e-5)
    weighted = AnglE(cosine_weight=0.5, ibn_weight=2.0, angle_weight=0.25)(a, b, scores=scores01).item()
    assert weighted == pytest.approx(0.5 * cos_t + 2.0 * ibn_t + 0.25 * ang_t, rel=1e-5)
    # sentence-transformers' AnglELoss: the angle term alone at scale 20
    st = AnglE(cosine_weight=0, ibn_weight=0, angle_scale=20.0)(a, b, scores=scores01).item()
    assert st == pytest.approx(naive_cosent(angle, scores01.tolist(), 20.0), rel=1e-5)


def test_cosine_regression_matches_mse_loop():
    a, b = rand(8, 6, seed=14), rand(8, 6, seed=15)
    target = (SCORES / 5).tolist()
    expected = sum((cos(a[i], b[i]) - target[i]) ** 2 for i in range(8)) / 8
    assert CosineRegression()(a, b, scores=SCORES / 5).item() == pytest.approx(expected, rel=1e-5)
    assert CosineRegression(score_range=(0, 5))(a, b, scores=SCORES).item() == pytest.approx(expected, rel=1e-5)
    l1 = sum(abs(cos(a[i], b[i]) - target[i]) for i in range(8)) / 8
    assert CosineRegression(loss="l1")(a, b, scores=SCORES / 5).item() == pytest.approx(l1, rel=1e-5)


def test_mask_mode_ranks_positives_above_negatives():
    """Without scores: pos cells are score 1, neg cells score 0, over the whole matrix."""
    a, c = rand(4, 6, seed=16), rand(6, 6, seed=17)
    pos = torch.zeros(4, 6, dtype=torch.bool)
    pos[torch.arange(4), torch.arange(4)] = True
    neg = ~pos
    neg[1, 2] = False  # an ignored cell
    sims = [[cos(a[i], c[j]) for j in range(6)] for i in range(4)]
    cells = [(i, j) for i in range(4) for j in range(6) if pos[i, j] or neg[i, j]]
    flat = [sims[i][j] for i, j in cells]
    flat_scores = [1.0 if pos[i, j] else 0.0 for i, j in cells]
    assert CoSENT()(a, c, pos, neg).item() == pytest.approx(naive_cosent(flat, flat_scores, 20.0), rel=1e-5)
    mse = sum((s - t) ** 2 for s, t in zip(flat, flat_scores)) / len(flat)
    assert CosineRegression()(a, c, pos, neg).item() == pytest.approx(mse, rel=1e-5)
    angle = [naive_angle_sim(a[i], c[j]) for i, j in cells]
    ibn = build_objective("info_nce", temperature=0.05)(a, c, pos, neg).item()
    expected = naive_cosent(flat, flat_scores, 20.0) + ibn + naive_cosent(angle, flat_scores, 1.0)
    assert AnglE()(a, c, pos, neg).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", sorted(SCORED))
def test_scored_objectives_finite_in_bf16_and_at_extremes(name):
    layer = torch.nn.Linear(6, 6)
    a, b = rand(16, 6, seed=18), rand(16, 6, seed=19)
    scores = torch.rand(16, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = build_objective(name)(layer(a), layer(b), scores=scores)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())
    # identical pairs, huge scale: no overflow (logsumexp), and zero vectors do not give NaN
    x = torch.ones(4, 6, requires_grad=True)
    big = build_objective(name)(x, torch.zeros(4, 6), scores=torch.tensor([0.0, 1.0, 0.5, 0.2]))
    big.backward()
    assert torch.isfinite(big) and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", sorted(SCORED))
def test_scored_objectives_refuse_bad_inputs(name):
    objective = build_objective(name)
    with pytest.raises(ValueError, match="same shape"):
        objective(rand(4, 3), rand(5, 3), scores=torch.rand(4))
    with pytest.raises(ValueError, match="one per pair"):
        objective(rand(4, 3), rand(4, 3), scores=torch.rand(3))
    with pytest.raises(ValueError, match="not both"):
        objective(rand(4, 3), rand(4, 3), pos_mask=torch.eye(4, dtype=torch.bool), scores=torch.rand(4))
    with pytest.raises(ValueError, match="NaN"):
        objective(rand(4, 3), rand(4, 3), scores=torch.tensor([0.1, float("nan"), 0.2, 0.3]))
    assert name in OBJECTIVES


def test_scored_objectives_learn_a_ranking():
    """A few steps of CoSENT on a linear map raise the Spearman of cosines vs scores."""
    from scipy.stats import spearmanr

    torch.manual_seed(0)
    x, y = rand(64, 8, seed=20), rand(64, 8, seed=21)
    scores = F.cosine_similarity(x[:, :2], y[:, :2])  # the truth lives in 2 of 8 coordinates
    layer = torch.nn.Linear(8, 8)
    opt = torch.optim.Adam(layer.parameters(), lr=0.05)
    start = spearmanr(F.cosine_similarity(layer(x), layer(y)).detach(), scores).statistic
    for _ in range(60):
        opt.zero_grad()
        CoSENT()(layer(x), layer(y), scores=scores).backward()
        opt.step()
    end = spearmanr(F.cosine_similarity(layer(x), layer(y)).detach(), scores).statistic
    assert end > start + 0.2 and end > 0.8


def test_angle_similarity_equals_sentence_transformers_pairwise_angle_sim():
    from sentence_transformers import util  # a pinned dependency: CI has it
    x, y = rand(6, 10, seed=30), rand(6, 10, seed=31)
    assert torch.allclose(rowwise_angle_similarity(x, y), util.pairwise_angle_sim(x, y), rtol=1e-5, atol=1e-6)
    assert torch.allclose(rowwise_cosine_for_test(x, y), util.pairwise_cos_sim(x, y), atol=1e-6)


def rowwise_cosine_for_test(x, y):
    from multicl.objectives.cosent import rowwise_cosine

    return rowwise_cosine(x, y)
