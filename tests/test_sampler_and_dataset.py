import numpy as np
import pytest

from multicl.data.sampler import ResumableBatchSampler
from multicl.modalities.views_dataset import ViewsDataset
from multicl.modalities.base import Adapter


def test_resumed_sampler_sees_the_same_batches():
    full = list(ResumableBatchSampler(10, 3, seed=1, num_batches=9))
    resumed = list(ResumableBatchSampler(10, 3, seed=1, start_batch=4, num_batches=5))
    assert resumed == full[4:]


def test_each_epoch_is_a_permutation_without_duplicates_inside_a_batch():
    batches = list(ResumableBatchSampler(9, 3, seed=0, num_batches=6))
    first_epoch = sorted(i for b in batches[:3] for i in b)
    second_epoch = sorted(i - 9 for b in batches[3:] for i in b)
    assert first_epoch == list(range(9)) == second_epoch
    assert batches[:3] != [[i - 9 for i in b] for b in batches[3:]]  # reshuffled


def test_corpus_smaller_than_a_batch_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than one batch"):
        ResumableBatchSampler(5, 8)
    with pytest.raises(ValueError, match="empty"):
        ResumableBatchSampler(0, 8)


class EchoAdapter(Adapter):
    def views(self, sample, rng):
        return sample, float(rng.random())

    def meta(self, sample, index):
        return {"instance_id": index}


def test_views_are_seeded_by_virtual_index():
    ds = ViewsDataset(["a", "b"], EchoAdapter(), seed=3)
    assert ds[0]["view_b"] == ds[0]["view_b"]
    assert ds[0]["view_b"] != ds[2]["view_b"]  # same sample, next epoch: new view
    assert ds[2]["view_a"] == "a" and ds[2]["meta"]["instance_id"] == 0
    with pytest.raises(ValueError, match="empty"):
        ViewsDataset([], EchoAdapter())
    assert isinstance(np.random.default_rng([3, 0]).random(), float)
