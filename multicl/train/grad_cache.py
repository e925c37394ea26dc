"""GradCache: a contrastive step whose activation memory is one mini-batch's, not the batch's.

Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup" (2021);
sentence-transformers' ``CachedMultipleNegativesRankingLoss`` does the same for one loss.
Here it wraps any :class:`~multicl.train.learner.ContrastiveLearner` (every tower layout, every
candidate source, every objective), without changing it:

1. **embed without gradient**, ``chunk`` rows at a time, recording each mini-batch's RNG state
   (CPU and the CUDA device's) so dropout can be drawn again;
2. **loss on cached embeddings**: the learner's own ``forward`` runs with its embedding step
   replaced by (1), whose output is a leaf tensor; ``backward`` of the loss stops at the
   embeddings (and reaches the objective's own parameters, e.g. a learnable temperature) and
   leaves ``d loss / d embedding`` on the leaf;
3. **replay** every mini-batch with gradient under its recorded RNG state and
   ``backward(embedding_chunk, cached_grad_chunk)``; parameter gradients accumulate chunk by
   chunk and sum to the uncached loss's gradient (exactly, up to float rounding, when the
   chunks see the same dropout masks; see ``tests/test_grad_cache.py``).

What it supports and what it refuses:

* towers: shared (one fused pass over all roles, chunked), two towers (each chunked), momentum
  / frozen candidate towers (embedded once without gradient, never replayed);
* distributed: the loss's own backward already runs the autograd all-gather of
  :class:`~multicl.negatives.sources.GatheredNegatives`; parameter gradients are then averaged
  over ranks by :func:`multicl.utils.distributed.average_gradients` after the last replay, at
  steps that synchronise (accelerate's ``sync_gradients``). The replays call the unwrapped
  learner, so DDP's reducer never fires during them (the ``no_sync`` of the recipe, without
  needing one forward per chunk through the DDP wrapper);
* precision: fp32 and bf16 need nothing; fp16's loss scale is applied once, by
  ``accelerator.backward(loss)`` in step 2, so the cached gradients already carry it and the
  replays (plain ``backward`` with them) scale every parameter gradient by the same factor,
  which the GradScaler unscales and checks for inf/NaN as usual (an overflow in a replay skips
  the step like any other). The cached gradient is kept in float32 and cast to the
  embedding's dtype for the replay. accelerate divides the loss by ``grad_accum_steps``, so
  accumulation composes as well;
* BatchNorm in a tower with gradient is refused: each mini-batch would get its own batch
  statistics (a different function than the uncached loss) and its running statistics would be
  updated twice (embed and replay). Use LayerNorm, or no GradCache.

Cost: one extra forward pass (about 1.3x to 2.4x the time, as sentence-transformers reports);
memory: the embeddings of the whole batch plus one chunk's activations.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any, Callable, Iterator

import torch
from torch import nn

from multicl.train.learner import ContrastiveLearner
from multicl.types.inputs import cat_inputs


class RandomState:
    """The CPU generator's state and, for CUDA inputs, that device's: what dropout draws from."""

    def __init__(self, devices: tuple[torch.device, ...]) -> None:
        self.cpu = torch.get_rng_state()
        self.cuda = {d.index: torch.cuda.get_rng_state(d) for d in devices if d.type == "cuda"}

    def restore(self) -> None:
        torch.set_rng_state(self.cpu)
        for index, state in self.cuda.items():
            torch.cuda.set_rng_state(state, index)


def _devices(inputs: Any) -> tuple[torch.device, ...]:
    values = inputs.values() if isinstance(inputs, Mapping) else ()  # TensorInputs; other Inputs: CPU RNG only
    return tuple({v.device for v in values if isinstance(v, torch.Tensor)})


@dataclass
class _Chunk:
    embed: Callable[[Any], torch.Tensor]
    inputs: Any
    rng: RandomState
    start: int  # rows [start, stop) of its leaf
    stop: int


@dataclass
class _Leaf:
    value: torch.Tensor  # float32 leaf requiring grad
    dtype: torch.dtype  # the tower's output dtype (autocast), for the replay's gradient
    chunks: list[_Chunk]


def _has_grad(module: nn.Module) -> bool:
    return any(p.requires_grad for p in module.parameters())


def check_grad_cache_supported(learner: nn.Module) -> None:
    """Refuse layouts GradCache would silently change: BatchNorm in a tower with gradient."""
    if not isinstance(learner, ContrastiveLearner):
        raise TypeError(f"GradCache needs a ContrastiveLearner, got {type(learner).__name__}")
    towers = learner.towers
    trained = [towers.anchor] + ([towers.candidate] if towers.candidate is not None else [])
    for tower in trained:
        if not _has_grad(tower):
            continue
        for name, module in tower.named_modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                raise ValueError(
                    f"grad_cache_chunk with BatchNorm ({name or type(module).__name__}) is not the uncached loss: each "
                    f"mini-batch would use its own batch statistics and update the running ones twice; use "
                    f"LayerNorm in the encoder, or train without grad_cache_chunk"
                )


class GradCache:
    """``GradCache(learner, chunk).step(batch, backward)`` -> the loss (detached), with every
    parameter's gradient accumulated as ``backward(learner(batch))`` would.

    Args:
        learner: a ContrastiveLearner (not the DDP wrapper).
        chunk: rows per mini-batch of the embedding passes (fused towers chunk the stacked
            anchors + candidates, i.e. ``2 * batch_size`` rows and more).
    """

    def __init__(self, learner: nn.Module, chunk: int) -> None:
        if chunk < 1:
            raise ValueError(f"grad_cache_chunk must be >= 1, got {chunk}")
        check_grad_cache_supported(learner)
        self.learner = learner
        self.chunk = int(chunk)
        self._leaves: list[_Leaf] = []

    # -- pass 1: embeddings without gradient --------------------------------------------------
    def _cached(self, embed: Callable[[Any], torch.Tensor], inputs: Any, replay: bool) -> torch.Tensor:
        rows = inputs.num_rows
        parts, chunks = [], []
        for start in range(0, rows, self.chunk):
            stop = min(start + self.chunk, rows)
            sub = inputs if (start == 0 and stop == rows) else inputs.select(torch.arange(start, stop))
            rng = RandomState(_devices(sub))
            with torch.no_grad():
                parts.append(embed(sub))
            chunks.append(_Chunk(embed, sub, rng, start, stop))
        z = torch.cat(parts) if len(parts) > 1 else parts[0]
        if not replay:  # no gradient reaches this tower: a constant, never replayed
            return z
        leaf = z.detach().float().requires_grad_(True)
        self._leaves.append(_Leaf(leaf, z.dtype, chunks))
        return leaf

    def _embed(self, batch, candidate_roles) -> tuple[torch.Tensor, torch.Tensor]:
        """Stands in for ``ContrastiveLearner._embed`` (same split of rows by role)."""
        towers, n = self.learner.towers, batch.num_anchors
        candidates = cat_inputs([r.inputs for r in candidate_roles])
        if towers.fused:
            z = self._cached(towers.embed_anchors, cat_inputs([batch.anchors.inputs, candidates]), replay=True)
            return z[:n], z[n:]
        anchors = self._cached(towers.embed_anchors, batch.anchors.inputs, replay=_has_grad(towers.anchor))
        replay_candidates = towers.momentum is None and _has_grad(towers.online_candidate)
        return anchors, self._cached(towers.embed_candidates, candidates, replay=replay_candidates)

    # -- the step -------------------------------------------------------------------------------
    def step(self, batch, backward: Callable[[torch.Tensor], None] | None = None,
             autocast: Callable[[], Any] | None = None) -> torch.Tensor:
        """Run one cached step on ``batch``; ``backward(loss)`` (default ``loss.backward()``;
        the trainer passes ``accelerator.backward``) is applied to the loss of the cached
        embeddings, then every mini-batch is replayed. Returns the detached loss."""
        backward = backward or (lambda loss: loss.backward())
        autocast = autocast or _null
        self._leaves = []
        try:
            with autocast():
                loss = self.learner(batch, embed=self._embed)
            devices = {d for leaf in self._leaves for c in leaf.chunks for d in _devices(c.inputs)}
            after_pass = RandomState(tuple(devices))
            if not torch.isfinite(loss.detach()):
                return loss.detach()  # the caller raises; nothing to replay
            backward(loss)
            for leaf in self._leaves:
                if leaf.value.grad is None:  # the loss did not use these embeddings
                    continue
                grad = leaf.value.grad
                for chunk in leaf.chunks:
                    chunk.rng.restore()
                    with autocast():
                        z = chunk.embed(chunk.inputs)
                    torch.autograd.backward(z, grad[chunk.start : chunk.stop].to(z.dtype))
            after_pass.restore()  # the RNG stream continues from the end of the pass without gradient
        finally:
            self._leaves = []
        return loss.detach()


@contextmanager
def _null() -> Iterator[None]:
    yield
