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


def test_paraphrase_clusters_on_stsb_and_sick_pairs(shared_data):
    """The mining benchmark's pairs: STS-B train >= 4 and SICK train entailments, chained into
    clusters; every anchor's positive is in its cluster and the corpus has each sentence once."""
    import csv

    from multicl.data.text_sample import TextSample
    from multicl.modalities.text_pair_mining import label_by_paraphrase_cluster, pair_mining_data

    text = shared_data / "text"
    pairs = [(p.sentence1, p.sentence2) for p in read_sts(text / "stsb" / "sts-train.csv") if p.score >= 4.0]
    with open(text / "sick" / "SICK_train.txt", encoding="utf-8") as f:
        pairs += [(r["sentence_A"], r["sentence_B"]) for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                  if r["entailment_judgment"] == "ENTAILMENT"]
    samples = label_by_paraphrase_cluster([TextSample(a, positive=b) for a, b in pairs if a != b])
    data = pair_mining_data(samples)
    assert len(samples) == 2704 and len({s.label for s in samples}) == 2204  # SICK reuses sentences: chains form
    label = dict(zip(data.corpus, data.corpus_meta["label"].tolist()))
    assert all(label[s.positive] == label[s.text] == s.label for s in samples)
    assert len(data.corpus) == len(set(data.corpus))
