"""The report's plots as PNG bytes: ROC and precision-recall curves, score histograms with
the threshold, the confusion matrix. matplotlib's Agg canvas directly (no pyplot, no global
backend state)."""

from __future__ import annotations

import io

import numpy as np

from .. import metrics

SIZE = (4.2, 3.2)  # inches
DPI = 100


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def roc_plot(curves: dict[str, tuple]) -> bytes:
    """curves: runtime -> (labels, scores)."""
    fig, ax = _figure()
    for name, (labels, scores) in curves.items():
        fpr, tpr = metrics.roc_curve(labels, scores)
        auc = metrics.auroc(labels, scores)
        ax.plot(fpr, tpr, drawstyle="steps-post", label=f"{name} (AUROC {auc:.3f})" if auc is not None else name)
    ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (image level)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def pr_plot(curves: dict[str, tuple]) -> bytes:
    fig, ax = _figure()
    for name, (labels, scores) in curves.items():
        recall, precision = metrics.pr_curve(labels, scores)
        ap = metrics.average_precision(labels, scores)
        ax.plot(recall, precision, drawstyle="steps-post",
                label=f"{name} (AP {ap:.3f})" if ap is not None else name)
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall (image level)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01))
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)


def histogram_plot(labels, scores, threshold: float, runtime: str) -> bytes:
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, np.float64)
    fig, ax = _figure()
    lo, hi = float(min(s.min(), threshold)), float(max(s.max(), threshold))
    bins = np.linspace(lo, hi + 1e-9 * max(1.0, abs(hi)), 31)
    ax.hist(s[~y], bins=bins, alpha=0.6, color="tab:blue", label=f"normal ({int((~y).sum())})")
    ax.hist(s[y], bins=bins, alpha=0.6, color="tab:red", label=f"anomalous ({int(y.sum())})")
    ax.axvline(threshold, color="k", ls="--", lw=1.2, label=f"threshold {threshold:.4g}")
    ax.set(xlabel="image score", ylabel="images", title=f"Image scores ({runtime})")
    ax.legend(fontsize=8)
    return _png(fig)


def confusion_plot(confusion: dict, runtime: str) -> bytes:
    m = np.array([[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]])
    fig, ax = _figure()
    ax.imshow(m, cmap="Blues", vmin=0, vmax=max(int(m.max()), 1))
    for (i, j), v in np.ndenumerate(m):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=14,
                color="white" if v > m.max() / 2 else "black")
    ax.set_xticks([0, 1], ["normal", "anomalous"])
    ax.set_yticks([0, 1], ["normal", "anomalous"])
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion at the threshold ({runtime})")
    return _png(fig)
