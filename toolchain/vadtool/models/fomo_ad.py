"""FOMO-AD-style detector: a frozen pretrained backbone cut early, pooled, and a density of
normal cell features. The network part (backbone + pooling) is what gets quantized and
deployed; the density head scores its output on the host or in C on the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..tfenv import keras
from .backbone import BackboneSpec, build_backbone
from .density import Density, fit, image_scores


@dataclass
class FomoAdRecipe:
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
    size: int = 128
    pool: int = 3  # average-pooling window on the feature map (0: none)
    pool_stride: int = 2
    density: str = "gaussian"  # gaussian | gmm | per-position
    components: int = 16  # for gmm
    shrinkage: float = 1e-3
    holdout: float = 0.2  # share of normal training images kept back for the threshold

    def to_json(self) -> dict:
        d = asdict(self)
        d["backbone"] = self.backbone.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict) -> "FomoAdRecipe":
        d = dict(d)
        d["backbone"] = BackboneSpec(**d["backbone"])
        return cls(**d)


def build_network(recipe: FomoAdRecipe) -> keras.Model:
    """Raw pixels (S, S, 3) in, pooled cell features (G, G, C) out."""
    backbone = build_backbone(recipe.backbone, recipe.size)
    x = backbone.output
    if recipe.pool:
        x = keras.layers.AveragePooling2D(recipe.pool, strides=recipe.pool_stride,
                                          padding="same", name="cell_pool")(x)
    return keras.Model(backbone.input, x, name="fomo_ad")


def split_holdout(n: int, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, holdout) of n normal images; no holdout when too few images."""
    n_hold = int(round(n * share)) if n >= 10 else 0
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def fit_head(recipe: FomoAdRecipe, fit_features: np.ndarray,
             holdout_features: np.ndarray) -> tuple[Density, float]:
    """Fit the density on normal cells; the threshold flags no held-back normal image."""
    density = fit(fit_features, recipe.density, recipe.components, recipe.shrinkage)
    reference = holdout_features if len(holdout_features) else fit_features
    threshold = float(image_scores(density.score(reference)).max())
    return density, threshold
