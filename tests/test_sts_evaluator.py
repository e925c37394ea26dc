import numpy as np
import pytest

from multicl.data.text_files import ScoredPair
from multicl.eval.sts import STSEvaluator


def test_perfect_and_inverted_fake_encoders():
    pairs = [ScoredPair(f"a{i}", f"b{i}", float(i)) for i in range(5)]
    angle = {f"a{i}": 0.0 for i in range(5)} | {f"b{i}": (4 - i) * 0.3 for i in range(5)}

    def encode(texts):
        return np.array([[np.cos(angle[t]), np.sin(angle[t])] for t in texts])

    result = STSEvaluator(pairs, name="toy")(encode)
    assert result["toy_spearman_cosine"] == pytest.approx(100.0)
    inverted = {k: -v if k.startswith("b") else v for k, v in angle.items()}
    angle.update({k: (i) * 0.3 for i, k in enumerate(sorted(k for k in angle if k.startswith("b")))})
    assert STSEvaluator(pairs)(encode)["spearman_cosine"] == pytest.approx(-100.0)
    assert inverted


def test_wrong_row_count_is_caught():
    pairs = [ScoredPair("a", "b", 1.0), ScoredPair("c", "d", 2.0)]
    with pytest.raises(ValueError, match="rows"):
        STSEvaluator(pairs)(lambda texts: np.zeros((1, 3)))
