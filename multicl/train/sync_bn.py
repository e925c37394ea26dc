"""BatchNorm across ranks: torch's SyncBatchNorm on CUDA, and a pure-torch one for any backend.

Why: with per-rank BatchNorm and negatives gathered from other ranks, an anchor's own-rank
candidates (its positive among them) were normalised with its own rank's batch statistics and
the other ranks' candidates with theirs. The statistics are a signature a model can learn to
read: it tells the positive from half the negatives without looking at content (MoCo's
"cheating" through BN, fixed there by shuffling BN). ``benchmarks/syncbn_leak.py`` measures it.

* :func:`apply_sync_batchnorm` is what ``TrainerConfig.sync_batchnorm`` runs: under DDP on CUDA,
  every BatchNorm becomes ``torch.nn.SyncBatchNorm``; one process: nothing to do; several CPU
  processes: refused, since torch's SyncBatchNorm raises on CPU tensors (checked with
  torch 2.14 in ``tests/test_syncbn.py``).
* :class:`GlobalBatchNorm` / :func:`convert_global_batchnorm`: batch statistics summed with the
  autograd ``all_reduce`` (so the gradient flows through them as in one process), for gloo/CPU
  and for the leak demonstration. One all-reduce of ``2C + 1`` numbers per BN layer per forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from multicl.utils.distributed import is_distributed


def apply_sync_batchnorm(module: nn.Module, device: torch.device, num_processes: int) -> nn.Module:
    """BatchNorm -> SyncBatchNorm in place (returns ``module``); see the module docstring."""
    if num_processes <= 1:
        return module  # one process: BatchNorm already sees the whole batch
    if torch.device(device).type != "cuda":
        raise ValueError(
            "sync_batchnorm=True needs CUDA: torch.nn.SyncBatchNorm does not run on CPU tensors (gloo). On CPU, "
            "convert the encoder with multicl.train.sync_bn.convert_global_batchnorm(encoder) before training "
            "(pure-torch all-reduced batch statistics), or set sync_batchnorm=False"
        )
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if converted is not module:  # the module itself was a BatchNorm layer
        raise TypeError("sync_batchnorm converts a model's BatchNorm children, not a bare BatchNorm layer")
    return module


def count_batchnorm(module: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over every rank's rows: in training, the per-channel sum, sum of squares and
    row count are all-reduced (with gradient) before normalising; in eval, or in one process,
    plain BatchNorm. Running statistics are updated with the global ones, identically on every
    rank. Any input of shape (N, C, ...)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (N, C, ...), got {input.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        if not (self.training and is_distributed()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0] + list(range(2, x.dim()))
        channels = x.shape[1]
        xf = x.float()
        local = torch.cat([xf.sum(dims), (xf * xf).sum(dims), xf.new_tensor([x.numel() / channels])])
        total = all_reduce(local)  # SUM; its backward all-reduces the gradient, as it must
        count = total[-1]
        mean = total[:channels] / count
        var = (total[channels : 2 * channels] / count - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * count / (count - 1).clamp_min(1), alpha=m)
        shape = [1, channels] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_global_batchnorm(module: nn.Module) -> nn.Module:
    """Every BatchNorm child of ``module`` -> :class:`GlobalBatchNorm` with the same parameters
    and buffers (in place; returns the module, or the new layer if ``module`` is a BatchNorm)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new.to(next(iter(module.state_dict().values()), torch.empty(0)).device)
    for name, child in module.named_children():
        converted = convert_global_batchnorm(child)
        if converted is not child:
            setattr(module, name, converted)
    return module
