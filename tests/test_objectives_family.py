"""Oracle tests of every objective against naive Python loops, plus analytic checks."""
import math

import pytest
import torch
import torch.nn.functional as F

from multicl.negatives.masks import masks_from_labels
from multicl.objectives import NON_CONTRASTIVE, OBJECTIVES, TemperatureSchedule, build_objective


def cos(x, y):
    return float(F.cosine_similarity(x.double(), y.double(), dim=0))


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def naive_two_view(a, b, t, pos_pairs, drop_positive=False):
    """SimCLR layout oracle: z = [a; b]; pos_pairs(i, j) says whether z_i and z_j are positives."""
    z = torch.cat([a, b])
    n2 = z.shape[0]
    rows = []
    for i in range(n2):
        others = [j for j in range(n2) if j != i]
        positives = [j for j in others if pos_pairs(i, j)]
        terms = []
        for p in positives:
            denom_set = [j for j in others if not pos_pairs(i, j)] + ([] if drop_positive else others and [x for x in others if pos_pairs(i, x)])
            denom = sum(math.exp(cos(z[i], z[j]) / t) for j in denom_set)
            terms.append(-cos(z[i], z[p]) / t + math.log(denom))
        rows.append(sum(terms) / len(terms))
    return sum(rows) / len(rows)


def test_nt_xent_oracle_and_log_2n_minus_1():
    a, b, n = rand(4, 5), rand(4, 5, seed=1), 4
    expected = naive_two_view(a, b, 0.5, lambda i, j: i % n == j % n)
    assert build_objective("nt_xent", temperature=0.5)(a, b).item() == pytest.approx(expected, rel=1e-5)
    same = torch.ones(3, 4)
    assert build_objective("nt_xent")(same, same).item() == pytest.approx(math.log(5), rel=1e-5)


def test_supcon_oracle_and_equals_nt_xent_with_instance_labels():
    a, b = rand(6, 5), rand(6, 5, seed=2)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    lab = labels.repeat(2)
    expected = naive_two_view(a, b, 0.3, lambda i, j: bool(lab[i] == lab[j]))
    assert build_objective("supcon", temperature=0.3)(a, b, labels=labels).item() == pytest.approx(expected, rel=1e-5)
    assert build_objective("supcon", temperature=0.3)(a, b, labels=torch.arange(6)).item() == pytest.approx(
        build_objective("nt_xent", temperature=0.3)(a, b).item(), rel=1e-6)
    with pytest.raises(ValueError, match="either labels or pos_mask"):
        build_objective("supcon")(a, b, pos_mask=torch.eye(6, dtype=torch.bool), labels=labels)


def test_dcl_oracle_and_identical_value():
    a, b, n = rand(4, 3), rand(4, 3, seed=3), 4
    expected = naive_two_view(a, b, 0.2, lambda i, j: i % n == j % n, drop_positive=True)
    assert build_objective("dcl", temperature=0.2)(a, b).item() == pytest.approx(expected, rel=1e-5)
    same = torch.ones(3, 2)
    assert build_objective("dcl")(same, same).item() == pytest.approx(math.log(4), rel=1e-5)


def test_multi_positive_oracle():
    a, c = rand(3, 4), rand(5, 4, seed=4)
    pos = torch.tensor([[1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 1]], dtype=torch.bool)
    t = 0.25
    expected = 0.0
    for i in range(3):
        p = sum(math.exp(cos(a[i], c[j]) / t) for j in range(5) if pos[i, j])
        q = sum(math.exp(cos(a[i], c[j]) / t) for j in range(5) if not pos[i, j])
        expected += -math.log(p / (p + q)) / 3
    assert build_objective("multi_positive_info_nce", temperature=t)(a, c, pos_mask=pos).item() == pytest.approx(expected, rel=1e-5)


def test_debiased_oracle_and_reduces_to_info_nce():
    a, c = rand(4, 6), rand(6, 6, seed=5)
    t, tau = 0.5, 0.1
    expected = 0.0
    for i in range(4):
        sp = math.exp(cos(a[i], c[i]) / t)
        negs = [math.exp(cos(a[i], c[j]) / t) for j in range(6) if j != i]
        q = len(negs)
        g = max((sum(negs) / q - tau * sp) / (1 - tau), math.exp(-1 / t))
        expected += -math.log(sp / (sp + q * g)) / 4
    assert build_objective("debiased", temperature=t, tau_plus=tau)(a, c).item() == pytest.approx(expected, rel=1e-5)
    assert build_objective("debiased", temperature=t, tau_plus=0.0)(a, c).item() == pytest.approx(
        build_objective("info_nce", temperature=t)(a, c).item(), rel=1e-5)


def test_debiased_clamp_branch_is_finite():
    a = rand(4, 6)
    c = torch.cat([a.clone(), -a.clone()])  # negatives far below: the floor exp(-1/t) binds
    loss = build_objective("debiased", temperature=0.1, tau_plus=0.5)(a, c)
    assert torch.isfinite(loss)


def test_clip_oracle_symmetric_and_learnable():
    a, b, t = rand(4, 3), rand(4, 3, seed=6), 0.07
    def direction(x, y):
        total = 0.0
        for i in range(4):
            logits = [cos(x[i], y[j]) / t for j in range(4)]
            total += -logits[i] + math.log(sum(math.exp(v) for v in logits))
        return total / 4
    objective = build_objective("clip")
    assert objective(a, b).item() == pytest.approx(0.5 * (direction(a, b) + direction(b, a)), rel=1e-5)
    assert objective.temperature.learnable


def test_contrastive_pair_oracle():
    a, c, m = rand(3, 4), rand(3, 4, seed=7), 0.8
    pos, neg = [], []
    for i in range(3):
        for j in range(3):
            d = 1 - cos(a[i], c[j])
            (pos if i == j else neg).append(d ** 2 if i == j else max(0.0, m - d) ** 2)
    expected = 0.5 * sum(pos) / len(pos) + 0.5 * sum(neg) / len(neg)
    assert build_objective("contrastive_pair", margin=m)(a, c).item() == pytest.approx(expected, rel=1e-5)
    e = build_objective("contrastive_pair", margin=m, distance="euclidean")(a, c)
    assert torch.isfinite(e)


@pytest.mark.parametrize("selection", ["all", "batch_hard", "semi_hard"])
def test_triplet_oracle(selection):
    emb = rand(6, 4, seed=8)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    pos, neg = masks_from_labels(labels)
    m = 0.3
    d = lambda i, j: 1 - cos(emb[i], emb[j])  # noqa: E731
    terms = []
    for i in range(6):
        ps = [j for j in range(6) if pos[i, j]]
        ns = [j for j in range(6) if neg[i, j]]
        if selection == "all":
            terms += [max(0.0, d(i, p) - d(i, n) + m) for p in ps for n in ns]
        elif selection == "batch_hard":
            terms.append(max(0.0, max(d(i, p) for p in ps) - min(d(i, n) for n in ns) + m))
        else:
            for p in ps:
                farther = [d(i, n) for n in ns if d(i, n) > d(i, p)]
                dn = min(farther) if farther else max(d(i, n) for n in ns)
                terms.append(max(0.0, d(i, p) - dn + m))
    expected = sum(terms) / len(terms)
    got = build_objective("triplet", margin=m, selection=selection)(emb, emb, pos_mask=pos, neg_mask=neg)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_n_pair_oracle():
    a, c, reg = rand(3, 4), rand(3, 4, seed=9), 0.01
    expected = 0.0
    for i in range(3):
        s = [float(a[i].double() @ c[j].double()) for j in range(3)]
        expected += math.log(1 + sum(math.exp(s[j] - s[i]) for j in range(3) if j != i)) / 3
    expected += reg * (float((a.double() ** 2).sum(1).mean()) + float((c.double() ** 2).sum(1).mean())) / 2
    assert build_objective("n_pair", l2_reg=reg)(a, c).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("balance", [True, False])
def test_logistic_pair_oracle(balance):
    a, c, t, bias = rand(3, 4), rand(4, 4, seed=10), 0.2, -1.0
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    pos_terms, neg_terms = [], []
    for i in range(3):
        for j in range(4):
            z = cos(a[i], c[j]) / t + bias
            (pos_terms if i == j else neg_terms).append(-math.log(sig(z)) if i == j else -math.log(sig(-z)))
    expected = (sum(pos_terms) / len(pos_terms) + sum(neg_terms) / len(neg_terms)) if balance else (sum(pos_terms) + sum(neg_terms)) / 3
    got = build_objective("logistic_pair", temperature=t, bias=bias, balance=balance)(a, c)
    assert got.item() == pytest.approx(expected, rel=1e-5)


def test_byol_and_simsiam_oracles():
    p, z = rand(4, 5), rand(4, 5, seed=11)
    byol = sum(2 - 2 * cos(p[i], z[i]) for i in range(4)) / 4
    assert build_objective("byol")(p, z).item() == pytest.approx(byol, rel=1e-5)
    assert build_objective("simsiam")(p, z).item() == pytest.approx(-sum(cos(p[i], z[i]) for i in range(4)) / 4, rel=1e-5)


def test_barlow_twins_oracle():
    a, b, lam = rand(8, 3).double(), rand(8, 3, seed=12).double(), 0.01
    za = (a - a.mean(0)) / a.std(0, unbiased=False)
    zb = (b - b.mean(0)) / b.std(0, unbiased=False)
    total = 0.0
    for i in range(3):
        for j in range(3):
            cij = sum(float(za[k, i] * zb[k, j]) for k in range(8)) / 8
            total += (1 - cij) ** 2 if i == j else lam * cij ** 2
    assert build_objective("barlow_twins", lambda_offdiag=lam)(a.float(), b.float()).item() == pytest.approx(total, rel=1e-4)


def test_vicreg_oracle():
    a, b = rand(6, 3).double(), rand(6, 3, seed=13).double()
    inv = float(((a - b) ** 2).mean())
    var = cov = 0.0
    for z in (a, b):
        z = z - z.mean(0)
        std = torch.sqrt(z.var(0) + 1e-4)
        var += float(torch.relu(1 - std).mean()) / 2
        c = z.T @ z / 5
        cov += sum(float(c[i, j]) ** 2 for i in range(3) for j in range(3) if i != j) / 3
    expected = 25 * inv + 25 * var + 1 * cov
    assert build_objective("vicreg")(a.float(), b.float()).item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("name", sorted(NON_CONTRASTIVE))
def test_non_contrastive_objectives_refuse_masks(name):
    with pytest.raises(ValueError, match="non-contrastive"):
        build_objective(name)(rand(4, 3), rand(4, 3), pos_mask=torch.eye(4, dtype=torch.bool))


@pytest.mark.parametrize("name", sorted(OBJECTIVES))
def test_every_objective_permutation_invariant_finite_and_bf16_safe(name):
    a, b = rand(8, 6, seed=20), rand(8, 6, seed=21)
    objective = build_objective(name)
    perm = torch.randperm(8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 4])
    kw, kw_perm = ({"labels": labels}, {"labels": labels[perm]}) if name == "supcon" else ({}, {})  # SupCon needs labels
    assert objective(a[perm], b[perm], **kw_perm).item() == pytest.approx(objective(a, b, **kw).item(), rel=1e-4, abs=1e-6)
    layer = torch.nn.Linear(6, 6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = objective(layer(a), layer(b), **kw)
    assert torch.isfinite(loss)
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in layer.parameters())


def test_temperature_schedule_moves_the_temperature():
    objective = build_objective("info_nce", temperature=TemperatureSchedule(0.2, 0.05, total_steps=10, kind="linear"))
    assert float(objective.temperature()) == pytest.approx(0.2)
    objective.temperature.after_step(5)
    assert float(objective.temperature()) == pytest.approx(0.125)
    objective.temperature.after_step(50)
    assert float(objective.temperature()) == pytest.approx(0.05)
    with pytest.raises(ValueError, match="linear or cosine"):
        TemperatureSchedule(0.1, 0.2, 5, kind="step")


def test_supcon_without_labels_refuses_instead_of_becoming_nt_xent():
    a, b = rand(4, 3), rand(4, 3)
    with pytest.raises(ValueError, match="SupCon needs labels.*nt_xent"):
        build_objective("supcon")(a, b)
    # an explicit instance-level pos_mask is still allowed (and is NT-Xent, on purpose)
    eye = torch.eye(4, dtype=torch.bool)
    assert build_objective("supcon", temperature=0.3)(a, b, pos_mask=eye).item() == pytest.approx(
        build_objective("nt_xent", temperature=0.3)(a, b).item(), rel=1e-5)


CONTRASTIVE = sorted(set(OBJECTIVES) - NON_CONTRASTIVE)


def _masked_inputs(name, rows_without_negatives, n=4, d=5):
    """(anchors, candidates, kwargs) for ``name`` with the given rows' negatives all masked out."""
    anchors = rand(n, d, seed=30).requires_grad_(True)
    candidates = rand(n, d, seed=31).requires_grad_(True)
    pos = torch.eye(n, dtype=torch.bool)
    neg = ~pos
    for row in rows_without_negatives:
        neg[row] = False
    kwargs = {"pos_mask": pos, "neg_mask": neg}
    return anchors, candidates, kwargs


@pytest.mark.parametrize("name", CONTRASTIVE)
@pytest.mark.parametrize("rows", [(1,), (0, 2), (0, 1, 2, 3)], ids=["one_row", "two_rows", "every_row"])
def test_rows_without_negatives_give_finite_loss_and_gradients(name, rows):
    anchors, candidates, kwargs = _masked_inputs(name, rows)
    loss = build_objective(name)(anchors, candidates, **kwargs)
    assert torch.isfinite(loss), f"{name}: loss {loss.item()} with rows {rows} lacking negatives"
    loss.backward()
    for tensor in (anchors, candidates):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all()
    if len(rows) == 4 and name != "n_pair":  # (N-pair keeps its L2 norm penalty)
        assert loss.item() == 0.0  # nothing to contrast anywhere: no loss
        assert float(anchors.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("name", ["info_nce", "multi_positive_info_nce", "dcl", "nt_xent", "supcon", "debiased"])
def test_rows_without_negatives_are_left_out_of_the_mean(name):
    anchors, candidates, kwargs = _masked_inputs(name, (1,))
    objective = build_objective(name)
    with_row = objective(anchors, candidates, **kwargs)
    keep = torch.tensor([0, 2, 3])
    if getattr(objective, "two_view", False):
        # two-view rows are samples: masking sample 1's negatives (both views' rows) == dropping it
        kwargs["neg_mask"][:, 1] = False
        with_row = objective(anchors, candidates, **kwargs)
        without = objective(anchors[keep], candidates[keep], pos_mask=torch.eye(3, dtype=torch.bool))
    else:
        without = objective(anchors[keep], candidates, pos_mask=kwargs["pos_mask"][keep], neg_mask=kwargs["neg_mask"][keep])
    assert with_row.item() == pytest.approx(without.item(), rel=1e-5)
