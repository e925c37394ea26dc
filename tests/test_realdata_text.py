"""Real data from ../shared/data (runs in CI too): readers, the packaged model's STS score,
and a short supervised SimCSE run on SICK."""
import pytest

from multicl import EmbeddingModel
from multicl.data.text_files import read_sentences, read_sick_triplets, read_sts
from multicl.eval.sts import STSEvaluator
from multicl.recipes import text_simcse

pytestmark = pytest.mark.realdata


def test_readers_on_real_files(shared_data):
    text = shared_data / "text"
    assert len(read_sts(text / "stsb" / "sts-dev.csv")) == 1500
    assert len(read_sts(text / "stsb" / "sts-train.csv")) == 5749
    assert len(read_sts(text / "sick" / "SICK_trial.txt")) == 500
    assert len(read_sentences(text / "unlabeled" / "eng_wikipedia_2016_10K-sentences.txt")) == 10000
    triplets = read_sick_triplets(text / "sick" / "SICK_train.txt")
    assert len(triplets) == 1299 and all(t.hard_negative for t in triplets)
    assert sum(1 for t in read_sick_triplets(text / "sick" / "SICK_train.txt", fill_missing="drop")) < 400


def test_packaged_minilm_on_stsb_dev(shared_data):
    """all-MiniLM-L6-v2 scores about 87 Spearman x100 on STS-B dev (published model card range)."""
    model = EmbeddingModel.load("all-MiniLM-L6-v2", device="cpu", max_length=128)
    result = STSEvaluator.from_file(shared_data / "text" / "stsb" / "sts-dev.csv", "stsb_dev")(lambda t: model.encode(t, batch_size=128))
    assert 84.0 < result["stsb_dev_spearman_cosine"] < 92.0, result


def test_short_supervised_simcse_on_sick(shared_data, tmp_path):
    sick = shared_data / "text" / "sick"
    cfg = text_simcse.Config(
        mode="sup", train_file=str(sick / "SICK_train.txt"), dev_file=(str(sick / "SICK_trial.txt"),),
        out_dir=str(tmp_path / "run"), device="cpu", max_steps=4, batch_size=16, eval_every=4, max_length=32,
    )
    metrics = text_simcse.main(cfg)
    before, after = metrics["before_sick_trial_spearman_cosine"], metrics["after_sick_trial_spearman_cosine"]
    assert 70 < before < 90 and abs(after - before) < 5, metrics  # four steps move the model, not wreck it
    assert (tmp_path / "run" / "model" / "modules.json").exists()
