"""Known paraphrases (union-find over pairs) and the miner's inputs for text pairs."""
import json

import numpy as np
import pytest

from multicl.data.text_sample import TextSample
from multicl.modalities.text_pair_mining import label_by_paraphrase_cluster, paraphrase_clusters, pair_mining_data
from multicl.recipes import text_simcse


def test_clusters_follow_chains_of_pairs_and_number_by_first_appearance():
    clusters = paraphrase_clusters([("a", "b"), ("c", "d"), ("b", "e"), ("e", "a")], texts=["z", "c"])
    assert clusters["a"] == clusters["b"] == clusters["e"]
    assert clusters["c"] == clusters["d"] != clusters["a"]
    assert clusters["z"] not in (clusters["a"], clusters["c"])
    assert [clusters[t] for t in ("z", "c", "a")] == [0, 1, 2]  # texts first, then pairs, in order
    # oracle: brute-force connected components agree on random graphs
    rng = np.random.default_rng(0)
    for _ in range(20):
        edges = [(f"t{a}", f"t{b}") for a, b in rng.integers(0, 12, size=(8, 2))]
        got = paraphrase_clusters(edges)
        reach = {t: {t} for e in edges for t in e}
        for _ in range(12):
            for a, b in edges:
                reach[a] |= reach[b]
                reach[b] |= reach[a]
            for t in reach:
                for u in list(reach[t]):
                    reach[t] |= reach[u]
        for t in reach:
            for u in reach:
                assert (got[t] == got[u]) == (u in reach[t])


def test_pair_mining_data_lays_out_corpus_queries_positives_and_labels():
    samples = label_by_paraphrase_cluster([
        TextSample("a dog runs", positive="a dog is running"),
        TextSample("a dog is running", positive="the dog runs fast"),
        TextSample("a cat sleeps", positive="the cat is asleep", hard_negative="a cat is awake"),
    ])
    assert samples[0].label == samples[1].label != samples[2].label
    data = pair_mining_data(samples, extra_sentences=["the sky is blue", "", "a dog runs"])
    assert data.corpus[:2] == ["the sky is blue", "a dog runs"]  # extra first, blanks skipped, no duplicates
    assert len(data.corpus) == len(set(data.corpus)) == 7 and "a cat is awake" in data.corpus
    assert data.queries == [s.text for s in samples]
    assert [data.corpus[i] for i in data.positive_ids] == [s.positive for s in samples]
    assert (data.corpus_meta["instance_id"] < 0).all() and list(data.query_meta["instance_id"]) == [0, 1, 2]
    label = dict(zip(data.corpus, data.corpus_meta["label"].tolist()))
    assert label["a dog runs"] == label["the dog runs fast"] == samples[0].label  # chained through row 1
    assert label["the cat is asleep"] == samples[2].label
    outside = [label["the sky is blue"], label["a cat is awake"]]
    assert len(set(outside)) == 2 and not set(outside) & {s.label for s in samples}
    assert list(data.query_meta["label"]) == [s.label for s in samples]


def test_pair_mining_data_refuses_rows_without_a_positive():
    with pytest.raises(ValueError, match="no positive"):
        pair_mining_data([TextSample("only an anchor")])


def test_sup_recipe_mines_from_the_extra_corpus_and_never_a_known_paraphrase(tiny_text_model, tmp_path):
    # pairs chain "x i" -> "y i" -> "z i": "z i" is a known paraphrase of "x i", not a negative
    rows = [f"x {i} dog,y {i} dog\n" for i in range(8)] + [f"y {i} dog,z {i} dog\n" for i in range(8)]
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("sent0,sent1\n" + "".join(rows))
    extra = tmp_path / "extra.txt"
    extra.write_text("".join(f"{i}\tw {i} cat\n" for i in range(20)))  # Leipzig layout
    dev = tmp_path / "dev.tsv"
    dev.write_text("".join(f"g\tf\t2012\t{i}\t{i % 5}.0\tx {i} dog\tw {i} cat\n" for i in range(8)))
    out = tmp_path / "out"
    cfg = text_simcse.Config(model=tiny_text_model, mode="sup", train_file=str(pairs), dev_file=(str(dev),), out_dir=str(out),
                             device="cpu", max_steps=3, batch_size=4, eval_every=3, max_length=16, mine_negatives=1,
                             mine_corpus=(str(extra),), mine_refresh_every=2, mine_rank_window=(0, 30), mine_max_positive_ratio=None)
    text_simcse.main(cfg)
    refreshes = [json.loads(line) for line in (out / "miner_refreshes.jsonl").read_text().splitlines()]
    assert len(refreshes) == 2 and refreshes[0]["corpus_size"] == 24 + 20 and refreshes[0]["queries"] == 16
    assert all(r["false_negative_rate"] == 0.0 for r in refreshes)
    assert refreshes[0]["dropped_same_label"] > 0  # the chained paraphrases were candidates, and were dropped
    with pytest.raises(ValueError, match="--mine-corpus adds candidates"):
        text_simcse.check_args(text_simcse.Config(model=tiny_text_model, mode="unsup", mine_corpus=(str(extra),)))
