"""Text modality: samples, views, tokenisation and metadata for contrastive training."""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

from multicl.data.text_sample import TextSample
from multicl.encoders.text import TextEncoder, load_backbone, resolve_text_model
from multicl.modalities.base import Adapter
from multicl.types import HardNegative, TensorInputs


def text_group_id(text: str) -> int:
    """Stable 63-bit id of a normalised text: duplicates in a corpus share it, so two copies of
    one sentence are never used as each other's negatives."""
    key = " ".join(text.lower().split()).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


def check_texts(texts: Any, what: str = "texts") -> list[str]:
    """A list of strings, or an error that names the first bad entry: a non-string (``TypeError``),
    or a string UTF-8 cannot encode, such as a lone surrogate ``"\\ud800"`` left by a bad decode or a
    JSON escape (:class:`~multicl.errors.UserInputError` naming the entry, the character position and
    the character; tokenizers would fail on it with no position)."""
    from multicl.errors import UserInputError

    if isinstance(texts, str):
        raise TypeError(f"{what} must be a list of strings, got a single string; wrap it in a list")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{what}[{i}] is {type(text).__name__} ({text!r}); every entry must be a str")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as err:
                char = text[err.start]
                kind = "a lone surrogate (half of a UTF-16 pair)" if 0xD800 <= ord(char) <= 0xDFFF else "a character UTF-8 cannot encode"
                raise UserInputError(
                    f"{what}[{i}] has {kind} U+{ord(char):04X} at character {err.start} "
                    f"(...{text[max(0, err.start - 20):err.start]!r} here); the text was decoded wrongly upstream: decode its "
                    f"bytes as UTF-8, or drop the character, e.g. text.encode('utf-8', 'replace').decode('utf-8')") from None
    return texts


class TextAdapter(Adapter):
    """Adapter for text (see :mod:`multicl.modalities.base`).

    Args:
        tokenizer: a ``transformers`` tokenizer.
        max_length: truncation length in tokens.
        views: one callable ``(text, rng) -> text`` per side is drawn from this list for each
            sample (``IdentityView`` alone gives unsupervised SimCSE).
        model_name_or_path: what ``build_encoder`` loads.
        pooling: pooling of the encoder ``build_encoder`` returns.
        dropout: override the backbone's dropout (None keeps the config's).
    """

    def __init__(
        self,
        tokenizer: Any,
        max_length: int = 32,
        views: Sequence[Any] | None = None,
        model_name_or_path: str | None = None,
        pooling: str = "mean",
        dropout: float | None = None,
    ) -> None:
        from multicl.views.text import IdentityView

        if max_length <= 2:
            raise ValueError(f"max_length must exceed 2 tokens, got {max_length}")
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.views_list = list(views) if views else [IdentityView()]
        self.model_name_or_path = model_name_or_path
        self.pooling = pooling
        self.dropout = dropout

    @classmethod
    def from_pretrained(cls, model_name_or_path: str | None = None, **kwargs: Any) -> "TextAdapter":
        from transformers import AutoTokenizer

        path = resolve_text_model(model_name_or_path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
        except OSError as err:
            raise FileNotFoundError(f"could not load a tokenizer for {path!r}: {err}") from err
        return cls(tokenizer, model_name_or_path=path, **kwargs)

    # -- contract ---------------------------------------------------------------------------
    def views(self, sample: TextSample, rng: np.random.Generator) -> tuple[str, str]:
        view_a = self._pick(rng)(sample.text, rng)
        if sample.positive is not None:
            return view_a, sample.positive
        return view_a, self._pick(rng)(sample.text, rng)

    @property
    def pad_values(self) -> dict[str, int]:
        """Padding used when stacking inputs of different lengths (mined negatives)."""
        return {"input_ids": int(self.tokenizer.pad_token_id or 0)}

    @staticmethod
    def length_of(text: str) -> int:
        """Sort key for batching by length (the miner embeds a corpus in length order)."""
        return len(text)

    def mining_corpus(self, samples: Sequence[TextSample]) -> list[str]:
        """What the hard-negative miner embeds for the training set: the anchor texts."""
        return [s.text for s in samples]

    def hard_negative(self, sample: TextSample, rng: np.random.Generator | None = None) -> HardNegative | None:
        # its own group id: a hard negative that repeats an anchor's text is masked
        if sample.hard_negative is None:
            return None
        return HardNegative(sample.hard_negative, {"group_id": text_group_id(sample.hard_negative)})

    def meta(self, sample: TextSample, index: int) -> dict[str, int]:
        meta = {"instance_id": index, "group_id": text_group_id(sample.text)}
        if sample.label is not None:
            meta["label"] = int(sample.label)
        return meta

    def prepare_inputs(self, raw: Sequence[str]) -> TensorInputs:
        texts = check_texts(raw)
        enc = self.tokenizer(
            texts,
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return TensorInputs(dict(enc), self.pad_values)

    def build_encoder(self) -> TextEncoder:
        if self.model_name_or_path is None:
            raise ValueError("this TextAdapter has no model_name_or_path to build an encoder from")
        return TextEncoder(load_backbone(self.model_name_or_path, dropout=self.dropout), pooling=self.pooling)

    def _pick(self, rng: np.random.Generator):
        if len(self.views_list) == 1:
            return self.views_list[0]
        return self.views_list[int(rng.integers(len(self.views_list)))]
