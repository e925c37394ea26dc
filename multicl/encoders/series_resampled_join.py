"""Two TS2Vec embeddings of one variable-length series joined: as it is, and resampled to one length.

TS2Vec reads each series at its own length (padding masked); a raw euclidean 1-NN compares every series
linearly resampled to the longest training length, and on a set like PLAID that resampling is most of
its lead (docs/series.md). A TS2Vec trained on the resampled series finds better neighbours there and
worse linear probes; the join ``[a(x), r(resample(x))]`` keeps both (``benchmarks/results/series_resampled_join``).
``a`` and ``r`` are the recipe's saved space each (:class:`SeriesRawFusionEncoder`, standardised per
coordinate), so the two blocks weigh the same.

The two models were trained on differently standardised inputs (each adapter fits its channel centre /
scale on its own series). Inputs arrive standardised by ``a``'s; since linear interpolation commutes
with a per-channel affine map, ``r``'s input is ``(resample(x_a) * scale_a + center_a - center_r) / scale_r``
exactly. Inputs as every series encoder: ``{"values": (B, T, C) standardised, zero-padded, "lengths": (B,)}``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from multicl.encoders.series_fusion import SeriesRawFusionEncoder, resample_valid_steps


BLOCKS = ("both", "resampled")


class SeriesResampledJoinEncoder(nn.Module):
    """``as_is`` / ``resampled``: :class:`SeriesRawFusionEncoder` constructor arguments of the two saved spaces
    (weights come with the state dict); ``length``: the steps ``resampled`` reads (the longest training
    series); ``as_is_center`` / ``as_is_scale`` and ``resampled_center`` / ``resampled_scale``: the two
    adapters' per-channel input standardisation; ``blocks``: ``"both"`` (``[a, r]``, ``embed_dim`` the two
    blocks' sum) or ``"resampled"`` (``r`` alone: the better neighbours on a set like PLAID, the worse linear
    probe; docs/series.md; the as-is weights stay in the file, unused, so one class loads both); ``resampled_weight``:
    ``w`` in ``[a, w * r]`` (1: the blocks weigh the same; a large ``w`` gives cosine neighbours mostly from ``r`` while
    a probe that standardises its input sees the same features). Build one around two fitted spaces with :meth:`join`."""

    def __init__(self, as_is: dict[str, Any], resampled: dict[str, Any], length: int, as_is_center: Sequence[float],
                 as_is_scale: Sequence[float], resampled_center: Sequence[float], resampled_scale: Sequence[float],
                 blocks: str = "both", resampled_weight: float = 1.0) -> None:
        super().__init__()
        if blocks not in BLOCKS:
            raise ValueError(f"blocks must be one of {BLOCKS}, got {blocks!r}")
        if not resampled_weight > 0:
            raise ValueError(f"resampled_weight must be positive, got {resampled_weight}")
        if length < 2:
            raise ValueError(f"length must be at least 2 steps, got {length}")
        stats = [list(map(float, s)) for s in (as_is_center, as_is_scale, resampled_center, resampled_scale)]
        if len({len(s) for s in stats}) != 1:
            raise ValueError(f"the four per-channel statistics need one length each, got {[len(s) for s in stats]}")
        if min(stats[1] + stats[3]) <= 0:
            raise ValueError("input scales must be positive")
        self.arguments = {"as_is": dict(as_is), "resampled": dict(resampled), "length": int(length), "as_is_center": stats[0],
                          "as_is_scale": stats[1], "resampled_center": stats[2], "resampled_scale": stats[3], "blocks": blocks,
                          "resampled_weight": float(resampled_weight)}
        self.blocks = blocks
        self.resampled_weight = float(resampled_weight)
        self.as_is = SeriesRawFusionEncoder(**as_is)
        self.resampled = SeriesRawFusionEncoder(**resampled)
        self.length = int(length)
        a_center, a_scale, r_center, r_scale = (torch.tensor(s, dtype=torch.float32) for s in stats)
        # x_r = x_a * gain + offset: from a's standardisation to r's.
        self.register_buffer("input_gain", a_scale / r_scale, persistent=False)
        self.register_buffer("input_offset", (a_center - r_center) / r_scale, persistent=False)
        self.embed_dim = self.resampled.embed_dim + (self.as_is.embed_dim if blocks == "both" else 0)

    @classmethod
    def join(cls, as_is: SeriesRawFusionEncoder, resampled: SeriesRawFusionEncoder, length: int, as_is_adapter: Any,
             resampled_adapter: Any, blocks: str = "both", resampled_weight: float = 1.0) -> "SeriesResampledJoinEncoder":
        """A join holding copies of two fitted spaces' weights and statistics; the adapters give the input standardisations."""
        joined = cls(dict(as_is.arguments), dict(resampled.arguments), length,
                     *(torch.as_tensor(v).flatten().tolist() for v in (as_is_adapter.center, as_is_adapter.scale,
                                                                        resampled_adapter.center, resampled_adapter.scale)),
                     blocks=blocks, resampled_weight=resampled_weight)
        joined.as_is.load_state_dict(as_is.state_dict())
        joined.resampled.load_state_dict(resampled.state_dict())
        return joined.to(next(as_is.parameters()).device).eval()

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        values = inputs["values"]
        batch, _, channels = values.shape
        lengths = inputs.get("lengths", torch.full((batch,), values.shape[1]))
        steps = resample_valid_steps(values, lengths, self.length).reshape(batch, self.length, channels)
        steps = steps * self.input_gain.to(steps.device) + self.input_offset.to(steps.device)
        full = torch.full((batch,), self.length, dtype=torch.long, device=values.device)
        resampled = self.resampled({"values": steps, "lengths": full}).float()
        if self.blocks == "resampled":
            return resampled
        return torch.cat([self.as_is(inputs).float(), self.resampled_weight * resampled], dim=-1)
