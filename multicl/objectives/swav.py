"""SwAV's swapped-prediction loss (Caron et al. 2020)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from multicl.objectives.sinkhorn import sinkhorn_knopp


class SwAVLoss(nn.Module):
    """Predict each global crop's *code* from every other crop's prototype scores.

    Inputs: ``scores`` — one (N, K) tensor per crop (cosine scores of normalised projections
    against normalised prototypes), the ``num_global`` global crops first; ``queue_scores`` —
    optionally, per global crop, (Q, K) scores of stored past projections, appended before
    Sinkhorn so that small batches still spread over K prototypes (dropped from the codes after).
    Codes: ``sinkhorn_knopp(scores_i, epsilon, iterations)`` (no gradient); loss for global crop i
    and another crop v: ``-sum_k q_i[k] log softmax(scores_v / temperature)[k]``, averaged over
    the (crop, other crop) pairs and the batch. Output: a scalar.
    Defaults are the paper's: temperature 0.1, epsilon 0.05, 3 Sinkhorn iterations.
    """

    def __init__(self, temperature: float = 0.1, epsilon: float = 0.05, sinkhorn_iterations: int = 3) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature, self.epsilon, self.sinkhorn_iterations = temperature, epsilon, sinkhorn_iterations

    def codes(self, scores: torch.Tensor, queue_scores: torch.Tensor | None = None) -> torch.Tensor:
        """Sinkhorn codes (N, K) of one global crop's scores, with the queue's rows as extra mass."""
        n = scores.shape[0]
        full = scores.detach() if queue_scores is None else torch.cat([scores.detach(), queue_scores.detach()])
        return sinkhorn_knopp(full, self.epsilon, self.sinkhorn_iterations)[:n]

    def forward(self, scores: Sequence[torch.Tensor], num_global: int = 2,
                queue_scores: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        if not 1 <= num_global <= len(scores) or len(scores) < 2:
            raise ValueError(f"SwAV needs >= 2 crops with 1 <= num_global <= crops; got {len(scores)} crops, num_global={num_global}")
        shapes = {tuple(s.shape) for s in scores}
        if len(shapes) != 1 or scores[0].dim() != 2:
            raise ValueError(f"every crop's scores must be (N, K) of one shape, got {sorted(shapes)}")
        if queue_scores is not None and len(queue_scores) != num_global:
            raise ValueError(f"queue_scores needs one (Q, K) tensor per global crop ({num_global}), got {len(queue_scores)}")
        with torch.autocast(scores[0].device.type, enabled=False):
            log_probs = [F.log_softmax(s.float() / self.temperature, dim=1) for s in scores]
            total = scores[0].new_zeros((), dtype=torch.float32)
            for i in range(num_global):
                q = self.codes(scores[i].float(), None if queue_scores is None else queue_scores[i].float())
                others = [lp for v, lp in enumerate(log_probs) if v != i]
                total = total + sum(-(q * lp).sum(dim=1).mean() for lp in others) / len(others)
        return total / num_global
