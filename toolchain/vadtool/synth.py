"""Synthetic anomaly-detection datasets in MVTec layout, with exact masks.

``make_dataset`` draws either an "object" (a round metal part with a ring and four bolt
holes on a dark gradient background, jittered in position, rotation and brightness; with
``aspect`` other than 1, an elongated bar with rounded ends, a groove and a row of bolt
holes, in images ``aspect`` times wider than high) or a "texture" (a noisy basket weave
with jittered phase and brightness). Anomalous images
carry one defect each: a dark "crack" (jagged line), a "chip" (a small bite out of the
object's rim; a light flat patch in the texture), a brown "spot" (blob) or a "missing"
piece (a large bite showing the background; a dark hole in the texture). Each covers
roughly 1-5% of the image and its mask is exactly the pixels it changed on the part.

Only numpy's Generator and PIL ImageDraw are used (and scipy.ndimage for the diffuse defects
painted on the user's images), so a seed gives byte-identical files.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vadtool.errors import DatasetError

KINDS = ("object", "texture")
DEFECTS = ("crack", "chip", "spot", "missing")
_OBJECT_RGB = np.array([168.0, 172.0, 180.0])
_SPOT_RGB = (100, 56, 25)
_CRACK_RGB = (20, 18, 16)


MAX_ASPECT = 8.0


def make_dataset(out: str | Path, seed: int = 0, kind: str = "object", size: int = 128,
                 n_train: int = 60, n_test_good: int = 12, n_per_defect: int = 6,
                 aspect: float = 1.0) -> Path:
    """Write a synthetic dataset to ``out`` and return ``out``. Images are ``size`` pixels
    high and round(size * aspect) wide.

    Layout: ``train/good/NNN.png``, ``test/good/NNN.png``, ``test/<defect>/NNN.png`` and
    ``ground_truth/<defect>/NNN_mask.png`` (0/255) for each defect in DEFECTS. The folder
    is built next to ``out`` and renamed into place, so it appears whole or not at all.
    Raises DatasetError if ``out`` exists and is not an empty folder, ValueError on bad
    arguments.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if size < 32 or n_train < 1 or min(n_test_good, n_per_defect) < 0:
        raise ValueError("need size >= 32, n_train >= 1 and non-negative test counts")
    if not 1 / MAX_ASPECT <= aspect <= MAX_ASPECT:
        raise ValueError(f"aspect (width / height) must be within 1/{MAX_ASPECT:g}..{MAX_ASPECT:g}, not {aspect:g}")
    shape = (size, max(32, round(size * aspect)))
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out}: already exists and is not an empty folder; "
                           f"choose a new folder or remove it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _write_all(tmp, np.random.default_rng(seed), kind, shape,
                   n_train, n_test_good, n_per_defect)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _write_all(root: Path, rng: np.random.Generator, kind: str, shape: tuple[int, int],
               n_train: int, n_test_good: int, n_per_defect: int) -> None:
    jobs = [("train", "good", n_train), ("test", "good", n_test_good)]
    jobs += [("test", d, n_per_defect) for d in DEFECTS]
    for split, defect, n in jobs:
        folder = root / split / defect
        folder.mkdir(parents=True)
        if defect != "good":
            (root / "ground_truth" / defect).mkdir(parents=True)
        for i in range(n):
            img, mask = _draw(rng, kind, shape, None if defect == "good" else defect)
            Image.fromarray(img, "RGB").save(folder / f"{i:03d}.png", compress_level=1)
            if mask is not None:
                Image.fromarray(mask * np.uint8(255), "L").save(
                    root / "ground_truth" / defect / f"{i:03d}_mask.png", compress_level=1)


def _draw(rng: np.random.Generator, kind: str, shape: tuple[int, int], defect: str | None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """One image (uint8 HxWx3) and, for a defect, its 0/1 mask. The part is centred at
    (cx, cy) with radius r (the half-height of a bar) and a straight half-length ``along``
    (0 for the round part)."""
    h, w = shape
    size = min(h, w)  # the scale of details and defects
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    gain = rng.uniform(0.9, 1.1)
    along = 0.0
    if kind == "object":
        bg = (32 + 28 * (0.6 * xx / w + 0.4 * yy / h))[..., None] * np.array([1.0, 1.0, 1.1])
        cx, cy = np.array([w, h]) / 2 + rng.uniform(-0.03, 0.03, 2) * size
        radius = size * rng.uniform(0.33, 0.35)
        angle = rng.uniform(-0.2, 0.2)
        if w == h:
            part = _mask_of(shape, lambda d: d.ellipse([cx - radius, cy - radius,
                                                        cx + radius, cy + radius], fill=1))
            holes = _mask_of(shape, lambda d: _object_details(d, cx, cy, radius, angle))
        else:  # a bar along the longer side (drawn wide, transposed when the image is tall)
            along = max(w, h) / 2 - size * 0.08 - radius
            part = _mask_of(shape, lambda d: _bar(d, cx, cy, radius, along, w > h))
            holes = _mask_of(shape, lambda d: _bar_details(d, cx, cy, radius, along, w > h, angle))
        if w == h:  # lit from the top left
            shade = 1.0 - 0.35 * np.hypot(xx - cx + radius / 2, yy - cy + radius / 2) / (2 * radius)
        else:  # a cylinder lit from one side
            across = (yy - cy) if w > h else (xx - cx)
            shade = 1.0 - 0.35 * np.abs(across + radius / 2) / (2 * radius)
        img = np.where(part[..., None] == 1, _OBJECT_RGB * shade[..., None], bg)
        img[holes == 1] *= 0.55
    else:
        period = size / 8
        ph = rng.uniform(0, 2 * math.pi, 2)
        u, v = 2 * math.pi * xx / period + ph[0], 2 * math.pi * yy / period + ph[1]
        # Basket weave: cells alternate horizontal and vertical threads.
        cell = (np.floor(u / math.pi) + np.floor(v / math.pi)) % 2
        threads = np.where(cell == 0, np.sin(4 * u), np.sin(4 * v))
        tone = 120 + 38 * threads + 12 * np.cos(u) * np.cos(v)
        img = tone[..., None] * np.array([1.05, 0.95, 0.8])
        part, cx, cy, radius = np.ones(shape, np.uint8), w / 2, h / 2, size * 0.4
        along = max(w, h) / 2 - radius - size * 0.1 if w != h else 0.0
    img = img * gain + _noise(rng, img.shape)
    mask = None
    if defect is not None:
        if along > 0:  # a place along the bar (or the long texture), then the defect around it
            t = rng.uniform(-along, along)
            cx, cy = (cx + t, cy) if w > h else (cx, cy + t)
        region = _mask_of(shape, lambda d: _defect_shape(d, rng, defect, kind, size,
                                                          cx, cy, radius, along > 0 and w > h,
                                                          along > 0 and h > w))
        # Off the part a defect changes nothing visible, so it is not anomalous there.
        mask = region & part
        if kind == "object" and defect in ("chip", "missing"):
            base = bg  # the background shows through
        elif defect in ("spot", "crack"):
            base = _SPOT_RGB if defect == "spot" else _CRACK_RGB
        else:  # texture: a chip is a lighter flat patch, a missing piece a dark hole
            base = 205.0 if defect == "chip" else 35.0
        fill = np.asarray(base, np.float32) * gain + _noise(rng, img.shape)
        img = np.where(mask[..., None] == 1, fill, img)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), mask


def _noise(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(4.0)


def _mask_of(shape: tuple[int, int], paint) -> np.ndarray:
    """Run ``paint(draw)`` on a blank "L" canvas of (height, width) and return its 0/1 pixels."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    paint(ImageDraw.Draw(canvas))
    return (np.asarray(canvas) > 0).astype(np.uint8)


def _object_details(d: ImageDraw.ImageDraw, cx, cy, r, angle) -> None:
    """A machined ring and four bolt holes; the holes show the rotation."""
    w = max(1, round(r / 20))
    d.ellipse([cx - 0.45 * r, cy - 0.45 * r, cx + 0.45 * r, cy + 0.45 * r], outline=1, width=w)
    for k in range(4):
        a = angle + k * math.pi / 2
        hx, hy, hr = cx + 0.72 * r * math.cos(a), cy + 0.72 * r * math.sin(a), 0.08 * r
        d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=1)


def _bar(d: ImageDraw.ImageDraw, cx, cy, r, along, wide: bool) -> None:
    """A bar with round ends: half-length along + r on the long axis, half-height r."""
    ax, ay = (along, 0.0) if wide else (0.0, along)
    d.rounded_rectangle([cx - ax - r, cy - ay - r, cx + ax + r, cy + ay + r], radius=r, fill=1)


def _bar_details(d: ImageDraw.ImageDraw, cx, cy, r, along, wide: bool, angle) -> None:
    """A machined groove along the bar and a row of bolt holes; the groove's tilt and the
    holes' spacing follow the jittered angle."""
    wd = max(1, round(r / 20))
    tilt = 0.15 * r * angle
    if wide:
        d.line([(cx - along, cy - 0.45 * r - tilt), (cx + along, cy - 0.45 * r + tilt)], fill=1, width=wd)
    else:
        d.line([(cx - 0.45 * r - tilt, cy - along), (cx - 0.45 * r + tilt, cy + along)], fill=1, width=wd)
    n = max(2, int(2 * along / (1.5 * r)) + 1)
    for k in range(n):
        t = -along + 2 * along * k / (n - 1)
        hx, hy = (cx + t, cy + 0.3 * r) if wide else (cx + 0.3 * r, cy + t)
        hr = 0.12 * r
        d.ellipse([hx - hr, hy - hr, hx + hr, hy + hr], fill=1)


def _defect_shape(d: ImageDraw.ImageDraw, rng: np.random.Generator, defect: str, kind: str,
                  size: int, cx: float, cy: float, r: float, wide_bar: bool = False,
                  tall_bar: bool = False) -> None:
    """Draw the defect region at a random place on the part (or the texture); on a bar, a
    chip or missing piece bites its long edge."""
    a = rng.uniform(0, 2 * math.pi)
    if defect == "crack":
        # A jagged walk from a point inside the part, roughly along one direction.
        x, y = cx + rng.uniform(-0.3, 0.3) * r, cy + rng.uniform(-0.3, 0.3) * r
        pts = [(x, y)]
        step = 0.2 * r
        for _ in range(6):
            a += rng.uniform(-0.6, 0.6)
            x, y = x + step * math.cos(a), y + step * math.sin(a)
            pts.append((x, y))
        d.line(pts, fill=1, width=max(2, round(size / 32)), joint="curve")
    elif defect == "spot":
        x, y = cx + rng.uniform(-0.5, 0.5) * r, cy + rng.uniform(-0.5, 0.5) * r
        for _ in range(3):
            ox, oy = rng.uniform(-0.04, 0.04, 2) * size
            rx, ry = rng.uniform(0.035, 0.055, 2) * size
            d.ellipse([x + ox - rx, y + oy - ry, x + ox + rx, y + oy + ry], fill=1)
    else:  # chip, missing: an irregular heptagon; on the object centred on the rim (a bite)
        if kind == "object":
            depth, off = r * (0.3 if defect == "chip" else 0.5), r
        else:
            depth, off = size * (0.08 if defect == "chip" else 0.12), rng.uniform(0, 0.6) * r
        bx, by = cx + off * math.cos(a), cy + off * math.sin(a)
        if kind == "object" and wide_bar:  # the long edge above or below
            bx, by = cx, cy + math.copysign(r, math.sin(a))
        elif kind == "object" and tall_bar:
            bx, by = cx + math.copysign(r, math.cos(a)), cy
        pts = []
        for k in range(7):
            t = a + 2 * math.pi * k / 7
            rad = depth * rng.uniform(0.8, 1.2)
            pts.append((bx + rad * math.cos(t), by + rad * math.sin(t)))
        d.polygon(pts, fill=1)


# --- Defects on the user's own images -------------------------------------------------------
# Training builds its validation set from held-back normal images: each gets one of these
# defects, painted at the model's input resolution so the mask is exact there.

# painted: a new tone where the defect is; diffuse: the image's own pixels altered over a
# larger soft-edged region (a stain or discoloured patch, a patch where the texture is lost,
# a dent or bent edge), the large low-contrast anomalies that painted ones do not cover
PAINTED_DEFECTS = ("crack", "scratch", "spot", "missing", "paste")
DIFFUSE_DEFECTS = ("stain", "blur", "warp")
REAL_DEFECTS = PAINTED_DEFECTS + DIFFUSE_DEFECTS


def add_defect(image: np.ndarray, rng: np.random.Generator, defect: str,
               donors: np.ndarray | None = None, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Paint one ``defect`` (a REAL_DEFECTS name) on a uint8 (H, W, 3) image; returns the new
    image and its 0/1 mask (the pixels that changed). ``paste`` moves a patch from one of
    ``donors`` (other normal images of the same shape; the image itself without them).
    Sizes are relative to the shorter side, so the defects scale with the input; ``scale``
    grows or shrinks them (the validation set draws it, so small and spread defects both count)."""
    if defect not in REAL_DEFECTS:
        raise ValueError(f"defect must be one of {REAL_DEFECTS}, not {defect!r}")
    h, w = image.shape[:2]
    side = min(h, w) * scale
    img = image.astype(np.float32)
    # Defects go where the part usually is: the central 80 % of the frame.
    cx, cy = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h
    local = img[max(0, int(cy) - 4):int(cy) + 5, max(0, int(cx) - 4):int(cx) + 5].reshape(-1, 3).mean(0)
    if defect in DIFFUSE_DEFECTS:
        out, region = _diffuse(img, rng, defect, cx, cy, side)
    elif defect == "paste":
        source = donors[rng.integers(len(donors))] if donors is not None and len(donors) else image
        ph, pw = (int(min(rng.uniform(0.12, 0.25) * side, dim)) for dim in (h, w))
        sy, sx = rng.integers(0, h - ph + 1), rng.integers(0, w - pw + 1)
        ty, tx = (int(np.clip(cy - ph / 2, 0, h - ph)), int(np.clip(cx - pw / 2, 0, w - pw)))
        patch = source[sy:sy + ph, sx:sx + pw].astype(np.float32)
        if rng.random() < 0.5:
            patch = patch[::-1, ::-1]  # a rotated piece stands out even from a similar place
        region = np.zeros((h, w), np.uint8)
        region[ty:ty + ph, tx:tx + pw] = 1
        out = img.copy()
        out[ty:ty + ph, tx:tx + pw] = patch
    else:
        region = _mask_hw(h, w, lambda d: _real_defect_shape(d, rng, defect, cx, cy, side))
        if defect in ("crack", "scratch"):
            # dark cracks, bright or dark scratches: far from the local tone either way
            dark = defect == "crack" or local.mean() > 128 or rng.random() < 0.5
            fill = local * rng.uniform(0.15, 0.4) if dark else local + (255 - local) * rng.uniform(0.6, 0.9)
        elif defect == "spot":
            gray = bool((img[..., 0] == img[..., 1]).all() and (img[..., 1] == img[..., 2]).all())
            tint = rng.uniform(0.5, 1.5, 1 if gray else 3) * local + rng.uniform(-60, 60, 1 if gray else 3)
            fill = np.clip(tint, 0, 255)  # a gray part gets a gray spot
        else:  # missing: a hole showing the frame's border tone (the usual background)
            border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
            fill = np.median(border, axis=0)
            if np.abs(fill - local).mean() < 30:  # no background to show: a dark hole
                fill = local * 0.3
        out = np.where(region[..., None] == 1,
                       np.asarray(fill, np.float32) + _noise(rng, img.shape), img)
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    mask = (region == 1) & (np.abs(out.astype(np.int16) - image.astype(np.int16)).max(-1) > 0)
    return out, mask.astype(np.uint8)


def _diffuse(img: np.ndarray, rng: np.random.Generator, defect: str, cx: float, cy: float,
             side: float) -> tuple[np.ndarray, np.ndarray]:
    """A soft-edged ellipse (8-20 % of the side per radius) where the image is darkened or
    brightened (stain), low-pass filtered (blur) or pushed sideways (warp); returns the float
    image and the region (the mask is the part of it that changed)."""
    from scipy import ndimage
    h, w = img.shape[:2]
    rx, ry = side * rng.uniform(0.08, 0.2, 2)
    a = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = ((xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)) / rx
    v = (-(xx - cx) * math.sin(a) + (yy - cy) * math.cos(a)) / ry
    alpha = np.clip(2.0 * (1.0 - np.sqrt(u * u + v * v)), 0.0, 1.0)  # 1 inside, ramps at the rim
    if defect == "stain":
        gain = rng.uniform(0.55, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.6)
        out = img * (1.0 + alpha[..., None] * (gain - 1.0))
    elif defect == "blur":
        sigma = max(1.0, side * rng.uniform(0.02, 0.05))
        out = img + alpha[..., None] * (ndimage.gaussian_filter(img, (sigma, sigma, 0)) - img)
    else:
        turn, amp = rng.uniform(0, 2 * math.pi), side * rng.uniform(0.04, 0.1)
        rows, cols = yy - amp * math.sin(turn) * alpha, xx - amp * math.cos(turn) * alpha
        out = np.stack([ndimage.map_coordinates(img[..., k], [rows, cols], order=1, mode="nearest")
                        for k in range(img.shape[2])], -1)
    if defect != "stain" and np.abs(out - img)[alpha > 0.5].mean() < 3:
        # a flat region has no texture to lose or edge to bend: it gets a stain instead
        return _diffuse(img, rng, "stain", cx, cy, side)
    return out, (alpha > 0).astype(np.uint8)


def _mask_hw(h: int, w: int, paint) -> np.ndarray:
    canvas = Image.new("L", (w, h), 0)
    paint(ImageDraw.Draw(canvas))
    return (np.asarray(canvas) > 0).astype(np.uint8)


def _real_defect_shape(d: ImageDraw.ImageDraw, rng: np.random.Generator, defect: str,
                       x: float, y: float, side: int) -> None:
    a = rng.uniform(0, 2 * math.pi)
    if defect in ("crack", "scratch"):
        # crack: a jagged walk; scratch: a long, nearly straight thin line
        steps, turn = (7, 0.7) if defect == "crack" else (3, 0.08)
        step = side * (rng.uniform(0.04, 0.07) if defect == "crack" else rng.uniform(0.12, 0.2))
        pts = [(x, y)]
        for _ in range(steps):
            a += rng.uniform(-turn, turn)
            x, y = x + step * math.cos(a), y + step * math.sin(a)
            pts.append((x, y))
        d.line(pts, fill=1, width=max(1, round(side * rng.uniform(0.01, 0.025))), joint="curve")
    else:  # spot: overlapping blobs; missing: an irregular heptagon
        size = side * (rng.uniform(0.04, 0.08) if defect == "spot" else rng.uniform(0.07, 0.13))
        if defect == "spot":
            for _ in range(3):
                ox, oy = rng.uniform(-0.5, 0.5, 2) * size
                rx, ry = rng.uniform(0.6, 1.0, 2) * size
                d.ellipse([x + ox - rx, y + oy - ry, x + ox + rx, y + oy + ry], fill=1)
        else:
            pts = [(x + size * rng.uniform(0.7, 1.3) * math.cos(a + 2 * math.pi * k / 7),
                    y + size * rng.uniform(0.7, 1.3) * math.sin(a + 2 * math.pi * k / 7))
                   for k in range(7)]
            d.polygon(pts, fill=1)
