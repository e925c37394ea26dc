"""Objective registry: ``OBJECTIVES`` maps a name to a class; ``build_objective`` builds one.

Contrastive objectives take ``(anchors (N, D), candidates (M, D), pos_mask=None, neg_mask=None)``;
two-view ones (``nt_xent``, ``supcon``, ``dcl``) read anchors/candidates as view a/view b of the
same N samples. Non-contrastive ones (``byol``, ``simsiam``, ``barlow_twins``, ``vicreg``) take
two paired views and refuse masks. ``NON_CONTRASTIVE`` lists those.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from multicl.objectives.angle import AnglE
from multicl.objectives.barlow_twins import BarlowTwinsLoss
from multicl.objectives.byol import BYOLLoss
from multicl.objectives.cca_ssg import CCASSGLoss
from multicl.objectives.clip import CLIPLoss
from multicl.objectives.cosent import CoSENT
from multicl.objectives.cosine_regression import CosineRegression
from multicl.objectives.dcl import DCL
from multicl.objectives.debiased import DebiasedContrastive
from multicl.objectives.grace import GRACELoss
from multicl.objectives.info_nce import InfoNCE
from multicl.objectives.logistic_pair import LogisticPairLoss
from multicl.objectives.logq import LogQCLIPLoss
from multicl.objectives.matryoshka import Matryoshka
from multicl.objectives.multi_positive import MultiPositiveInfoNCE
from multicl.objectives.n_pair import NPairLoss
from multicl.objectives.nt_xent import NTXent
from multicl.objectives.pair import ContrastivePairLoss
from multicl.objectives.simsiam import SimSiamLoss
from multicl.objectives.supcon import SupCon
from multicl.objectives.temperature import Temperature, TemperatureSchedule
from multicl.objectives.triplet import TripletLoss
from multicl.objectives.vicreg import VICRegLoss

OBJECTIVES: dict[str, type[nn.Module]] = {
    "info_nce": InfoNCE,
    "multi_positive_info_nce": MultiPositiveInfoNCE,
    "nt_xent": NTXent,
    "supcon": SupCon,
    "dcl": DCL,
    "debiased": DebiasedContrastive,
    "clip": CLIPLoss,
    "clip_logq": LogQCLIPLoss,
    "contrastive_pair": ContrastivePairLoss,
    "triplet": TripletLoss,
    "n_pair": NPairLoss,
    "logistic_pair": LogisticPairLoss,
    "byol": BYOLLoss,
    "simsiam": SimSiamLoss,
    "barlow_twins": BarlowTwinsLoss,
    "vicreg": VICRegLoss,
    "grace": GRACELoss,
    "cca_ssg": CCASSGLoss,
    "cosent": CoSENT,
    "angle": AnglE,
    "cosine_regression": CosineRegression,
    "matryoshka": Matryoshka,
}

NON_CONTRASTIVE = frozenset({"byol", "simsiam", "barlow_twins", "vicreg", "cca_ssg"})
# take ``scores=`` (one per pair of anchors[i], candidates[i]); without it, masks as 1 / 0 scores
SCORED = frozenset({"cosent", "angle", "cosine_regression"})


def build_objective(name: str, **kwargs: Any) -> nn.Module:
    """Build the objective registered as ``name`` with its constructor's keyword arguments.

    Unknown names and unknown arguments fail with the list of what exists.
    """
    if name not in OBJECTIVES:
        raise KeyError(f"unknown objective {name!r}; available: {sorted(OBJECTIVES)}")
    cls = OBJECTIVES[name]
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise TypeError(f"cannot build objective {name!r} with {sorted(kwargs)}: {err}") from err


__all__ = ["OBJECTIVES", "NON_CONTRASTIVE", "SCORED", "build_objective", "Temperature", "TemperatureSchedule", *[c.__name__ for c in OBJECTIVES.values()]]
