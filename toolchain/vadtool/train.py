"""Training stage: a dataset in, a run directory out (model.keras, head, manifest).

The run is built in a temporary folder beside --out and renamed at the end, so a failed
or interrupted training leaves no half-written run behind.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
import numpy as np

from . import data as datasets
from .errors import DatasetError, ModelError
from .models import classifier, fomo_ad
from .progress import Progress, quiet
from .rundir import MANIFEST, Run, publish_mode

@contextmanager
def staged_run(out: Path, kind: str, **fields):
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        hint = "it holds a run" if (out / MANIFEST).exists() else "it is not empty"
        raise ModelError(f"{out}: {hint}; choose another --out or delete it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        run = Run.create(tmp, kind, **fields)
        yield run
        run.save()
        publish_mode(tmp, directory=True)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
        run.path = out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def extract(model, images: np.ndarray, progress: Progress, what: str, batch: int = 32) -> np.ndarray:
    """Run a Keras model over uint8 images in batches, reporting progress."""
    outs = []
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch].astype(np.float32)
        outs.append(np.asarray(model(chunk, training=False)))
        progress(what, min(start + batch, len(images)), len(images))
    return np.concatenate(outs) if outs else np.zeros((0,) + tuple(model.output.shape[1:]), np.float32)


def _save_keras(model, path: Path) -> None:
    named = path.with_suffix(".keras")  # Keras insists on the extension
    model.save(named)
    named.replace(path)


def _load(samples, size, progress: Progress, what: str) -> np.ndarray:
    return datasets.load_images(samples, size, progress=lambda d, t: progress(what, d, t))


def _weights_field(spec) -> str:
    """The weights actually loaded (the spec may say "imagenet" while $VADTOOL_WEIGHTS wins)."""
    from .models.backbone import resolve_weights
    resolved = resolve_weights(spec)
    return resolved if resolved == "imagenet" else str(Path(resolved).resolve())


def data_fields(ds) -> dict:
    return {"root": str(ds.root.resolve()), "layout": ds.layout, "counts": ds.counts()}


def relative_paths(ds, samples) -> list[str]:
    return [str(s.path.relative_to(ds.root)) for s in samples]


def train_fomo_ad(data_root: Path, out: Path, recipe: fomo_ad.FomoAdRecipe,
                  threshold: float | None = None, progress: Progress = quiet) -> Run:
    started = time.perf_counter()
    ds = datasets.discover(data_root)
    normals = [s for s in ds.split("train") if s.label == 0]
    network = fomo_ad.build_network(recipe)
    images = _load(normals, recipe.size, progress, "load train images")
    features = extract(network, images, progress, "extract features")
    fit_idx, hold_idx = fomo_ad.split_holdout(len(normals), recipe.holdout)
    if recipe.project:  # fitted on the fit split only, then part of the network
        from .models import projection
        matrix, bias = projection.fit_projection(features[fit_idx], recipe.project)
        network = projection.fold_into_network(network, matrix, bias)
        features = projection.project(features, matrix, bias)
    progress("fit density", 0, 1)
    density, auto_threshold, holdout_cells = fomo_ad.fit_head(recipe, features[fit_idx],
                                                              features[hold_idx])
    progress("fit density", 1, 1)
    grid = list(network.output.shape[1:3])
    with staged_run(out, "fomo-ad", recipe=recipe.to_json(), data=data_fields(ds)) as run:
        run.manifest.update({
            "input": {"size": recipe.size, "channels": 3, "pixels": "RGB uint8"},
            "output": {"grid": grid, "channels": int(network.output.shape[-1])},
            "weights_loaded": _weights_field(recipe.backbone),
            "threshold": float(threshold) if threshold is not None else auto_threshold,
            "threshold_source": "--threshold" if threshold is not None else "max held-back normal score",
            "holdout_images": relative_paths(ds, [normals[i] for i in hold_idx]),
            "train_images": relative_paths(ds, [normals[i] for i in fit_idx]),
            "head_params": density.n_params,
        })
        run.add_file("model.keras", lambda p: _save_keras(network, p))
        run.add_file("head.npz", density.save)
        if len(hold_idx):  # what quantize compares the int8 head's scores with
            run.add_file(fomo_ad.HOLDOUT_CELLS, lambda p: _save_array(p, holdout_cells))
        run.manifest["train_seconds"] = round(time.perf_counter() - started, 2)
    return run


def train_classifier(data_root: Path, out: Path, recipe: classifier.ClassifierRecipe,
                     threshold: float | None = None, progress: Progress = quiet) -> Run:
    started = time.perf_counter()
    ds = datasets.discover(data_root)
    normals = [s for s in ds.split("train") if s.label == 0]
    anomalies = [s for s in ds.samples if s.label == 1 and s.split == "train"]
    if not anomalies:  # MVTec-style: anomalies only under test/, take a stated share of them
        pool = [s for s in ds.split("test") if s.label == 1]
        picked = classifier.choose_training_anomalies([s.defect for s in pool],
                                                      recipe.anomaly_share, recipe.seed)
        anomalies = [pool[i] for i in picked]
    if not anomalies:
        raise DatasetError(f"{ds.root}: the classifier needs anomalous images and found none; "
                           "add a test/<defect> folder (MVTec) or an anomaly/ folder (plain)")
    samples = normals + anomalies
    labels = np.array([0] * len(normals) + [1] * len(anomalies))
    features_model, full = classifier.build_network(recipe)
    images = _load(samples, recipe.size, progress, "load train images")
    features = extract(features_model, images, progress, "extract features")
    progress("train head", 0, 1)
    fit_stats = classifier.train_head(full, features, labels, recipe)
    progress("train head", 1, 1)
    with staged_run(out, "classifier", recipe=recipe.to_json(), data=data_fields(ds)) as run:
        run.manifest.update({
            "input": {"size": recipe.size, "channels": 3, "pixels": "RGB uint8"},
            "output": {"classes": ["normal", "anomalous"]},
            "weights_loaded": _weights_field(recipe.backbone),
            "threshold": float(threshold) if threshold is not None else 0.5,
            "threshold_source": "--threshold" if threshold is not None else "default 0.5",
            "train_images": relative_paths(ds, samples),
            "fit": fit_stats,
        })
        run.add_file("model.keras", lambda p: _save_keras(full, p))
        run.manifest["train_seconds"] = round(time.perf_counter() - started, 2)
    return run


def _save_array(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # np.save on a name would append ".npy" to the temporary one
        np.save(f, np.asarray(array, np.float32))
