"""The integer head: what the C head (firmware_templates/head/) computes, bit for bit, in numpy.

Built by quantize from the float density refitted on the int8 network's features, the
output quantization (scale s, zero point zp) and the threshold. Every score is an int32
fixed-point number: score = int / 2**frac_bits, comparable with the float density's score.

Gaussian kinds (gaussian, gmm, per-position), per Gaussian k and cell features q (int8):
    acc_i = sum_{j<=i} W_kij * (q_j - zp) - centre_ki        (exact; int32 blocks into int64)
    z_i   = clamp(round_shift(acc_i, shift_ki), +-Z_MAX)     (z_i / 2**Z_BITS ~ whitened x_i)
    s_k   = clamp32(round_shift(sum_i z_i**2, 2 Z_BITS + 1 - frac_bits) + offset_k)
with W_ki the float whitening row (times s), quantized to int16 with its own power of two,
centre_ki = round(W_ki . mean_k / s) taken with the quantized row (so the mean cancels
exactly, however ill-conditioned W is), and offset_k = -log_norm_k: s_k is half the squared
Mahalanobis distance minus the log-normaliser, in fixed point. A mixture's cell score is -log sum_k exp(-s_k), as the float
density's, by tables (lse_tables): s_min - log sum_k exp(-(s_k - s_min)), the differences in
steps of 1/32, the logarithm from the sum's leading bit and 7 bits below it (within ~0.04 of
the float value); per-position uses the cell's own Gaussian.

knn: a coreset of normal int8 cells (greedy k-center, PatchCore's, down to a byte budget).
    d2    = min_m sum_c (q_c - b_mc)**2                      (int32)
    score = clamp32(round_shift(isqrt(d2 << 16) * dist_mult, DIST_SHIFT))
which is s * sqrt(d2) (the float Euclidean distance) in fixed point.

Image score (POOLINGS): max, mean, top-half or top-tenth (the mean of the ceil(n/2) or
ceil(n/10) largest cell scores); means divide as C does (towards zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .density import POOLINGS, TOP_SHARES, Density, top_cells

Z_BITS = 8  # fraction bits of a whitened coordinate
Z_MAX = 1 << 26  # |z| cap: the squares of up to 2047 channels still sum inside an int64
W_MAX = (1 << 15) - 1  # int16 weights
D_MAX = 255  # |q - zp| bound
DIST_ROOT_BITS = 8  # isqrt(d2 << 2*DIST_ROOT_BITS) = sqrt(d2) in this many fraction bits
DIST_SHIFT = 16
MAX_FRAC_BITS = 16
HEADROOM = 256  # frac_bits leaves room for scores HEADROOM times the threshold
INT32_MAX = (1 << 31) - 1
INT32_MIN = -(1 << 31)
# int32 partial sums of W * d stay below 2**31: this many int16 pairs per block
BLOCK_PAIRS = max(1, (INT32_MAX // (W_MAX * D_MAX)) // 2)
DEFAULT_BANK_KB = 64
LSE_STEP_BITS = 5  # mixture score differences in steps of 2**-5
LSE_EXP_LEN = 12 << LSE_STEP_BITS  # exp(-t) for t < 12; beyond, a component adds < 1e-5
LSE_ONE_BITS = 16  # exp table values: 1.0 = 2**16
LSE_LOG_BITS = 7  # mantissa bits of the logarithm table
HEAD_KINDS = ("gaussian", "gmm", "per-position", "knn")


def round_shift(x: np.ndarray, shift) -> np.ndarray:
    """x / 2**shift rounded half up (arithmetic shifts, as in C), int64; shift may be an array."""
    x = np.asarray(x, np.int64)
    shift = np.asarray(shift, np.int64)
    pos = np.maximum(shift, 1)
    right = (x + (np.int64(1) << (pos - 1))) >> pos
    return np.where(shift > 0, right, x)


def c_div(total: np.ndarray, n: int) -> np.ndarray:
    """C's integer division (towards zero) of an int64 array by a positive int."""
    total = np.asarray(total, np.int64)
    return np.sign(total) * (np.abs(total) // n)


def clamp32(x: np.ndarray) -> np.ndarray:
    return np.clip(x, INT32_MIN, INT32_MAX).astype(np.int64)


def isqrt64(x: np.ndarray) -> np.ndarray:
    """Floor square root of non-negative int64 values, exact."""
    flat = np.asarray(x, np.int64).ravel()
    return np.array([math.isqrt(int(v)) for v in flat], np.int64).reshape(np.shape(x))


def pool_image(cells: np.ndarray, pooling: str) -> np.ndarray:
    """int32 image scores (N,) from int32 cell scores (N, ...), exactly as the C head pools."""
    flat = np.asarray(cells, np.int64).reshape(len(cells), -1)
    if pooling == "max":
        return flat.max(axis=1)
    if pooling == "mean":
        return c_div(flat.sum(axis=1), flat.shape[1])
    if pooling in TOP_SHARES:
        k = top_cells(flat.shape[1], pooling)
        # the sum of the k largest does not depend on how ties are broken
        return c_div(-np.sort(-flat, axis=1)[:, :k].sum(axis=1), k)
    raise ValueError(f"image score pooling {pooling!r}; expected one of {POOLINGS}")


def lse_tables(frac_bits: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(exp table, log table, ln 2) of the integer log-sum-exp at these fraction bits:
    exp[u] = 2**16 exp(-u / 32); log[m] = ln(1 + m / 128) and ln 2 in score units."""
    exp_t = np.round((1 << LSE_ONE_BITS) * np.exp(-np.arange(LSE_EXP_LEN) / (1 << LSE_STEP_BITS)))
    m = np.arange(1 << LSE_LOG_BITS)
    log_t = np.round(np.log1p(m / (1 << LSE_LOG_BITS)) * (1 << frac_bits))
    return exp_t.astype(np.int64), log_t.astype(np.int64), int(round(math.log(2) * (1 << frac_bits)))


def log_sum_exp_cells(scores: np.ndarray, frac_bits: int) -> np.ndarray:
    """-log sum_k exp(-score_k) of int scores (K, n), as the C head computes it."""
    exp_t, log_t, ln2 = lse_tables(frac_bits)
    scores = np.asarray(scores, np.int64)
    best = scores.min(axis=0)
    t = scores - best
    steps = (t >> (frac_bits - LSE_STEP_BITS) if frac_bits >= LSE_STEP_BITS
             else t << (LSE_STEP_BITS - frac_bits))
    total = np.where(steps < LSE_EXP_LEN, exp_t[np.minimum(steps, LSE_EXP_LEN - 1)], 0).sum(axis=0)
    lead = np.array([int(v).bit_length() - 1 for v in total], np.int64)  # >= 16: best adds 2**16
    mantissa = ((total << LSE_LOG_BITS) >> lead) & ((1 << LSE_LOG_BITS) - 1)
    return clamp32(best - ((lead - LSE_ONE_BITS) * ln2 + log_t[mantissa]))


def choose_frac_bits(threshold: float) -> int:
    """The most fraction bits that keep HEADROOM x |threshold| inside an int32."""
    bound = max(abs(float(threshold)), 1e-6) * HEADROOM
    return int(np.clip(math.floor(math.log2(INT32_MAX / bound)), 0, MAX_FRAC_BITS))


def greedy_coreset(bank: np.ndarray, size: int, seed: int = 0, project_to: int = 128) -> np.ndarray:
    """Indices of `size` rows picked by greedy k-center (PatchCore): each pick is the row
    farthest from those picked so far. Distances are taken in a random projection to
    project_to dimensions when the rows are wider (as PatchCore does), which keeps it fast."""
    x = np.asarray(bank, np.float32)
    n = len(x)
    if size >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    if x.shape[1] > project_to:
        proj = rng.normal(size=(x.shape[1], project_to)).astype(np.float32) / np.sqrt(project_to)
        x = x @ proj
    first = int(np.argmax(((x - x.mean(0)) ** 2).sum(1)))  # deterministic start
    picked = [first]
    nearest = ((x - x[first]) ** 2).sum(1)
    for _ in range(1, size):
        i = int(np.argmax(nearest))
        picked.append(i)
        nearest = np.minimum(nearest, ((x - x[i]) ** 2).sum(1))
    return np.sort(np.array(picked))


@dataclass
class IntHead:
    kind: str
    pooling: str
    grid: tuple[int, int]
    channels: int
    frac_bits: int
    threshold: int  # anomalous iff image score > threshold
    zero_point: int  # of the int8 features
    scale: float  # of the int8 features (for reports; the integers carry everything)
    # gaussian kinds: K Gaussians (K = cells for per-position)
    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))  # (K, C)
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), np.int16))  # (K, C, C) lower
    shifts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))  # (K, C)
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (K,)
    # knn
    bank: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int8))  # (M, C)
    dist_mult: int = 0

    # ---------------------------------------------------------------- building

    @classmethod
    def from_density(cls, density: Density, *, scale: float, zero_point: int,
                     grid: tuple[int, int], threshold: float, bank_kb: float = DEFAULT_BANK_KB,
                     frac_bits: int | None = None) -> "IntHead":
        """The integer form of a float density over features s * (q - zp); the float
        threshold becomes an int one (see with_threshold to set it from int scores)."""
        if density.kind not in HEAD_KINDS:
            raise ValueError(f"density kind {density.kind!r}; expected one of {HEAD_KINDS}")
        if density.pooling not in POOLINGS:
            raise ValueError(f"image score pooling {density.pooling!r}; expected one of {POOLINGS}")
        if not scale > 0:
            raise ValueError(f"feature scale {scale} must be positive")
        fb = choose_frac_bits(threshold) if frac_bits is None else int(frac_bits)
        channels = int(density.means.shape[1])
        head = cls(kind=density.kind, pooling=density.pooling, grid=(int(grid[0]), int(grid[1])),
                   channels=channels, frac_bits=fb, threshold=0, zero_point=int(zero_point),
                   scale=float(scale))
        if density.kind == "knn":
            head._set_bank(density.means, bank_kb)
        else:
            if density.kind == "per-position" and len(density.means) != grid[0] * grid[1]:
                raise ValueError(f"{len(density.means)} positions for a {grid[0]}x{grid[1]} grid")
            head._set_gaussians(density)
        head.threshold = head.int_score(threshold)
        return head

    def _set_gaussians(self, density: Density) -> None:
        s, zp = self.scale, self.zero_point
        if Z_MAX * Z_MAX * self.channels >= 1 << 63:
            raise ValueError(f"{self.channels} channels: a sum of squared whitened coordinates "
                             "would overflow an int64")
        # W (x - mean) = (W s) (q - zp - mean / s): one int16 row of W s per coordinate
        w = np.tril(np.asarray(density.whiten, np.float64)) * s
        row_max = np.abs(w).max(axis=2)
        row_bits = np.floor(np.log2(W_MAX / np.maximum(row_max, 1e-300)))
        if (row_bits < Z_BITS - 26).any():  # a left shift of z past Z_MAX's headroom
            raise ValueError("whitening rows too large for int16 weights; the features' scale "
                             f"{s} is too coarse for this density")
        row_bits = np.minimum(row_bits, 60)
        self.weights = np.round(w * np.exp2(row_bits)[..., None]).astype(np.int16)
        centre = np.asarray(density.means, np.float64) / s  # (K, C): mean in (q - zp) units
        self.centres = np.round(np.einsum("kij,kj->ki", self.weights.astype(np.float64),
                                          centre)).astype(np.int64)
        self.shifts = (row_bits - Z_BITS).astype(np.int8)
        self.offsets = np.round(-np.asarray(density.log_norm, np.float64)
                                * (1 << self.frac_bits)).astype(np.int64)

    def _set_bank(self, bank: np.ndarray, bank_kb: float) -> None:
        q = np.clip(np.round(np.asarray(bank, np.float64) / self.scale + self.zero_point), -128, 127)
        q = np.unique(q.astype(np.int8), axis=0)  # duplicate cells add bytes, not accuracy
        rows = max(1, int(bank_kb * 1024) // self.channels) if bank_kb else len(q)  # 0: the whole bank
        self.bank = q[greedy_coreset(q, rows)]
        self.dist_mult = int(round(self.scale * 2.0 ** (self.frac_bits - DIST_ROOT_BITS + DIST_SHIFT)))
        if not 0 < self.dist_mult <= INT32_MAX:
            raise ValueError(f"feature scale {self.scale} gives distance multiplier {self.dist_mult}")
        if self.channels * 255 * 255 > INT32_MAX:
            raise ValueError(f"{self.channels} channels overflow an int32 squared distance")

    def int_score(self, value: float) -> int:
        """A float score in this head's fixed point (rounded, clamped to int32)."""
        return int(np.clip(round(float(value) * (1 << self.frac_bits)), INT32_MIN, INT32_MAX))

    def with_threshold(self, image_scores_int: np.ndarray) -> "IntHead":
        """Set the threshold to the highest of these int image scores (no image above it)."""
        self.threshold = int(np.max(image_scores_int))
        return self

    # ---------------------------------------------------------------- scoring

    def score(self, features: np.ndarray, batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """(cells int32 (N, Gh, Gw), image int32 (N,)) for int8 features (N, Gh, Gw, C)."""
        q = np.asarray(features)
        if q.dtype != np.int8:
            raise ValueError(f"IntHead scores int8 features, got {q.dtype}")
        n = len(q)
        if q.shape[1:] != (*self.grid, self.channels):
            raise ValueError(f"features {q.shape[1:]} do not match the head's "
                             f"{(*self.grid, self.channels)}")
        cells = np.empty((n, self.cells), np.int64)
        for start in range(0, n, batch):
            x = q[start:start + batch].reshape(-1, self.cells, self.channels)
            cells[start:start + batch] = (self._knn_cells(x) if self.kind == "knn"
                                          else self._gaussian_cells(x))
        cells = cells.astype(np.int32)
        return cells.reshape(n, *self.grid), pool_image(cells, self.pooling).astype(np.int32)

    def _gaussian_cells(self, q: np.ndarray) -> np.ndarray:
        b, p, c = q.shape
        base = q.astype(np.int64) - self.zero_point  # (b, P, C)
        if self.kind == "per-position":
            out = np.empty((b, p), np.int64)
            for pos in range(p):
                out[:, pos] = self._component(base[:, pos], pos)
            return out
        scores = np.stack([self._component(base.reshape(-1, c), k) for k in range(self.n_gaussians)])
        if self.n_gaussians == 1:
            return scores[0].reshape(b, p)
        return log_sum_exp_cells(scores, self.frac_bits).reshape(b, p)

    def _component(self, base: np.ndarray, k: int) -> np.ndarray:
        # float64 holds these integer sums exactly (|sum| < C * 2**23 << 2**53)
        acc = np.rint(base.astype(np.float64) @ self.weights[k].astype(np.float64).T).astype(np.int64)
        acc = acc - self.centres[k]
        shift = self.shifts[k].astype(np.int64)
        left = np.maximum(-shift, 0)
        cap = np.int64(Z_MAX) >> left  # a left shift happens only below the cap
        z = np.where(shift > 0, round_shift(acc, shift), np.clip(acc, -cap, cap) << left)
        z = np.clip(z, -Z_MAX, Z_MAX)
        sumsq = (z * z).sum(axis=1)
        return clamp32(round_shift(sumsq, 2 * Z_BITS + 1 - self.frac_bits) + self.offsets[k])

    def _knn_cells(self, q: np.ndarray) -> np.ndarray:
        b, p, c = q.shape
        x = q.reshape(-1, c).astype(np.float64)
        bank = self.bank.astype(np.float64)
        bank_sq = (bank * bank).sum(1)
        d2 = np.empty(len(x), np.int64)
        for start in range(0, len(x), 1024):
            xs = x[start:start + 1024]
            # exact in float64: every term is an integer below 2**53
            full = (xs * xs).sum(1)[:, None] + bank_sq[None] - 2.0 * (xs @ bank.T)
            d2[start:start + len(xs)] = np.rint(full.min(axis=1)).astype(np.int64)
        root = isqrt64(d2 << (2 * DIST_ROOT_BITS))
        return clamp32(round_shift(root * self.dist_mult, DIST_SHIFT)).reshape(b, p)

    # ---------------------------------------------------------------- facts

    @property
    def cells(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def n_gaussians(self) -> int:
        return len(self.weights)

    def packed_weights(self, k: int) -> np.ndarray:
        """Gaussian k's lower triangle row by row, each row padded to an even length (SMLAD
        reads int16 pairs; a row then starts on a 4-byte boundary)."""
        rows = [np.pad(self.weights[k, i, :i + 1], (0, (i + 1) % 2)) for i in range(self.channels)]
        return np.concatenate(rows).astype(np.int16)

    @property
    def packed_len(self) -> int:
        c = self.channels
        return sum(i + 1 + (i + 1) % 2 for i in range(c))

    @property
    def flash_bytes(self) -> int:
        """Constant tables in flash (code not included)."""
        if self.kind == "knn":
            return int(self.bank.size)
        k, c = self.n_gaussians, self.channels
        return k * (2 * self.packed_len + 8 * c + c + 8)

    @property
    def ram_bytes(self) -> int:
        """Working memory of one vad_head_score call (the caller's cell_scores included)."""
        if self.kind == "knn":  # the cell as sign-extended int16 pairs (DSP path)
            work = 8 * (self.channels // 4 + 1)
        else:  # q - zp as int16, padded to a pair
            work = 2 * (self.channels + self.channels % 2)
        return work + 4 * self.cells

    @property
    def macs_per_image(self) -> int:
        if self.kind == "knn":
            return self.cells * len(self.bank) * self.channels
        per = self.channels * (self.channels + 1) // 2
        gaussians = 1 if self.kind == "per-position" else self.n_gaussians
        return self.cells * gaussians * per

    def describe(self) -> dict:
        return {"kind": self.kind, "pooling": self.pooling, "grid": list(self.grid),
                "channels": self.channels, "frac_bits": self.frac_bits, "threshold": self.threshold,
                "bank_cells": int(len(self.bank)) if self.kind == "knn" else None,
                "gaussians": self.n_gaussians if self.kind != "knn" else None,
                "flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes,
                "macs_per_image": self.macs_per_image}

    def digest(self) -> str:
        """sha256 of everything the C head is rendered from."""
        import hashlib
        h = hashlib.sha256(repr((self.kind, self.pooling, self.grid, self.channels, self.frac_bits,
                                 self.threshold, self.zero_point, self.dist_mult)).encode())
        for a in (self.centres, self.weights, self.shifts, self.offsets, self.bank):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    # ---------------------------------------------------------------- files

    def save(self, path: Path) -> None:
        with open(path, "wb") as f:
            np.savez(f, kind=np.array(self.kind), pooling=np.array(self.pooling),
                     grid=np.array(self.grid, np.int64), channels=np.int64(self.channels),
                     frac_bits=np.int64(self.frac_bits), threshold=np.int64(self.threshold),
                     zero_point=np.int64(self.zero_point), scale=np.float64(self.scale),
                     centres=self.centres, weights=self.weights, shifts=self.shifts,
                     offsets=self.offsets, bank=self.bank, dist_mult=np.int64(self.dist_mult))

    @classmethod
    def load(cls, path: Path) -> "IntHead":
        with np.load(path, allow_pickle=False) as z:
            return cls(kind=str(z["kind"]), pooling=str(z["pooling"]),
                       grid=tuple(int(v) for v in z["grid"]), channels=int(z["channels"]),
                       frac_bits=int(z["frac_bits"]), threshold=int(z["threshold"]),
                       zero_point=int(z["zero_point"]), scale=float(z["scale"]),
                       centres=z["centres"].astype(np.int64), weights=z["weights"].astype(np.int16),
                       shifts=z["shifts"].astype(np.int8), offsets=z["offsets"].astype(np.int64),
                       bank=z["bank"].astype(np.int8), dist_mult=int(z["dist_mult"]))


def to_int8(features: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Dequantized features s * (q - zp) back to their int8 q (exact: they came from ints)."""
    return np.clip(np.rint(np.asarray(features, np.float64) / scale) + zero_point,
                   -128, 127).astype(np.int8)


def build_int_head(density: Density, fit_q: np.ndarray, validation_q: np.ndarray,
                   validation_labels: np.ndarray, *, scale: float, zero_point: int,
                   float_threshold: float, bank_kb: float = DEFAULT_BANK_KB,
                   given_threshold: float | None = None) -> IntHead:
    """The IntHead of a density refitted on int8 features (fomo_ad.fit_head's result), with
    the threshold set as fit_head sets it, but on the int scores: best F1 on the validation
    set (validation.choose_threshold; without one, the highest score of the fitted images),
    or the given threshold."""
    from ..validation import choose_threshold
    grid = tuple(fit_q.shape[1:3])
    normals_q = validation_q[np.asarray(validation_labels) == 0] if len(validation_q) else validation_q
    reference = normals_q if len(normals_q) else fit_q
    # fraction bits from the largest normal score magnitude too: a Gaussian's log-normaliser
    # can put the threshold near 0 while normal cells score in the thousands
    normal = density.score(scale * (reference.astype(np.float64) - zero_point))
    threshold = float_threshold if given_threshold is None else given_threshold
    bound = max(abs(float(threshold)), float(np.abs(normal).max()) if normal.size else 0.0)
    head = IntHead.from_density(density, scale=scale, zero_point=zero_point, grid=grid,
                                threshold=threshold, bank_kb=bank_kb,
                                frac_bits=choose_frac_bits(bound))
    if given_threshold is not None:
        return head
    if not len(validation_q):
        return head.with_threshold(head.score(fit_q)[1])
    scores = head.score(validation_q)[1]
    # ints: the midpoint's floor keeps every flagged score above and every other at or below
    head.threshold = int(np.floor(choose_threshold(scores, validation_labels)[0]))
    return head
