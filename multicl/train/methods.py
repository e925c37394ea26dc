"""Methods: an objective plus the learner around it, with each paper's usual defaults.

``build_learner(method, encoder, embed_dim, ...)`` is how recipes and benchmarks get
"SimCLR", "MoCo", "BYOL"... from one name. ``METHODS`` lists them.
"""
from __future__ import annotations

from torch import nn

from multicl.encoders.dino_head import DINOHead
from multicl.negatives.masks import FalseNegativePolicy
from multicl.objectives import NON_CONTRASTIVE, build_objective
from multicl.objectives.dino import DINOLoss
from multicl.objectives.swav import SwAVLoss
from multicl.train.dino import DINOLearner
from multicl.train.learner import ContrastiveLearner
from multicl.train.momentum import MomentumSchedule
from multicl.train.siamese import SiameseLearner
from multicl.train.swav import SwAVLearner

METHODS = (
    "info_nce", "multi_positive_info_nce", "nt_xent", "supcon", "dcl", "debiased", "contrastive_pair", "triplet",
    "n_pair", "logistic_pair", "moco", "byol", "simsiam", "barlow_twins", "vicreg",
    "byol_no_predictor", "simsiam_no_stop_gradient", "swav", "dino",
)
# clustering / self-distillation: take two-view batches or multi-crop ones (multicl.modalities.multi_crop)
MULTI_CROP_METHODS = frozenset({"swav", "dino"})


def mlp(in_dim: int, hidden: int, out_dim: int, batch_norm: bool = True, output_norm: bool = False) -> nn.Module:
    """Linear -> (BatchNorm) -> ReLU -> Linear, and with ``output_norm`` a BatchNorm without affine on the
    output (SimSiam's projector: without it SimSiam barely learns, tests/test_methods_learn.py)."""
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden))
    layers += [nn.ReLU(inplace=True), nn.Linear(hidden, out_dim)]
    if output_norm:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


def build_learner(
    method: str,
    encoder: nn.Module,
    embed_dim: int,
    projection_dim: int = 128,
    hidden_dim: int = 256,
    total_steps: int | None = None,
    policy: FalseNegativePolicy | None = None,
    dataset_size: int | None = None,
    queue_size: int = 4096,
    num_prototypes: int | None = None,
) -> nn.Module:
    """A learner for ``method`` on top of ``encoder`` (output ``embed_dim``).

    ``total_steps`` is no longer needed: the trainer gives momentum schedules the run length
    (``set_total_steps``). Pass it only to use a rising EMA schedule (BYOL) outside a trainer.
    ``num_prototypes``: K for SwAV (default 256) and DINO's output size (default 1024). SwAV's
    queue holds ``min(queue_size, dataset_size)`` past projections (none without ``dataset_size``).
    """
    if method not in METHODS:
        raise KeyError(f"unknown method {method!r}; available: {list(METHODS)}")
    if method == "dino":
        out_dim = num_prototypes or 1024
        head = DINOHead(embed_dim, out_dim, hidden_dim=2 * hidden_dim, bottleneck_dim=projection_dim)
        return DINOLearner(encoder, head, DINOLoss(out_dim), momentum=MomentumSchedule(0.996, 1.0, total_steps))
    projector = mlp(embed_dim, hidden_dim, projection_dim, output_norm=method.startswith("simsiam"))
    if method == "swav":
        queue = min(queue_size, dataset_size) if dataset_size else 0
        return SwAVLearner(encoder, projector, projection_dim, num_prototypes or 256, SwAVLoss(), queue_length=queue)
    if method == "moco":
        return ContrastiveLearner(
            encoder, build_objective("info_nce", temperature=0.2), head=projector, policy=policy,
            momentum=MomentumSchedule(0.99, 0.99, total_steps), queue_size=queue_size,
            embed_dim=projection_dim, dataset_size=dataset_size,
        )
    base = method.replace("_no_predictor", "").replace("_no_stop_gradient", "")
    if base in NON_CONTRASTIVE:
        objective = build_objective(base)
        if base == "byol":
            predictor = None if method.endswith("no_predictor") else mlp(projection_dim, hidden_dim, projection_dim)
            return SiameseLearner(encoder, objective, projector, predictor, momentum=MomentumSchedule(0.99, 1.0, total_steps))
        if base == "simsiam":
            return SiameseLearner(encoder, objective, projector, mlp(projection_dim, hidden_dim // 2, projection_dim),
                                  stop_gradient=not method.endswith("no_stop_gradient"))
        return SiameseLearner(encoder, objective, mlp(embed_dim, hidden_dim, hidden_dim), stop_gradient=False, symmetric=False)
    defaults = {
        "info_nce": {"temperature": 0.1}, "multi_positive_info_nce": {"temperature": 0.1}, "nt_xent": {"temperature": 0.1},
        "supcon": {"temperature": 0.1}, "dcl": {"temperature": 0.1}, "debiased": {"temperature": 0.1, "tau_plus": 0.1},
    }
    return ContrastiveLearner(encoder, build_objective(method, **defaults.get(method, {})), head=projector, policy=policy)


def build_multi_crop_learner(
    method: str,
    encoder: nn.Module,
    embed_dim: int,
    num_prototypes: int = 256,
    momentum: float = 0.99,
    teacher_temperature: tuple[float, float] = (0.04, 0.07),
    queue_length: int = 0,
) -> nn.Module:
    """DINO or SwAV around ``encoder`` as the audio and series recipes train them on multi-crop batches.

    DINO: a 3-layer head (hidden 512, bottleneck 128) *with* batch norm (without it a CNN's shared embedding
    component flattens the teacher: uniform collapse on FSDD, docs/audio.md), ``num_prototypes`` outputs, the
    teacher's EMA rising from ``momentum`` to 1, the teacher temperature warmed up over ``teacher_temperature``.
    SwAV: projector 256 -> 128, ``num_prototypes`` prototypes, a queue of ``queue_length`` past projections.
    """
    if method == "dino":
        head = DINOHead(embed_dim, num_prototypes, hidden_dim=512, bottleneck_dim=128, batch_norm=True)
        return DINOLearner(encoder, head, DINOLoss(num_prototypes), momentum=MomentumSchedule(momentum, 1.0),
                           teacher_temperature=tuple(teacher_temperature))
    if method == "swav":
        return SwAVLearner(encoder, mlp(embed_dim, 256, 128), 128, num_prototypes, SwAVLoss(), queue_length=queue_length)
    raise KeyError(f"{method!r} is not a multi-crop method; available: {sorted(MULTI_CROP_METHODS)}")
