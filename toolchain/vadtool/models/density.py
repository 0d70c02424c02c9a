"""Densities of normal cell features, and the cell score they give (pure numpy).

Every density is stored the same way, so Python, the C head and reports read one format:
a mixture of K full-covariance Gaussians, each as a mean, a whitening matrix W (W^T W is
the precision) and a log-normaliser, plus how cell scores pool into the image score (one of
POOLINGS); the cell score is the negative log-likelihood

    score(x) = -logsumexp_k( log_norm_k - 0.5 * ||W_k (x - mean_k)||^2 )

K = 1 is the plain Gaussian (the score is then half the squared Mahalanobis distance plus a
constant). "per-position" keeps one Gaussian per cell position instead of one shared by all.

"knn" is no parametric density: `means` holds a bank of normal cell features and the cell
score is the Euclidean distance to the nearest of them (PatchCore's score; no whitening, so
`whiten` and `log_norm` are empty). It follows normal cells that come in several looks, where
one Gaussian spreads over all of them (magnetic_tile: image AUROC 0.65 with a Gaussian, 0.94
with a bank in the recipe `--no-search` trains, int8; `make bench`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("gaussian", "gmm", "per-position", "knn")
# max: the worst cell, for small defects; mean: defects spread over many cells; top-half and
# top-tenth: the mean of the largest ceil(n / d) cells (TOP_SHARES), between the two.
TOP_SHARES = {"top-half": 2, "top-tenth": 10}
POOLINGS = ("max", "mean", *TOP_SHARES)
KNN_QUERY_BATCH = 2048  # cells per distance block: a (2048 x bank) float64 matrix


@dataclass
class Density:
    kind: str
    means: np.ndarray  # (K, C) shared, (G*G, C) per position, or (M, C) the knn bank
    whiten: np.ndarray  # (K, C, C) lower-triangular-inverse factors; (0, C, C) for knn
    log_norm: np.ndarray  # (K,); (0,) for knn
    pooling: str = "max"  # cell scores -> image score
    # knn: the bank in float64 and its squared norms, made once, not on every score() call
    _bank: tuple | None = field(default=None, init=False, repr=False, compare=False)

    def image_scores(self, cell_scores: np.ndarray) -> np.ndarray:
        return image_scores(cell_scores, self.pooling)

    def score(self, features: np.ndarray, batch: int = 16, dtype=np.float64) -> np.ndarray:
        """Cell scores (N, G, G) for features (N, G, G, C), computed in dtype: float64 for
        what a run keeps (thresholds, the cells quantize compares with); the recipe search
        ranks in float32, half the work, where a score's last digits never decide a rank."""
        n, gh, gw, c = features.shape
        dtype = np.dtype(dtype)
        if self.kind == "knn":
            if self._bank is None or self._bank[0].dtype != dtype:
                bank = np.asarray(self.means, dtype)
                self._bank = bank, (bank * bank).sum(1)
            return _nearest_distance(features.reshape(-1, c), *self._bank).reshape(n, gh, gw)
        means, whiten, log_norm = (np.asarray(a, dtype) for a in (self.means, self.whiten, self.log_norm))
        out = np.empty((n, gh, gw), np.float32)
        for start in range(0, n, batch):
            f = features[start:start + batch].reshape(-1, gh * gw, c).astype(dtype)
            if self.kind == "per-position":
                d = f - means[None]  # (b, P, C)
                z = np.einsum("pij,bpj->bpi", whiten, d)
                s = 0.5 * (z * z).sum(-1) - log_norm[None]
            else:
                comps = []
                for k in range(len(means)):
                    z = (f - means[k]) @ whiten[k].T
                    comps.append(log_norm[k] - 0.5 * (z * z).sum(-1))
                s = -_logsumexp(np.stack(comps), axis=0)
            out[start:start + batch] = s.reshape(-1, gh, gw)
        return out

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            # a nearest-neighbour bank is large and needs no more than half precision
            means = self.means.astype(np.float16 if self.kind == "knn" else np.float32)
            np.savez(f, kind=np.array(self.kind), pooling=np.array(self.pooling), means=means,
                     whiten=self.whiten.astype(np.float32), log_norm=self.log_norm.astype(np.float32))

    @classmethod
    def load(cls, path: Path) -> "Density":
        with np.load(path, allow_pickle=False) as z:
            pooling = str(z["pooling"]) if "pooling" in z.files else "max"
            return cls(str(z["kind"]), z["means"].astype(np.float64),
                       z["whiten"].astype(np.float64), z["log_norm"].astype(np.float64), pooling)

    @property
    def n_params(self) -> int:
        return int(self.means.size + self.whiten.size + self.log_norm.size)


def image_scores(cell_scores: np.ndarray, pooling: str = "max") -> np.ndarray:
    """The image score from the cell scores, by one of POOLINGS."""
    _check_pooling(pooling)
    flat = cell_scores.reshape(len(cell_scores), -1)
    if pooling == "max":
        return flat.max(axis=1)
    if pooling == "mean":
        return flat.mean(axis=1)
    top = -np.sort(-flat, axis=1)[:, :top_cells(flat.shape[1], pooling)]
    return top.mean(axis=1)


def top_cells(n_cells: int, pooling: str) -> int:
    """How many of n_cells cell scores a top-* pooling averages: ceil(n / share)."""
    return -(-n_cells // TOP_SHARES[pooling])


def _check_pooling(pooling: str) -> None:
    if pooling not in POOLINGS:
        raise ValueError(f"image score pooling {pooling!r}; expected one of {POOLINGS}")


def _nearest_distance(queries: np.ndarray, bank: np.ndarray, bank_sq: np.ndarray) -> np.ndarray:
    """Euclidean distance from each query row to its nearest bank row (in the bank's dtype,
    with bank_sq its squared norms), in blocks."""
    out = np.empty(len(queries), np.float32)
    for start in range(0, len(queries), KNN_QUERY_BATCH):
        q = queries[start:start + KNN_QUERY_BATCH].astype(bank.dtype)
        d2 = (q * q).sum(1)[:, None] + bank_sq[None, :] - 2.0 * (q @ bank.T)
        out[start:start + len(q)] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
    return out


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _gaussian_factors(cov: np.ndarray, shrinkage: float):
    """Whitening matrix and log-normaliser of N(., cov) with shrinkage towards a scaled identity."""
    c = cov.shape[0]
    cov = cov + shrinkage * (np.trace(cov) / c + 1e-12) * np.eye(c)
    chol = np.linalg.cholesky(cov)
    whiten = _lower_inverse(chol)
    log_norm = -np.log(np.diag(chol)).sum() - 0.5 * c * np.log(2 * np.pi)
    return whiten, log_norm


def _lower_inverse(chol: np.ndarray) -> np.ndarray:
    """The inverse of a lower-triangular matrix (LAPACK trtri: a third of a general inverse's
    work, and exactly lower-triangular)."""
    from scipy.linalg import lapack
    inverse, info = lapack.dtrtri(np.asarray(chol, np.float64), lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"singular Cholesky factor (trtri info {info})")
    return inverse


def fit(features: np.ndarray, kind: str = "gaussian", components: int = 16,
        shrinkage: float = 1e-3, seed: int = 0, max_cells: int = 40000,
        pooling: str = "max") -> Density:
    """Fit a density on the cells of normal images: features (N, G, G, C)."""
    _check_pooling(pooling)  # before the fit, which can take a while
    density = _fit(features, kind, components, shrinkage, seed, max_cells)
    density.pooling = pooling
    return density


def _fit(features, kind, components, shrinkage, seed, max_cells) -> Density:
    if kind not in KINDS:
        raise ValueError(f"density kind {kind!r}; expected one of {KINDS}")
    n, gh, gw, c = features.shape
    if kind == "per-position":
        cells = features.reshape(n, gh * gw, c).astype(np.float64)
        means = cells.mean(0)
        whiten = np.empty((gh * gw, c, c))
        log_norm = np.empty(gh * gw)
        for p in range(gh * gw):
            whiten[p], log_norm[p] = _gaussian_factors(np.cov(cells[:, p], rowvar=False), shrinkage)
        return Density(kind, means, whiten, log_norm)
    cells = features.reshape(-1, c).astype(np.float64)
    rng = np.random.default_rng(seed)
    if kind == "knn":
        if len(cells) > max_cells:  # a random subset keeps the bank (and head file) bounded
            cells = cells[np.sort(rng.choice(len(cells), max_cells, replace=False))]
        return Density("knn", cells, np.zeros((0, c, c)), np.zeros(0))
    if kind == "gaussian" or components == 1:
        whiten, log_norm = _gaussian_factors(np.cov(cells, rowvar=False), shrinkage)
        return Density("gaussian", cells.mean(0)[None], whiten[None], np.array([log_norm]))
    # EM costs K * cells * C^2 per step: a few thousand cells per component pin a covariance
    # down as well as 40,000 do (278 images, 192 channels: 545 s before, seconds now)
    limit = min(max_cells, GMM_CELLS_PER_COMPONENT * components)
    if len(cells) > limit:
        cells = cells[np.sort(rng.choice(len(cells), limit, replace=False))]
    return _fit_gmm(cells, components, shrinkage, rng)


GMM_CELLS_PER_COMPONENT = 512  # EM sample: enough for a shrunk covariance per component
GMM_ITERATIONS = 15  # after a k-means start, EM settles in a few steps


def _sq_dist(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    return (x * x).sum(1)[:, None] + (centers * centers).sum(1)[None] - 2.0 * x @ centers.T


def _fit_gmm(x: np.ndarray, k: int, shrinkage: float, rng, iters: int = GMM_ITERATIONS) -> Density:
    """Full-covariance EM from a k-means++ / Lloyd start; each covariance shrunk like the
    single Gaussian."""
    n, c = x.shape
    centers = [x[rng.integers(n)]]
    d2 = ((x - centers[0]) ** 2).sum(1)
    for _ in range(1, k):
        centers.append(x[rng.choice(n, p=d2 / d2.sum())])
        d2 = np.minimum(d2, ((x - centers[-1]) ** 2).sum(1))
    means = np.array(centers)
    for _ in range(5):  # Lloyd steps: cheap (n x k distances), and EM starts near its end
        assign = np.argmin(_sq_dist(x, means), axis=1)
        means = np.array([x[assign == j].mean(0) if (assign == j).any() else means[j] for j in range(k)])
    assign = np.argmin(_sq_dist(x, means), axis=1)
    resp = np.eye(k)[assign]
    global_scale = np.trace(np.cov(x, rowvar=False)) / c
    prev = -np.inf
    for _ in range(iters):
        nk = resp.sum(0) + 1e-9
        weights = nk / n
        means = (resp.T @ x) / nk[:, None]
        whiten = np.empty((k, c, c))
        log_norm = np.empty(k)
        for j in range(k):
            d = x - means[j]
            cov = (resp[:, j, None] * d).T @ d / nk[j]
            cov += shrinkage * global_scale * np.eye(c)
            whiten[j], log_norm[j] = _gaussian_factors(cov, 0.0)
            log_norm[j] += np.log(weights[j])
        ll = np.stack([log_norm[j] - 0.5 * (((x - means[j]) @ whiten[j].T) ** 2).sum(1)
                       for j in range(k)], axis=1)
        total = _logsumexp(ll, axis=1)
        resp = np.exp(ll - total[:, None])
        mean_ll = total.mean()
        if mean_ll - prev < 1e-4 * abs(mean_ll):
            break
        prev = mean_ll
    return Density("gmm", means, whiten, log_norm)
