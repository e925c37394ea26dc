"""Sequence adapter, views, exclusion windows and encoders on synthetic streams with known answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from multicl.modalities.views_dataset import ViewsDataset
from multicl.encoders.sequence import build_sequence_encoder
from multicl.modalities.sequence import SequenceAdapter, clip_starts
from multicl.negatives.masks import FalseNegativePolicy
from multicl.negatives.temporal import in_batch_window_stats
from multicl.objectives import build_objective
from multicl.train.learner import ContrastiveLearner
from multicl.views.series import SeriesViews, permute_segments, time_warp

NO_VIEWS = SeriesViews(jitter_std=0, scale_std=0, magnitude_warp_std=0, time_warp_std=0, frame_noise_std=0, frame_brightness=0, frame_flip=False)


def ramp(length: int, channels: int = 1, offset: float = 0.0) -> np.ndarray:
    """Value = position in the stream: a clip's first value tells where it was cut."""
    return np.repeat(np.arange(length, dtype=np.float32)[:, None] + offset, channels, axis=1)


def sines(frequencies, length=400, rate=50.0, seed=0, noise=0.0):
    """One stream per frequency: (sin, cos) at a random phase, a slowly drifting amplitude and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / rate
    streams = []
    for f in frequencies:
        phase = rng.uniform(0, 2 * np.pi)
        amplitude = np.interp(t, np.linspace(0, t[-1], 5), rng.uniform(0.3, 3.0, 5))[:, None] if noise else 1.0
        wave = np.stack([np.sin(2 * np.pi * f * t + phase), np.cos(2 * np.pi * f * t + phase)], 1)
        streams.append((amplitude * wave + noise * rng.standard_normal(wave.shape)).astype(np.float32))
    return streams


def test_stream_clips_and_jittered_positive_offsets():
    adapter = SequenceAdapter([ramp(200), ramp(120, offset=1000)], clip_length=32, stride=8, jitter=(4, 10), views=NO_VIEWS)
    assert adapter.samples[:3] == [(0, 0), (0, 8), (0, 16)]
    assert len(adapter.samples) == len(clip_starts(200, 32, 8)) + len(clip_starts(120, 32, 8))
    rng = np.random.default_rng(0)
    for index, sample in enumerate(adapter.samples):
        view_a, view_b = adapter.views(sample, rng)
        a, b = view_a.data, view_b.data
        stream, start = sample
        assert a.shape == b.shape == (32, 1)
        assert view_a.meta["timestamp"] == start and view_b.meta["timestamp"] == b[0, 0] - 1000 * stream  # the positive's own start
        assert a[0, 0] - 1000 * stream == start  # the anchor is the sample's clip
        delta = abs(b[0, 0] - a[0, 0])
        assert 4 <= delta <= 10, (sample, delta)  # the positive is jittered within range (flipped at the ends)
        meta = adapter.meta(sample, index)
        assert meta == {"instance_id": index, "group_id": stream, "timestamp": start}


def test_instance_mode_crops_and_labels():
    series = [ramp(50), ramp(80, offset=500)]
    adapter = SequenceAdapter(series, crop_ratio=0.5, jitter=(0, 5), views=NO_VIEWS, labels=[3, 7])
    a, b = (v.data for v in adapter.views(adapter.samples[1], np.random.default_rng(1)))
    assert len(a) == len(b) == 40 and abs(a[0, 0] - b[0, 0]) <= 5
    assert adapter.meta(adapter.samples[1], 1)["label"] == 7
    np.testing.assert_array_equal(adapter.mining_corpus(adapter.samples[:1])[0], series[0])


def test_window_policy_matches_brute_force_and_keeps_far_clips():
    rng = np.random.default_rng(0)
    n = 40
    meta = {"instance_id": torch.arange(n), "group_id": torch.from_numpy(rng.integers(0, 3, n)), "timestamp": torch.from_numpy(rng.integers(0, 500, n))}
    window = 60
    policy = FalseNegativePolicy(same_group=True, temporal_window=window)
    neg, dropped = policy.negative_mask(meta, meta, torch.eye(n, dtype=torch.bool))
    for i in range(n):
        for j in range(n):
            inside = meta["group_id"][i] == meta["group_id"][j] and abs(int(meta["timestamp"][i]) - int(meta["timestamp"][j])) <= window
            assert bool(neg[i, j]) == (i != j and not inside)
    far_same_stream = (meta["group_id"][:, None] == meta["group_id"][None, :]) & ((meta["timestamp"][:, None] - meta["timestamp"][None, :]).abs() > window)
    assert neg[far_same_stream].all() and far_same_stream.any()  # far clips of one stream stay negatives
    assert dropped["same_group"] == int((~neg).sum()) - n


def test_in_batch_window_stats_counts_false_negatives():
    adapter = SequenceAdapter([ramp(2000)], clip_length=50, stride=5, jitter=(4, 16), views=NO_VIEWS)
    meta = ViewsDataset(adapter.samples, adapter, seed=0)  # the positives carry their own (jittered) starts
    off = in_batch_window_stats(meta, 64, FalseNegativePolicy(same_group=False), overlap=50, num_batches=20)
    half = in_batch_window_stats(meta, 64, FalseNegativePolicy(same_group=True, temporal_window=25), overlap=50, num_batches=20)
    full = in_batch_window_stats(meta, 64, FalseNegativePolicy(same_group=True, temporal_window=50), overlap=50, num_batches=20)
    assert off["removed_per_anchor"] == 0 and off["false_negative_share_after"] == off["false_negative_share_before"] > 0
    # one stream, clips every 5 of 1,951 steps, overlap within +-49: about 2*49/1951 of the negatives
    assert off["false_negative_share_before"] == pytest.approx(100 * 98 / 1951, rel=0.35)
    assert 0 < half["false_negative_share_after"] < off["false_negative_share_before"]
    assert full["false_negative_share_after"] == 0 and full["removed_true_negatives_per_anchor"] >= 0
    assert full["negatives_per_anchor_after"] + full["removed_per_anchor"] == pytest.approx(63)


def test_far_negatives_are_outside_the_window_and_survive_the_mask():
    adapter = SequenceAdapter([ramp(600), ramp(600, offset=1000)], clip_length=40, stride=10, jitter=(2, 5), views=NO_VIEWS, far_negative_distance=100)
    dataset = ViewsDataset(adapter.samples, adapter, seed=0)
    items = [dataset[i] for i in range(0, len(adapter.samples), 7)]
    for item in items:
        clip, start = item["hard_negative"].data, item["hard_negative"].meta["timestamp"]
        assert abs(start - item["meta"]["timestamp"]) > 100 and clip[0, 0] % 1000 == start
    batch = adapter.collate(items)
    n, h = batch.num_anchors, len(batch.hard_negatives)
    assert h == n and batch.hard_negatives.inputs["values"].shape[0] == h
    policy = FalseNegativePolicy(same_group=True, temporal_window=100)
    candidate_meta = {k: torch.cat([batch.positives.meta[k], batch.hard_negatives.meta[k]]) for k in batch.hard_negatives.meta}
    pos = torch.zeros(n, n + h, dtype=torch.bool)
    pos[:, :n] = torch.eye(n, dtype=torch.bool)
    neg, _ = policy.negative_mask(batch.anchors.meta, candidate_meta, pos)
    assert neg[torch.arange(n), n + torch.arange(n)].all()  # each anchor's own far clip is a usable negative


def test_queue_and_miner_apply_the_window():
    from multicl.negatives.miner import HardNegativeMiner, MinerConfig, corpus_from_dataset

    adapter = SequenceAdapter(sines([1.0, 3.0], length=600), clip_length=32, stride=4, jitter=(1, 4), views=NO_VIEWS)
    policy = FalseNegativePolicy(same_group=True, temporal_window=64)
    torch.manual_seed(0)
    encoder = build_sequence_encoder("tcn", 2, 16)
    learner = ContrastiveLearner(encoder, build_objective("info_nce", temperature=0.2), policy=policy, queue_size=64, embed_dim=16)
    assert "timestamp" in learner.policy_meta_keys()  # queued keys carry their clip's time
    corpus, meta = corpus_from_dataset(adapter.samples, adapter)
    miner = HardNegativeMiner(corpus, adapter, meta, policy=policy, config=MinerConfig(num_negatives=2, top_k=32, rank_window=(0, 32), index="exact"))
    miner.refresh(lambda inputs: encoder(inputs), "cpu")
    ids = torch.arange(0, len(adapter.samples), 3)
    mined = miner.sample(ids)  # (N, 2) corpus rows
    assert (mined >= 0).all()
    anchor_stream, anchor_time = meta["group_id"][ids.numpy()][:, None], meta["timestamp"][ids.numpy()][:, None]
    same_stream = meta["group_id"][mined] == anchor_stream
    assert same_stream.any()  # far clips of the anchor's own stream are mined...
    assert (np.abs(meta["timestamp"][mined] - anchor_time)[same_stream] > 64).all()  # ...never one inside the window


def test_padding_never_changes_an_embedding():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    short, long = rng.standard_normal((30, 3)).astype(np.float32), rng.standard_normal((77, 3)).astype(np.float32)
    adapter = SequenceAdapter([long], views=NO_VIEWS)
    for name in ("tcn", "transformer"):
        encoder = build_sequence_encoder(name, 3, 16).eval()
        alone = encoder(adapter.prepare_inputs([short]))
        batched = encoder(adapter.prepare_inputs([short, long]))[:1]
        torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-4)


def moving_square(direction: int, frames: int = 12, size: int = 16) -> np.ndarray:
    """A white 4x4 square moving left->right (direction 1) or right->left (-1): (T, 1, H, W) uint8."""
    video = np.zeros((frames, 1, size, size), dtype=np.uint8)
    for t in range(frames):
        x = t if direction > 0 else size - 4 - t
        video[t, 0, 6:10, x : x + 4] = 255
    return video


def test_video_clips_frame_encoder_and_training_step():
    videos = [moving_square(1, 14), moving_square(-1, 14), moving_square(1, 12)]
    adapter = SequenceAdapter(videos, clip_length=8, stride=2, jitter=(1, 2), views=NO_VIEWS, encoder="frame_cnn", embed_dim=16)
    a, b = (v.data for v in adapter.views(adapter.samples[0], np.random.default_rng(0)))
    assert a.shape == (8, 1, 16, 16) and a.dtype == np.float32 and a.max() == 1.0
    shift = [int(np.argmax(clip[0, 0, 7])) for clip in (a, b)]  # square's left edge in the first frame
    assert 1 <= abs(shift[1] - shift[0]) <= 2  # the positive starts 1-2 frames later/earlier
    torch.manual_seed(0)
    encoder = adapter.build_encoder().eval()
    inputs = adapter.prepare_inputs([videos[0][:5], videos[1]])
    assert inputs["frames"].shape == (2, 14, 1, 16, 16)
    torch.testing.assert_close(encoder(adapter.prepare_inputs([videos[0][:5]])), encoder(inputs)[:1], atol=1e-5, rtol=1e-4)
    learner = ContrastiveLearner(encoder.train(), build_objective("info_nce", temperature=0.2),
                                 policy=FalseNegativePolicy(same_group=True, temporal_window=4))
    dataset = ViewsDataset(adapter.samples, adapter, seed=0)
    loss = learner(adapter.collate([dataset[i] for i in range(len(adapter.samples))]))
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in encoder.parameters() if p.grad is not None)


def test_contrastive_training_separates_sine_frequencies(tmp_path):
    """Streams of 4 close frequencies with drifting amplitude and noise: after a short InfoNCE run
    with jittered positives and an exclusion window, a window's nearest training windows come
    from the stream of its frequency; a random encoder is near chance."""
    from multicl.eval.probe import knn_predict
    from multicl.train.config import TrainerConfig
    from multicl.train.trainer import Trainer

    freqs = [1.0, 1.4, 1.8, 2.2]
    adapter = SequenceAdapter(sines(freqs, length=300, noise=0.3), clip_length=40, stride=5, jitter=(2, 10), embed_dim=32)
    test = sines(freqs, length=300, seed=1, noise=0.3)
    clips = [s[t : t + 40] for s in test for t in range(0, 260, 26)]
    labels = np.repeat(np.arange(4), 10)
    train_clips = adapter.mining_corpus(adapter.samples)
    train_labels = np.array([stream for stream, _ in adapter.samples])

    def accuracy(encoder) -> float:
        encoder.eval()
        with torch.no_grad():
            z, zt = (encoder(adapter.prepare_inputs(c)).numpy() for c in (clips, train_clips))
        return float(np.mean(knn_predict(zt, train_labels, z, k=5) == labels))

    torch.manual_seed(0)
    encoder = adapter.build_encoder()
    before = accuracy(encoder)
    learner = ContrastiveLearner(encoder.train(), build_objective("info_nce", temperature=0.2), policy=FalseNegativePolicy(same_group=True, temporal_window=40))
    cfg = TrainerConfig(out_dir=str(tmp_path), max_steps=30, batch_size=64, learning_rate=3e-3, device="cpu", precision="no", log_every=10,
                        num_workers=0, seed=0, progress_bar=False, tensorboard=False)
    Trainer(learner, ViewsDataset(adapter.samples, adapter, seed=0), adapter.collate, cfg).train()
    after = accuracy(encoder)
    assert before <= 0.5 and after >= 0.7, (before, after)


def test_views_keep_shape_and_stay_finite():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 3)).astype(np.float32)
    views = SeriesViews(channel_dropout=0.5, max_segments=4)
    center, scale = x.mean(0), x.std(0)
    for _ in range(20):
        y = views.apply(x, rng, center, scale)
        assert y.shape == x.shape and np.isfinite(y).all() and not np.allclose(y, x)
    warped = time_warp(x, rng, 0.3, 4)
    np.testing.assert_allclose(warped[[0, -1]], x[[0, -1]], atol=1e-5)  # the clock spans the whole clip
    permuted = permute_segments(x, rng, 3)
    np.testing.assert_allclose(np.sort(permuted, 0), np.sort(x, 0))  # the same steps, reordered


def test_bad_input_errors_and_gap_filling():
    with pytest.raises(ValueError, match="stream 1 has 20 steps, shorter than clip_length=32"):
        SequenceAdapter([ramp(100), ramp(20)], clip_length=32)
    with pytest.raises(ValueError, match="series 1 has 2 channels, series 0 has 1"):
        SequenceAdapter([ramp(100), ramp(100, channels=2)])
    with pytest.raises(ValueError, match="series 0: channel 0 has no finite value"):
        SequenceAdapter([np.full((10, 1), np.nan)])
    gappy = ramp(50, channels=2)
    gappy[10:15, 0] = np.nan
    adapter = SequenceAdapter([gappy], views=NO_VIEWS)
    assert adapter.filled_cells == 5 and np.isfinite(adapter.series[0]).all()
    np.testing.assert_allclose(adapter.series[0][:, 0], np.arange(50))  # linear interpolation restores the ramp
    assert np.isnan(gappy[10, 0])  # the caller's array is untouched
    with pytest.raises(ValueError, match=r"expected \(T, 2\) like the training series"):
        adapter.prepare_inputs([ramp(10, channels=3)])
    with pytest.raises(TypeError, match="wrap a single series"):
        adapter.prepare_inputs(ramp(10, channels=2))
    with pytest.raises(ValueError, match="jitter"):
        SequenceAdapter([ramp(10)], jitter=(5, 2))


def test_read_video_frames_says_what_to_install_or_reads(tmp_path, monkeypatch):
    from multicl.data import video_files
    from multicl.data.video_files import read_video_frames

    monkeypatch.setattr(video_files, "available_video_backends", lambda: [])  # a machine without a decoder
    with pytest.raises(ImportError, match="torchcodec"):
        read_video_frames(tmp_path / "clip.mp4")


def test_stream_scores_binary_auroc_and_window_labels():
    from multicl.recipes._sequence_eval import stream_scores, window_labels

    steps = np.array([0] * 10 + [1] * 6 + [0] * 4)
    np.testing.assert_array_equal(window_labels(steps, [0, 8, 12], 6), [0, 1, 1])  # majority of each window's steps
    rng = np.random.default_rng(0)
    y_train, y_test = np.repeat([0, 1], 30), np.repeat([0, 1], 20)
    centers = 3 * np.eye(8)[:2]  # embeddings of the two classes point in different directions
    train_z = rng.standard_normal((60, 8)) + centers[y_train]
    test_z = rng.standard_normal((40, 8)) + centers[y_test]
    scores = stream_scores(train_z, y_train, test_z, y_test, k=5)
    assert scores["auroc"] == scores["linear_auroc"] > 90 and scores["knn_auroc"] > 85 and scores["distance_auroc"] > 70
    one_class = stream_scores(train_z, y_train, test_z, np.zeros(40, dtype=int), k=5)
    assert one_class["auroc"] is None and "every test window has label 0" in one_class["auroc_note"]


def test_raw_series_baselines_include_svm_and_dtw():
    from multicl.recipes._sequence_eval import embedding_scores, raw_series_knn

    rng = np.random.default_rng(0)
    slow, fast = sines([0.5] * 8, length=60, seed=1, noise=0.1), sines([3.0] * 8, length=60, seed=2, noise=0.1)
    series = [s[: 40 + i] for i, s in enumerate(slow + fast)]  # other lengths are resampled
    y = np.repeat([0, 1], 8)
    adapter = SequenceAdapter(series)
    order = rng.permutation(16)
    train, test = order[:10], order[10:]
    out = raw_series_knn(adapter, [series[i] for i in train], y[train], [series[i] for i in test], y[test], k=3, prefix="dev")
    assert set(out) >= {"dev_raw_1nn_accuracy", "dev_raw_knn_accuracy", "dev_raw_linear_accuracy", "dev_raw_svm_accuracy", "dev_raw_svm_C",
                        "dev_raw_dtw_1nn_accuracy"}
    assert out["dev_raw_dtw_1nn_accuracy"] == 100.0
    from multicl.eval.dtw import dtw_cell_count

    length = max(len(series[i]) for i in train)  # 6 test x 10 training series, resampled to the longest training one
    cells = dtw_cell_count(6, 10, length, length, 0.1)
    assert cells == 6 * 10 * length * (2 * round(0.1 * length) + 1)
    capped = raw_series_knn(adapter, [series[i] for i in train], y[train], [series[i] for i in test], y[test], k=3, prefix="dev",
                            dtw_max_cells=cells - 1)  # over the cap: skipped, and the metrics say by how much
    assert "dev_raw_dtw_1nn_accuracy" not in capped and capped["dev_raw_dtw_skipped_cells"] == cells
    assert raw_series_knn(adapter, [series[i] for i in train], y[train], [series[i] for i in test], y[test], k=3, prefix="dev",
                          dtw_max_cells=cells)["dev_raw_dtw_1nn_accuracy"] == 100.0
    z = np.c_[y, 1 - y] + 0.01 * rng.standard_normal((16, 2))
    scores = embedding_scores(z[train], y[train], z[test], y[test], 3, "x")
    assert scores["x_1nn_accuracy"] == scores["x_knn_accuracy"] == scores["x_linear_accuracy"] == scores["x_svm_accuracy"] == 100.0
    # the embedding's 1-NN is the cosine nearest neighbour's label: flip the label of test row 0's nearest training row
    unit_test, unit_train = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in (z[test], z[train]))
    nearest = np.argmax(unit_test @ unit_train.T, axis=1)
    flipped = y[train].copy()
    flipped[nearest[0]] = 1 - flipped[nearest[0]]
    expected = 100 * np.mean(flipped[nearest] == y[test])
    assert expected < 100
    assert embedding_scores(z[train], flipped, z[test], y[test], 3, "f")["f_1nn_accuracy"] == pytest.approx(expected)
