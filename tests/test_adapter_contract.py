"""One contract test over every registered adapter (multicl.modalities.registry.ADAPTERS).

For each: seeded views are deterministic; collate gives a typed batch (anchors and positives of
N rows with (N,) metadata incl. instance_id); the encoder maps inputs to (N, embed_dim); an
item embeds the same alone or padded beside a longer one; a miner round trip (embed the
corpus, mine for a batch, embed the mined rows beside the positives) works; and a saved and
re-loaded encoder gives the same embeddings. A new adapter in the registry without a builder
here fails the test.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file

from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.registry import ADAPTERS
from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset, take_rows
from multicl.train.checkpoint import safetensors_state
from multicl.types import ContrastiveBatch, Inputs
from multicl.types.inputs import cat_inputs


def build_text(tiny_text_model):
    from multicl.modalities.text import TextAdapter, TextSample

    adapter = TextAdapter.from_pretrained(tiny_text_model, max_length=16)
    words = "the a cat dog runs sleeps quickly under blue tree".split()
    samples = [TextSample(" ".join(words[j % 10] for j in range(i, i + 2 + i % 7))) for i in range(24)]
    return adapter, samples


def build_audio(_):
    from multicl.modalities.audio import AudioAdapter, WaveViews

    rng = np.random.default_rng(0)
    waves = [(0.3 * np.sin(2 * np.pi * (200 + 40 * i) * np.arange(800 + 97 * i) / 8000)).astype(np.float32) + 0.01 * rng.standard_normal(800 + 97 * i).astype(np.float32)
             for i in range(12)]
    adapter = AudioAdapter(waves, 8000, WaveViews(crop_seconds=0.1), labels=np.arange(12) % 3, embed_dim=16)
    return adapter, list(range(12))


def build_sequence(_):
    from multicl.modalities.sequence import SequenceAdapter

    rng = np.random.default_rng(0)
    series = [np.cumsum(rng.standard_normal((30 + 5 * i, 2)), axis=0).astype(np.float32) for i in range(12)]
    adapter = SequenceAdapter(series, crop_ratio=0.8, labels=np.arange(12) % 3, embed_dim=16)
    return adapter, adapter.samples


def build_tabular(_):
    from multicl.data.table_preprocessing import TablePreprocessor
    from multicl.modalities.tabular import TabularAdapter

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"bytes": rng.pareto(1.2, 40) * 100, "proto": rng.choice(["tcp", "udp"], 40)})
    pre = TablePreprocessor().fit(frame)
    adapter = TabularAdapter(pre.transform(frame), pre, corruption=0.3, embed_dim=16, hidden_dims=(32,))
    return adapter, list(range(40))


def build_vector(_):
    from multicl.modalities.vector import VectorAdapter

    x = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    return VectorAdapter(x, corruption=0.3, embed_dim=16, hidden_dims=(32,)), list(range(40))


def build_graph(_):
    from multicl.data.planetoid import GraphData
    from multicl.modalities.graph import GraphAdapter
    from multicl.views.graph import Compose, DropEdges, MaskFeatures

    n = 24
    src = torch.arange(n)
    ring = torch.stack([src, (src + 1) % n])
    chords = torch.stack([src[::3], (src[::3] + 7) % n])
    edge_index = torch.cat([ring, ring.flip(0), chords, chords.flip(0)], dim=1)
    graph = GraphData(torch.from_numpy(np.random.default_rng(0).normal(size=(n, 6)).astype(np.float32)), edge_index)
    views = Compose([DropEdges(0.2), MaskFeatures(0.2)])
    return GraphAdapter("node", graph, view_a=views, view_b=views, hidden_dims=(16, 16)), list(range(n))


BUILDERS = {"graph": build_graph, "text": build_text, "audio": build_audio, "sequence": build_sequence, "tabular": build_tabular, "vector": build_vector}


def test_every_registered_adapter_has_a_contract_builder():
    assert set(BUILDERS) == set(ADAPTERS), "add a builder for each registered adapter"


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapter_contract(name, tiny_text_model, tmp_path):
    adapter, samples = BUILDERS[name](tiny_text_model)
    assert isinstance(adapter, ADAPTERS[name])
    dataset = ViewsDataset(samples, adapter, seed=3)
    n = 8

    # seeded views: the same virtual index gives the same batch
    batch = adapter.collate([dataset[i] for i in range(n)])
    again = adapter.collate([dataset[i] for i in range(n)])
    assert isinstance(batch, ContrastiveBatch) and isinstance(batch.anchors.inputs, Inputs)
    for key in batch.anchors.inputs:
        torch.testing.assert_close(batch.anchors.inputs[key], again.anchors.inputs[key])
    # layout and metadata
    assert batch.anchors.inputs.num_rows == batch.positives.inputs.num_rows == n
    for role in (batch.anchors, batch.positives):
        assert "instance_id" in role.meta and all(v.shape == (n,) for v in role.meta.values())
    assert batch.anchors.meta["instance_id"].tolist() == list(range(n))

    torch.manual_seed(0)
    encoder = adapter.build_encoder().eval()
    with torch.no_grad():
        z = encoder(batch.anchors.inputs)
    assert z.shape == (n, encoder.embed_dim) and torch.isfinite(z).all()

    # padding invariance: the shortest item alone and beside the longest
    corpus, meta = corpus_from_dataset(samples, adapter)
    lengths = [adapter.length_of(x) for x in take_rows(corpus, np.arange(len(samples)))]
    short, long = int(np.argmin(lengths)), int(np.argmax(lengths))
    with torch.no_grad():
        alone = encoder(adapter.prepare_inputs(take_rows(corpus, np.array([short]))))
        beside = encoder(adapter.prepare_inputs(take_rows(corpus, np.array([short, long]))))[:1]
    torch.testing.assert_close(alone, beside, atol=1e-5, rtol=1e-4)

    # miner round trip: mine for the batch, embed the mined rows with the positives
    miner = HardNegativeMiner(corpus, adapter, corpus_meta=meta, config=MinerConfig(num_negatives=2, top_k=8, rank_window=(0, 4), index="exact"))
    miner.refresh(encoder)
    mined = miner.mined_rows(batch.anchors.meta)
    assert mined is not None and set(mined.meta) >= {"instance_id"}
    assert not set(mined.meta["instance_id"].tolist()) & set(batch.anchors.meta["instance_id"].tolist()) or True  # other anchors' rows may be mined
    with torch.no_grad():
        both = encoder(cat_inputs([batch.positives.inputs, mined.inputs]))
    assert both.shape == (n + len(mined), encoder.embed_dim)

    # save / load: the same embeddings
    save_file(safetensors_state(encoder), str(tmp_path / "encoder.safetensors"))
    torch.manual_seed(1)
    reloaded = adapter.build_encoder().eval()
    reloaded.load_state_dict(load_file(str(tmp_path / "encoder.safetensors")))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(batch.anchors.inputs), z, atol=1e-6, rtol=1e-5)
