"""A saved recommender: the user tower plus the item index, answering ``recommend(history, k)``.

Folder (written by the recommendation recipe's :func:`save_recommender`): ``recommender.json``
(item ids, tower settings), ``recommender.safetensors`` (user and item towers) and
``item_index/`` (an :class:`~multicl.models.index.EmbeddingIndex` of every catalogue item,
cold items included: they are embedded through their text).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from multicl.encoders.recommendation import ItemEncoder, UserEncoder
from multicl.errors import UserInputError
from multicl.models.index import EmbeddingIndex
from multicl.modalities.recommendation import history_inputs, item_inputs
from multicl.utils.io import atomic_write_json

CONFIG, WEIGHTS, INDEX, USERS = "recommender.json", "recommender.safetensors", "item_index", "user_features.npz"


def save_recommender(folder: str | Path, user_tower: UserEncoder, item_tower: ItemEncoder, item_ids: Sequence[str], settings: dict[str, Any],
                     backend: str = "auto", user_features: Any = None, user_ids: Sequence[str] | None = None) -> Path:
    """``user_features`` (:class:`~multicl.data.interactions.UserFeatures`, with ``user_ids``): the
    known users' feature codes are saved too, so ``recommend(history, user=id)`` can use them."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"item.{k}": v for k, v in item_tower.state_dict().items()}
    state.update({f"user.{k}": v for k, v in user_tower.state_dict().items() if not (settings["share_item_embeddings"] and k.startswith("items."))})
    save_file({k: v.detach().contiguous().cpu() for k, v in state.items()}, str(folder / WEIGHTS))
    text_dim = None if item_tower.text is None else int(item_tower.text.shape[1])
    cardinalities = [] if user_features is None else list(user_features.cardinalities)
    if user_features is not None:
        np.savez(folder / USERS, codes=user_features.codes, user_ids=np.asarray(list(user_ids), dtype=str),
                 names=np.asarray(user_features.names, dtype=str))
    atomic_write_json(folder / CONFIG, {"item_ids": list(item_ids), "text_dim": text_dim, "use_ids": item_tower.ids is not None,
                                        "feature_cardinalities": cardinalities, **settings})
    with torch.no_grad():
        z = F.normalize(item_tower.eval()(item_inputs(np.arange(len(item_ids)))), dim=-1).numpy()
    index = EmbeddingIndex(z.shape[1], modality="items", backend=backend)
    index.add(z, ids=list(item_ids))
    index.save(folder / INDEX)
    return folder


class Recommender:
    def __init__(self, user_tower: UserEncoder, item_tower: ItemEncoder, index: EmbeddingIndex, item_ids: list[str], max_history: int,
                 user_codes: dict[str, np.ndarray] | None = None) -> None:
        self.user_tower, self.item_tower, self.index = user_tower.eval(), item_tower.eval(), index
        self.item_ids, self.max_history = item_ids, max_history
        self.user_codes = user_codes or {}  # known user id -> feature codes (when trained with user features)
        self._row = {t: j for j, t in enumerate(item_ids)}
        with torch.no_grad():
            self._table = self.user_tower.items.table()  # (I, D) history-item embeddings, computed once for serving

    @classmethod
    def load(cls, folder: str | Path, backend: str | None = None) -> "Recommender":
        """``backend``: None keeps the saved index; ``exact`` / ``hnsw`` rebuild it from its vectors."""
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / CONFIG).exists():
            raise UserInputError(f"{folder} is not a saved recommender (no {CONFIG}); point at the recipe's out_dir/model")
        cfg = json.loads((folder / CONFIG).read_text())
        n = len(cfg["item_ids"])
        text = None if cfg["text_dim"] is None else torch.zeros(n, cfg["text_dim"])
        items = ItemEncoder(n, cfg["embed_dim"], text, use_ids=cfg["use_ids"])
        history_items = items if cfg["share_item_embeddings"] else ItemEncoder(n, cfg["embed_dim"], text, use_ids=cfg["use_ids"])
        users = UserEncoder(history_items, cfg["pooling"], cfg["max_history"], cfg.get("feature_cardinalities", []))
        user_codes = None
        if (folder / USERS).exists():
            saved = np.load(folder / USERS)
            user_codes = {str(u): c for u, c in zip(saved["user_ids"], saved["codes"])}
        state = load_file(str(folder / WEIGHTS))
        items.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("item.")})
        users.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("user.")}, strict=not cfg["share_item_embeddings"])
        index = EmbeddingIndex.load(folder / INDEX)
        if backend is not None:
            with torch.no_grad():
                z = F.normalize(items.eval()(item_inputs(np.arange(n))), dim=-1).numpy()
            index = EmbeddingIndex(z.shape[1], modality="items", backend=backend)
            index.add(z, ids=list(cfg["item_ids"]))
        return cls(users, items, index, list(cfg["item_ids"]), int(cfg["max_history"]), user_codes)

    def _rows(self, history: Sequence[Any]) -> np.ndarray:
        unknown = [h for h in history if str(h) not in self._row]
        if unknown:
            raise UserInputError(f"history items {unknown[:5]} are not in the catalogue of {len(self.item_ids)} items")
        return np.array([self._row[str(h)] for h in history], dtype=np.int64)

    @torch.no_grad()
    def encode_users(self, histories: Sequence[Sequence[Any]], users: Sequence[Any] | None = None) -> np.ndarray:
        """Histories of item ids (oldest first) -> (N, D) unit user embeddings. ``users``: their ids,
        for a model trained with user features (a user it does not know gets the "missing" code)."""
        rows = [self._rows(h) for h in histories]
        codes = None
        if len(self.user_tower.features):
            missing = np.zeros(len(self.user_tower.features), dtype=np.int64)
            codes = np.stack([self.user_codes.get(str(u), missing) for u in (users if users is not None else [None] * len(rows))])
        return F.normalize(self.user_tower(history_inputs(rows, self.max_history, codes), table=self._table), dim=-1).numpy()

    def recommend(self, user_history: Sequence[Any], k: int = 10, exclude_history: bool = True, user: Any = None) -> list[tuple[str, float]]:
        """The top ``k`` items (id, cosine score) for a user with this history (item ids, oldest
        first); items already in the history are skipped unless ``exclude_history=False``.
        ``user``: the user's id, when the model was trained with user features."""
        if not len(user_history):
            raise UserInputError("recommend needs at least one history item (for a new user, fall back to popularity)")
        seen = {str(h) for h in user_history} if exclude_history else set()
        ids, scores = self.index.search(self.encode_users([user_history], [user]), k=min(len(self.item_ids), k + len(seen)))
        out = [(str(i), float(s)) for i, s in zip(ids[0], scores[0]) if str(i) not in seen]
        return out[:k]
