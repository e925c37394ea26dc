"""Every single-modality adapter, by name (the contract test runs over all of them).

:class:`~multicl.modalities.paired.PairedAdapter` composes two of these and is not listed.
"""
from __future__ import annotations

from multicl.modalities.audio import AudioAdapter
from multicl.modalities.base import Adapter
from multicl.modalities.graph import GraphAdapter
from multicl.modalities.sequence import SequenceAdapter
from multicl.modalities.tabular import TabularAdapter
from multicl.modalities.text import TextAdapter
from multicl.modalities.vector import VectorAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    "text": TextAdapter,
    "audio": AudioAdapter,
    "sequence": SequenceAdapter,
    "tabular": TabularAdapter,
    "vector": VectorAdapter,
    "graph": GraphAdapter,
}


def adapter_class(name: str) -> type[Adapter]:
    if name not in ADAPTERS:
        raise KeyError(f"unknown modality {name!r}; available: {sorted(ADAPTERS)}")
    return ADAPTERS[name]
