"""TS2Vec's contextual views: two random crops of one series that overlap.

``overlapping_crops(length, rng)`` -> ``(a1, b1, a2, b2)``, half-open step ranges ``[a1, b1)``
and ``[a2, b2)`` of a series of ``length`` steps with ``a1 <= a2 < b1 <= b2``: the overlap
``[a2, b1)`` is what both views see (the loss compares the two views there, step by step); each
view also sees context the other does not. As in TS2Vec: the overlap length is uniform in
``[min_overlap, length]``, its position uniform, and each crop extends it by a uniform amount
towards its own side.
"""
from __future__ import annotations

import numpy as np


def overlapping_crops(length: int, rng: np.random.Generator, min_overlap: int = 2) -> tuple[int, int, int, int]:
    """In: a series length (steps) and a generator. Out: ``(a1, b1, a2, b2)`` as above."""
    if length < 1:
        raise ValueError(f"a series needs at least one step, got length {length}")
    low = min(max(1, min_overlap), length)  # a series shorter than min_overlap overlaps whole
    overlap = int(rng.integers(low, length + 1))
    a2 = int(rng.integers(0, length - overlap + 1))  # the overlap is [a2, b1)
    b1 = a2 + overlap
    a1 = int(rng.integers(0, a2 + 1))  # view 1 reaches left of the overlap ...
    b2 = int(rng.integers(b1, length + 1))  # ... view 2 right of it
    return a1, b1, a2, b2
