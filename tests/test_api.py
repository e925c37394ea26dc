"""EmbeddingModel: encode, similarity, save -> SentenceTransformer gives the same embeddings."""
import numpy as np
import pytest

from multicl import EmbeddingModel
from multicl.encoders.text import TextEncoder, load_backbone

TEXTS = ["A man plays a guitar.", "Someone is playing an instrument on stage tonight.", "Stocks fell.", ""]


@pytest.mark.parametrize("pooling", ["mean", "cls", "cls_before_pooler", "first_last_avg"])
def test_saved_folder_loads_in_sentence_transformers_with_same_embeddings(tiny_text_model, tmp_path, pooling):
    from sentence_transformers import SentenceTransformer

    model = EmbeddingModel.load(tiny_text_model, pooling=pooling, max_length=64, device="cpu")
    ours = model.encode(TEXTS, batch_size=2)
    assert ours.shape == (4, 32) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    model.save(tmp_path / "exported")
    st = SentenceTransformer(str(tmp_path / "exported"), device="cpu")
    theirs = st.encode(TEXTS, batch_size=3, convert_to_numpy=True)
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    reloaded = EmbeddingModel.load(tmp_path / "exported", device="cpu")
    assert reloaded.encoder.pooling == pooling and reloaded.max_length == 64
    np.testing.assert_allclose(reloaded.encode(TEXTS), ours, atol=1e-5)


def test_poolings_differ_and_unnormalised_output(tiny_text_model):
    backbone = load_backbone(tiny_text_model)
    outs = {}
    for pooling in ["mean", "cls", "cls_before_pooler", "first_last_avg"]:
        outs[pooling] = EmbeddingModel(TextEncoder(backbone, pooling), _tokenizer(tiny_text_model), device="cpu").encode(TEXTS[:2], normalize=False)
    assert not np.allclose(outs["mean"], outs["cls_before_pooler"])
    assert not np.allclose(outs["cls"], outs["cls_before_pooler"])  # BERT pooler applied
    assert not np.allclose(outs["mean"], outs["first_last_avg"])


def _tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def test_similarity_and_order_is_preserved(tiny_text_model):
    model = EmbeddingModel.load(tiny_text_model, device="cpu")
    emb = model.encode(TEXTS, batch_size=1)
    emb_big_batch = model.encode(TEXTS, batch_size=64)
    np.testing.assert_allclose(emb, emb_big_batch, atol=1e-5)  # length sorting and padding do not leak
    sim = model.similarity(TEXTS[:2], TEXTS[:3])
    assert sim.shape == (2, 3)
    assert sim[0, 0] == pytest.approx(1.0, abs=1e-5)
    assert model.encode([]).shape == (0, 32)


def test_bad_inputs(tiny_text_model, tmp_path):
    model = EmbeddingModel.load(tiny_text_model, device="cpu")
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        model.encode(["fine", None])
    with pytest.raises(TypeError, match="single string"):
        model.encode("just one string")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        EmbeddingModel.load(str(tmp_path / "no-such-model"))
    with pytest.raises(ValueError, match="unknown pooling"):
        EmbeddingModel.load(tiny_text_model, pooling="max")


def test_failed_save_leaves_no_half_written_folder(tiny_text_model, tmp_path, monkeypatch):
    import multicl.export.sentence_transformers as export

    model = EmbeddingModel.load(tiny_text_model, device="cpu")

    def broken(*args, **kwargs):
        (args[2] / "partial.bin").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "export_sentence_transformer", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        model.save(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_length_buckets_match_the_padded_forward(tiny_text_model):
    import torch
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_text_model)
    texts = [("word " * (i % 13 + 1)).strip() for i in range(40)]
    inputs = dict(tokenizer(texts, padding=True, return_tensors="pt"))
    for pooling in ["mean", "cls", "first_last_avg"]:
        bucketed = TextEncoder(load_backbone(tiny_text_model), pooling, length_bucket_size=8).eval()
        padded = TextEncoder(bucketed.backbone, pooling, length_bucket_size=None).eval()
        with torch.no_grad():
            torch.testing.assert_close(bucketed(inputs), padded(inputs), atol=1e-5, rtol=1e-5)


# -- model paths and texts a user brings (issue 14) ----------------------------------------------------
def _table_run(run):
    """A run folder as a recipe writes it: config.json, metrics.json, model/, pretrain/checkpoints/step-*."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_saved_models import table_setup

    _, adapter = table_setup()
    EmbeddingModel.from_adapter(adapter, adapter.build_encoder(), device="cpu").save(run / "model")
    step = run / "pretrain" / "checkpoints" / "step-000002"  # what the trainer writes
    step.mkdir(parents=True)
    for name in ("model.safetensors", "optimizer.pt", "trainer_state.json"):
        (step / name).write_text("{}")
    (step.parent / "run_identity.json").write_text("{}")
    (run / "config.json").write_text(json.dumps({"out_dir": str(run), "batch_size": 8}))
    (run / "metrics.json").write_text("{}")


def test_run_folder_checkpoint_and_mistyped_paths_name_the_path_never_a_tokenizer(tmp_path, monkeypatch):
    import transformers

    from multicl.models.folder import NotAModelError

    _table_run(tmp_path / "run")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: pytest.fail(f"hub/tokenizer lookup of {a}"))
    assert EmbeddingModel.load("run/model", device="cpu").modality == "table"  # a relative path that exists
    with pytest.raises(NotAModelError, match=r"run is not a saved model.*model/ subfolder.*run's configuration") as err:
        EmbeddingModel.load(tmp_path / "run")
    assert "sentencepiece" not in str(err.value)
    step = next((tmp_path / "run" / "pretrain" / "checkpoints").glob("step-*"))
    for checkpoint in (step, step.parent):
        with pytest.raises(NotAModelError, match=r"is a training checkpoint.*the run's model is .*run/model"):
            EmbeddingModel.load(checkpoint)
    for typo in ("runs/best", "./model", "run/best", "run/model/x", "../nowhere"):
        with pytest.raises(NotAModelError, match=r"no model at .* does not exist \(not looked up on the hub") as err:
            EmbeddingModel.load(typo)
        assert typo in str(err.value) and "multicl.json" in str(err.value)
    with pytest.raises(NotAModelError, match=r"run exists and holds \['config.json', 'metrics.json', 'model/', 'pretrain/'\]"):
        EmbeddingModel.load("run/best")
    detector = tmp_path / "anomaly_run" / "model"  # what security_anomaly saves: a detector, not an embedding model
    detector.mkdir(parents=True)
    (detector / "detector.json").write_text('{"method": "raw_knn"}')
    with pytest.raises(NotAModelError, match=r"anomaly detector saved by security_anomaly.*load_detector\('.*anomaly_run/model'\)\(frame\)"):
        EmbeddingModel.load(detector)


def test_transformers_folder_without_tokenizer_says_so_and_the_fix_works(tiny_text_model, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    from multicl.models.folder import NotAModelError

    AutoModel.from_pretrained(tiny_text_model).save_pretrained(tmp_path / "weights_only")
    with pytest.raises(NotAModelError, match="no tokenizer files") as err:
        EmbeddingModel.load(tmp_path / "weights_only")
    assert "sentencepiece" not in str(err.value) and "tokenizer.save_pretrained(path)" in str(err.value)
    AutoTokenizer.from_pretrained(tiny_text_model).save_pretrained(tmp_path / "weights_only")  # the advice, followed
    assert EmbeddingModel.load(tmp_path / "weights_only", device="cpu").encode(["fine"]).shape == (1, 32)


def test_a_lone_surrogate_in_a_text_names_its_position(tiny_text_model):
    from multicl.errors import UserInputError

    model = EmbeddingModel.load(tiny_text_model, device="cpu")
    bad = "caf\udce9 au lait"  # what surrogateescape leaves of a latin-1 byte
    with pytest.raises(UserInputError, match=r"texts\[1\] has a lone surrogate .* U\+DCE9 at character 3 \(\.\.\.'caf' here\)"):
        model.encode(["fine", bad])
    fixed = bad.encode("utf-8", "replace").decode("utf-8")  # the advice, followed
    assert model.encode(["fine", fixed]).shape == (2, 32)
