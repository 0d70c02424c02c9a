"""FOMO-AD-style detector: a frozen pretrained backbone cut early, pooled, and a density of
normal cell features. The network part (backbone + pooling) is what gets quantized and
deployed; the density head scores its output on the host or in C on the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..tfenv import keras
from .backbone import BackboneSpec, build_backbone
from .density import Density, fit

# train's cell scores of the held-back normal images, before a knn bank takes them in
HOLDOUT_CELLS = "holdout_cells.npy"


@dataclass
class FomoAdRecipe:
    """The default is the most accurate recipe measured on ../shared/data (README, "Accuracy"):
    stride-8 and stride-16 features, 7x7/2 pooling, nearest normal cell, mean of the top half of
    the cells. models/fomo-ad-gaussian.json is the one whose head also runs in C on a device."""
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
    size: int = 128
    # deeper layers concatenated to the cut
    extra_layers: list[str] = field(default_factory=lambda: ["block_13_expand_relu"])
    pool: int = 7  # average-pooling window on the feature map (0: none)
    pool_stride: int = 2
    density: str = "knn"  # one of density.KINDS
    components: int = 16  # for gmm
    shrinkage: float = 1e-3
    max_cells: int = 16384  # normal cells kept for knn (and gmm's EM); a random subset above it
    image_score: str = "top-half"  # one of density.POOLINGS
    holdout: float = 0.2  # share of normal training images kept back for the threshold
    bank_kb: float = 64  # knn: the int8 coreset's size on the device (greedy k-center)
    project: int = 0  # >0: cells projected to this many principal components (models/projection.py)

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
    """Raw pixels (S, S, 3) in, pooled cell features (G, G, C) out. With extra_layers, each
    layer is pooled the same way, finer maps are averaged down to the coarsest grid, and the
    features are concatenated per cell."""
    layers = [recipe.backbone.cut] + [name for name in recipe.extra_layers if name != recipe.backbone.cut]
    backbone = build_backbone(recipe.backbone, recipe.size,
                              outputs=layers if len(layers) > 1 else None)
    maps = backbone.outputs
    if recipe.pool:
        maps = [keras.layers.AveragePooling2D(recipe.pool, strides=recipe.pool_stride,
                                              padding="same", name=f"cell_pool_{i}")(m)
                for i, m in enumerate(maps)]
    grid = min(m.shape[1] for m in maps)
    maps = [keras.layers.AveragePooling2D(m.shape[1] // grid, name=f"to_grid_{i}")(m)
            if m.shape[1] != grid else m for i, m in enumerate(maps)]
    x = maps[0] if len(maps) == 1 else keras.layers.Concatenate(name="cells")(maps)
    return keras.Model(backbone.input, x, name="fomo_ad")


def split_holdout(n: int, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, holdout) of n normal images; no holdout when too few images."""
    n_hold = int(round(n * share)) if n >= 10 else 0
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def fit_head(recipe: FomoAdRecipe, fit_features: np.ndarray,
             holdout_features: np.ndarray) -> tuple[Density, float, np.ndarray]:
    """Fit the density on normal cells; the threshold flags no held-back normal image.
    Returns the density, the threshold and the cell scores it was set on (of the held-back
    images, or of the fitted ones without them), scored before a knn bank takes them in."""
    def fit_on(features):
        return fit(features, recipe.density, recipe.components, recipe.shrinkage,
                   max_cells=recipe.max_cells, pooling=recipe.image_score)
    density = fit_on(fit_features)
    reference = holdout_features if len(holdout_features) else fit_features
    reference_cells = density.score(reference)
    threshold = float(density.image_scores(reference_cells).max())
    if recipe.density == "knn" and len(holdout_features):
        # The threshold is set on images the bank has not seen; then the bank takes them too:
        # more normal cells only bring normal scores down, so the threshold errs on the high side.
        density = fit_on(np.concatenate([fit_features, holdout_features]))
    return density, threshold, reference_cells
