"""Hard-negative mining for text pairs: known paraphrases, and the miner's corpus and queries.

Supervised pairs say more than "a is b's positive": every sentence linked to ``a`` by a chain of
pairs (STS-B pairs scored >= 4, NLI entailments, duplicate questions) is a paraphrase of it as
far as the data knows. :func:`paraphrase_clusters` joins them (union-find); used as ``label``
with ``FalseNegativePolicy(same_label=True)``, no sentence of an anchor's cluster is its negative,
in the batch or mined. :func:`pair_mining_data` lays out what
:class:`~multicl.negatives.miner.HardNegativeMiner` searches: the queries are the training
anchors (query ``i`` = training sample ``i``), the corpus every distinct sentence (extra
sentences first, then the training rows' own), each query's positive is a corpus row (the
positive-aware thresholds read its similarity; it is never mined).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Iterable, Sequence

import numpy as np

from multicl.data.text_sample import TextSample
from multicl.modalities.text import text_group_id


def paraphrase_clusters(pairs: Iterable[tuple[str, str]], texts: Iterable[str] = ()) -> dict[str, int]:
    """``text -> cluster id`` for every text in ``pairs`` and ``texts``: two texts share an id
    exactly when a chain of pairs joins them. Ids are 0, 1, ... in order of first appearance
    (``texts`` first), so the result does not depend on hashing."""
    parent: dict[str, str] = {}

    def find(t: str) -> str:
        parent.setdefault(t, t)
        root = t
        while parent[root] != root:
            root = parent[root]
        while parent[t] != root:  # path compression
            parent[t], t = root, parent[t]
        return root

    order: list[str] = list(texts)
    for a, b in pairs:
        order += (a, b)
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[ra] = rb
    ids: dict[str, int] = {}
    out: dict[str, int] = {}
    for t in order:
        if t not in out:
            out[t] = ids.setdefault(find(t), len(ids))
    return out


@dataclass(frozen=True)
class PairMiningData:
    """Inputs of a :class:`~multicl.negatives.miner.HardNegativeMiner` over text pairs."""

    corpus: list[str]
    corpus_meta: dict[str, np.ndarray]
    queries: list[str]
    query_meta: dict[str, np.ndarray]
    positive_ids: np.ndarray


def pair_mining_data(samples: Sequence[TextSample], extra_sentences: Sequence[str] = ()) -> PairMiningData:
    """Corpus, queries and metadata for mining over supervised pairs.

    Args:
        samples: training pairs (``text`` = anchor, ``positive`` set); each one's ``label`` is
            its cluster id (set it with :func:`label_by_paraphrase_cluster`) or None.
        extra_sentences: more candidates (an unlabelled corpus); blank ones are skipped.
    Corpus candidates get ``instance_id`` -1, -2, ... (never a training sample, so only their
    text and cluster can exclude them), ``group_id`` from the normalised text and, when every
    sample has one, ``label``: the cluster of the anchor whose text it is (else its own).
    """
    if not samples:
        raise ValueError("pair_mining_data needs at least one training pair")
    missing = [i for i, s in enumerate(samples) if s.positive is None]
    if missing:
        raise ValueError(f"pair_mining_data needs (anchor, positive) pairs; samples {missing[:5]} have no positive")
    own = [t for s in samples for t in (s.text, s.positive, s.hard_negative) if t is not None]
    corpus = list(dict.fromkeys(t for t in (*extra_sentences, *own) if t.strip()))
    row = {t: i for i, t in enumerate(corpus)}
    corpus_meta = {"instance_id": -1 - np.arange(len(corpus), dtype=np.int64),
                   "group_id": np.array([text_group_id(t) for t in corpus], dtype=np.int64)}
    query_meta = {"instance_id": np.arange(len(samples), dtype=np.int64),
                  "group_id": np.array([text_group_id(s.text) for s in samples], dtype=np.int64)}
    if all(s.label is not None for s in samples):
        known = {s.text: int(s.label) for s in samples} | {s.positive: int(s.label) for s in samples}
        # a sentence outside every pair is its own cluster: a unique id after the largest training label
        offset = max(known.values()) + 1
        corpus_meta["label"] = np.array([known.get(t, offset + i) for i, t in enumerate(corpus)], dtype=np.int64)
        query_meta["label"] = np.array([int(s.label) for s in samples], dtype=np.int64)
    return PairMiningData(corpus, corpus_meta, [s.text for s in samples], query_meta,
                          np.array([row[s.positive] for s in samples], dtype=np.int64))


def label_by_paraphrase_cluster(samples: Sequence[TextSample]) -> list[TextSample]:
    """The samples with ``label`` = the paraphrase cluster of their (anchor, positive) pair."""
    clusters = paraphrase_clusters((s.text, s.positive) for s in samples if s.positive is not None)
    return [replace(s, label=clusters[s.text]) if s.positive is not None else s for s in samples]
