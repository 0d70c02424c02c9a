"""A linear projection of the cell features onto their top principal components, learned on
the normal training cells and folded into the network as a 1x1 convolution: the device then
computes (and the head stores) `dims` channels per cell instead of all of them, so an int8
knn bank of the same bytes holds C / dims times more cells.

Whitened (each component scaled to unit variance on the normal cells, the default), a knn
distance becomes a Mahalanobis distance within those components, and every channel uses the
int8 range alike. Measured on ../shared/data (default features, int8 in TFLM, integer head,
image AUROC on battery_weld / magnetic_tile / mvtec_bottle): the 768-channel full bank
0.979 / 0.944 / 0.993; 128 whitened components with a 64 KB coreset 0.988 / 0.924 / 0.998,
with 256 KB 0.988 / 0.955 / 0.997; not whitened, 64 components and 256 KB: magnetic_tile
0.933."""

from __future__ import annotations

import numpy as np

from ..errors import ModelError
from ..tfenv import keras

LAYER = "project"
MAX_FIT_CELLS = 20000  # cells the principal components are computed on (evenly spaced)


def fit_projection(features: np.ndarray, dims: int, whiten: bool = True,
                   max_cells: int = MAX_FIT_CELLS) -> tuple[np.ndarray, np.ndarray]:
    """(matrix (C, dims), bias (dims,)) such that x @ matrix + bias are the centred cell
    features' coordinates on their top `dims` principal components (in units of each
    component's standard deviation when whitened), computed on at most max_cells cells."""
    c = features.shape[-1]
    cells = features.reshape(-1, c).astype(np.float64)
    if not 0 < dims < c:
        raise ModelError(f"projection to {dims} dimensions: give 1..{c - 1} for {c}-channel features")
    mean = cells.mean(0)
    sample = cells[:: max(1, len(cells) // max_cells)] - mean
    _, sv, vt = np.linalg.svd(sample, full_matrices=False)
    if len(vt) < dims or not sv[dims - 1] > 1e-9 * sv[0]:
        raise ModelError(f"projection to {dims} dimensions needs at least {dims} normal cells "
                         f"that vary in as many directions, there are {len(sample)}")
    matrix = vt[:dims].T
    if whiten:
        matrix = matrix / (sv[:dims] / np.sqrt(max(len(sample) - 1, 1)))
    return matrix, -mean @ matrix


def project(features: np.ndarray, matrix: np.ndarray, bias: np.ndarray) -> np.ndarray:
    return (features.astype(np.float64) @ matrix + bias).astype(np.float32)


def component_scales(network: "keras.Model") -> np.ndarray | None:
    """Each output channel's standard deviation before whitening (1 when not whitened): the
    norm of the projection's kernel column is 1 / std. None without a projection layer."""
    try:
        kernel = network.get_layer(LAYER).get_weights()[0]
    except ValueError:
        return None
    return 1.0 / np.linalg.norm(kernel.reshape(-1, kernel.shape[-1]), axis=0)


def fold_into_network(network: "keras.Model", matrix: np.ndarray, bias: np.ndarray) -> "keras.Model":
    """The network with a 1x1 convolution computing the projection appended."""
    conv = keras.layers.Conv2D(matrix.shape[1], 1, name=LAYER)
    out = conv(network.output)
    conv.set_weights([matrix[None, None].astype(np.float32), bias.astype(np.float32)])
    return keras.Model(network.input, out, name=network.name)
