"""Pictures of one prediction: image | heatmap overlay | ground-truth mask | predicted mask
and boxes, as uint8 RGB panels, for the report's gallery and `vadtool predict --visualize`.

Heat colours are anchored at the threshold: a cell score equal to the threshold is the
middle of the colour map (green in jet), above it warm, below it cool, so "red" means
"anomalous" on every image, whatever the score range.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import data as datasets
from ..geometry import InputGeometry
from ..predict import boxes as cell_boxes
from ..rundir import write_bytes

ALPHA = 0.5  # weight of the heat colour over the image
GAP = 4  # pixels between panels in a strip
PANEL_NAMES = ("image", "heatmap", "truth", "predicted")


def colormap(n: int = 256) -> np.ndarray:
    """The jet colour map as (n, 3) uint8 (computed here: no plotting library needed)."""
    x = np.linspace(0.0, 1.0, n)
    ramp = lambda c: np.clip(1.5 - np.abs(4.0 * x - c), 0.0, 1.0)  # noqa: E731
    return (np.stack([ramp(3.0), ramp(2.0), ramp(1.0)], axis=1) * 255 + 0.5).astype(np.uint8)


JET = colormap()


def heat_values(heat: np.ndarray, threshold: float) -> np.ndarray:
    """Scores to [0, 1]: the lowest score 0, the threshold 0.5, the highest score 1 (linear
    on each side of the threshold; an image all below it stays below 0.5, cool). NaN (where
    the model saw nothing) stays NaN."""
    heat = np.asarray(heat, np.float64)
    seen = heat[np.isfinite(heat)]
    low, high = (float(seen.min()), float(seen.max())) if seen.size else (threshold, threshold)
    below = max(threshold - low, 1e-12)
    above = max(high - threshold, 1e-12)
    v = np.where(heat >= threshold, 0.5 + 0.5 * (heat - threshold) / above,
                 0.5 - 0.5 * (threshold - heat) / below)
    return np.clip(v, 0.0, 1.0)


def thumb_shape(path: Path, max_side: int, min_side: int = 64) -> tuple[int, int]:
    """(height, width) of the panels for an image: its own aspect, the longer side its own,
    capped at max_side (and at least min_side)."""
    with Image.open(path) as im:
        w, h = im.size
    scale = min(1.0, max_side / max(w, h)) if max(w, h) >= min_side else min_side / max(w, h)
    return max(1, round(h * scale)), max(1, round(w * scale))


def panels(image: np.ndarray, cells: np.ndarray | None, threshold: float,
           mask: np.ndarray | None = None, geometry: InputGeometry | None = None) -> dict[str, np.ndarray]:
    """Panels for one uint8 RGB image (h, w, 3) shown at its own aspect: "image" always; with
    cell scores (Gh, Gw) also "heatmap" and "predicted" (mask of heat > threshold, boxes
    around groups of anomalous cells), the cells mapped onto the image through the run's
    ``geometry`` (default: squashed); "truth" when a ground-truth mask (h, w) of 0/1 is given.
    Where the model saw nothing (outside a crop) the image is shown grey, without heat."""
    h, w = image.shape[:2]
    out = {"image": image}
    base = image.astype(np.float32)
    if mask is not None:
        tint = base * 0.45
        m = mask.astype(bool)
        tint[m] = 0.35 * base[m] + 0.65 * np.array([40, 220, 40])
        out["truth"] = _outline(tint.astype(np.uint8), m, (40, 255, 40))
    if cells is not None:
        cells = np.asarray(cells, np.float32)
        g = geometry or InputGeometry(*cells.shape, "squash")
        heat = g.cells_to_source(cells, w, h)
        unseen = ~np.isfinite(heat)
        values = np.nan_to_num(heat_values(heat, threshold), nan=0.0)
        colour = JET[np.round(values * (len(JET) - 1)).astype(int)]
        overlay = (1 - ALPHA) * base + ALPHA * colour
        overlay[unseen] = base.mean(axis=-1, keepdims=True)[unseen] * 0.6 + 40
        out["heatmap"] = (overlay + 0.5).astype(np.uint8)
        predicted = np.nan_to_num(heat, nan=-np.inf) > threshold
        tint = base * 0.45
        tint[predicted] = 0.35 * base[predicted] + 0.65 * np.array([230, 40, 40])
        im = Image.fromarray(tint.astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for b in cell_boxes(cells, threshold, h, w, g):
            draw.rectangle([b["x0"], b["y0"], b["x1"] - 1, b["y1"] - 1], outline=(255, 220, 0), width=2)
        out["predicted"] = np.asarray(im)
    return {k: out[k] for k in PANEL_NAMES if k in out}


def _outline(rgb: np.ndarray, mask: np.ndarray, colour) -> np.ndarray:
    """Draw the one-pixel border of mask in colour."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    rgb = rgb.copy()
    rgb[mask & ~inner] = colour
    return rgb


def strip(parts: list[np.ndarray], caption: str | None = None) -> np.ndarray:
    """Panels side by side on white, with an optional caption line underneath."""
    h = max(p.shape[0] for p in parts)
    w = sum(p.shape[1] for p in parts) + GAP * (len(parts) - 1)
    extra = 16 if caption else 0
    canvas = np.full((h + extra, w, 3), 255, np.uint8)
    x = 0
    for p in parts:
        canvas[:p.shape[0], x:x + p.shape[1]] = p
        x += p.shape[1] + GAP
    if caption:
        im = Image.fromarray(canvas)
        ImageDraw.Draw(im).text((2, h + 2), caption, fill=(0, 0, 0), font=ImageFont.load_default())
        canvas = np.asarray(im)
    return canvas


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def write_overlay(image_path: Path, record: dict, out_png: Path, mask_path: Path | None = None,
                  max_side: int = 512) -> Path:
    """Write one PNG for a prediction record of `vadtool predict` (keys "score", "threshold",
    and for FOMO-AD "cells" and "input", the run's geometry): image | heatmap overlay |
    ground-truth mask (with mask_path) | predicted mask and boxes, each panel at the image's
    own aspect with its longer side at most max_side pixels, a caption with the score.
    Returns out_png."""
    image_path = Path(image_path)
    shape = thumb_shape(image_path, max_side)
    image = datasets.load_image(image_path, shape)
    mask = datasets.load_mask(mask_path, shape) if mask_path is not None else None
    cells = np.asarray(record["cells"], np.float32) if record.get("cells") is not None else None
    geometry = InputGeometry.from_manifest(record) if "input" in record else None
    threshold = float(record["threshold"])
    score = float(record["score"])
    verdict = "ANOMALOUS" if score > threshold else "normal"
    caption = f"{image_path.name}: {verdict}, score {score:.4g} (threshold {threshold:.4g})"
    picture = strip(list(panels(image, cells, threshold, mask, geometry).values()), caption)
    write_bytes(Path(out_png), png_bytes(picture))
    return Path(out_png)
