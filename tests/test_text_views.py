"""Text views: nlpaug word/char views and back-translation through a tiny random Marian model."""
import numpy as np
import pytest

from multicl.views.back_translation import BackTranslationConfig, BackTranslator
from multicl.views.text import TEXT_VIEWS, build_text_view

SENTENCE = "Researchers believe the committee will receive the different proposals tomorrow morning."


@pytest.mark.parametrize("name", ["word_swap", "word_delete", "word_crop", "spelling", "keyboard"])
def test_nlpaug_views_change_text_deterministically_without_touching_global_rng(name):
    import random

    view = build_text_view(name, aug_p=0.3)
    random.seed(5)
    np.random.seed(5)
    before = (random.random(), np.random.random())
    random.seed(5)
    np.random.seed(5)
    out1 = view(SENTENCE, np.random.default_rng(0))
    out2 = view(SENTENCE, np.random.default_rng(0))
    assert (random.random(), np.random.random()) == before  # global RNG streams untouched
    assert out1 == out2 and isinstance(out1, str) and out1.strip()
    assert out1 != SENTENCE
    assert view(SENTENCE, np.random.default_rng(1)) != out1 or name == "spelling"


def test_word_crop_deletes_one_span_and_never_fails_on_short_texts():
    view = build_text_view("word_crop", aug_p=0.2)
    words = SENTENCE.split()
    for seed in range(20):
        out = view(SENTENCE, np.random.default_rng(seed)).split()
        assert len(out) == len(words) - 2  # round(0.2 * 11) words, one contiguous span
        start = next(i for i, (a, b) in enumerate(zip(out + [None], words)) if a != b)
        assert out == words[:start] + words[start + 2:]
    for short in ("hello", "...", "Hi.", ""):  # nlpaug's crop raises on one-token texts
        assert view(short, np.random.default_rng(0)) == short
    assert view("a b", np.random.default_rng(0)) in ("a", "b")
    assert len({view(SENTENCE, np.random.default_rng(s)) for s in range(20)}) > 1


def test_unknown_view_lists_what_exists():
    with pytest.raises(ValueError, match="word_swap"):
        build_text_view("synonyms")
    with pytest.raises(ValueError, match="precomputed"):
        build_text_view("back_translation")
    assert "back_translation" in TEXT_VIEWS


@pytest.fixture(scope="module")
def tiny_marian(tmp_path_factory, tiny_text_model):
    import torch
    from transformers import AutoTokenizer, MarianConfig, MarianMTModel

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(tiny_text_model)
    config = MarianConfig(
        vocab_size=tokenizer.vocab_size, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.sep_token_id,
        decoder_start_token_id=tokenizer.cls_token_id, forced_eos_token_id=tokenizer.sep_token_id,
    )
    folder = tmp_path_factory.mktemp("tiny_marian")
    MarianMTModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_back_translation_batches_caches_and_feeds_a_view(tiny_marian, tmp_path, monkeypatch):
    texts = ["a short one", SENTENCE, "a short one", "third text here"]
    translator = BackTranslator(
        BackTranslationConfig(forward_model=tiny_marian, backward_model=tiny_marian, batch_size=2, max_length=12),
        cache_dir=tmp_path,
    )
    out = translator.translate(texts)
    assert len(out) == 4 and all(isinstance(t, str) and t for t in out)
    assert out[0] == out[2]  # deterministic greedy decoding
    assert len(list(tmp_path.glob("backtranslation-*.json"))) == 1

    cached = BackTranslator(translator.config, cache_dir=tmp_path)
    monkeypatch.setattr(cached, "_translate_step", lambda *a, **k: pytest.fail("cache was not used"))
    assert cached.translate(texts) == out

    table = translator.translation_table(texts)
    view = build_text_view("back_translation", translations=table)
    assert view("a short one", np.random.default_rng(0)) == out[0]
    assert view("unseen text", np.random.default_rng(0)) == "unseen text"


def test_missing_translation_model_is_a_clear_error(tmp_path):
    translator = BackTranslator(BackTranslationConfig(forward_model=str(tmp_path / "missing"), backward_model="x"))
    with pytest.raises((FileNotFoundError, OSError, ValueError)):
        translator.translate(["hello"])
