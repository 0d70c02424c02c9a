"""Supervised baseline: a pretrained MobileNet, frozen, with a small softmax head trained on
normal and anomalous images. Output: class scores (normal, anomalous)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..tfenv import keras
from .backbone import BackboneSpec, build_backbone, layer_stride


def _default_backbone() -> BackboneSpec:
    return BackboneSpec(arch="mobilenet_v1", alpha=0.25, cut=None)


@dataclass
class ClassifierRecipe:
    backbone: BackboneSpec = field(default_factory=_default_backbone)
    size: int = 96  # the shorter input side; the longer follows the data's aspect ratio
    shape: list[int] | None = None  # [height, width]; None: chosen from the data at train time
    resize: str = "squash"  # one of geometry.RESIZES
    anomaly_share: float = 0.3  # share of each defect type's test images used for training
    l2: float = 1e-3  # weight penalty of the softmax layer
    max_iter: int = 500
    seed: int = 0

    def to_json(self) -> dict:
        d = asdict(self)
        d["backbone"] = self.backbone.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ClassifierRecipe":
        d = dict(d)
        d["backbone"] = BackboneSpec(**d["backbone"])
        return cls(**d)


def output_stride(recipe: ClassifierRecipe) -> int:
    """Input pixels per feature-map pixel before the global pooling."""
    return layer_stride(recipe.backbone, recipe.backbone.cut)


def build_network(recipe: ClassifierRecipe) -> tuple[keras.Model, keras.Model]:
    """(features model, full classifier) for recipe.shape (without one, size x size). The
    head is trained on cached features."""
    backbone = build_backbone(recipe.backbone, tuple(recipe.shape) if recipe.shape else recipe.size)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
    features = keras.Model(backbone.input, pooled, name="features")
    head = keras.layers.Dense(2, activation="softmax", name="classes")
    full = keras.Model(backbone.input, head(pooled), name="classifier")
    return features, full


def train_head(full: keras.Model, features: np.ndarray, labels: np.ndarray,
               recipe: ClassifierRecipe) -> dict:
    """Fit the softmax layer on pooled features: class-balanced cross-entropy with a small
    L2 penalty, minimised by L-BFGS (a convex problem: deterministic and quick)."""
    from scipy.optimize import minimize

    n, d = features.shape
    x = np.hstack([features.astype(np.float64), np.ones((n, 1))])
    counts = np.bincount(labels, minlength=2).astype(float)
    sample_w = (n / (2 * np.maximum(counts, 1)))[labels]
    onehot = np.eye(2)[labels]

    def loss_grad(flat):
        w = flat.reshape(d + 1, 2)
        logits = x @ w
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        nll = -(sample_w * np.log((p * onehot).sum(1) + 1e-12)).sum() / n
        grad = x.T @ ((p - onehot) * sample_w[:, None]) / n
        grad[:-1] += recipe.l2 * w[:-1]
        return nll + 0.5 * recipe.l2 * (w[:-1] ** 2).sum(), grad.ravel()

    fitted = minimize(loss_grad, np.zeros((d + 1) * 2), jac=True, method="L-BFGS-B",
                      options={"maxiter": recipe.max_iter})
    w = fitted.x.reshape(d + 1, 2)
    full.get_layer("classes").set_weights([w[:-1].astype(np.float32), w[-1].astype(np.float32)])
    predicted = (x @ w).argmax(axis=1)
    return {"loss": float(fitted.fun), "accuracy": float((predicted == labels).mean()),
            "iterations": int(fitted.nit)}


def choose_training_anomalies(defects: list[str], share: float, seed: int) -> np.ndarray:
    """Indices of a seeded, stratified share of anomalous images (at least one per defect)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for defect in sorted(set(defects)):
        idx = np.array([i for i, d in enumerate(defects) if d == defect])
        k = max(1, int(round(len(idx) * share))) if len(idx) > 1 else 0
        chosen.extend(rng.choice(idx, k, replace=False).tolist())
    return np.array(sorted(chosen), dtype=int)
