"""From network outputs to what the user asked: image scores, cell grids, boxes and masks.

One model gives the three task types: the image label (score > threshold), boxes around
connected anomalous cells (detection) and the upsampled cell scores (segmentation).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from . import data as datasets
from .models.density import Density
from .models.int_head import IntHead
from .rundir import Run, write_bytes, write_json
from .runners import INT8_RUNTIMES, make_runner, to_int8


@dataclass
class Prediction:
    image_scores: np.ndarray  # (N,)
    cell_scores: np.ndarray | None  # (N, G, G) for FOMO-AD
    outputs: np.ndarray  # network outputs, dequantized
    # int8 runtimes, FOMO-AD: the integer head's scores (score = int / 2**frac_bits)
    image_ints: np.ndarray | None = None  # (N,) int32
    cell_ints: np.ndarray | None = None  # (N, G, G) int32


class Predictor:
    """A run's network in one runtime plus its head and threshold. The int8 runtimes score
    with the integer head (head_int.npz), the native one with its C form (bit-exact with it);
    the float runtime with the float density (head.npz)."""

    def __init__(self, run: Run, runtime: str, runner=None):
        self.run = run
        self.runtime = runtime
        self.runner = runner if runner is not None else make_runner(run, runtime)
        int8 = runtime in INT8_RUNTIMES
        self.size = run.manifest["input"]["size"]
        self.density, self.head = None, None
        self.threshold = run.manifest["threshold"]
        if run.kind == "fomo-ad" and int8:
            self.head = IntHead.load(run.file("head_int.npz"))
            self.threshold = self.head.threshold / 2 ** self.head.frac_bits
        elif run.kind == "fomo-ad":
            self.density = Density.load(run.file("head.npz"))

    def predict(self, images: np.ndarray) -> Prediction:
        if self.head is not None:
            return self._predict_int(images)
        outputs = self.runner.outputs(images)
        if self.density is None:
            return Prediction(outputs[:, 1], None, outputs)
        cells = self.density.score(outputs)
        return Prediction(self.density.image_scores(cells), cells, outputs)

    def _predict_int(self, images: np.ndarray) -> Prediction:
        x = to_int8(images)
        with_head = getattr(self.runner, "run_with_head", None)
        if with_head is not None:  # the head runs in the runtime itself (C)
            q, cells, image = with_head(x)
        else:
            q = self.runner.run_int8(x)
            cells, image = self.head.score(q)
        scale, zero = self.runner.output_q
        unit = 2.0 ** -self.head.frac_bits
        return Prediction(image * unit, cells * unit, (q.astype(np.float32) - zero) * scale,
                          image_ints=image, cell_ints=cells)


def upsample(cells: np.ndarray, height: int, width: int) -> np.ndarray:
    """Cell scores (G, G) to a (height, width) map, bilinear."""
    img = Image.fromarray(cells.astype(np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.BILINEAR))


def boxes(cells: np.ndarray, threshold: float, height: int, width: int) -> list[dict]:
    """One box around each connected group of anomalous cells, in image pixels."""
    labels, n = ndimage.label(cells > threshold)
    gh, gw = cells.shape
    out = []
    for k, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        out.append({"x0": round(xs.start * width / gw), "y0": round(ys.start * height / gh),
                    "x1": round(xs.stop * width / gw), "y1": round(ys.stop * height / gh),
                    "score": float(cells[labels == k].max())})
    return sorted(out, key=lambda b: -b["score"])


def predict_files(run_dir: Path, images: list[Path], out: Path, runtime: str = "float",
                  progress=None) -> list[dict]:
    """Write, for each image, <stem>.json (score, label, cells, boxes) and, for FOMO-AD,
    <stem>_mask.png at the image's own size; returns the per-image records."""
    run = Run.open(run_dir)
    predictor = Predictor(run, runtime)
    out = Path(out)
    records = []
    for i, path in enumerate(images):
        path = Path(path)
        pixels = datasets.load_image(path, predictor.size)
        with Image.open(path) as im:
            width, height = im.size
        p = predictor.predict(pixels[None])
        score = float(p.image_scores[0])
        rec = {"image": str(path), "score": score, "threshold": predictor.threshold,
               "anomalous": score > predictor.threshold, "runtime": runtime}
        if p.cell_scores is not None:
            cells = p.cell_scores[0]
            rec["cells"] = np.round(cells, 4).tolist()
            rec["boxes"] = boxes(cells, predictor.threshold, height, width)
            mask = (upsample(cells, height, width) > predictor.threshold).astype(np.uint8) * 255
            rec["mask"] = f"{path.stem}_mask.png"
            write_bytes(out / rec["mask"], png_bytes(mask))
        write_json(out / f"{path.stem}.json", rec)
        records.append(rec)
        if progress:
            progress("predict", i + 1, len(images))
    return records


def png_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()
