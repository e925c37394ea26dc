"""A resumable batch sampler: epoch-seeded shuffles, any start position."""
from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class ResumableBatchSampler(Sampler[list[int]]):
    """Yields batches of *virtual* indices ``epoch * n + i`` (see ``ViewsDataset``).

    Each epoch is a permutation drawn from ``torch.Generator().manual_seed(seed + epoch)``,
    so batch number ``b`` is the same whatever happened before it: a resumed run starts at
    ``start_batch`` and sees exactly the batches an uninterrupted run would have seen.
    ``drop_last`` keeps every batch full (contrastive losses depend on the batch size).

    ``num_batches`` bounds the iteration (None: endless; the trainer stops by step count).
    """

    def __init__(
        self,
        dataset_size: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        drop_last: bool = True,
        start_batch: int = 0,
        num_batches: int | None = None,
    ) -> None:
        if dataset_size <= 0:
            raise ValueError("the training corpus is empty: nothing to sample")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if drop_last and dataset_size < batch_size:
            fix = (f"lower --batch-size to at most {dataset_size} or add data" if dataset_size >= 2
                   else "add data: contrastive batches need at least 2 samples")
            raise ValueError(f"the corpus has {dataset_size} samples, fewer than one batch of {batch_size}; {fix}")
        self.dataset_size = dataset_size
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.start_batch = start_batch
        self.num_batches = num_batches
        full, rest = divmod(dataset_size, batch_size)
        self.batches_per_epoch = full if (drop_last or rest == 0) else full + 1

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.dataset_size)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        return torch.randperm(self.dataset_size, generator=generator)

    def __iter__(self) -> Iterator[list[int]]:
        batch_index = self.start_batch
        end = None if self.num_batches is None else self.start_batch + self.num_batches
        while end is None or batch_index < end:
            epoch, position = divmod(batch_index, self.batches_per_epoch)
            order = self._epoch_order(epoch)
            for b in range(position, self.batches_per_epoch):
                if end is not None and batch_index >= end:
                    return
                chunk = order[b * self.batch_size : (b + 1) * self.batch_size]
                yield (chunk + epoch * self.dataset_size).tolist()
                batch_index += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an endless ResumableBatchSampler has no length")
        return self.num_batches
