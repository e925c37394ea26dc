"""One text training example (a plain record: the text adapter turns it into views)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextSample:
    """One training example.

    Unsupervised: only ``text`` (both views are made from it). Supervised: ``text`` and its
    ``positive`` (e.g. an entailed hypothesis), optionally a ``hard_negative`` (a contradiction).
    """

    text: str
    positive: str | None = None
    hard_negative: str | None = None
    label: int | None = None
