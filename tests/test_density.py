import numpy as np
import pytest

from vadtool.models import density


def _features(rng, n=40, g=4, c=6, shift=0.0):
    cov = np.diag(np.linspace(0.5, 3.0, c))
    x = rng.multivariate_normal(np.full(c, shift), cov, size=n * g * g)
    return x.reshape(n, g, g, c)


def test_gaussian_score_is_half_mahalanobis_plus_constant():
    rng = np.random.default_rng(0)
    f = _features(rng)
    d = density.fit(f, "gaussian", shrinkage=0.0)
    x = f[:2]
    cells = x.reshape(-1, x.shape[-1])
    mu = f.reshape(-1, f.shape[-1]).mean(0)
    cov = np.cov(f.reshape(-1, f.shape[-1]), rowvar=False)
    maha = np.einsum("ij,jk,ik->i", cells - mu, np.linalg.inv(cov), cells - mu)
    scores = d.score(x).ravel()
    diff = scores - 0.5 * maha
    assert np.allclose(diff, diff[0], atol=1e-4)


def test_anomalous_cells_score_higher():
    rng = np.random.default_rng(1)
    normal = _features(rng)
    test = _features(rng, n=4)
    test[0, 1, 2] += 6.0
    for kind in ("gaussian", "gmm", "per-position", "knn"):
        d = density.fit(normal, kind, components=3)
        s = d.score(test)
        assert s[0, 1, 2] == s.max(), kind


def test_gmm_beats_gaussian_on_two_clusters():
    rng = np.random.default_rng(2)
    a = _features(rng, n=20, shift=-4.0)
    b = _features(rng, n=20, shift=4.0)
    normal = np.concatenate([a, b])
    between = np.zeros((1, 1, 1, 6))  # the empty middle is anomalous for a mixture
    g1 = density.fit(normal, "gaussian")
    g2 = density.fit(normal, "gmm", components=2)
    typical = normal[:1, :1, :1]
    assert g2.score(between)[0, 0, 0] - g2.score(typical)[0, 0, 0] > \
        g1.score(between)[0, 0, 0] - g1.score(typical)[0, 0, 0]


def test_save_load_roundtrip(tmp_path):
    rng = np.random.default_rng(3)
    f = _features(rng)
    d = density.fit(f, "gmm", components=2)
    d.save(tmp_path / "h.npz")
    back = density.Density.load(tmp_path / "h.npz")
    assert back.kind == "gmm"
    assert np.allclose(back.score(f[:3]), d.score(f[:3]), rtol=1e-4, atol=1e-3)


def test_unknown_kind_refused():
    with pytest.raises(ValueError, match="kind"):
        density.fit(np.zeros((2, 2, 2, 3)), "kde")


def test_knn_score_is_distance_to_nearest_normal_cell():
    rng = np.random.default_rng(4)
    normal = _features(rng, n=6)
    test = _features(rng, n=3)
    d = density.fit(normal, "knn")
    bank = normal.reshape(-1, normal.shape[-1])
    expected = [min(np.linalg.norm(q - b) for b in bank) for q in test.reshape(-1, test.shape[-1])]
    assert np.allclose(d.score(test).ravel(), expected, rtol=1e-5)
    assert d.score(normal[:1]).max() < 1e-3  # a bank cell is its own nearest neighbour


def test_knn_bank_is_capped_and_saved_in_half_precision(tmp_path):
    rng = np.random.default_rng(5)
    normal = _features(rng, n=10)  # 160 cells
    d = density.fit(normal, "knn", max_cells=50)
    assert d.means.shape == (50, 6)
    d.save(tmp_path / "h.npz")
    with np.load(tmp_path / "h.npz") as z:
        assert z["means"].dtype == np.float16
    back = density.Density.load(tmp_path / "h.npz")
    test = _features(rng, n=2)
    assert np.allclose(back.score(test), d.score(test), rtol=2e-3, atol=2e-3)


def test_image_score_poolings_by_hand():
    cells = np.array([[[1.0, 5.0], [3.0, 2.0]], [[0.0, 0.0], [0.0, 9.0]]])  # 2 images, 4 cells
    assert density.image_scores(cells, "max").tolist() == [5.0, 9.0]
    assert density.image_scores(cells, "mean").tolist() == [2.75, 2.25]
    assert density.image_scores(cells, "top-half").tolist() == [4.0, 4.5]  # (5+3)/2, (9+0)/2
    odd = np.array([[[1.0, 2.0, 3.0]]])  # 3 cells: the top half rounds up to 2
    assert density.image_scores(odd, "top-half").tolist() == [2.5]
    eleven = np.arange(11.0).reshape(1, 1, 11)  # the top tenth of 11 cells rounds up to 2
    assert density.image_scores(eleven, "top-tenth").tolist() == [9.5]
    assert density.image_scores(cells, "top-tenth").tolist() == [5.0, 9.0]  # 1 of 4 cells
    with pytest.raises(ValueError, match="pooling"):
        density.image_scores(cells, "median")


def test_whitening_is_the_exact_inverse_of_the_cholesky_factor():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 40)) @ rng.normal(size=(40, 40))
    whiten, log_norm = density._gaussian_factors(np.cov(a, rowvar=False), 1e-3)
    cov = np.cov(a, rowvar=False)
    cov = cov + 1e-3 * (np.trace(cov) / 40) * np.eye(40)
    assert np.array_equal(whiten, np.tril(whiten))  # lower-triangular, exactly
    np.testing.assert_allclose(whiten @ np.linalg.cholesky(cov), np.eye(40), atol=1e-9)
    np.testing.assert_allclose(whiten.T @ whiten, np.linalg.inv(cov), rtol=1e-7, atol=1e-9)
    assert log_norm == pytest.approx(-0.5 * np.linalg.slogdet(cov)[1] - 20 * np.log(2 * np.pi))


@pytest.mark.parametrize("kind", density.KINDS)
def test_single_precision_scores_rank_like_double(kind):
    """The search ranks with float32 scores: they must match float64 to float32 precision, so
    no rank turns on the dtype; float64 stays the default (thresholds, saved cells)."""
    rng = np.random.default_rng(4)
    normal = rng.normal(3.0, 1.0, (40, 4, 4, 24)) + rng.normal(0, 2, (1, 1, 1, 24))
    d = density.fit(normal, kind, components=2, max_cells=300)
    queries = rng.normal(3.0, 1.3, (10, 4, 4, 24))
    double, single = d.score(queries), d.score(queries, dtype=np.float32)
    assert np.array_equal(double, d.score(queries, dtype=np.float64))
    scale = np.abs(double).max()
    assert not np.array_equal(double, single) or kind == "knn"
    np.testing.assert_allclose(single, double, rtol=0, atol=1e-4 * scale)
    assert np.array_equal(d.score(queries), double)  # the float32 bank did not replace the float64 one's use
