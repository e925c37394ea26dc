"""A FIFO queue of keys with their metadata (MoCo's memory of past negatives)."""
from __future__ import annotations

import torch
from torch import nn


class KeyQueue(nn.Module):
    """Ring buffer of ``size`` keys (D,) with per-key metadata (instance_id, group_id, ...).

    Keys are stored detached and L2-normalised-or-not as given. Metadata travels with the
    keys so the false-negative policy can mask queue entries of the anchor's own instance or
    group: a key enqueued from the same sample one epoch ago is a positive, not a negative.
    The buffers are module buffers, so the queue is saved in checkpoints and resumes exactly.
    """

    def __init__(self, size: int, dim: int, meta_keys: tuple[str, ...] = ("instance_id", "group_id")) -> None:
        super().__init__()
        if size <= 0:
            raise ValueError(f"queue size must be positive, got {size}")
        self.size = size
        self.meta_keys = meta_keys
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))
        for key in meta_keys:
            self.register_buffer(f"meta_{key}", torch.full((size,), -(2**62), dtype=torch.long))
        # the fill level on the host too: reading ``count`` every step would wait for the GPU
        self._host_count: int | None = 0
        self.register_load_state_dict_post_hook(_forget_host_count)

    def __len__(self) -> int:
        if self._host_count is None:  # a checkpoint brought its own buffers: read them once
            self._host_count = int(self.count)
        return self._host_count

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor, meta: dict[str, torch.Tensor]) -> None:
        keys = keys.detach()
        filled = len(self)
        n = keys.shape[0]
        if n > self.size:
            keys, meta = keys[-self.size :], {k: v[-self.size :] for k, v in meta.items()}
            n = self.size
        missing = [k for k in self.meta_keys if k not in meta]
        if missing:
            raise ValueError(f"enqueue needs metadata {missing} for the false-negative policy")
        positions = (self.pointer + torch.arange(n, device=self.keys.device)) % self.size
        self.keys[positions] = keys.to(self.keys.dtype)
        for key in self.meta_keys:
            getattr(self, f"meta_{key}")[positions] = meta[key].to(self.keys.device)
        self.pointer.copy_((self.pointer + n) % self.size)
        self.count.copy_(torch.clamp(self.count + n, max=self.size))
        self._host_count = min(self.size, filled + n)

    def contents(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The filled part of the queue: keys (K, D) and metadata (K,) each."""
        k = len(self)
        return self.keys[:k], {key: getattr(self, f"meta_{key}")[:k] for key in self.meta_keys}


def _forget_host_count(module: KeyQueue, incompatible_keys) -> None:
    module._host_count = None
