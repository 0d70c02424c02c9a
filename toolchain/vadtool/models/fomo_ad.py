"""FOMO-AD-style detector: a frozen pretrained backbone cut early, pooled, and a density of
normal cell features. The network part (backbone + pooling) is what gets quantized and
deployed; the density head scores its output on the host or in C on the device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..tfenv import keras
from .backbone import BackboneSpec, build_backbone, layer_stride
from .density import Density, fit
from ..validation import choose_threshold

# train's cell scores of the held-back normal images, which quantize compares the int8 head's with
HOLDOUT_CELLS = "holdout_cells.npy"


@dataclass
class FomoAdRecipe:
    """What a FOMO-AD network and head compute. These defaults (stride-8 and stride-16
    features, 7x7/2 pooling, nearest normal cell, mean of the top half of the cells) are what
    `train fomo-ad --no-search` trains; by default search.py chooses the layers, pooling,
    density and image score on the validation set."""
    backbone: BackboneSpec = field(default_factory=BackboneSpec)
    size: int = 128  # the shorter input side; the longer follows the data's aspect ratio
    shape: list[int] | None = None  # [height, width]; None: chosen from the data at train time
    resize: str = "squash"  # one of geometry.RESIZES
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
    bank_kb: float = 64  # knn: the int8 coreset's size on the device (greedy k-center); 0: the whole bank
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


def _layers(recipe: FomoAdRecipe) -> list[str]:
    return [recipe.backbone.cut] + [name for name in recipe.extra_layers if name != recipe.backbone.cut]


def output_stride(recipe: FomoAdRecipe) -> int:
    """Input pixels per cell: input sides must be multiples of it for a whole cell grid."""
    deepest = max(layer_stride(recipe.backbone, name) for name in _layers(recipe))
    return deepest * (recipe.pool_stride if recipe.pool else 1)


def input_shape(recipe: FomoAdRecipe) -> int | tuple[int, int]:
    return tuple(recipe.shape) if recipe.shape else recipe.size


def backbone_model(recipe: FomoAdRecipe, layers: list[str]) -> keras.Model:
    """Raw pixels in, the feature map of each of ``layers`` out (a list, also for one)."""
    model = build_backbone(recipe.backbone, input_shape(recipe), outputs=list(layers))
    return model


def pool_to_cells(maps: list, pool: int, stride: int):
    """Keras tensors of backbone maps -> the cell features: each map pooled (pool x pool,
    stride, same padding), finer maps averaged down to the coarsest grid, concatenated."""
    if pool:
        maps = [keras.layers.AveragePooling2D(pool, strides=stride, padding="same",
                                              name=f"cell_pool_{i}")(m) for i, m in enumerate(maps)]
    gh, gw = min(m.shape[1] for m in maps), min(m.shape[2] for m in maps)
    maps = [keras.layers.AveragePooling2D((m.shape[1] // gh, m.shape[2] // gw), name=f"to_grid_{i}")(m)
            if tuple(m.shape[1:3]) != (gh, gw) else m for i, m in enumerate(maps)]
    return maps[0] if len(maps) == 1 else keras.layers.Concatenate(name="cells")(maps)


def cell_grid_model(map_shapes: list[tuple[int, ...]], pool: int, stride: int) -> keras.Model:
    """The pooling part of build_network alone: backbone maps in, cells out (the search
    pools maps it extracted once through the very layers the network will have)."""
    inputs = [keras.Input(tuple(shape)) for shape in map_shapes]
    return keras.Model(inputs, pool_to_cells(list(inputs), pool, stride))


def build_network(recipe: FomoAdRecipe) -> keras.Model:
    """Raw pixels (H, W, 3) in (recipe.shape; without one, size x size), pooled cell features
    (Gh, Gw, C) out. With extra_layers, each layer is pooled the same way, finer maps are
    averaged down to the coarsest grid, and the features are concatenated per cell."""
    layers = _layers(recipe)
    backbone = build_backbone(recipe.backbone, input_shape(recipe),
                              outputs=layers if len(layers) > 1 else None)
    maps = backbone.outputs
    return keras.Model(backbone.input, pool_to_cells(maps, recipe.pool, recipe.pool_stride), name="fomo_ad")


def split_holdout(n: int, share: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, holdout) of n normal images; no holdout when too few images."""
    n_hold = int(round(n * share)) if n >= 10 else 0
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_hold:]), np.sort(order[:n_hold])


def fit_density(recipe: FomoAdRecipe, features: np.ndarray, bank_rows: int | None = None) -> Density:
    """The recipe's density on normal cells; bank_rows: a knn bank cut down to that many cells
    by greedy k-center (the coreset a board holds, so that scores and the threshold are the
    device's; quantize's int8 coreset of it then keeps every cell)."""
    density = fit(features, recipe.density, recipe.components, recipe.shrinkage,
                  max_cells=recipe.max_cells, pooling=recipe.image_score)
    if density.kind == "knn" and bank_rows and bank_rows < len(density.means):
        from .int_head import greedy_coreset
        keep = greedy_coreset(density.means, bank_rows)
        density = Density("knn", density.means[keep], density.whiten, density.log_norm, density.pooling)
    return density


def fit_head(recipe: FomoAdRecipe, fit_features: np.ndarray, validation_features: np.ndarray,
             validation_labels: np.ndarray, bank_rows: int | None = None) -> tuple[Density, float, str, np.ndarray]:
    """Fit the density on normal cells (bank_rows: see fit_density) and set the threshold on
    the validation set (best F1; without a validation set, the highest score of the fitted
    images). Returns the density, the threshold, how it was set, and the validation images'
    cell scores."""
    density = fit_density(recipe, fit_features, bank_rows)
    if len(validation_features):
        cells = density.score(validation_features)
        threshold, source = choose_threshold(density.image_scores(cells), validation_labels)
    else:
        cells = density.score(fit_features)
        threshold, source = float(density.image_scores(cells).max()), "max training image score (no held-back images)"
    return density, threshold, source, cells
