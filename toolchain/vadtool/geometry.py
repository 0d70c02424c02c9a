"""The model's input geometry: height, width, and how an image of any size is made to fit.

Every stage that turns a file into model pixels, or a cell grid back into the file's own
pixels, goes through ``InputGeometry``, so training, quantization, every runtime, masks and
overlays agree. A resize mode is one affine map per source image, model = scale * source +
offset (per axis):

* ``squash``: stretch to the target (each axis its own scale);
* ``fit``: keep the aspect, scale to fit inside, centre, pad with black;
* ``crop``: keep the aspect, scale to cover, centre-crop the overhang.

The default input shape keeps the training images' median aspect ratio: the shorter side
from the recipe's ``size``, the longer from the aspect, both multiples of the network's
output stride so its cell grid is whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
import numpy as np
from PIL import Image

from .errors import DatasetError, VadError

RESIZES = ("squash", "fit", "crop")
MIN_SIDE = 32  # MobileNet's smallest input
MAX_SIDE = 1024  # beyond this no microcontroller holds the first activation
PIXELS = "RGB uint8"
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$")


class SizeError(VadError):
    """A --size (or recipe shape) that cannot be an input shape."""


@dataclass(frozen=True)
class InputGeometry:
    height: int
    width: int
    resize: str = "squash"

    def __post_init__(self):
        if self.resize not in RESIZES:
            raise SizeError(f"resize {self.resize!r} is not one of {', '.join(RESIZES)}")

    @property
    def shape_hw(self) -> tuple[int, int]:
        return (self.height, self.width)

    def to_json(self) -> dict:
        return {"height": self.height, "width": self.width, "channels": 3,
                "resize": self.resize, "pixels": PIXELS}

    @classmethod
    def from_manifest(cls, manifest: dict) -> "InputGeometry":
        """From a run's manifest; runs written before any aspect ratio have {"size": S}."""
        inp = manifest["input"]
        if "height" in inp:
            return cls(int(inp["height"]), int(inp["width"]), inp.get("resize", "squash"))
        return cls(int(inp["size"]), int(inp["size"]), "squash")

    def __str__(self) -> str:
        return f"{self.width}x{self.height} (WxH, {self.resize})"

    # -- source image <-> model pixels ------------------------------------------------------
    def affine(self, src_w: int, src_h: int) -> tuple[float, float, float, float]:
        """(scale_x, offset_x, scale_y, offset_y): model coordinate = scale * source + offset,
        in pixel-edge coordinates (0 is the left edge of the first pixel)."""
        if self.resize == "squash":
            return self.width / src_w, 0.0, self.height / src_h, 0.0
        if self.resize == "fit":
            (cw, ch), (ox, oy) = self._fit_box(src_w, src_h)
            return cw / src_w, float(ox), ch / src_h, float(oy)
        x0, y0, x1, y1 = self._crop_box(src_w, src_h)
        sx, sy = self.width / (x1 - x0), self.height / (y1 - y0)
        return sx, -x0 * sx, sy, -y0 * sy

    def _fit_box(self, src_w: int, src_h: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """Size and top-left offset, in whole model pixels, of the image inside the padding."""
        s = min(self.width / src_w, self.height / src_h)
        cw = min(self.width, max(1, round(src_w * s)))
        ch = min(self.height, max(1, round(src_h * s)))
        return (cw, ch), ((self.width - cw) // 2, (self.height - ch) // 2)

    def _crop_box(self, src_w: int, src_h: int) -> tuple[float, float, float, float]:
        """The centred source box, of the target's aspect, that crop keeps."""
        aspect = self.width / self.height
        if src_w / src_h > aspect:  # too wide: keep the full height
            w = src_h * aspect
            return (src_w - w) / 2, 0.0, (src_w + w) / 2, float(src_h)
        h = src_w / aspect
        return 0.0, (src_h - h) / 2, float(src_w), (src_h + h) / 2

    def apply(self, im: Image.Image, nearest: bool = False) -> Image.Image:
        """A PIL image (RGB or L) at the model's shape; bilinear, or nearest for masks."""
        resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
        target = (self.width, self.height)
        if self.resize == "squash":
            return im if im.size == target else im.resize(target, resample)
        if self.resize == "crop":
            box = self._crop_box(*im.size)
            if im.size == target and box == (0.0, 0.0) + tuple(map(float, target)):
                return im
            return im.resize(target, resample, box=box)
        (cw, ch), offset = self._fit_box(*im.size)
        canvas = Image.new(im.mode, target, 0)
        canvas.paste(im if im.size == (cw, ch) else im.resize((cw, ch), resample), offset)
        return canvas

    def content(self, src_w: int, src_h: int) -> np.ndarray:
        """(H, W) bool: the model pixels that show the source image (not fit's padding)."""
        out = np.zeros(self.shape_hw, bool)
        if self.resize != "fit":
            out[:] = True
            return out
        (cw, ch), (ox, oy) = self._fit_box(src_w, src_h)
        out[oy:oy + ch, ox:ox + cw] = True
        return out

    def cells_to_source(self, cells: np.ndarray, src_w: int, src_h: int) -> np.ndarray:
        """Cell scores (Gh, Gw) as a (src_h, src_w) float map over the original image,
        bilinear between cell centres; NaN where the model did not see the image (the
        parts crop cut off)."""
        from scipy import ndimage
        cells = np.asarray(cells, np.float64)
        gh, gw = cells.shape
        sx, ox, sy, oy = self.affine(src_w, src_h)
        mx = sx * (np.arange(src_w) + 0.5) + ox  # model coordinate of each source pixel centre
        my = sy * (np.arange(src_h) + 0.5) + oy
        cx = mx * gw / self.width - 0.5  # cell index coordinate (cell centres at integers)
        cy = my * gh / self.height - 0.5
        yy, xx = np.meshgrid(cy, cx, indexing="ij")
        heat = ndimage.map_coordinates(cells, [yy, xx], order=1, mode="nearest")
        outside = ((my < 0) | (my > self.height))[:, None] | ((mx < 0) | (mx > self.width))[None, :]
        heat[outside] = np.nan
        return heat

    def model_box_to_source(self, x0: float, y0: float, x1: float, y1: float,
                            src_w: int, src_h: int) -> tuple[int, int, int, int]:
        """A box in model pixels as whole source pixels, clipped to the image."""
        sx, ox, sy, oy = self.affine(src_w, src_h)
        return (int(np.clip(round((x0 - ox) / sx), 0, src_w)), int(np.clip(round((y0 - oy) / sy), 0, src_h)),
                int(np.clip(round((x1 - ox) / sx), 0, src_w)), int(np.clip(round((y1 - oy) / sy), 0, src_h)))


# -- --size and the shape chooser -------------------------------------------------------------

def parse_size(text: str | int | None) -> int | tuple[int, int] | None:
    """--size "S" (the shorter side; the aspect comes from the data) or "WIDTHxHEIGHT".
    Returns S, (height, width) or None; SizeError (one line) on anything else."""
    if text is None or isinstance(text, int) and not isinstance(text, bool):
        sides = None if text is None else [text]
    else:
        m = _SIZE.match(str(text))
        if not m:
            raise SizeError(f"--size {text!r}: give one side in pixels (128) or WIDTHxHEIGHT (160x400)")
        sides = [int(m.group(1))] + ([int(m.group(2))] if m.group(2) else [])
    if sides is None:
        return None
    _check_limits(sides, f"--size {text}")
    return sides[0] if len(sides) == 1 else (sides[1], sides[0])


def _check_limits(sides: list[int], what: str) -> None:
    bad = [str(side) for side in sides if not MIN_SIDE <= side <= MAX_SIDE]
    if bad:
        raise SizeError(f"{what}: sides must be {MIN_SIDE}..{MAX_SIDE} px; {' and '.join(bad)} "
                        f"{'is' if len(bad) == 1 else 'are'} not")


def check_shape(shape_hw, stride: int, what: str = "--size") -> tuple[int, int]:
    """(height, width) if both sides are multiples of stride and within the limits, else a
    one-line SizeError that says which side and the nearest good values."""
    h, w = (int(v) for v in shape_hw)
    _check_limits([w, h], f"{what} {w}x{h}")
    for side in (w, h):
        if side % stride:
            lo, hi = side // stride * stride, (side // stride + 1) * stride
            near = " or ".join(str(v) for v in (lo, hi) if MIN_SIDE <= v <= MAX_SIDE)
            raise SizeError(f"{what} {w}x{h}: sides must be multiples of {stride} (the network's "
                            f"output stride, so the cell grid is whole); {side} is not: use {near}")
    return h, w


def round_side(side: float, stride: int) -> int:
    """The multiple of stride nearest to side, within the limits."""
    lo = -(-MIN_SIDE // stride) * stride
    return int(min(max(round(side / stride) * stride, lo), MAX_SIDE // stride * stride))


def choose_shape(sizes: list[tuple[int, int]], shorter: int, stride: int) -> tuple[int, int]:
    """(height, width) keeping the median aspect (width / height) of the source sizes
    [(w, h), ...]: the shorter side ``shorter``, both sides multiples of stride."""
    aspect = float(np.median([w / h for w, h in sizes])) if sizes else 1.0
    short = round_side(shorter, stride)
    if aspect >= 1:
        return short, round_side(short * aspect, stride)
    return round_side(short / aspect, stride), short


def image_sizes(paths) -> list[tuple[int, int]]:
    """(width, height) of each image, from its header (no decoding)."""
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                out.append(im.size)
        except Exception as e:  # PIL raises many types for bad files
            raise DatasetError(f"{p}: cannot read image ({type(e).__name__}); "
                               "re-save it as PNG or JPEG, or remove it") from e
    return out


def describe_sizes(sizes: list[tuple[int, int]]) -> str:
    """min / median / max of widths, heights and aspect ratios, in one line."""
    if not sizes:
        return "no images"
    a = np.array(sizes, np.float64)
    w, h, r = a[:, 0], a[:, 1], a[:, 0] / a[:, 1]

    def mmm(v, fmt):
        return "/".join(fmt.format(x) for x in (v.min(), np.median(v), v.max()))
    return (f"width {mmm(w, '{:.0f}')}, height {mmm(h, '{:.0f}')}, "
            f"aspect (w/h) {mmm(r, '{:.2f}')} (min/median/max of {len(sizes)} images)")


def resolve(recipe_size: int, recipe_shape, resize: str, stride: int,
            sizes: list[tuple[int, int]]) -> InputGeometry:
    """The geometry a recipe trains at: its explicit shape (checked), else the shape chosen
    from the training images' sizes."""
    if recipe_shape:
        h, w = check_shape(recipe_shape, stride)
    else:
        _check_limits([int(recipe_size)], f"size {recipe_size}")
        h, w = choose_shape(sizes, int(recipe_size), stride)
    return InputGeometry(h, w, resize)


def resolve_recipe(recipe, stride: int, train_paths) -> tuple[object, InputGeometry]:
    """A copy of a recipe (with size, shape and resize fields) whose shape is fixed, and its
    geometry: the recipe's own [H, W], checked, or the one chosen from the training images."""
    sizes = [] if recipe.shape else image_sizes(train_paths)
    shape = resolve(recipe.size, recipe.shape, recipe.resize, stride, sizes)
    return replace(recipe, shape=list(shape.shape_hw)), shape


def recipe_overrides(size_text, resize: str | None) -> dict:
    """Recipe fields from --size / --resize: {"size": S, "shape": None} for one side (the
    aspect still comes from the data), {"shape": [H, W]} for WIDTHxHEIGHT."""
    parsed = parse_size(size_text)
    out: dict = {}
    if isinstance(parsed, int):
        out.update(size=parsed, shape=None)
    elif parsed is not None:
        out.update(shape=list(parsed))
    if resize is not None:
        out["resize"] = resize
    return out

