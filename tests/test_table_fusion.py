"""The fused table model: its raw block is the raw-feature baselines' vector, its output is the security
recipe's concat probe features, its cosine weighs the blocks as documented, and it saves and loads."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from multicl import EmbeddingModel
from multicl.data.table_preprocessing import TablePreprocessor
from multicl.encoders.tabular import FeatureTokenTransformer, TabularMLPEncoder
from multicl.encoders.tabular_fusion import TableRawFusionEncoder, learned_table_encoder
from multicl.eval.probe import join_unit_blocks
from multicl.models.encoders import fuse_table_encoder
from multicl.modalities.tabular import TabularAdapter, encode_table
from multicl.recipes.security_threat import concat_features, raw_features


def frame(n=30, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"bytes": rng.pareto(1.2, n) * 100, "proto": rng.choice(["tcp", "udp", "icmp"], n),
                         "flag": rng.choice(["SF", "S0"], n), "port": rng.integers(0, 5, n).astype(float)})


def cos(a):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return a @ a.T


@pytest.mark.parametrize("kind", ["mlp", "ft_transformer"])
def test_fused_rows_are_the_concat_probe_features(kind):
    torch.manual_seed(0)
    rows = frame()
    pre = TablePreprocessor().fit(rows)
    table = pre.transform(rows)
    if kind == "mlp":
        encoder = TabularMLPEncoder(pre.numeric_width, pre.cardinalities, embed_dim=8, hidden_dims=(16,)).eval()
    else:
        encoder = FeatureTokenTransformer(pre.numeric_width, pre.cardinalities, embed_dim=8, token_dim=8, depth=1, heads=2).eval()
    z, raw = encode_table(encoder, table), raw_features(table, pre.cardinalities)
    fused = fuse_table_encoder(encoder).eval()
    assert fused.embed_dim == 8 + raw.shape[1]
    np.testing.assert_allclose(encode_table(fused, table), join_unit_blocks(z, raw), atol=1e-5)
    half = fuse_table_encoder(encoder, weight=0.5).eval()
    np.testing.assert_allclose(cos(encode_table(half, table)), (cos(z) + 0.25 * cos(raw)) / 1.25, atol=1e-5)
    # the recipe's concat probes, made from embeddings already computed, are the saved model's output
    np.testing.assert_allclose(concat_features(z, raw, 0.5), encode_table(half, table), atol=1e-5)


def test_fused_table_model_round_trip_and_bad_weights(tmp_path):
    torch.manual_seed(0)
    rows = frame()
    pre = TablePreprocessor().fit(rows)
    adapter = TabularAdapter(pre.transform(rows), pre, corruption=0.3, embed_dim=8, hidden_dims=(16,))
    fused = fuse_table_encoder(adapter.build_encoder(), weight=0.7).eval()
    expected = encode_table(fused, pre.transform(rows))
    EmbeddingModel.from_adapter(adapter, fused).save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert meta["encoder"]["class"] == "TableRawFusionEncoder" and meta["encoder"]["args"]["weight"] == 0.7
    assert meta["encoder"]["args"]["encoder_class"] == "TabularMLPEncoder"
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    assert model.modality == "table" and model.embed_dim == fused.embed_dim
    np.testing.assert_allclose(model.encode(rows), expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-5)
    _, scores = model.index(rows).search(rows.iloc[:4], k=1)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)  # each row finds itself (or an identical row)
    # the trained encoder inside the loaded model gives the SSL embedding alone (the benchmarks' study input)
    inner = learned_table_encoder(model.encoder)
    np.testing.assert_allclose(encode_table(inner, pre.transform(rows)), encode_table(fused.encoder, pre.transform(rows)), atol=1e-5)
    assert learned_table_encoder(fused.encoder) is fused.encoder  # a plain encoder is its own
    with pytest.raises(ValueError, match="weight"):
        TableRawFusionEncoder("TabularMLPEncoder", meta["encoder"]["args"]["encoder_args"], weight=0.0)
    with pytest.raises(ValueError, match="encoder_class"):
        TableRawFusionEncoder("TCNEncoder", {}, weight=1.0)
