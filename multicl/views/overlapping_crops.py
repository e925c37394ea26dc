"""TS2Vec's contextual views: two random crops of one series that overlap.

``overlapping_crops(length, rng)`` -> ``(a1, b1, a2, b2)``, half-open step ranges ``[a1, b1)``
and ``[a2, b2)`` of a series of ``length`` steps with ``a1 <= a2 < b1 <= b2``: the overlap
``[a2, b1)`` is what both views see (the loss compares the two views there, step by step); each
view also sees context the other does not. As in TS2Vec: the overlap length is uniform in
``[min_overlap, length]``, its position uniform, and each crop extends it by a uniform amount
towards its own side.

``batch_overlapping_crops(lengths, rng)`` is TS2Vec's own rule for a batch: one crop geometry drawn for the whole
batch (every row the same overlap length and the same view lengths; the shortest series bounds it) and a random
offset per row, so every anchor has the same number of negatives at every step.
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


def batch_overlapping_crops(lengths: list[int], rng: np.random.Generator, min_overlap: int = 2) -> list[tuple[int, int, int, int]]:
    """In: the batch's series lengths and a generator. Out: one ``(a1, b1, a2, b2)`` per row (as above), all with the
    same ``b1 - a2`` (overlap), ``b1 - a1`` and ``b2 - a2``: the geometry drawn once on the shortest length, then
    shifted per row to a uniform position inside that row's series (TS2Vec's ``crop_offset``)."""
    if not lengths or min(lengths) < 1:
        raise ValueError(f"every series needs at least one step, got lengths {lengths}")
    a1, b1, a2, b2 = overlapping_crops(min(lengths), rng, min_overlap)
    out = []
    for length in lengths:
        shift = int(rng.integers(-a1, length - b2 + 1))  # the pair of views anywhere inside this row
        out.append((a1 + shift, b1 + shift, a2 + shift, b2 + shift))
    return out
