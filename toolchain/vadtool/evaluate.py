"""Evaluation stage: a run and a dataset's test split in, one metrics dict out."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import data as datasets
from . import metrics
from .errors import DatasetError
from .geometry import image_sizes
from .predict import Predictor, upsample
from .rundir import Run
from .progress import Progress, quiet

BATCH = 16


def test_samples(run: Run, ds) -> list:
    """The test split, less any image the run trained on (the classifier's anomalies)."""
    trained = set()
    if Path(run.manifest["data"]["root"]) == ds.root.resolve():
        trained = set(run.manifest.get("train_images", []))
    samples = [s for s in ds.split("test") if str(s.path.relative_to(ds.root)) not in trained]
    if not samples:
        raise DatasetError(f"{ds.root}: no test images left to evaluate on")
    return samples


def cell_labels(masks: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A cell is anomalous when any mask pixel in its footprint is."""
    n, h, w = masks.shape
    gh, gw = grid
    ys = (np.arange(h) * gh) // h
    xs = (np.arange(w) * gw) // w
    out = np.zeros((n, gh, gw), bool)
    for gy in range(gh):
        for gx in range(gw):
            out[:, gy, gx] = masks[:, ys == gy][:, :, xs == gx].reshape(n, -1).any(axis=1)
    return out


def evaluate(run_dir: Path, data: Path | None = None, runtime: str = "float",
             limit: int | None = None, runner=None, progress: Progress = quiet,
             keep_scores: bool = False) -> dict:
    run = Run.open(run_dir)
    ds = datasets.discover(data if data is not None else run.manifest["data"]["root"])
    samples = test_samples(run, ds)
    if limit:
        samples = _stratified_head(samples, limit)
    predictor = Predictor(run, runtime, runner)
    geometry = predictor.geometry
    image_scores, cell_scores, seconds = [], [], 0.0
    batch = 1 if runtime == "device" else BATCH  # a device is slow: report every image
    progress(f"evaluate ({runtime})", 0, len(samples))
    for start in range(0, len(samples), batch):
        chunk = samples[start:start + batch]
        images = datasets.load_images(chunk, geometry.shape_hw, geometry.resize)
        t0 = time.perf_counter()
        p = predictor.predict(images)
        seconds += time.perf_counter() - t0
        image_scores.append(p.image_scores)
        if p.cell_scores is not None:
            cell_scores.append(p.cell_scores)
        progress(f"evaluate ({runtime})", start + len(chunk), len(samples))
    scores = np.concatenate(image_scores)
    labels = np.array([s.label for s in samples])
    best, best_at = metrics.best_f1(labels, scores)
    result = {
        "runtime": runtime, "kind": run.kind, "n_images": len(samples),
        "n_anomalous": int(labels.sum()),
        "image_auroc": metrics.auroc(labels, scores),
        "image_f1": metrics.f1_at(labels, scores, predictor.threshold),
        "best_f1": best, "best_f1_threshold": best_at,
        "threshold": predictor.threshold,
        "confusion": metrics.confusion(labels, scores, predictor.threshold),
        "cell_auroc": None, "pixel_auroc": None,
        "ms_per_image": 1000 * seconds / len(samples),
    }
    if cell_scores and ds.has_masks:
        cells = np.concatenate(cell_scores)
        # masks in the model's geometry; fit's padding shows no part, so no pixel of it counts
        masks = np.stack([datasets.load_mask(s.mask, geometry.shape_hw, geometry.resize)
                          for s in samples]).astype(bool)
        result["cell_auroc"] = metrics.auroc(cell_labels(masks, cells.shape[1:]), cells)
        heat = np.stack([upsample(c, *geometry.shape_hw) for c in cells])
        if geometry.resize == "fit":
            seen = np.stack([geometry.content(*size) for size in image_sizes(s.path for s in samples)])
            masks, heat = masks[seen], heat[seen]
        result["pixel_auroc"] = metrics.auroc(masks, heat)
    if keep_scores:
        result["scores"] = {"paths": [str(s.path) for s in samples], "labels": labels.tolist(),
                            "image_scores": scores.tolist()}
    return result


def _stratified_head(samples: list, limit: int) -> list:
    """At most `limit` samples, normal and anomalous in their original proportion (at least
    one of each when both exist), spread evenly over each class."""
    normal = [s for s in samples if s.label == 0]
    anomalous = [s for s in samples if s.label == 1]
    if len(samples) <= limit:
        return samples
    n_normal = round(limit * len(normal) / len(samples))
    if normal and anomalous:
        n_normal = min(max(n_normal, 1), limit - 1)
    return _evenly(normal, n_normal) + _evenly(anomalous, limit - n_normal)


def _evenly(items: list, k: int) -> list:
    k = min(k, len(items))
    return [items[i] for i in np.linspace(0, len(items) - 1, k).round().astype(int)] if k else []


def save_evaluation(run_dir: Path, result: dict) -> Path:
    """Keep an evaluation in the run (RUN/evaluations/<runtime>.json) for reports."""
    from .locking import writing
    from .rundir import write_json
    path = Path(run_dir) / "evaluations" / f"{result['runtime']}.json"
    with writing(run_dir, "evaluate"):  # not while quantize (or another writer) changes the run
        write_json(path, result)
    return path


def load_evaluations(run_dir: Path) -> dict[str, dict]:
    """Stored evaluations by runtime."""
    import json
    folder = Path(run_dir) / "evaluations"
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}
