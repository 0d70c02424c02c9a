"""The FOMO-AD density head as C (firmware_templates/head/), rendered from head_int8.npz."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from .boards import FIRMWARE_TEMPLATES
from .errors import RenderError
from .models.density import Density


def c_float(value: float) -> str:
    """A C float literal: 9 significant digits, always with a point or an exponent."""
    text = f"{float(value):.9g}"
    if not np.isfinite(value):
        raise RenderError(f"head parameter {value} is not finite; re-run vadtool quantize")
    return (text if any(c in text for c in ".e") else text + ".0") + "f"


def _floats(values) -> str:
    return ", ".join(c_float(v) for v in np.ravel(values))


C_HEAD_KINDS = ("gaussian", "gmm", "per-position")  # parametric densities: a few KB of floats
C_HEAD_POOLINGS = ("max", "mean")


def c_head_unsupported(density: Density) -> str | None:
    """Why this density has no C head (None when it has one): a nearest-neighbour bank is
    megabytes, scored on the host from the features the device returns."""
    if density.kind not in C_HEAD_KINDS:
        return (f"density {density.kind!r} is scored on the host; a C head exists for "
                f"{', '.join(C_HEAD_KINDS)} (train with --recipe models/fomo-ad-gaussian.json)")
    if density.pooling not in C_HEAD_POOLINGS:
        return (f"image score {density.pooling!r} is scored on the host; the C head pools by "
                f"{' or '.join(C_HEAD_POOLINGS)} (train with --image-score max)")
    return None


def packed_lower(matrix: np.ndarray) -> np.ndarray:
    return matrix[np.tril_indices(matrix.shape[0])]


def write_head_sources(density: Density, *, feature_scale: float, feature_zero_point: int,
                       grid: tuple[int, int], threshold: float, out_dir: Path, banner: str) -> list[Path]:
    """Write vad_head.h / vad_head.c; returns their paths."""
    reason = c_head_unsupported(density)
    if reason:
        raise RenderError(f"head_int8.npz: no C head: {reason}")
    channels = density.means.shape[1]
    for w in density.whiten:
        if np.abs(np.triu(w, 1)).max() > 1e-6 * max(np.abs(w).max(), 1e-30):
            raise RenderError("head_int8.npz: whitening matrix is not lower triangular; re-run vadtool quantize")
    per_position = density.kind == "per-position"
    if per_position and len(density.means) != grid[0] * grid[1]:
        raise RenderError(f"head_int8.npz: {len(density.means)} positions for a {grid[0]}x{grid[1]} grid")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FIRMWARE_TEMPLATES / "head")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    ctx = dict(banner=banner, kind=density.kind, pooling=density.pooling, n_gauss=len(density.means), channels=channels,
               per_position=per_position, grid_h=grid[0], grid_w=grid[1],
               threshold=c_float(threshold), feature_scale=c_float(feature_scale),
               feature_zero_point=int(feature_zero_point),
               means=[_floats(m) for m in density.means],
               whiten=[_floats(packed_lower(w)) for w in density.whiten],
               log_norm=_floats(density.log_norm))
    out_dir = Path(out_dir)
    paths = []
    for name in ("vad_head.h", "vad_head.c"):
        path = out_dir / name
        path.write_text(env.get_template(name + ".j2").render(**ctx))
        paths.append(path)
    return paths
