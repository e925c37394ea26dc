"""The fused series model: the raw block is the raw 1-NN baseline's vector, padding never changes
it, its cosine weighs the two blocks as documented, and a saved model keeps the fitted statistics."""
import json

import numpy as np
import pytest
import torch

from multicl.encoders.series_fusion import SeriesRawFusionEncoder, resample_valid_steps
from multicl.encoders.ts2vec import TS2VecEncoder
from multicl.modalities.batching import encode_in_length_order
from multicl.modalities.sequence import SequenceAdapter
from multicl.recipes._sequence_eval import resample

ARGS = {"in_channels": 2, "embed_dim": 8, "hidden": 6, "depth": 2}


def series(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.standard_normal((9 + 4 * i, 2)), axis=0).astype(np.float32) for i in range(n)]


def random_ts2vec():
    """-> (series, their adapter, a seeded random-init TS2Vec in eval mode, its raw embeddings of the series)."""
    torch.manual_seed(0)
    data = series()
    adapter = SequenceAdapter(data, crop_ratio=0.8, embed_dim=8)
    ts2vec = TS2VecEncoder(**ARGS).eval()
    return data, adapter, ts2vec, encode_in_length_order(ts2vec, adapter.prepare_inputs, data, len)


def test_raw_block_is_the_resampled_series_and_ignores_padding():
    data = series()
    adapter = SequenceAdapter(data, crop_ratio=0.8, embed_dim=8)
    batch = adapter.prepare_inputs(data)
    got = resample_valid_steps(batch["values"], batch["lengths"], 17).numpy()
    expected = np.stack([resample((x - adapter.center) / adapter.scale, 17).reshape(-1) for x in data])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    alone = adapter.prepare_inputs(data[:1])  # no padding at all
    np.testing.assert_allclose(resample_valid_steps(alone["values"], alone["lengths"], 17).numpy(), got[:1], atol=1e-6)
    one_step = resample_valid_steps(torch.ones(1, 3, 2), torch.tensor([1]), 4)
    assert torch.equal(one_step, torch.ones(1, 8))


def test_fused_cosine_weighs_the_blocks_and_the_statistics_are_the_training_ones():
    data, adapter, ts2vec, z = random_ts2vec()
    fused = SeriesRawFusionEncoder.wrap(ts2vec, length=21, weight=0.5).fit_statistics(z).eval()
    assert fused.embed_dim == 8 + 21 * 2
    np.testing.assert_allclose(fused.embedding_mean.numpy(), z.mean(0), rtol=1e-5, atol=1e-6)
    out = encode_in_length_order(fused, adapter.prepare_inputs, data, len)
    zs = (z - z.mean(0)) / np.clip(z.std(0), 1e-6, None)
    raw = np.stack([resample((x - adapter.center) / adapter.scale, 21).reshape(-1) for x in data])

    def cos(a):
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        return a @ a.T

    np.testing.assert_allclose(cos(out), (cos(zs) + 0.25 * cos(raw)) / 1.25, atol=1e-5)
    with pytest.raises(ValueError, match="weight"):
        SeriesRawFusionEncoder(ARGS, length=21, weight=-0.5)
    alone = SeriesRawFusionEncoder.wrap(ts2vec, length=21, weight=0.0).fit_statistics(z).eval()  # weight 0: z-scored TS2Vec only
    z_alone = encode_in_length_order(alone, adapter.prepare_inputs, data, len)
    assert alone.embed_dim == z.shape[1] == z_alone.shape[1]
    np.testing.assert_allclose(cos(z_alone), cos(zs), atol=1e-5)
    with pytest.raises(ValueError, match="fit_statistics"):
        fused.fit_statistics(z[:, :3])
    standardised = SeriesRawFusionEncoder.wrap(ts2vec, length=21, weight=0.0, unit_rows=False).fit_statistics(z).eval()
    np.testing.assert_allclose(encode_in_length_order(standardised, adapter.prepare_inputs, data, len), zs, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="unit_rows=False needs weight 0"):
        SeriesRawFusionEncoder(ARGS, length=21, weight=0.5, unit_rows=False)


def test_fused_series_model_round_trip_keeps_the_statistics(tmp_path):
    from multicl.api import EmbeddingModel

    data, adapter, ts2vec, _ = random_ts2vec()
    fused = SeriesRawFusionEncoder.wrap(ts2vec, 25, 0.5).fit_statistics(encode_in_length_order(ts2vec, adapter.prepare_inputs, data, len))
    trained = encode_in_length_order(fused.eval(), adapter.prepare_inputs, data, len)
    EmbeddingModel.from_adapter(adapter, fused).save(tmp_path / "model")
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert meta["encoder"]["class"] == "SeriesRawFusionEncoder" and meta["encoder"]["args"]["length"] == 25
    assert model.embed_dim == 8 + 50 and float(model.encoder.embedding_std.min()) > 0 and not torch.equal(
        model.encoder.embedding_mean, torch.zeros(8))  # mu / sigma travel in the weights
    np.testing.assert_allclose(model.encode(data, batch_size=4, normalize=False), trained, atol=1e-5)


def test_every_candidate_space_encoder_encodes_its_candidate_rows():
    """What --select-space scores (numpy rows from one embedding) is what the saved encoder of that space gives."""
    from multicl.recipes._series_space import CANDIDATES, candidate_rows, raw_rows, space_encoder

    data, adapter, ts2vec, z = random_ts2vec()
    length = max(len(x) for x in data)
    rows = candidate_rows(z, raw_rows(data, adapter.center, adapter.scale, length), z.mean(0), z.std(0))
    assert list(rows) == list(CANDIDATES)
    for name in CANDIDATES:
        encoder = space_encoder(name, ts2vec, length, z)
        got = encode_in_length_order(encoder, adapter.prepare_inputs, data, len)
        np.testing.assert_allclose(got, rows[name], atol=1e-5, err_msg=name)
    assert space_encoder("saved", ts2vec, length, z) is ts2vec
    with pytest.raises(ValueError, match="unknown embedding space"):
        space_encoder("w3", ts2vec, length, z)
