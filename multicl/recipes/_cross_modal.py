"""Pieces for matching across modalities with two towers: a text tower for a few distinct texts
(each distinct row embedded once per step) and retrieval metrics between clips and words."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from multicl.modalities.text import TextAdapter


class WordTower(nn.Module):
    """The text tower for a handful of distinct texts: identical token rows in a batch go
    through ``encoder`` once per step and are copied back, so a step costs the distinct words,
    not the batch size. Nothing is cached across steps: every step runs the encoder (with
    gradient unless frozen); values and gradients equal the row-by-row computation (dropout
    then draws one mask per distinct word). ``frozen``: no gradient, always in eval mode (LiT's
    locked tower)."""

    def __init__(self, encoder: nn.Module, frozen: bool = False) -> None:
        super().__init__()
        self.encoder, self.frozen = encoder, frozen
        self.embed_dim = int(encoder.embed_dim)
        if frozen:
            encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "WordTower":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, inputs: Any) -> torch.Tensor:
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        unique, inverse = torch.unique(torch.cat([ids, mask], 1), dim=0, return_inverse=True)
        n = ids.shape[0]
        first = torch.full((unique.shape[0],), n, dtype=torch.long, device=ids.device)
        first = first.scatter_reduce(0, inverse, torch.arange(n, device=ids.device), reduce="amin")
        rows = {k: v[first] for k, v in inputs.items() if v.dim() == 2}  # (U, L) token tensors
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            z = self.encoder(rows)  # (U, D)
        return z[inverse]  # (N, D)


@torch.no_grad()
def embed_words(tower: nn.Module, text: TextAdapter, words: Sequence[str], device: str) -> np.ndarray:
    was_training = tower.training
    tower.eval()
    try:
        return tower(text.prepare_inputs(list(words)).to(device)).float().cpu().numpy()
    finally:
        tower.train(was_training)


def matching_metrics(audio_z: np.ndarray, word_z: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    """Cosine scores (clips x words). audio->text: rank of each clip's word among the words;
    text->audio: average precision of each word's ranking of the clips (relevant: its digit)."""
    a = audio_z / np.maximum(np.linalg.norm(audio_z, axis=1, keepdims=True), 1e-12)
    w = word_z / np.maximum(np.linalg.norm(word_z, axis=1, keepdims=True), 1e-12)
    scores = a @ w.T  # (Q, W)
    true = scores[np.arange(len(targets)), targets][:, None]
    rank = (scores > true).sum(1)  # 0 = first; ties count in the clip's favour
    out = {"a2t_recall@1": 100 * float((rank < 1).mean()), "a2t_recall@5": 100 * float((rank < 5).mean()),
           "a2t_mrr": 100 * float((1.0 / (rank + 1)).mean())}
    aps, p10 = [], []
    for j in np.unique(targets):
        order = np.argsort(-scores[:, j], kind="stable")
        relevant = (targets[order] == j).astype(np.float64)
        hits = np.cumsum(relevant)
        aps.append(float((hits / np.arange(1, len(order) + 1) * relevant).sum() / relevant.sum()))
        p10.append(float(relevant[:10].mean()))
    out["t2a_map"], out["t2a_precision@10"] = 100 * float(np.mean(aps)), 100 * float(np.mean(p10))
    return out
