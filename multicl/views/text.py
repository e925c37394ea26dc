"""Text views: string -> string transformations that make the two sides of a positive pair.

``dropout`` is the identity (SimCSE: the encoder's dropout noise is the augmentation); ``word_crop``
deletes one contiguous span of words (our own: nlpaug's crop fails on one-word texts). The
word/char views wrap nlpaug augmenters (imported on first use: nlpaug takes seconds to import)
and are seeded per call from the sample's own generator, so views are reproducible.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import numpy as np

TEXT_VIEWS = ("dropout", "word_swap", "word_delete", "word_crop", "spelling", "keyboard", "back_translation")


class IdentityView:
    """Unsupervised SimCSE: the same text on both sides; dropout makes the difference."""

    name = "dropout"

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        return text


@dataclass
class NlpaugView:
    """One nlpaug augmenter, run with python/numpy RNGs seeded from ``rng`` and restored after.

    nlpaug draws from the global ``random`` and ``numpy.random`` state; we save and restore
    that state so a view never perturbs the trainer's RNG stream (exact resume depends on it).
    """

    name: str
    factory: Callable[[], object]
    _augmenter: object | None = None

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        if self._augmenter is None:
            self._augmenter = self.factory()
        seed = int(rng.integers(0, 2**31 - 1))
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            random.seed(seed)
            np.random.seed(seed)
            out = self._augmenter.augment(text)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
        if isinstance(out, list):
            out = out[0] if out else text
        out = str(out).strip()
        return out or text  # an augmenter that empties a short text falls back to the original

    def __getstate__(self) -> dict:
        # Augmenters hold compiled regexes and large tables: rebuild them in each worker.
        return {"name": self.name, "factory": self.factory, "_augmenter": None}


@dataclass
class WordCropView:
    """Delete one contiguous span of words: ``round(aug_p * n)`` of the ``n`` whitespace-separated
    words, at least one and never all of them (a one-word text is kept). Written here rather than
    nlpaug's ``RandomWordAug(action="crop")``, which raises on one-token texts and splits off
    punctuation ("Hi." -> ".")."""

    aug_p: float
    name: str = "word_crop"

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        words = text.split()
        if len(words) < 2:
            return text
        n = min(len(words) - 1, max(1, round(self.aug_p * len(words))))
        start = int(rng.integers(0, len(words) - n + 1))
        return " ".join(words[:start] + words[start + n:])


class BackTranslationView:
    """Replace a text by its precomputed back-translation (see ``BackTranslator``)."""

    name = "back_translation"

    def __init__(self, translations: dict[str, str]) -> None:
        self.translations = translations

    def __call__(self, text: str, rng: np.random.Generator) -> str:
        return self.translations.get(text, text) or text


def _word(action: str, aug_p: float) -> Callable[[], object]:
    def make() -> object:
        import nlpaug.augmenter.word as naw

        return naw.RandomWordAug(action=action, aug_p=aug_p, aug_min=1)

    return make


def _spelling(aug_p: float) -> Callable[[], object]:
    def make() -> object:
        import nlpaug.augmenter.word as naw

        # nlpaug's default dictionary is a download; ship a small one written for the project.
        path = resources.files("multicl.resources").joinpath("spelling_en.txt")
        return naw.SpellingAug(dict_path=str(path), aug_p=aug_p, aug_min=1)

    return make


def _keyboard(aug_p: float) -> Callable[[], object]:
    def make() -> object:
        import nlpaug.augmenter.char as nac

        return nac.KeyboardAug(
            aug_char_p=aug_p,
            aug_word_p=aug_p,
            include_special_char=False,
            include_numeric=False,
            include_upper_case=False,
        )

    return make


def build_text_view(name: str, aug_p: float = 0.1, translations: dict[str, str] | None = None):
    """Build a text view by name; ``back_translation`` needs the ``translations`` table."""
    if name == "dropout":
        return IdentityView()
    if name == "word_crop":
        return WordCropView(aug_p)
    if name in ("word_swap", "word_delete"):
        return NlpaugView(name, _word(name.split("_", 1)[1], aug_p))
    if name == "spelling":
        return NlpaugView(name, _spelling(aug_p))
    if name == "keyboard":
        return NlpaugView(name, _keyboard(aug_p))
    if name == "back_translation":
        if translations is None:
            raise ValueError("the back_translation view needs precomputed translations (BackTranslator.translate)")
        return BackTranslationView(translations)
    raise ValueError(f"unknown text view {name!r}; available: {list(TEXT_VIEWS)}")
