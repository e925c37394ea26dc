"""The torch/torchaudio pair must import together with transformers (DEVELOPERS.md trap)."""


def test_torchaudio_imports_with_transformers_and_sentence_transformers():
    import torch
    import torchaudio
    import transformers
    import sentence_transformers
    from transformers import AutoModel  # noqa: F401  (triggers the torchaudio-aware import paths)

    assert torch.__version__.split("+")[0] == "2.14.1"
    assert torchaudio.__version__.startswith("2.11")
    assert int(transformers.__version__.split(".")[0]) >= 5
    assert int(sentence_transformers.__version__.split(".")[0]) >= 6
    wave = torch.sin(torch.linspace(0, 100, 8000)).unsqueeze(0)
    resampled = torchaudio.functional.resample(wave, 8000, 16000)
    assert resampled.shape == (1, 16000)
