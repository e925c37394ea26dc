"""Per-candidate logit offsets carried in candidate metadata (logQ correction).

A candidate block may carry ``meta["logit_offset"]`` ((M,) or (N, M)): a value the objective
*subtracts* from that candidate's logit. For the sampled-softmax / in-batch bias (Yi et al.
2019, "Sampling-bias-corrected neural modeling"), the offset is ``log q(item)``, the item's
probability of being drawn as a candidate: popular items, over-represented among in-batch
negatives, get their logits lowered. Blocks without the key contribute 0.
"""
from __future__ import annotations

import torch

from multicl.data.interactions import log_sampling_probability  # noqa: F401  (re-exported: log q from counts)

from multicl.negatives.sources.base import CandidateBlock


def pool_logit_offsets(blocks: list[tuple[str, CandidateBlock]], device: torch.device) -> torch.Tensor | None:
    """The pool's offsets in pool column order: (M,) or (N, M) if any block is per anchor;
    None when no block carries ``logit_offset``."""
    if not any("logit_offset" in b.meta for _, b in blocks):
        return None
    parts = [b.meta["logit_offset"].to(device, torch.float32) if "logit_offset" in b.meta
             else torch.zeros(len(b), device=device) for _, b in blocks]
    if any(p.ndim == 2 for p in parts):
        n = next(p.shape[0] for p in parts if p.ndim == 2)
        parts = [p if p.ndim == 2 else p.reshape(1, -1).expand(n, -1) for p in parts]
    return torch.cat(parts, dim=-1)
