import math

import numpy as np
import pytest

from multicl.eval.retrieval import RetrievalEvaluator, ranking_metrics


def test_ranking_metrics_oracle():
    ranked = np.array([[3, 1, 2, 0], [0, 1, 2, 3]])
    relevant = [{1, 0}, {3}]
    m = ranking_metrics(ranked, relevant, ks=(1, 2, 4))
    assert m["recall@1"] == pytest.approx(0.0)
    assert m["recall@2"] == pytest.approx((0.5 + 0.0) / 2)
    assert m["recall@4"] == pytest.approx(1.0)
    assert m["mrr@4"] == pytest.approx((1 / 2 + 1 / 4) / 2)
    ndcg_q0 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    ndcg_q1 = (1 / math.log2(5)) / 1.0
    assert m["ndcg@4"] == pytest.approx((ndcg_q0 + ndcg_q1) / 2)


def test_evaluator_exact_and_hnsw_agree_on_clear_data():
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(500, 16)).astype(np.float32)
    queries = corpus[:50] + 0.01 * rng.normal(size=(50, 16)).astype(np.float32)
    evaluator = RetrievalEvaluator(list(queries), list(corpus), [{i} for i in range(50)], ks=(1, 10), name="toy")
    result = evaluator(lambda items: np.stack(items))
    assert result["toy_recall@1"] == pytest.approx(1.0)
    assert result["toy_hnsw_recall@10"] == pytest.approx(1.0)
    assert result["toy_index_recall@10"] >= 0.95
    assert evaluator.primary_metric == "toy_ndcg@10"


def test_evaluator_bad_inputs():
    with pytest.raises(ValueError, match="without any relevant"):
        RetrievalEvaluator([1, 2], [1, 2, 3], [{0}, set()])
    with pytest.raises(ValueError, match="outside the corpus"):
        RetrievalEvaluator([1], [1, 2], [{5}])
    with pytest.raises(ValueError, match="2 entries for 1 queries"):
        RetrievalEvaluator([1], [1, 2], [{0}, {1}])
