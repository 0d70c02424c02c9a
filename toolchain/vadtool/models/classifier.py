"""Supervised baseline: a pretrained MobileNet, frozen, with a small softmax head trained on
normal and anomalous images. Output: class scores (normal, anomalous)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..tfenv import keras
from .backbone import BackboneSpec, build_backbone


def _default_backbone() -> BackboneSpec:
    return BackboneSpec(arch="mobilenet_v1", alpha=0.25, cut=None)


@dataclass
class ClassifierRecipe:
    backbone: BackboneSpec = field(default_factory=_default_backbone)
    size: int = 96
    anomaly_share: float = 0.3  # share of each defect type's test images used for training
    epochs: int = 60
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


def build_network(recipe: ClassifierRecipe) -> tuple[keras.Model, keras.Model]:
    """(features model, full classifier). The head is trained on cached features."""
    backbone = build_backbone(recipe.backbone, recipe.size)
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(backbone.output)
    features = keras.Model(backbone.input, pooled, name="features")
    head = keras.layers.Dense(2, activation="softmax", name="classes")
    full = keras.Model(backbone.input, head(pooled), name="classifier")
    return features, full


def train_head(full: keras.Model, features: np.ndarray, labels: np.ndarray,
               recipe: ClassifierRecipe) -> dict:
    """Fit the softmax layer on pooled features, classes weighted to balance them."""
    keras.utils.set_random_seed(recipe.seed)
    head = full.get_layer("classes")
    inp = keras.Input(features.shape[1:])
    model = keras.Model(inp, head(inp))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    counts = np.bincount(labels, minlength=2).astype(float)
    weights = {c: len(labels) / (2 * max(counts[c], 1)) for c in (0, 1)}
    hist = model.fit(features, labels, epochs=recipe.epochs, batch_size=32, verbose=0,
                     class_weight=weights)
    return {"loss": float(hist.history["loss"][-1]), "accuracy": float(hist.history["accuracy"][-1])}


def choose_training_anomalies(defects: list[str], share: float, seed: int) -> np.ndarray:
    """Indices of a seeded, stratified share of anomalous images (at least one per defect)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for defect in sorted(set(defects)):
        idx = np.array([i for i, d in enumerate(defects) if d == defect])
        k = max(1, int(round(len(idx) * share))) if len(idx) > 1 else 0
        chosen.extend(rng.choice(idx, k, replace=False).tolist())
    return np.array(sorted(chosen), dtype=int)
