"""Collapse monitor: alignment, uniformity, effective rank and per-dimension spread of the
embeddings of a fixed probe batch, logged every N steps, with an early-stop rule.

Alignment and uniformity follow Wang & Isola (ICML 2020) on L2-normalised embeddings:
    alignment  = E ||f(x) - f(x+)||^2 over positive pairs      (lower: views agree)
    uniformity = log E exp(-2 ||f(x) - f(y)||^2) over all pairs (lower: spread on the sphere;
                 0 when every embedding is the same point)
Effective rank (Roy & Vetterli 2007) = exp(entropy of the normalised singular values).
``dim_std`` = mean over dimensions of the std of normalised embeddings (1/sqrt(D) when spread
evenly, 0 when collapsed).

The rule: collapse is uniformity rising towards 0 while the training loss keeps falling —
the loss is being "solved" by mapping everything to one point. It fires when uniformity has
risen more than ``uniformity_rise`` above its best value and the loss has fallen over the last
``window`` measurements, or when ``dim_std`` falls below ``min_dim_std``.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    z1, z2 = F.normalize(z1.float(), dim=-1), F.normalize(z2.float(), dim=-1)
    return float((z1 - z2).norm(dim=1).pow(alpha).mean())


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    z = F.normalize(z.float(), dim=-1)
    sq = torch.pdist(z).pow(2)
    return float(torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel()))


def effective_rank(z: torch.Tensor) -> float:
    s = torch.linalg.svdvals(z.float() - z.float().mean(0))
    p = s / s.sum().clamp(min=1e-12)
    entropy = -(p * (p + 1e-12).log()).sum()
    return float(entropy.exp())


def dim_std(z: torch.Tensor) -> float:
    return float(F.normalize(z.float(), dim=-1).std(0).mean())


def embedding_health(z1: torch.Tensor, z2: torch.Tensor) -> dict[str, float]:
    z = torch.cat([z1, z2])
    return {
        "alignment": alignment(z1, z2),
        "uniformity": uniformity(z),
        "effective_rank": effective_rank(z),
        "dim_std": dim_std(z),
    }


class CollapseDetected(Exception):
    """Raised inside the trainer to stop a run whose embeddings collapsed."""


@dataclass
class CollapseMonitor:
    """Measures embedding health on ``probe_batch`` every ``every`` steps.

    Args:
        probe_batch: a collated batch (two views of a fixed set of samples).
        every: steps between measurements.
        uniformity_rise: how far (in nats) uniformity may rise above its best before it counts.
        window: measurements over which the loss must have fallen for the rule to fire.
        min_dim_std: an absolute floor for ``dim_std`` (None: off).
        stop: raise :class:`CollapseDetected` when the rule fires (False: only log it).
        use_head: measure the projection head's output instead of the encoder's.
    """

    probe_batch: Any  # a ContrastiveBatch (adapter.collate of probe items)
    every: int = 50
    uniformity_rise: float = 0.5
    window: int = 3
    min_dim_std: float | None = None
    stop: bool = True
    use_head: bool = False
    history: list[dict[str, float]] = field(default_factory=list)
    fired: str | None = None

    @torch.no_grad()
    def measure(self, learner: torch.nn.Module, device: torch.device) -> dict[str, float]:
        batch = self.probe_batch  # a ContrastiveBatch: its anchors and positives are the two views
        was_training = learner.training
        learner.eval()
        try:
            embed = learner.embed if self.use_head else learner.encoder
            a = embed(batch.anchors.inputs.to(device))
            b = embed(batch.positives.inputs.to(device))
        finally:
            learner.train(was_training)
        return embedding_health(a, b)

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to decide as the uninterrupted one would: past measurements
        and whether the rule fired (the probe batch and settings come from the constructor)."""
        return {"history": [dict(h) for h in self.history], "fired": self.fired}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [{k: float(v) for k, v in h.items()} for h in state.get("history", [])]
        self.fired = state.get("fired")

    def check(self, step: int, health: dict[str, float], loss: float) -> str | None:
        """Record a measurement; return the reason when the collapse rule fires."""
        self.history.append({"step": step, "loss": loss, **health})
        best_uniformity = min(h["uniformity"] for h in self.history)
        reason = None
        if len(self.history) > self.window:
            past_loss = self.history[-1 - self.window]["loss"]
            rose = health["uniformity"] - best_uniformity
            if rose > self.uniformity_rise and loss < past_loss:
                reason = (
                    f"collapse at step {step}: uniformity rose to {health['uniformity']:.3f} "
                    f"({rose:+.3f} above its best {best_uniformity:.3f}) while the loss fell from "
                    f"{past_loss:.4f} to {loss:.4f}; effective rank {health['effective_rank']:.1f}, "
                    f"dim_std {health['dim_std']:.4f}"
                )
        if reason is None and self.min_dim_std is not None and health["dim_std"] < self.min_dim_std:
            reason = f"collapse at step {step}: dim_std {health['dim_std']:.5f} below {self.min_dim_std}"
        if reason and self.fired is None:
            self.fired = reason
            logger.warning(reason)
        return reason
