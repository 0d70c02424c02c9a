import numpy as np
import pytest

from vadtool import metrics


def test_auroc_hand_computed():
    # positives 0.8, 0.4; negatives 0.5, 0.1: pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) -> 3/4
    assert metrics.auroc([1, 1, 0, 0], [0.8, 0.4, 0.5, 0.1]) == pytest.approx(0.75)


def test_auroc_ties_count_half():
    assert metrics.auroc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert metrics.auroc([1, 1, 0], [0.7, 0.5, 0.5]) == pytest.approx(0.75)


def test_auroc_single_class_is_none():
    assert metrics.auroc([0, 0, 0], [0.1, 0.2, 0.3]) is None


def test_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    pos, neg = s[y == 1], s[y == 0]
    pairwise = ((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg))
    assert metrics.auroc(y, s) == pytest.approx(pairwise)


def test_f1_at_threshold_hand_computed():
    # scores > 0.5 predicted anomalous: tp=2 (0.9, 0.7), fp=1 (0.6), fn=1 (0.2) -> 2*2/(4+1+1)
    y = [1, 1, 0, 1, 0]
    s = [0.9, 0.7, 0.6, 0.2, 0.1]
    assert metrics.f1_at(y, s, 0.5) == pytest.approx(4 / 6)
    assert metrics.confusion(y, s, 0.5) == {"tp": 2, "fp": 1, "tn": 1, "fn": 1}


def test_best_f1_finds_the_separating_threshold():
    y = [0, 0, 1, 1, 1]
    s = [0.1, 0.2, 0.3, 0.8, 0.9]
    best, at = metrics.best_f1(y, s)
    assert best == pytest.approx(1.0)
    assert 0.2 <= at < 0.3


def test_roc_curve_endpoints_and_monotone():
    fpr, tpr = metrics.roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.3, 0.1])
    assert (fpr[0], tpr[0]) == (0, 0) and (fpr[-1], tpr[-1]) == (1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


def test_precision_recall_hand_computed():
    # thresholds 0.9, 0.8, 0.7: (tp, fp) = (1, 0), (1, 1), (2, 1)
    recall, precision = metrics.pr_curve([1, 0, 1], [0.9, 0.8, 0.7])
    assert np.allclose(recall, [0, 0.5, 0.5, 1.0])
    assert np.allclose(precision, [1, 1, 0.5, 2 / 3])
    # steps: 0.5 * 1 + 0 * 0.5 + 0.5 * 2/3
    assert metrics.average_precision([1, 0, 1], [0.9, 0.8, 0.7]) == pytest.approx(0.5 + 1 / 3)
    assert metrics.average_precision([0, 0], [0.1, 0.2]) is None


def test_limit_keeps_both_classes_in_proportion():
    from types import SimpleNamespace

    from vadtool.evaluate import _stratified_head
    samples = [SimpleNamespace(label=0, i=i) for i in range(12)] + \
              [SimpleNamespace(label=1, i=i) for i in range(24)]
    picked = _stratified_head(samples, 6)
    assert [s.label for s in picked].count(0) == 2 and len(picked) == 6
    assert len({id(s) for s in picked}) == 6
    few = _stratified_head(samples, 2)
    assert sorted(s.label for s in few) == [0, 1]
    assert _stratified_head(samples, 100) == samples
