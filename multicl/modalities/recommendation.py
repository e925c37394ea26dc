"""Users (their history) paired with the items they interacted with: the recommendation adapter.

A sample is a training interaction ``k`` (user u, item i). The anchor view is u's history: the
other training items of u (never i itself), at most ``max_history`` of them drawn at random
and kept in time order; the positive view is i. Metadata for the one false-negative policy and
the logQ-corrected objective:
  anchors    ``instance_id`` u (the user: two interactions of one user in a batch are never each
             other's negatives, and a miner finds its query by it), ``group_id`` i, ``seen_items`` (N, L): every training item of u
             (-1 padded), ``logit_offset`` log q(u);
  positives  ``instance_id`` u, ``group_id`` i and ``item_id`` i (the same item elsewhere in the
             batch is an accidental hit: ``same_group``), ``logit_offset`` log q(i).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from multicl.modalities.base import Adapter
from multicl.data.interactions import log_sampling_probability
from multicl.types.batch import ContrastiveBatch, RoleBatch
from multicl.types.inputs import TensorInputs


def history_inputs(histories: Sequence[np.ndarray], max_history: int, features: np.ndarray | None = None) -> TensorInputs:
    """Item-index histories (oldest first) -> ``history`` (N, L) keeping the most recent
    ``max_history``, -1 padded on the right; with ``features`` (N, F) codes, also ``features``."""
    length = max(1, min(max_history, max((len(h) for h in histories), default=1)))
    out = torch.full((len(histories), length), -1, dtype=torch.long)
    for r, h in enumerate(histories):
        h = np.asarray(h[-max_history:], dtype=np.int64)
        out[r, : len(h)] = torch.from_numpy(h)
    tensors = {"history": out}
    if features is not None:
        tensors["features"] = torch.as_tensor(np.asarray(features, dtype=np.int64))
    return TensorInputs(tensors, pad_values={"history": -1})


def item_inputs(items: Sequence[int] | np.ndarray) -> TensorInputs:
    return TensorInputs({"item": torch.as_tensor(np.asarray(items, dtype=np.int64))})


class InteractionAdapter(Adapter):
    """Args:
        users / items: (E,) training interactions (indices); ``histories[u]``: u's training items
            in time order.
        num_users / num_items: sizes (item counts give log q).
        max_history: items in an anchor view.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, histories: Sequence[np.ndarray], num_items: int,
                 max_history: int = 100, user_features: np.ndarray | None = None) -> None:
        if len(users) == 0:
            raise ValueError("no training interactions")
        self.users, self.items = np.asarray(users), np.asarray(items)
        self.histories = [np.asarray(h) for h in histories]
        self.max_history = max_history
        self.user_features = user_features  # (U, F) codes or None
        self.item_log_q = torch.as_tensor(log_sampling_probability(np.bincount(self.items, minlength=num_items)), dtype=torch.float32)
        self.user_log_q = torch.as_tensor(log_sampling_probability(np.bincount(self.users, minlength=len(histories))), dtype=torch.float32)

    @property
    def samples(self) -> list[int]:
        return list(range(len(self.users)))

    def views(self, sample: int, rng: np.random.Generator) -> tuple[Any, Any]:
        u, i = int(self.users[sample]), int(self.items[sample])
        others = self.histories[u][self.histories[u] != i]
        if len(others) > self.max_history:
            others = others[np.sort(rng.choice(len(others), self.max_history, replace=False))]
        return others, i

    def meta(self, sample: Any, index: int) -> dict[str, int | float]:
        return {"instance_id": int(sample)}

    def prepare_inputs(self, raw: Sequence[Any]) -> TensorInputs:
        return item_inputs(raw)

    def build_encoder(self):
        raise NotImplementedError("the recommendation recipe builds its towers (multicl.encoders.recommendation)")

    def collate(self, items: Sequence[dict[str, Any]]) -> ContrastiveBatch:
        rows = torch.tensor([it["meta"]["instance_id"] for it in items], dtype=torch.long)
        users = torch.as_tensor(self.users[rows.numpy()])
        positives = torch.as_tensor(self.items[rows.numpy()])
        seen = history_inputs([self.histories[int(u)] for u in users], max_history=10**9)["history"]
        features = None if self.user_features is None else self.user_features[users.numpy()]
        anchors = RoleBatch(history_inputs([it["view_a"] for it in items], self.max_history, features),
                            {"instance_id": users, "group_id": positives, "seen_items": seen,
                             "logit_offset": self.user_log_q[users]})
        candidates = RoleBatch(item_inputs(positives.numpy()),
                               {"instance_id": users, "group_id": positives, "item_id": positives,
                                "logit_offset": self.item_log_q[positives]})
        return ContrastiveBatch(anchors, candidates)


class HistoryAdapter(Adapter):
    """Prepares user histories (item-index arrays) for a miner's queries (``query_adapter``)."""

    def __init__(self, max_history: int) -> None:
        self.max_history = max_history

    def views(self, sample: Any, rng: np.random.Generator) -> tuple[Any, Any]:
        return sample, sample

    def meta(self, sample: Any, index: int) -> dict[str, int | float]:
        return {"instance_id": index}

    def prepare_inputs(self, raw: Sequence[Any]) -> TensorInputs:
        return history_inputs(list(raw), self.max_history)

    def build_encoder(self):
        raise NotImplementedError("see multicl.encoders.recommendation.UserEncoder")


def item_mining_setup(histories: Sequence[np.ndarray], num_items: int) -> dict[str, Any]:
    """What :class:`~multicl.negatives.miner.HardNegativeMiner` needs to mine items for users:
    corpus = every item (``instance_id`` -(j+1), never a user's; ``group_id`` = ``item_id`` = j),
    queries = the users' training histories (``instance_id`` u, ``seen_items``: mined items the
    user already has are dropped by the policy's ``exclude_seen``)."""
    items = np.arange(num_items, dtype=np.int64)
    seen = history_inputs(histories, max_history=10**9)["history"]
    return {"corpus": items, "corpus_meta": {"instance_id": -(items + 1), "group_id": items, "item_id": items},
            "queries": list(histories), "query_meta": {"instance_id": np.arange(len(histories)), "seen_items": seen.numpy(),
                                                       "group_id": np.full(len(histories), -1)}}
