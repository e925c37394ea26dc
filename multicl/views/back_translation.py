"""Back-translation (en -> pivot -> en) with MarianMT or any seq2seq model, cached on disk.

We call ``transformers`` directly rather than nlpaug's ``BackTranslationAug``: nlpaug pads the
whole corpus to its longest sentence in one tokenizer call, starts a worker process per step
and keeps no cache. Here texts are translated once per corpus, in length-sorted batches, and
the result is stored in a JSON file keyed by the models, generation settings and corpus hash.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import torch
from tqdm.auto import tqdm

from multicl.utils.io import atomic_write_json

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackTranslationConfig:
    forward_model: str = "Helsinki-NLP/opus-mt-en-de"  # source -> pivot
    backward_model: str = "Helsinki-NLP/opus-mt-de-en"  # pivot -> source
    batch_size: int = 32
    max_length: int = 128
    num_beams: int = 1
    device: str = "cpu"


class BackTranslator:
    """``translate(texts) -> list[str]`` of round-trip translations, one per input."""

    def __init__(self, config: BackTranslationConfig, cache_dir: str | Path | None = None) -> None:
        self.config = config
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._models: dict[str, tuple[object, object]] = {}

    def _load(self, name: str):
        if name not in self._models:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            try:
                tokenizer = AutoTokenizer.from_pretrained(name)
                model = AutoModelForSeq2SeqLM.from_pretrained(name).to(self.config.device).eval()
            except OSError as err:
                raise FileNotFoundError(
                    f"could not load translation model {name!r} (no local folder and no hub access?). "
                    f"Pass local MarianMT folders. Cause: {err}"
                ) from err
            self._models[name] = (tokenizer, model)
        return self._models[name]

    @torch.no_grad()
    def _translate_step(self, texts: Sequence[str], model_name: str, desc: str) -> list[str]:
        tokenizer, model = self._load(model_name)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out: list[str] = [""] * len(texts)
        size = self.config.batch_size
        for start in tqdm(range(0, len(order), size), desc=desc, disable=len(order) <= size):
            idx = order[start : start + size]
            enc = tokenizer(
                [texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.config.max_length,
                return_tensors="pt",
            ).to(self.config.device)
            generated = model.generate(
                input_ids=enc["input_ids"],
                attention_mask=enc["attention_mask"],
                max_length=self.config.max_length,
                num_beams=self.config.num_beams,
                do_sample=False,
            )
            for i, text in zip(idx, tokenizer.batch_decode(generated, skip_special_tokens=True)):
                out[i] = text.strip()
        return out

    def _cache_path(self, texts: Sequence[str]) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha256()
        digest.update(json.dumps(asdict(self.config), sort_keys=True).encode())
        for text in texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\0")
        return self.cache_dir / f"backtranslation-{digest.hexdigest()[:16]}.json"

    def translate(self, texts: Sequence[str]) -> list[str]:
        texts = list(texts)
        cache = self._cache_path(texts)
        if cache is not None and cache.exists():
            data = json.loads(cache.read_text(encoding="utf-8"))
            if data.get("count") == len(texts):
                logger.info("back-translations loaded from cache %s", cache)
                return list(data["translations"])
        pivot = self._translate_step(texts, self.config.forward_model, "translate (forward)")
        back = self._translate_step(pivot, self.config.backward_model, "translate (backward)")
        back = [b if b else t for b, t in zip(back, texts)]  # an empty round trip keeps the original
        if cache is not None:
            atomic_write_json(cache, {"count": len(texts), "config": asdict(self.config), "translations": back})
        return back

    def translation_table(self, texts: Sequence[str]) -> dict[str, str]:
        unique = list(dict.fromkeys(texts))
        return dict(zip(unique, self.translate(unique)))
