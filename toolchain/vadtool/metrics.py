"""Detection metrics over scores and labels (pure numpy, no thresholds hidden inside)."""

from __future__ import annotations

import numpy as np


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties sharing their mean rank."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x), np.float64)
    starts = np.r_[0, np.flatnonzero(np.diff(xs)) + 1]
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def auroc(labels, scores) -> float | None:
    """Area under the ROC curve (Mann-Whitney); None when only one class is present."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, np.float64).ravel()
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    r = _ranks(s)
    return float((r[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1_at(labels, scores, threshold: float) -> float:
    """F1 of the anomalous class, predicting anomalous when score > threshold."""
    y = np.asarray(labels).astype(bool)
    p = np.asarray(scores) > threshold
    tp, fp, fn = int((y & p).sum()), int((~y & p).sum()), int((y & ~p).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def confusion(labels, scores, threshold: float) -> dict:
    y = np.asarray(labels).astype(bool)
    p = np.asarray(scores) > threshold
    return {"tp": int((y & p).sum()), "fp": int((~y & p).sum()),
            "tn": int((~y & ~p).sum()), "fn": int((y & ~p).sum())}


def best_f1(labels, scores) -> tuple[float, float]:
    """(best F1 over all thresholds, the threshold that gives it)."""
    s = np.asarray(scores, np.float64)
    candidates = np.unique(s)
    best, at = 0.0, float(candidates[0]) if len(candidates) else 0.0
    # thresholds just below each distinct score, so that score counts as anomalous
    for t in np.r_[candidates[0] - 1.0, candidates[:-1]] if len(candidates) else []:
        f = f1_at(labels, s, t)
        if f > best:
            best, at = f, float(t)
    return best, at


def _sweep(labels, scores) -> tuple[np.ndarray, np.ndarray, int, int]:
    """True and false positive counts at each distinct score, from the highest down."""
    y = np.asarray(labels).ravel().astype(bool)
    s = np.asarray(scores, np.float64).ravel()
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    return np.cumsum(y)[last], np.cumsum(~y)[last], int(y.sum()), int((~y).sum())


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(false positive rates, true positive rates), from the highest threshold down."""
    tps, fps, n_pos, n_neg = _sweep(labels, scores)
    return np.r_[0, fps] / max(n_neg, 1), np.r_[0, tps] / max(n_pos, 1)


def pr_curve(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision), from the highest threshold down; precision at recall 0 is 1."""
    tps, fps, n_pos, _ = _sweep(labels, scores)
    return np.r_[0.0, tps / max(n_pos, 1)], np.r_[1.0, tps / np.maximum(tps + fps, 1)]


def average_precision(labels, scores) -> float | None:
    """Area under the precision-recall steps; None without anomalies."""
    if not np.asarray(labels).astype(bool).any():
        return None
    recall, precision = pr_curve(labels, scores)
    return float(np.sum(np.diff(recall) * precision[1:]))
