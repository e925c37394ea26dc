"""Scored text pairs (sentence1, sentence2, score): STS-B train, SICK relatedness, your own files.

The adapter is the text adapter with one change of meaning: a sample is a *pair with a grade*,
not an anchor and its positive. Collate returns anchors = sentence1, positives = sentence2 and
the pair's ``score`` in both roles' metadata; :class:`~multicl.train.scored.ScoredPairLearner`
gives the score to a scored objective (CoSENT, AnglE, cosine regression).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from multicl.modalities.text import TextAdapter, text_group_id


@dataclass(frozen=True)
class ScoredTextPair:
    """One graded pair; ``score`` on the file's own scale (see :func:`normalise_scores`)."""

    text: str
    positive: str
    score: float


class ScoredPairAdapter(TextAdapter):
    """Text adapter for :class:`ScoredTextPair` samples (no views: the pair is the data).

    ``meta``: ``instance_id``, ``group_id`` of sentence1 and ``score`` (a float). The in-batch
    false-negative policy is not used by scored objectives (every pair has its own grade).
    """

    def views(self, sample: ScoredTextPair, rng: np.random.Generator) -> tuple[str, str]:
        return sample.text, sample.positive

    def hard_negative(self, sample, rng=None):
        return None

    def meta(self, sample: ScoredTextPair, index: int) -> dict[str, int | float]:
        return {"instance_id": index, "group_id": text_group_id(sample.text), "score": float(sample.score)}

    def mining_corpus(self, samples: Sequence[ScoredTextPair]) -> list[str]:
        return [s.text for s in samples]


def normalise_scores(pairs: Sequence[ScoredTextPair], score_range: tuple[float, float] | None = None) -> list[ScoredTextPair]:
    """Map scores to [0, 1] by ``score_range`` (default: the data's min and max), so cosine
    regression's targets and AnglE's in-batch threshold read the same on STS-B (0-5) and SICK (1-5).
    CoSENT only reads the order, which this keeps."""
    if not pairs:
        raise ValueError("no scored pairs")
    lo, hi = score_range if score_range is not None else (min(p.score for p in pairs), max(p.score for p in pairs))
    if not hi > lo:
        raise ValueError(f"every pair has the same score {lo}: nothing to learn from scored pairs")
    out = []
    for p in pairs:
        if not lo <= p.score <= hi:
            raise ValueError(f"score {p.score} of pair {p.text!r} / {p.positive!r} is outside the range {lo}..{hi}")
        out.append(ScoredTextPair(p.text, p.positive, (p.score - lo) / (hi - lo)))
    return out


def read_scored_pairs(path: str | Path) -> list[ScoredTextPair]:
    """STS-B tsv (score in column 5), SICK (relatedness_score), a 3-column (score, s1, s2) tsv, or a
    csv/tsv with a header naming sentence1, sentence2 and score (or similarity / relatedness_score /
    a GLUE-style numeric label)."""
    from multicl.data.text_files import _header_roles, _rows, read_sts, read_text
    from multicl.errors import UserInputError

    path = Path(path)
    first = read_text(path).split("\n", 1)[0]
    if "sentence_A" in first and "relatedness_score" in first:
        return [ScoredTextPair(p.sentence1, p.sentence2, p.score) for p in read_sts(path)]
    rows = _rows(path)
    if not rows:
        raise UserInputError(f"{path}: no rows")
    header_line, header = rows[0]
    roles = _header_roles(path, header, header_line) if not _is_float(header[0]) or len(header) != 3 else None
    if roles is None:  # headerless: STS-B layout or (score, s1, s2)
        return [ScoredTextPair(p.sentence1, p.sentence2, p.score) for p in read_sts(path)]
    if "score" not in roles and "label" in roles:
        roles = {("score" if r == "label" else r): i for r, i in roles.items()}
    if "score" not in roles:
        raise UserInputError(f"{path}: --mode scored needs a score column (score, similarity, relatedness_score or a "
                             f"numeric label); the header is {header}")
    out = []
    for number, row in rows[1:]:
        if len(row) <= max(roles.values()):
            raise UserInputError(f"{path} line {number}: expected {len(header)} columns as in the header, found {len(row)}")
        s1, s2, score = row[roles["anchor"]].strip(), row[roles["positive"]].strip(), row[roles["score"]].strip()
        if not s1 or not s2:
            raise UserInputError(f"{path} line {number}: empty sentence cell; fill it in or delete the row")
        if not _is_float(score):
            raise UserInputError(f"{path} line {number}: score {score!r} is not a number")
        out.append(ScoredTextPair(s1, s2, float(score)))
    return out


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False
