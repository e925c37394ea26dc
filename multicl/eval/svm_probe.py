"""TS2Vec's classification protocol: an RBF-kernel SVM on frozen instance embeddings.

``svm_probe(train_x, train_y, test_x, test_y)`` -> ``{"accuracy": x100, "C": chosen}``: ``SVC(kernel="rbf",
gamma="scale")`` with ``C`` picked by stratified k-fold cross-validation on the *training* rows
only, over ``{1e-4, 1e-3, ..., 1e4, "inf"}`` (inf-ish: 1e8, a hard margin), then refit on all of
them and scored on the test rows. ``folds = min(5, rows of the rarest class)``; when that is
below 2 (a class with one row) there is nothing to cross-validate and ``C = inf`` is used.
One difference from TS2Vec's own code (``tasks/_eval_protocols.py``): it skips the search and uses
``C = inf`` whenever the training set has fewer than 50 rows or fewer than 5 per class, where this
probe still cross-validates (of the sets in docs/series.md that changes ArrowHead and BasicMotions,
36 and 40 training series, and every dev split of fewer than 50 series); ``ts2vec_small_set_rule=True``
(:func:`uses_ts2vec_small_set_rule`) follows TS2Vec's code there, for figures set beside its published table.
Features go in as they are
(TS2Vec does not scale them; ``gamma="scale"`` adapts the kernel to their spread).
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.svm import SVC

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e8)  # 1e8: TS2Vec's np.inf, a hard margin
HARD_MARGIN = 1e8


def uses_ts2vec_small_set_rule(train_y: np.ndarray) -> bool:
    """True where TS2Vec's code skips the C search: fewer than 50 training rows or fewer than 5 per class."""
    rows, classes = len(train_y), len(np.unique(train_y))
    return rows < 50 or rows // classes < 5


def fit_svm(train_x: np.ndarray, train_y: np.ndarray, folds: int = 5, seed: int = 0, ts2vec_small_set_rule: bool = False) -> tuple[SVC, float]:
    """-> (fitted SVC, chosen C). See the module docstring for the cross-validation rule; ``ts2vec_small_set_rule``:
    a hard margin without search where :func:`uses_ts2vec_small_set_rule` holds, as TS2Vec's code does."""
    train_x, train_y = np.asarray(train_x, dtype=np.float64), np.asarray(train_y)
    if len(np.unique(train_y)) < 2:
        raise ValueError("an SVM needs at least two classes among the training rows")
    rarest = int(np.unique(train_y, return_counts=True)[1].min())
    folds = min(folds, rarest)
    if folds < 2 or (ts2vec_small_set_rule and uses_ts2vec_small_set_rule(train_y)):
        return SVC(C=HARD_MARGIN, kernel="rbf", gamma="scale").fit(train_x, train_y), HARD_MARGIN
    search = GridSearchCV(SVC(kernel="rbf", gamma="scale"), {"C": list(C_GRID)}, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                          n_jobs=1, refit=True)
    search.fit(train_x, train_y)
    return search.best_estimator_, float(search.best_params_["C"])


def svm_probe(train_x, train_y, test_x, test_y, folds: int = 5, seed: int = 0, ts2vec_small_set_rule: bool = False) -> dict[str, float]:
    """-> ``{"accuracy": test accuracy x100, "C": the C cross-validation chose}``."""
    clf, c = fit_svm(train_x, train_y, folds, seed, ts2vec_small_set_rule)
    accuracy = 100 * float(np.mean(clf.predict(np.asarray(test_x, dtype=np.float64)) == np.asarray(test_y)))
    return {"accuracy": accuracy, "C": c}
