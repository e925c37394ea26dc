"""Whitening (ZCA, Ledoit-Wolf shrinkage): oracle checks on the covariance it produces."""
import numpy as np
import pytest

from multicl.utils.whitening import fit_whitening


def _correlated_rows(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) * np.linspace(0.1, 5.0, d)
    return rng.normal(size=(n, d)) @ mix + rng.normal(size=d) * 3


def test_full_whitening_without_shrinkage_gives_identity_covariance():
    x = _correlated_rows(500, 6)
    w = fit_whitening(x, power=0.5, shrink=False)
    z = w.apply(x)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(np.cov(z, rowvar=False, bias=True), np.eye(6), atol=1e-8)
    np.testing.assert_allclose(w.matrix, w.matrix.T, atol=1e-12)  # ZCA: symmetric, the least rotation


def test_half_whitening_square_roots_the_eigenvalues():
    x = _correlated_rows(400, 5, seed=1)
    cov = np.cov(x, rowvar=False, bias=True)
    z = fit_whitening(x, power=0.25, shrink=False).apply(x)
    after = np.sort(np.linalg.eigvalsh(np.cov(z, rowvar=False, bias=True)))
    np.testing.assert_allclose(after, np.sort(np.sqrt(np.linalg.eigvalsh(cov))), rtol=1e-8)


def test_power_zero_only_centres():
    x = _correlated_rows(50, 4, seed=2)
    w = fit_whitening(x, power=0.0)
    np.testing.assert_allclose(w.apply(x), x - x.mean(0), atol=1e-10)


def test_shrinkage_handles_fewer_rows_than_dimensions():
    x = _correlated_rows(10, 30, seed=3)
    w = fit_whitening(x)  # the sample covariance has rank 9: Ledoit-Wolf keeps it invertible
    assert 0 < w.shrinkage <= 1
    z = w.apply(x)
    assert np.all(np.isfinite(z))
    with pytest.raises(ValueError, match="singular"):
        fit_whitening(x, shrink=False)


def test_bad_input_is_named():
    x = _correlated_rows(20, 3)
    with pytest.raises(ValueError, match="fitted on 3-d rows"):
        fit_whitening(x).apply(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="NaN"):
        fit_whitening(np.where(np.eye(20, 3) > 0, np.nan, x))
    with pytest.raises(ValueError, match="power"):
        fit_whitening(x, power=1.0)


def test_save_and_load_round_trip(tmp_path):
    x = _correlated_rows(60, 5, seed=4)
    w = fit_whitening(x, power=0.25)
    w.save(tmp_path / "w.npz")
    back = type(w).load(tmp_path / "w.npz")
    np.testing.assert_array_equal(back.apply(x), w.apply(x))
    assert (back.power, back.shrinkage) == (w.power, w.shrinkage)
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a saved Whitening"):
        type(w).load(tmp_path / "other.npz")
