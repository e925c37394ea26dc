"""ContrastiveLearner: towers + candidate sources + one false-negative policy + objective -> loss.

Per step: each source may hand rows to embed (explicit hard negatives, mined rows); the towers
embed anchors and every candidate row (one forward pass when a single tower has gradient);
embeddings, never inputs, are split back by role; the sources' blocks are folded into one
candidate pool after the in-batch positives; the policy masks every block alike; the objective
gets ``(anchors (N, D), candidates (M, D), pos_mask, neg_mask)``. ``last_stats`` says, per
source, how many candidates it gave and how many each rule removed.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.miner import HardNegativeMiner
from multicl.negatives.logit_offsets import pool_logit_offsets
from multicl.negatives.pool import EmptyPoolWarning, fold_candidates
from multicl.negatives.sources import (
    CandidateBlock,
    CandidateSource,
    ExplicitHardNegatives,
    InBatchNegatives,
    MinedNegatives,
    QueueNegatives,
    StepContext,
)
from multicl.train.momentum import MomentumSchedule
from multicl.train.towers import Tower, TowerLearner, Towers
from multicl.objectives.base import trusted_masks
from multicl.types.batch import ContrastiveBatch, RoleBatch
from multicl.types.hooks import StepHook
from multicl.types.inputs import cat_inputs


EmbedRoles = Callable[[ContrastiveBatch, list[RoleBatch]], tuple[torch.Tensor, torch.Tensor]]


class ContrastiveLearner(TowerLearner):
    """Args:
        encoder: the anchor tower's encoder (every role's, without ``candidate_encoder``).
        objective: a contrastive objective (``info_nce``, ``triplet``, ...); ``two_view`` ones
            (NT-Xent, SupCon, DCL) read the in-batch block only.
        head: training-only projection of the anchor tower.
        policy: the one :class:`FalseNegativePolicy` for every source.
        candidate_encoder / candidate_head: a second tower for positives and negatives (two
            towers, possibly another modality).
        momentum: the candidate side becomes an EMA copy (MoCo's key encoder).
        sources: candidate sources after the in-batch block (default: the batch's explicit
            hard negatives). ``queue_size`` and ``miner`` are shortcuts that append a
            :class:`QueueNegatives` / :class:`MinedNegatives`.
        in_batch_negatives: use the other anchors' positives as negatives.
        queue_size: MoCo's queue length (0: none); ``dataset_size`` checks it is smaller.
        embed_dim: the queue's key size (default: the encoder's ``embed_dim``).
        freeze_candidate: lock the candidate tower (no gradient, eval mode): one trainable
            tower against a pretrained one (LiT).
    """

    def __init__(
        self,
        encoder: nn.Module,
        objective: nn.Module,
        head: nn.Module | None = None,
        policy: FalseNegativePolicy | None = None,
        momentum: MomentumSchedule | None = None,
        queue_size: int = 0,
        embed_dim: int | None = None,
        dataset_size: int | None = None,
        miner: HardNegativeMiner | None = None,
        candidate_encoder: nn.Module | None = None,
        candidate_head: nn.Module | None = None,
        sources: Sequence[CandidateSource] | None = None,
        in_batch_negatives: bool = True,
        freeze_candidate: bool = False,
    ) -> None:
        super().__init__()
        if candidate_encoder is None and (candidate_head is not None or freeze_candidate):
            raise ValueError("candidate_head / freeze_candidate need candidate_encoder (a second tower)")
        candidate = Tower(candidate_encoder, candidate_head, frozen=freeze_candidate) if candidate_encoder is not None else None
        self.towers = Towers(Tower(encoder, head), candidate, momentum)
        self.objective = objective
        self.policy = policy if policy is not None else FalseNegativePolicy()
        self.two_view = bool(getattr(objective, "two_view", False))
        self.uses_labels = bool(getattr(objective, "uses_labels", False))
        self.uses_logit_offsets = bool(getattr(objective, "uses_logit_offsets", False))  # logQ-corrected objectives
        self.in_batch = InBatchNegatives(use_as_negatives=in_batch_negatives)
        extra = list(sources) if sources is not None else [ExplicitHardNegatives()]
        if queue_size:
            if dataset_size is not None and queue_size >= dataset_size:
                raise ValueError(
                    f"queue_size={queue_size} >= dataset size {dataset_size}: the queue would hold keys of the "
                    f"anchors' own samples (masked as false negatives, leaving few real negatives); use a queue "
                    f"well below the dataset size"
                )
            dim = embed_dim or getattr(candidate_encoder or encoder, "embed_dim", None)
            if dim is None:
                raise ValueError("a queue needs embed_dim (the head's output size)")
            extra.append(QueueNegatives(queue_size, dim, meta_keys=tuple(self.policy_meta_keys())))
        if miner is not None:
            extra.append(MinedNegatives(miner))
        if self.two_view and any(not isinstance(s, ExplicitHardNegatives) for s in extra):
            names = [s.name for s in extra if not isinstance(s, ExplicitHardNegatives)]
            raise ValueError(f"{type(objective).__name__} compares two views only; sources {names} need "
                             f"info_nce-style objectives (use info_nce with a queue for MoCo)")
        names = [s.name for s in extra]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate sources need distinct names, got {names}")
        self.sources = list(extra)
        # sources that are modules (a queue's buffers) are registered so they are checkpointed
        self.source_modules = nn.ModuleList([s for s in extra if isinstance(s, nn.Module)])
        for source in self.sources:
            source.bind(self._embed_queries_eval, self._embed_corpus_eval, self._device)
        self._stats: dict[str, float | torch.Tensor] = {}
        self.empty_pool = EmptyPoolWarning()

    # -- the pieces the trainer and exporters read ---------------------------------------------------
    @property
    def candidate_encoder(self) -> nn.Module:
        """The candidate tower's encoder (the anchor's when shared)."""
        return self.towers.online_candidate.encoder

    def training_hooks(self) -> list[StepHook]:
        hooks: list[StepHook] = []
        momentum = self.towers.momentum_hook()
        if momentum is not None:
            hooks.append(momentum)
        for source in self.sources:
            hooks.extend(source.training_hooks())
        hooks.extend(m for m in self.objective.modules() if isinstance(m, StepHook))  # temperature schedules
        return hooks

    def policy_meta_keys(self) -> list[str]:
        """What candidates must carry for the policy (the policy says: extra rules add their keys)."""
        return self.policy.meta_keys()

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    @torch.no_grad()
    def _embed_queries_eval(self, inputs) -> torch.Tensor:
        return self._in_eval(self.towers.embed_anchors, inputs)

    @torch.no_grad()
    def _embed_corpus_eval(self, inputs) -> torch.Tensor:
        return self._in_eval(self.towers.online_candidate, inputs)

    def _in_eval(self, fn, inputs) -> torch.Tensor:
        was_training = self.training
        self.eval()  # no dropout / batch statistics in index embeddings
        try:
            return fn(inputs)
        finally:
            self.train(was_training)

    # -- one step ----------------------------------------------------------------------------------
    def forward(self, batch: ContrastiveBatch, embed: EmbedRoles | None = None) -> torch.Tensor:
        """``embed(batch, candidate_roles) -> (anchors (N, D), candidates)``: how the roles are
        embedded (default: the towers, in one pass when fused); GradCache passes its cached
        version. Everything after embedding (sources, pool, policy, objective) is the same."""
        n = batch.num_anchors
        if self.two_view and batch.hard_negatives is not None:
            raise ValueError(f"{type(self.objective).__name__} compares two views; explicit hard negatives need info_nce-style objectives")
        source_rows = [source.rows(batch) for source in self.sources]
        candidate_roles = [batch.positives] + [r for r in source_rows if r is not None]
        anchors, candidate_z = (embed or self._embed)(batch, candidate_roles)
        keys, offset, embedded = candidate_z[:n], n, []
        for rows in source_rows:
            if rows is None:
                embedded.append(None)
                continue
            embedded.append(candidate_z[offset : offset + len(rows)])
            offset += len(rows)
        context = StepContext(batch, anchors, keys)
        blocks: list[tuple[str, CandidateBlock]] = [(self.in_batch.name, self.in_batch.block(context, None, None))]
        for source, rows, z in zip(self.sources, source_rows, embedded):
            block = source.block(context, rows, z)
            if block is not None and len(block):
                blocks.append((source.name, block))
        loss = self._loss(batch, anchors, blocks)
        for source in self.sources:
            source.after_loss(context)
        return loss

    def _embed(self, batch: ContrastiveBatch, candidate_roles) -> tuple[torch.Tensor, torch.Tensor]:
        n = batch.num_anchors
        if self.towers.fused:
            z = self.towers.embed_anchors(cat_inputs([batch.anchors.inputs] + [r.inputs for r in candidate_roles]))
            return z[:n], z[n:]
        anchors = self.towers.embed_anchors(batch.anchors.inputs)
        return anchors, self.towers.embed_candidates(cat_inputs([r.inputs for r in candidate_roles]))

    def _loss(self, batch: ContrastiveBatch, anchors: torch.Tensor, blocks: list[tuple[str, CandidateBlock]]) -> torch.Tensor:
        pool = fold_candidates(anchors, batch.anchors.meta, blocks, self.policy, self.in_batch.use_as_negatives)
        self.empty_pool.check(pool)
        for source in self.sources:
            pool.stats.update(source.stats())
        self._stats = pool.stats
        with trusted_masks():  # the pool's masks hold by construction: no value checks (host synchronisations)
            return self._objective(batch, anchors, blocks, pool)

    def _objective(self, batch: ContrastiveBatch, anchors: torch.Tensor, blocks: list[tuple[str, CandidateBlock]], pool) -> torch.Tensor:
        n = anchors.shape[0]
        if self.two_view:
            if self.uses_labels:  # SupCon: labels from the metadata; without them it raises (never NT-Xent by accident)
                labels = batch.anchors.meta.get("label")
                return self.objective(anchors, pool.candidates[:n], neg_mask=pool.neg_mask[:, :n],
                                      labels=None if labels is None else labels.to(anchors.device))
            return self.objective(anchors, pool.candidates[:n], pos_mask=pool.pos_mask[:, :n], neg_mask=pool.neg_mask[:, :n])
        if self.uses_logit_offsets:  # logQ correction: per-candidate offsets carried in the metadata
            return self.objective(anchors, pool.candidates, pos_mask=pool.pos_mask, neg_mask=pool.neg_mask,
                                  logit_offset=pool_logit_offsets(blocks, anchors.device),
                                  anchor_logit_offset=batch.anchors.meta.get("logit_offset"))
        return self.objective(anchors, pool.candidates, pos_mask=pool.pos_mask, neg_mask=pool.neg_mask)

    @property
    def last_stats(self) -> dict[str, float | torch.Tensor]:
        """Figures of the last forward (0-d device tensors; ``float()`` them to read): candidates
        per source, what each rule masked per anchor, negatives per anchor. Reading them is when
        the empty-pool warning is decided (the trainer reads them at logging intervals)."""
        self.empty_pool.flush()
        return self._stats

    @last_stats.setter
    def last_stats(self, value: dict[str, float | torch.Tensor]) -> None:
        self._stats = value

    @property
    def empty_batches(self) -> int:
        """Batches where the policy removed every negative."""
        return self.empty_pool.empty_batches
