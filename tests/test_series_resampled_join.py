"""The joined series model: its second block is the resampled-input model's own embedding of the series
resampled by numpy (the other adapter's standardisation undone exactly), padding changes nothing, and a
saved model encodes what was trained."""
import json

import numpy as np
import pytest
import torch

from multicl.encoders.series_fusion import SeriesRawFusionEncoder
from multicl.encoders.series_resampled_join import SeriesResampledJoinEncoder
from multicl.encoders.ts2vec import TS2VecEncoder
from multicl.modalities.batching import encode_in_length_order
from multicl.modalities.sequence import SequenceAdapter
from multicl.recipes._sequence_eval import resample

ARGS = {"in_channels": 2, "embed_dim": 8, "hidden": 6, "depth": 2}
LENGTH = 29


def series(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [(3.0 + np.cumsum(rng.standard_normal((9 + 4 * i, 2)), axis=0)).astype(np.float32) for i in range(n)]


def standardised_space(adapter, data, seed):
    torch.manual_seed(seed)
    ts2vec = TS2VecEncoder(**ARGS).eval()
    z = encode_in_length_order(ts2vec, adapter.prepare_inputs, data, len)
    return SeriesRawFusionEncoder.wrap(ts2vec, LENGTH, 0.0, unit_rows=False).fit_statistics(z).eval()


def two_spaces():
    data = series()
    resampled = [resample(x.astype(np.float64), LENGTH).astype(np.float32) for x in data]
    a_adapter, r_adapter = SequenceAdapter(data, crop_ratio=0.8, embed_dim=8), SequenceAdapter(resampled, crop_ratio=0.8, embed_dim=8)
    assert not np.allclose(a_adapter.center, r_adapter.center)  # the correction between the two standardisations is exercised
    return data, resampled, a_adapter, r_adapter, standardised_space(a_adapter, data, 0), standardised_space(r_adapter, resampled, 1)


def test_join_is_the_two_models_embeddings_side_by_side():
    data, resampled, a_adapter, r_adapter, a, r = two_spaces()
    joined = SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter)
    assert joined.embed_dim == 16
    got = encode_in_length_order(joined, a_adapter.prepare_inputs, data, len)
    expected = np.concatenate([encode_in_length_order(a, a_adapter.prepare_inputs, data, len),
                               encode_in_length_order(r, r_adapter.prepare_inputs, resampled, len)], axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    alone = encode_in_length_order(joined, a_adapter.prepare_inputs, data[:1], len)  # no padding
    np.testing.assert_allclose(alone, got[:1], rtol=1e-4, atol=1e-4)


def test_resampled_block_alone_is_the_second_block_and_round_trips(tmp_path):
    from multicl.api import EmbeddingModel

    data, _, a_adapter, r_adapter, a, r = two_spaces()
    both = encode_in_length_order(SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter), a_adapter.prepare_inputs, data, len)
    only = SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter, blocks="resampled")
    assert only.embed_dim == 8
    np.testing.assert_allclose(encode_in_length_order(only, a_adapter.prepare_inputs, data, len), both[:, 8:], rtol=1e-5, atol=1e-5)
    EmbeddingModel.from_adapter(a_adapter, only).save(tmp_path / "model")
    loaded = EmbeddingModel.load(tmp_path / "model")
    assert loaded.embed_dim == 8
    np.testing.assert_allclose(loaded.encode(data, normalize=False), both[:, 8:], rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="blocks must be one of"):
        SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter, blocks="as_is")


def test_join_round_trip_and_bad_arguments(tmp_path):
    from multicl.api import EmbeddingModel

    data, _, a_adapter, r_adapter, a, r = two_spaces()
    joined = SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter)
    trained = encode_in_length_order(joined, a_adapter.prepare_inputs, data, len)
    EmbeddingModel.from_adapter(a_adapter, joined).save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert meta["encoder"]["class"] == "SeriesResampledJoinEncoder" and meta["encoder"]["args"]["length"] == LENGTH
    model = EmbeddingModel.load(tmp_path / "model", device="cpu")
    np.testing.assert_allclose(model.encode(data, batch_size=4, normalize=False), trained, rtol=1e-4, atol=1e-4)
    args = meta["encoder"]["args"]
    with pytest.raises(ValueError, match="one length each"):
        SeriesResampledJoinEncoder(**(args | {"resampled_scale": [1.0]}))
    with pytest.raises(ValueError, match="positive"):
        SeriesResampledJoinEncoder(**(args | {"as_is_scale": [0.0, 1.0]}))
    with pytest.raises(ValueError, match="at least 2"):
        SeriesResampledJoinEncoder(**(args | {"length": 1}))


def test_resampled_weight_scales_the_second_block_and_round_trips(tmp_path):
    """``[a, w * r]``: the first block unchanged, the second scaled by w, saved with the model; a model saved
    before the weight existed (no ``resampled_weight`` in its arguments) loads at w = 1."""
    from multicl.api import EmbeddingModel

    data, _, a_adapter, r_adapter, a, r = two_spaces()
    equal = encode_in_length_order(SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter), a_adapter.prepare_inputs, data, len)
    heavy = SeriesResampledJoinEncoder.join(a, r, LENGTH, a_adapter, r_adapter, resampled_weight=10.0)
    got = encode_in_length_order(heavy, a_adapter.prepare_inputs, data, len)
    np.testing.assert_allclose(got[:, :8], equal[:, :8], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[:, 8:], 10.0 * equal[:, 8:], rtol=1e-4, atol=1e-4)
    EmbeddingModel.from_adapter(a_adapter, heavy).save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "multicl.json").read_text())
    assert meta["encoder"]["args"]["resampled_weight"] == 10.0
    np.testing.assert_allclose(EmbeddingModel.load(tmp_path / "model").encode(data, normalize=False), got, rtol=1e-4, atol=1e-4)
    old_args = {k: v for k, v in meta["encoder"]["args"].items() if k != "resampled_weight"}
    assert SeriesResampledJoinEncoder(**old_args).resampled_weight == 1.0
    with pytest.raises(ValueError, match="resampled_weight must be positive"):
        SeriesResampledJoinEncoder(**(old_args | {"resampled_weight": 0.0}))
